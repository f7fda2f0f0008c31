"""What DVC versions is what the code, params and seed decide: the same bytes on every run and machine.

dvc.lock is committed, so a fresh clone's ``dvc repro`` must leave it as it is (``git status``
clean; every MLflow run's git-commit tag then names exactly the code that ran). Two rules:

- nothing that records a run's identity is a DVC output: executed notebooks, the training
  run file ``runs/<model>.json``, the SHAP and validation reports (they name the run and the
  commit) and the front page are written beside the outputs, git-ignored;
- every output is byte-deterministic, also across machines: the oracle in ``data/truth`` sums
  in a fixed order (no BLAS, whose kernel and summation order follow the processor and
  thread count), so it is the same under another OpenBLAS kernel, thread count or row order.

The slow test takes the small pipeline build of a temporary git copy (shared with
tests/test_pipeline.py: tests/_pipeline_build.py), whose dvc.lock is committed, clones that
commit and builds the data, features and one model's training again with another BLAS
kernel, thread count and hash seed: the clone's ``git status`` must print nothing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from _pipeline_build import GROUP, project_env, run
from research import paths
from research.data import _oracle

ROOT = Path(__file__).resolve().parents[1]
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _stages(models: list[str]) -> dict[str, dict]:
    """dvc.yaml's stages with ``foreach`` expanded over ``models``."""
    stages = {}
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        if "foreach" in stage:
            for model in models:
                stages[f"{name}@{model}"] = json.loads(
                    json.dumps(stage["do"]).replace("${key}", model)
                )
        else:
            stages[name] = stage
    return stages


def _entries(body: dict, *keys: str) -> list[str]:
    found = []
    for key in keys:
        for entry in body.get(key) or []:
            found.extend(entry if isinstance(entry, dict) else [entry])
    return found


def _within(path: str, folder: str) -> bool:
    path, folder = path.rstrip("/"), folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def _models() -> list[str]:
    return list(yaml.safe_load((ROOT / "params.yaml").read_text())["models"])


def _side_files(root: Path, models: list[str]) -> list[Path]:
    """What records a run's identity: it must stay out of dvc.yaml and out of git."""
    stages = ["data", "features", "value", "report"]
    model_stages = ["train", "explain", "validate"]
    files = [paths.index_path(root)]
    for stage in stages:
        notebook = paths.executed_notebook_path(root, stage)
        files += [notebook, notebook.with_suffix(".html")]
    for model in models:
        files += [
            paths.run_file(root, model),
            paths.shap_report_path(root, model),
            paths.validation_report_path(root, model),
        ]
        for stage in model_stages:
            notebook = paths.executed_notebook_path(root, stage, model)
            files += [notebook, notebook.with_suffix(".html")]
    return files


# ----------------------------------------------------------------------------- dvc.yaml


def test_nothing_that_records_a_run_is_a_dvc_output_or_dependency():
    models = _models()
    declared = [
        path
        for body in _stages(models).values()
        for path in _entries(body, "outs", "metrics", "plots", "deps")
    ]
    for file in _side_files(ROOT, models):
        rel = file.relative_to(ROOT).as_posix()
        inside = [d for d in declared if _within(rel, d) or _within(d, rel)]
        assert not inside, f"{rel} is (inside) a declared path of dvc.yaml: {inside}"


def test_the_files_written_beside_the_outputs_are_git_ignored():
    rels = [f.relative_to(ROOT).as_posix() for f in _side_files(ROOT, _models())]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *rels],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    not_ignored = [
        line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("::")
    ]
    assert not not_ignored, f"not git-ignored: {not_ignored}"


def test_the_run_file_lives_outside_the_model_folder():
    run = paths.run_file(ROOT, "credit")
    assert not _within(run.as_posix(), paths.model_dir(ROOT, "credit").as_posix())
    assert run.parent == paths.runs_dir(ROOT)


def test_every_stage_but_the_source_fingerprint_runs_only_when_an_input_changes():
    """A stage with neither deps nor outs would run on every repro (DVC calls it a callback stage)."""
    for name, body in _stages(_models()).items():
        assert body.get("deps"), f"{name} has no deps: DVC would rerun it every time"
        assert body.get("always_changed", False) == (name == "source"), name


def test_the_stage_kernel_computes_with_one_blas_thread_and_without_avx512():
    from research.stages.notebook import _numpy_cpu, reproducible_numerics

    settings = reproducible_numerics()
    assert settings["OPENBLAS_NUM_THREADS"] == "1"
    features, targets = _numpy_cpu()
    if X86 and features.get("AVX2") and features.get("FMA3"):
        assert settings["OPENBLAS_CORETYPE"] == "Haswell"
    disabled = settings.get("NPY_DISABLE_CPU_FEATURES", "").split(",")
    assert "X86_V3" not in disabled  # AVX2 stays: every x86-64-v3 machine computes alike
    assert set(disabled) >= {t for t in targets if "AVX512" in t or t == "X86_V4"}


# ----------------------------------------------------------------------------- the oracle's sums


def test_fixed_order_matmul_adds_each_term_in_index_order():
    rng = np.random.default_rng(3)
    left = rng.random((17, 23)) * (rng.random((17, 23)) < 0.6)  # exact zeros are skipped
    right = rng.random((23, 4, 5))
    got = _oracle.fixed_order_matmul(left, right)
    expected = np.zeros((17, 20))
    flat = right.reshape(23, -1)
    for i in range(17):
        for k in range(20):
            total = 0.0
            for j in range(23):
                total += float(left[i, j]) * float(flat[j, k])
            expected[i, k] = total
    assert got.shape == (17, 4, 5)
    assert np.array_equal(got.reshape(17, 20), expected)
    np.testing.assert_allclose(got, np.einsum("ij,jkl->ikl", left, right), rtol=1e-13)


def test_fixed_order_sum_adds_in_index_order():
    values = np.array([[1e16, 1.0, -1e16, 1.0], [0.1, 0.2, 0.3, 0.4]])
    got = _oracle.fixed_order_sum(values, axis=1)
    assert got[0] == ((1e16 + 1.0) - 1e16) + 1.0
    assert got[1] == ((0.1 + 0.2) + 0.3) + 0.4


@pytest.fixture(scope="module")
def oracle_call():
    """The arguments of one oracle call of a small generated portfolio, and its result."""
    from research.data import synthetic

    calls = []
    original = _oracle.event_probabilities

    def record(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append((args, kwargs, result))
        return result

    _oracle.event_probabilities = record
    try:
        synthetic.generate_portfolio(
            n_customers=100,
            start="2019-01-01",
            months=12,
            scenario="baseline",
            transactions_per_month=1,
            seed=5,
            horizons_months=(6,),
        )
    finally:
        _oracle.event_probabilities = original
    return calls[0]


def test_the_oracle_does_not_depend_on_the_row_order(oracle_call):
    args, kwargs, (default, churn) = oracle_call
    rows = kwargs["snapshot"].size
    order = np.random.default_rng(11).permutation(rows)
    shuffled = {
        key: value[order] if isinstance(value, np.ndarray) and value.shape[:1] == (rows,) else value
        for key, value in kwargs.items()
    }
    default_shuffled, churn_shuffled = _oracle.event_probabilities(*args, **shuffled)
    assert np.array_equal(default_shuffled, default[order])
    assert np.array_equal(churn_shuffled, churn[order])
    # and on a part of the rows alone: no row's result depends on the others
    part = order[: rows // 3]
    sub = {
        key: value[part] if isinstance(value, np.ndarray) and value.shape[:1] == (rows,) else value
        for key, value in kwargs.items()
    }
    default_part, churn_part = _oracle.event_probabilities(*args, **sub)
    assert np.array_equal(default_part, default[part])
    assert np.array_equal(churn_part, churn[part])


_TRUTH_DIGEST = """
import hashlib, sys
import pandas as pd
from research.data.synthetic import generate_portfolio
p = generate_portfolio(n_customers=150, start="2019-01-01", months=24, scenario="baseline",
                       transactions_per_month=1, seed=5)
for name, frame in sorted({**p.tables, **{"truth/" + k: v for k, v in p.truth.items()}}.items()):
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    print(name, digest.hexdigest())
"""


@pytest.mark.slow
def test_the_generated_tables_are_the_same_under_another_blas_kernel_and_thread_count():
    """Other machines, simulated: OpenBLAS picks its kernel by processor and splits work by threads.

    Before the oracle summed in a fixed order, the Haswell and Prescott kernels each gave other
    bytes in data/truth/oracle than this machine's (AVX-512) kernel.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), base.get("PYTHONPATH", "")])
    variants = {
        "1 thread": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        "2 threads": {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"},
    }
    if X86:  # kernels every x86-64 processor runs (OpenBLAS's DYNAMIC_ARCH build, numpy's wheel)
        variants["Prescott kernel"] = {"OPENBLAS_CORETYPE": "Prescott"}
        variants["Haswell kernel"] = {"OPENBLAS_CORETYPE": "Haswell"}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-c", _TRUTH_DIGEST],
            env={**base, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, extra in variants.items()
    }
    digests = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {err[-2000:]}"
        digests[name] = dict(line.split() for line in out.splitlines())
    reference = digests["1 thread"]
    assert "truth/oracle" in reference
    for name, found in digests.items():
        differ = sorted(k for k in reference if found.get(k) != reference[k])
        assert not differ, f"{name}: {differ} differ from 1 thread"


# ----------------------------------------------------------------------------- a fresh clone's build

TARGETS = ["train@credit"]  # source, data, features and the credit model


def _locked_hashes(lock_text: str) -> dict[str, str]:
    """Every out's md5 in dvc.lock (outs, metrics and plots are all ``outs`` there), by stage and path."""
    lock = yaml.safe_load(lock_text)
    return {
        f"{stage} {out['path']}": out["md5"]
        for stage, body in lock["stages"].items()
        for out in body.get("outs", [])
    }


@pytest.fixture(scope="module")
def two_builds(pipeline_build, tmp_path_factory) -> dict:
    """Clone the shared build's commit (its dvc.lock committed) and build there on "another machine".

    The first build is tests/_pipeline_build.py's ``research repro`` at small scale (800 firms,
    stages side by side) with this machine's BLAS settings and hash seed; the clone builds
    ``TARGETS`` with plain ``dvc repro`` (one stage at a time), another OpenBLAS kernel, one
    thread and another hash seed, in another folder.
    """
    first = pipeline_build["root"]
    second = tmp_path_factory.mktemp("deterministic") / "second"
    run(["git", "clone", "-q", str(first), str(second)], second.parent, pipeline_build["env"])
    other = {"PYTHONHASHSEED": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if X86:
        other["OPENBLAS_CORETYPE"] = "Prescott"
    env2 = project_env(second, **other)
    run(["dvc", "repro", *TARGETS], second, env2)
    t0 = time.monotonic()
    repro_again = run(["dvc", "repro", *TARGETS], second, env2).stdout
    no_op_seconds = time.monotonic() - t0
    return {
        "first_lock": pipeline_build["lock"],
        "second": second,
        "env": env2,
        "status": run(["git", "status", "--porcelain"], second, env2).stdout,
        "repro_again": repro_again,
        "no_op_seconds": no_op_seconds,
    }


@pytest.mark.slow
@pytest.mark.xdist_group(GROUP)
def test_a_fresh_clone_builds_the_committed_dvc_lock(two_builds):
    first = _locked_hashes(two_builds["first_lock"])
    second = _locked_hashes((two_builds["second"] / "dvc.lock").read_text())
    assert first.keys() == second.keys()
    assert any(k.startswith("train@credit models/credit") for k in first)
    assert any(k.startswith("data data/truth") for k in first)
    differ = sorted(k for k in first if first[k] != second[k])
    assert not differ, f"outputs whose bytes differ between the two builds: {differ}"
    assert two_builds["status"] == "", two_builds["status"]


@pytest.mark.slow
@pytest.mark.xdist_group(GROUP)
def test_the_run_identity_is_written_beside_the_outputs(two_builds):
    root = two_builds["second"]
    run = json.loads(paths.run_file(root, "credit").read_text())
    assert run["run_id"] and not (paths.model_dir(root, "credit") / "run.json").exists()
    assert paths.executed_notebook_path(root, "train", "credit").exists()


@pytest.mark.slow
@pytest.mark.xdist_group(GROUP)
def test_a_repro_with_nothing_changed_runs_nothing(two_builds):
    """Stages whose side files are not outputs still skip: only the source fingerprint runs."""
    ran = [
        line.split("'")[1]
        for line in two_builds["repro_again"].splitlines()
        if line.startswith("Running stage")
    ]
    assert ran == ["source"], two_builds["repro_again"]
    print(f"\nno-op dvc repro {' '.join(TARGETS)}: {two_builds['no_op_seconds']:.2f} s")


def test_the_report_stage_has_one_deterministic_output_so_a_fresh_clone_builds_the_front_page():
    """With no output, DVC skips the report stage of a fresh clone whose lock matches: no front page."""
    body = _stages(_models())["report"]
    assert _entries(body, "outs", "metrics", "plots") == [
        paths.pages_path(ROOT).relative_to(ROOT).as_posix()
    ]
