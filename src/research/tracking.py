"""MLflow at the edge: one place sets up the store and logs runs (stages only).

The store is SQLite inside ``mlruns/`` with artifacts beside it, addressed by an
absolute path resolved from the project root, so ``dvc exp run --temp`` (which runs
in a temporary copy) still logs to the project. Telemetry is off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
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
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    store = mlruns_dir(root)
    store.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(root))
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        exp_id = mlflow.create_experiment(
            experiment, artifact_location=(store / "artifacts").resolve().as_uri()
        )
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
def model_run(
    root: Path, model: str, *, run_id: str | None = None, tags: Mapping[str, str] | None = None
) -> Iterator[Any]:
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


# --- training runs: params, metrics, the model, the registry and run.json -------------

MODEL_ARTIFACT = "model"
MODEL_FILES_ARTIFACT = "model_files"
CONTENT_HASH_TAG = "content_hash"


def file_fingerprint(path: Path) -> str:
    """First 16 hex digits of a file's SHA-256 (the data fingerprint of a user's own table)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def log_params(params: Mapping[str, Any]) -> None:
    """Log nested params flattened to ``a.b.c`` (lists as text)."""
    import mlflow

    flat = {k: (str(v) if isinstance(v, list | tuple) else v) for k, v in flatten(params).items()}
    mlflow.log_params({k: str(v)[:6000] for k, v in flat.items()})


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric leaves of a nested metrics mapping as ``section.name`` (text and empty values dropped)."""
    return {
        k: float(v)
        for k, v in flatten(metrics).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }


def log_metrics(metrics: Mapping[str, Any]) -> None:
    """Log the numeric leaves of nested metrics as ``section.name``."""
    import mlflow

    mlflow.log_metrics(numeric_metrics(metrics))


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("xgboost", "numpy", "pandas", "scipy")]


def log_booster(booster: Any, input_example: Any) -> Any:
    """Log the XGBoost booster with its signature and an input example; return MLflow's ModelInfo.

    The pyfunc flavor of a booster builds its DMatrix without categorical support, so
    for a model with categorical inputs MLflow's serving-input check is skipped; load
    it with ``mlflow.xgboost.load_model`` (as ``load_logged_model`` does).
    """
    import mlflow
    import xgboost as xgb
    from mlflow.models import infer_signature

    has_categories = any(str(t) == "category" for t in getattr(input_example, "dtypes", []))
    prediction = booster.predict(xgb.DMatrix(input_example, enable_categorical=True))
    # MLflow's serving check goes through that pyfunc and fails (a warning) for categoricals.
    check_logger = logging.getLogger("mlflow.models.model")
    level = check_logger.level
    if has_categories:
        check_logger.setLevel(logging.ERROR)
    try:
        return mlflow.xgboost.log_model(
            booster,
            name=MODEL_ARTIFACT,
            signature=infer_signature(input_example, prediction),
            input_example=input_example,
            pip_requirements=_pip_requirements(),
        )
    finally:
        check_logger.setLevel(level)


def register_if_changed(model_uri: str, name: str, content_hash: str) -> tuple[str, bool]:
    """Register ``model_uri`` as a new version of ``name`` unless the latest version has the same content.

    Returns:
        The version number (as text) that holds this content, and whether it is new.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    latest = max(versions, key=lambda v: int(v.version), default=None)
    if latest is not None and latest.tags.get(CONTENT_HASH_TAG) == content_hash:
        return str(latest.version), False
    created = mlflow.register_model(model_uri, name, tags={CONTENT_HASH_TAG: content_hash})
    return str(created.version), True


def write_run_file(
    path: Path, *, run: Any, model_name: str, model_version: str, model_uri: str
) -> dict[str, str]:
    """Write ``run.json`` (what later stages need to resume the run and find the model)."""
    import json

    import mlflow

    record = {
        "run_id": run.info.run_id,
        "model_name": model_name,
        "model_version": model_version,
        "model_uri": model_uri,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": mlflow.get_tracking_uri(),
    }
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def read_run_file(path: Path) -> dict[str, str]:
    """Read ``run.json``."""
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def log_training_run(
    *,
    model: str,
    registry_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    model_folder: Path,
    booster: Any,
    input_example: Any,
    content_hash: str,
    extra_artifacts: Sequence[tuple[str, Path]] = (),
    register: bool = True,
) -> dict[str, str]:
    """Inside an active run: params, metrics, the model files, the booster, the registry.

    Args:
        model: The model's name in ``params.yaml`` (``models.<name>``).
        registry_name: Its name in the MLflow model registry.
        params: The parameters the stage used (nested; logged flattened).
        metrics: The metrics file's content (numeric leaves logged as ``section.name``).
        model_folder: ``models/<model>/`` (features, calibrator, challenger, grading).
        booster: The XGBoost booster, logged as the MLflow model.
        input_example: A few rows of the model matrix.
        content_hash: Hash of what decides the scores; a new registry version only when it changes.
        extra_artifacts: Further ``(artifact folder, file)`` pairs to log.
        register: Register the model (an interactive run logs it but registers nothing).

    Returns:
        ``model_name``, ``model_version``, ``model_uri`` and whether the version ``is_new``.
    """
    import mlflow

    log_params(params)
    log_metrics(metrics)
    mlflow.log_artifacts(str(model_folder), artifact_path=MODEL_FILES_ARTIFACT)
    for folder, path in extra_artifacts:
        mlflow.log_artifact(str(path), artifact_path=folder)
    info = log_booster(booster, input_example)
    name = registry_name
    if not register:
        mlflow.set_tags({CONTENT_HASH_TAG: content_hash})
        return {
            "model_name": name,
            "model_version": "",
            "model_uri": info.model_uri,
            "is_new": "false",
        }
    version, is_new = register_if_changed(info.model_uri, name, content_hash)
    mlflow.set_tags(
        {CONTENT_HASH_TAG: content_hash, "registered_model": name, "registered_version": version}
    )
    return {
        "model_name": name,
        "model_version": version,
        "model_uri": info.model_uri,
        "is_new": str(is_new).lower(),
    }


def load_logged_model(root: Path, run_id: str, dst: Path) -> Any:
    """The scoring model as the run logged it: the booster through MLflow, the other parts from its artifacts."""
    import mlflow

    from research.models.io import load_scoring_model

    configure(root)
    booster = mlflow.xgboost.load_model(f"runs:/{run_id}/{MODEL_ARTIFACT}")
    folder = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=MODEL_FILES_ARTIFACT, dst_path=str(dst)
    )
    return load_scoring_model(Path(folder), booster=booster)
