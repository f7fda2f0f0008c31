"""MLflow at the edge: one place sets up the store and logs runs (stages only).

The store is SQLite inside ``mlruns/`` with artifacts beside it, addressed by an
absolute path resolved from the project root, so ``dvc exp run --temp`` (which runs
in a temporary copy) still logs to the project. Telemetry is off.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from research.paths import mlruns_dir

EXPERIMENT = "corporate-lending"


def tracking_uri(root: Path) -> str:
    """The SQLite tracking URI of the project's store."""
    return f"sqlite:///{(mlruns_dir(root) / 'mlflow.db').resolve()}"


def configure(root: Path, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the project store and return the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import mlflow

    store = mlruns_dir(root)
    store.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(root))
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        exp_id = mlflow.create_experiment(experiment, artifact_location=(store / "artifacts").resolve().as_uri())
    else:
        exp_id = found.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def git_commit(root: Path) -> str:
    """The checked-out commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def data_fingerprint(root: Path, stage: str = "data") -> str:
    """Hash of the outputs of ``stage`` as recorded in ``dvc.lock`` (``unknown`` before the first repro)."""
    lock = root / "dvc.lock"
    if not lock.exists():
        return "unknown"
    with open(lock, encoding="utf-8") as fh:
        stages = (yaml.safe_load(fh) or {}).get("stages", {})
    outs = stages.get(stage, {}).get("outs", [])
    if not outs:
        return "unknown"
    digest = hashlib.sha256()
    for out in sorted(outs, key=lambda o: o["path"]):
        digest.update(f"{out['path']}:{out.get('md5', '')}\n".encode())
    return digest.hexdigest()[:16]


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as ``a.b.c`` keys (MLflow params are flat)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@contextmanager
def model_run(root: Path, model: str, *, run_id: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """Start (or resume, with ``run_id``) the MLflow run of ``model`` with provenance tags."""
    import mlflow

    configure(root)
    base_tags = {
        "model": model,
        "git_commit": git_commit(root),
        "data_fingerprint": data_fingerprint(root),
    }
    base_tags.update(tags or {})
    if run_id is None:
        with mlflow.start_run(run_name=model, tags=base_tags) as run:
            yield run
    else:
        with mlflow.start_run(run_id=run_id) as run:
            yield run
