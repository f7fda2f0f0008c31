"""MLflow at the edge: one place sets up the store and logs runs (stages only).

The store is SQLite inside ``mlruns/`` with artifacts beside it, addressed by an
absolute path resolved from the project root, so ``dvc exp run --temp`` (which runs
in a temporary copy) still logs to the project. Telemetry is off.

A run ends with a status that says what happened: FINISHED, FAILED on an exception,
KILLED on SIGTERM, SIGINT or SIGHUP. A process killed outright (SIGKILL) cannot say so;
every run is tagged with its process (pid, a host id, a start token), and ``configure``
marks KILLED the RUNNING runs whose process is gone. Stages after training add to the
training run without reopening it (``log_to_finished_run``), so its status and end time
stay as training left them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from research import _process
from research.paths import mlruns_dir

EXPERIMENT = "corporate-lending"
# The process that owns a run (see research._process): set on every run this module starts.
PID_TAG = "research.pid"
HOST_TAG = "research.host"
START_TAG = "research.process_start"
# Why ``configure`` closed a run that was left RUNNING.
CLOSED_TAG = "research.closed"


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
    close_abandoned_runs(exp_id)
    return exp_id


def close_abandoned_runs(experiment_id: str) -> dict[str, str]:
    """End the RUNNING runs of the experiment that nobody will end; return ``{run_id: new status}``.

    - A run whose process (its pid, host and start tags) is known to be gone: KILLED.
    - A run that had finished and was reopened (it has an end time; older explain and validate
      stages resumed the training run) and never closed again: FINISHED, with its end time.

    Runs of live processes, of other hosts and untagged runs without an end time are left alone.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    closed: dict[str, str] = {}
    for run in client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    ):
        info, tags = run.info, run.data.tags
        if info.end_time:
            client.set_tag(info.run_id, CLOSED_TAG, "reopened after it finished; closed again")
            client.set_terminated(info.run_id, "FINISHED", end_time=info.end_time)
            closed[info.run_id] = "FINISHED"
        elif _process.is_gone(tags.get(PID_TAG), tags.get(HOST_TAG), tags.get(START_TAG)):
            client.set_tag(info.run_id, CLOSED_TAG, "its process ended without closing it")
            client.set_terminated(info.run_id, "KILLED")
            closed[info.run_id] = "KILLED"
    return closed


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


# What a data fingerprint covers: the pipeline's data outputs. A stage's other outputs (its
# executed notebook and its HTML, cache: false) change on every run, identical data or not.
DATA_OUTPUTS = ("data/raw", "data/truth", "data/features")


def data_fingerprint(root: Path, stage: str = "data") -> str:
    """Hash of the data outputs (``DATA_OUTPUTS``) of ``stage`` as recorded in ``dvc.lock``.

    ``unknown`` before the first repro, or when the stage has no data output.
    """
    lock = root / "dvc.lock"
    if not lock.exists():
        return "unknown"
    with open(lock, encoding="utf-8") as fh:
        stages = (yaml.safe_load(fh) or {}).get("stages", {})
    outs = [
        out
        for out in stages.get(stage, {}).get("outs", [])
        if any(out["path"] == d or out["path"].startswith(f"{d}/") for d in DATA_OUTPUTS)
    ]
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


def process_tags() -> dict[str, str]:
    """The tags naming the calling process (pid, host id, start token)."""
    me = _process.this_process()
    return {PID_TAG: me["pid"], HOST_TAG: me["host"], START_TAG: me["start"]}


@contextmanager
def model_run(root: Path, model: str, *, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A new MLflow run of ``model`` with provenance and process tags, ended with what happened.

    FINISHED when the block completes, FAILED on an exception, KILLED on SIGTERM, SIGINT or
    SIGHUP (handled for the duration of the block in the main thread; once the run is
    closed the signal is raised again and does what it would have done). A finished run is
    never reopened: later stages use ``log_to_finished_run``.
    """
    import mlflow

    configure(root)
    base_tags = {
        "model": model,
        "git_commit": git_commit(root),
        "data_fingerprint": data_fingerprint(root),
        **process_tags(),
    }
    base_tags.update(tags or {})
    run = mlflow.start_run(run_name=model, tags=base_tags)
    status = "FAILED"
    try:
        with _process.signals_raise():
            yield run
        status = "FINISHED"
    except _process.Interrupted as stop:
        mlflow.end_run("KILLED")
        _process.redeliver(stop.signum)
        raise
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run.info.run_id:
            mlflow.end_run(status)


def log_to_finished_run(
    root: Path,
    run_id: str,
    *,
    metrics: Mapping[str, Any] | None = None,
    artifacts: Sequence[tuple[str, Path]] = (),
    tags: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> None:
    """Add to a run without reopening it: its status and end time stay as they were.

    Args:
        root: The project folder (the store is configured from it).
        run_id: The run (a training run, ended).
        metrics: Nested or flat metrics; the numeric leaves are logged as ``a.b.c``.
        artifacts: ``(artifact folder, file)`` pairs.
        tags: Tags to set.
        texts: ``{artifact file: text}`` logged as text artifacts.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    configure(root)
    client = MlflowClient()
    now = int(time.time() * 1000)
    metric_list = [Metric(k, v, now, 0) for k, v in numeric_metrics(metrics or {}).items()]
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    # log_batch takes at most 1000 metrics and 100 tags a call
    for start in range(0, len(metric_list), 1000):
        client.log_batch(run_id, metrics=metric_list[start : start + 1000])
    for start in range(0, len(tag_list), 100):
        client.log_batch(run_id, tags=tag_list[start : start + 100])
    for folder, path in artifacts:
        client.log_artifact(run_id, str(path), artifact_path=folder)
    for artifact_file, text in (texts or {}).items():
        client.log_text(run_id, text, artifact_file)


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
    """Write ``run.json`` (what later stages need to add to the run and find the model)."""
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
