"""One small ``research repro`` of the whole pipeline, shared by the tests that read it.

``tests/test_pipeline.py`` (contract outputs, no-op repro, forced rebuild) and
``tests/test_deterministic_outputs.py`` (a fresh clone of the committed dvc.lock builds the
same bytes on "another machine") both need a git copy of the project built end to end. It
is built once per test process: the fixture is session-scoped (registered in conftest.py)
and every test using it carries ``xdist_group("pipeline")``, so under ``--dist loadgroup``
one worker builds it. After the build, dvc.lock is committed: the commit is what a fresh
clone starts from. The stages run the copy's code (``PYTHONPATH``), not the checkout's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _project import copy_project

GROUP = "pipeline"  # the xdist group of every test using ``pipeline_build``

SMALL = {
    "data.synthetic.n_customers": 800,
    "models.credit.xgb.n_estimators": 60,
    "models.churn.xgb.n_estimators": 60,
    "explain.report_sample": 200,
    "explain.interaction_sample": 30,
    "explain.agreement_sample": 200,
}


def set_param(params: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = value


def run(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def project_env(root: Path, **extra: str) -> dict:
    """The environment of a stage run in ``root``: its own code and DVC site cache, this machine's
    default BLAS settings (no ``OPENBLAS_*``/``OMP_NUM_*`` inherited), a fixed git identity."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_NUM"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / ".dvc" / "site-cache"),
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONPATH": str(root / "src"),  # the copy's code, whatever is edited meanwhile
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        **extra,
    }
    env.pop("RESEARCH_ROOT", None)
    return env


@pytest.fixture(scope="session")
def pipeline_build(tmp_path_factory) -> dict:
    """A git copy of the project at small scale after one ``research repro``, its dvc.lock committed.

    ``root`` and ``env`` (the build's environment); ``lock``: the committed dvc.lock text.
    """
    root = copy_project(tmp_path_factory.mktemp("pipeline") / "project", skip=())
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in SMALL.items():
        set_param(params, key, value)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = project_env(root)
    run(["git", "init", "-q"], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "copy"], root, env)
    # what `make repro` runs: DVC's reproduction with independent stages side by side (the
    # fresh-clone test in test_deterministic_outputs.py rebuilds with plain `dvc repro`, one stage
    # at a time, and must find the same dvc.lock)
    run(["research", "repro", "-j", "2"], root, env)
    run(["git", "add", "dvc.lock"], root, env)
    run(["git", "commit", "-qm", "dvc.lock"], root, env)
    return {"root": root, "env": env, "lock": (root / "dvc.lock").read_text()}
