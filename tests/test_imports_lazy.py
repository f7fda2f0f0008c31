"""Each stage imports only the heavy libraries it uses, checked in a fresh interpreter.

A DVC stage starts a kernel that imports its stage module before it does any work, and
``research source-fingerprint`` runs on every ``dvc repro``. A module-level ``import`` of
sklearn, scipy.stats, MLflow, XGBoost, SHAP, matplotlib, numba or Dask costs a second or
more of CPU each; a stage that does not use one must not pay for it. The libraries a
stage module may import (at import time, before ``run``) are listed here per stage; any
other heavy library found in ``sys.modules`` after ``import research.stages.<stage>`` is a
module-level import that belongs inside the function that uses it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _imports import SRC

# Packages (and submodules) that take a good part of a second or more of CPU to import.
HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "scipy.stats",
    "scipy.optimize",
    "sklearn",
    "sklearn.metrics",
    "sklearn.linear_model",
    "mlflow",
    "xgboost",
    "shap",
    "matplotlib",
    "numba",
    "dask",
    "duckdb",
)
TABLES = {"pandas", "numpy", "pyarrow"}
STATS = {"scipy.stats", "scipy.optimize"}  # scipy.stats imports scipy.optimize
PLOTS = {"matplotlib"}  # the stage's report draws its figures with matplotlib
# XGBoost's scikit-learn wrappers import sklearn (metrics included) and scipy.stats.
MODELS = {"xgboost", "sklearn", "sklearn.metrics"} | STATS

# What importing each stage module may load: every other heavy library waits for the
# function that uses it (sklearn.metrics for a measure, scipy.stats for a test, MLflow
# for logging, SHAP for the comparison paths, Dask for the dask engine).
ALLOWED = {
    "source": set(),  # runs on every dvc repro: yaml and the params, nothing else
    "data": TABLES,
    "features": TABLES | STATS,  # research.features.profile ranks with scipy.stats
    "train": TABLES | MODELS,
    "explain": TABLES | MODELS | PLOTS,
    "validate": TABLES | STATS | PLOTS,
    "value": TABLES | PLOTS,
    "report": TABLES,
}
# Stages whose allowed set is most of HEAVY take several seconds to import: the slow tier.
SLOW_STAGES = {"train", "explain", "validate"}


def heavy_after(code: str) -> set[str]:
    """The ``HEAVY`` modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=SRC.parent,
        check=True,
        timeout=300,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "stage",
    [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_STAGES else s for s in sorted(ALLOWED)],
)
def test_a_stage_module_imports_only_the_heavy_libraries_it_uses(stage):
    found = heavy_after(f"import research.stages.{stage}")
    assert found - ALLOWED[stage] == set(), (
        f"research.stages.{stage} imports {found - ALLOWED[stage]}"
    )


def test_the_source_fingerprint_command_imports_no_table_library():
    # What `research source-fingerprint` (dvc.yaml's always-changed stage) loads before it runs.
    found = heavy_after("import research.cli, research.stages.source")
    assert found == set()


def test_the_check_sees_a_heavy_import():
    assert heavy_after("import research.stages._registry") == set()
    assert heavy_after("import research.stages._registry, numpy") == {"numpy"}
