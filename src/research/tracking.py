"""MLflow at the edge: one place sets up the store and logs runs (stages only).

Where runs go. The store is SQLite (``mlruns/mlflow.db``) with its artifacts in
``mlruns/artifacts/``, inside the project, found by ``research.paths.mlruns_dir``. A DVC
experiment run in a temporary copy (``dvc exp run --temp``, ``--queue`` then ``dvc queue
start``; the copy lives under ``<repo>/.dvc/tmp/exps/`` and is deleted afterwards) logs to the
store of the project it was copied from, so its runs outlive the copy.

A copied or moved project logs into itself. MLflow records artifact locations as absolute
URIs (it makes a relative location absolute when the experiment is created, and has no API
to change it), so a copy of the project would go on writing into the original folder.
``configure`` notices when the store's recorded locations point at another ``mlruns/`` and
rewrites them to this one (``relocate_store``: once, in one SQLite transaction, under the
store's lock); the original store is never opened. ``configure`` holds an exclusive lock
(``mlruns/.lock``) while it creates, relocates or opens the store, so two processes that
start together (queued experiments, ``dvc queue start -j 2``, the train stages of two models)
do not both create the schema or the experiment, and the registration holds it too
(``registry_lock``: a new version and its aliases); past that, MLflow's SQLite sessions wait
for each other (``busy_timeout``).

What a run records. Every run is tagged with its model, git commit, data fingerprint, its
process (below) and, under ``dvc exp run``, the experiment (``dvc_experiment``, from DVC's
``DVC_EXP_NAME``; ``dvc_experiment_baseline``). Nothing names the OS user or a machine path:
``mlflow.user`` is ``research``, ``mlflow.source.name`` the DVC stage (``dvc.yaml:train@credit``)
or the script relative to the project, and a git remote is kept only as a network URL without
credentials. These are set by a run-context provider this module registers with MLflow, so
logged models get them too. The run file (``write_run_file``) records the tracking URI
relative to the project (``sqlite:///mlruns/mlflow.db``; ``resolve_tracking_uri`` makes it
absolute). Telemetry is off.

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
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

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
# The DVC experiment a run belongs to (``dvc exp run`` sets these for its stage commands).
EXPERIMENT_TAG = "dvc_experiment"
BASELINE_TAG = "dvc_experiment_baseline"
# Who a run says started it, in place of the OS user name MLflow would record.
RUN_USER = "research"

DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
LOCK_FILE = ".lock"
# The tracking URI that run.json records: relative to the project folder.
RUN_FILE_TRACKING_URI = f"sqlite:///mlruns/{DB_FILE}"

_log = logging.getLogger(__name__)


def store_dir(root: Path) -> Path:
    """The project's MLflow store folder (absolute; a DVC experiment copy's is its origin's)."""
    return mlruns_dir(root).resolve()


def tracking_uri(root: Path) -> str:
    """The SQLite tracking URI of the project's store (absolute)."""
    return f"sqlite:///{store_dir(root) / DB_FILE}"


def resolve_tracking_uri(root: Path, uri: str) -> str:
    """A tracking URI as ``run.json`` records it, made absolute: a relative SQLite path is the project's."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix) :].startswith("/"):
        return uri
    first, _, rest = uri[len(prefix) :].partition("/")
    path = store_dir(root) / rest if first == "mlruns" else Path(root).resolve() / first / rest
    return f"{prefix}{path}"


def artifact_root(root: Path) -> str:
    """Where the project's experiment keeps its artifacts (a ``file://`` URI)."""
    return (store_dir(root) / ARTIFACTS_DIR).as_uri()


def configure(root: Path, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the project store and return the experiment id.

    Creates the store, or moves its recorded artifact locations here when it was copied or
    moved from another folder, under the store's lock; then closes abandoned runs.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    store = store_dir(root)
    store.mkdir(parents=True, exist_ok=True)
    with store_lock(store):
        relocate_store(root)
        mlflow.set_tracking_uri(tracking_uri(root))
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            exp_id = mlflow.create_experiment(experiment, artifact_location=artifact_root(root))
            _pin_default_experiment(store)
        else:
            exp_id = found.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    _register_context(root)
    close_abandoned_runs(exp_id)
    return exp_id


class _HeldLock:
    """This process's hold on one store's lock: a thread lock and how deep the holder is in it."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0


_HELD: dict[str, _HeldLock] = {}
_HELD_GUARD = threading.Lock()


@contextmanager
def store_lock(store: Path) -> Iterator[None]:
    """Hold the store's exclusive lock (``mlruns/.lock``) for the block (no lock where fcntl is missing).

    Other processes wait for it (``fcntl.flock``), other threads of this process too; a block
    of the thread that holds it takes it again without waiting (the registration holds it
    around calls that configure the store), so nesting never deadlocks.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux or macOS
        yield
        return
    store = Path(store)
    key = str(store.resolve())
    with _HELD_GUARD:
        held = _HELD.setdefault(key, _HeldLock())
    with held.thread_lock:
        if held.depth:
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
            return
        store.mkdir(parents=True, exist_ok=True)
        with open(store / LOCK_FILE, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.depth = 1
            try:
                yield
            finally:
                held.depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


def configured_store() -> Path | None:
    """The folder of the SQLite store MLflow is pointed at (``configure``), else None."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or not uri[len(prefix) :].startswith("/"):
        return None
    return Path(uri[len(prefix) :]).parent


@contextmanager
def registry_lock() -> Iterator[None]:
    """The configured store's lock (``store_lock``) around registry changes: versions and aliases.

    Two processes that register the same model at once (queued experiments) would otherwise
    both see "content changed" and both add a version, or set its aliases out of order.
    """
    store = configured_store()
    if store is None:
        yield
        return
    with store_lock(store):
        yield


# --- a copied or moved store: its recorded artifact locations follow it ---------------


def _local_path(location: str | None) -> Path | None:
    """The folder a local artifact location names (``file://`` URI or absolute path), else None."""
    if not location:
        return None
    if location.startswith("file:"):
        path = unquote(urlsplit(location).path)
    elif location.startswith("/"):
        path = location
    else:
        return None
    return Path(path) if path.startswith("/") else None


def _stores_recorded(con: Any) -> set[Path]:
    """The store folders (``<x>/mlruns``) that the experiments' artifact locations lie in."""
    import sqlite3

    try:
        rows = con.execute("SELECT artifact_location FROM experiments").fetchall()
    except sqlite3.OperationalError:  # no schema yet
        return set()
    found = set()
    for (location,) in rows:
        path = _local_path(location)
        for folder in (path, path.parent) if path is not None else ():
            if folder.name == ARTIFACTS_DIR and folder.parent.name == "mlruns":
                found.add(folder.parent)
                break
    return found


def _text_columns(con: Any) -> Iterator[tuple[str, str]]:
    tables = [
        name
        for (name,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        for _, column, declared, *_ in con.execute(f"PRAGMA table_info({_quoted(table)})"):
            kind = (declared or "").upper()
            if not kind or any(word in kind for word in ("CHAR", "TEXT", "CLOB", "STRING")):
                yield table, column


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rewrite_prefix(con: Any, old: Path, new: Path) -> int:
    """Replace ``old`` by ``new`` at the start of every text value that lies in ``old``; return the count."""
    pairs = {
        f"{old.as_uri()}/": f"{new.as_uri()}/",
        f"file://{old}/": f"{new.as_uri()}/",
        f"{old}/": f"{new}/",
    }
    exact = {old.as_uri(): new.as_uri(), f"file://{old}": new.as_uri(), str(old): str(new)}
    changed = 0
    for table, column in list(_text_columns(con)):
        sql_table, target = _quoted(table), _quoted(column)
        for before, after in pairs.items():
            changed += con.execute(
                f"UPDATE {sql_table} SET {target} = ? || substr({target}, ?) "
                f"WHERE substr({target}, 1, ?) = ?",
                (after, len(before) + 1, len(before), before),
            ).rowcount
        for before, after in exact.items():
            changed += con.execute(
                f"UPDATE {sql_table} SET {target} = ? WHERE {target} = ?",
                (after, before),
            ).rowcount
    return changed


def relocate_store(root: Path) -> list[Path]:
    """Point the store's recorded artifact locations into this project when it was made elsewhere.

    A copied or moved project's store still names the folder it was created in (experiments,
    runs, logged models and model versions record absolute ``file://`` locations). Every text
    value that lies in that other ``mlruns/`` is rewritten to lie in this one, in one
    transaction; the other folder is never opened. Returns the stores moved from (usually none).
    """
    import sqlite3

    store = store_dir(root)
    db = store / DB_FILE
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        if not _stores_recorded(con) - {store}:
            return []
        con.execute("BEGIN IMMEDIATE")
        try:
            moved = sorted(_stores_recorded(con) - {store})  # again, under the write lock
            changed = sum(_rewrite_prefix(con, old, store) for old in moved)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    _log.info(
        "the MLflow store was copied or moved here: %d recorded locations now point into it",
        changed,
    )
    return moved


def _pin_default_experiment(store: Path) -> None:
    """Keep MLflow's Default experiment inside the store (it is created under the working directory)."""
    import sqlite3

    con = sqlite3.connect(store / DB_FILE, timeout=60)
    try:
        with con:
            con.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0 "
                "AND NOT EXISTS (SELECT 1 FROM runs WHERE experiment_id = 0)",
                ((store / ARTIFACTS_DIR / "0").as_uri(),),
            )
    finally:
        con.close()


# --- who and what started a run: no OS user, no machine path ---------------------------

_CONTEXT: dict[str, Path] = {}


def experiment_tags() -> dict[str, str]:
    """The DVC experiment of this process (``dvc exp run`` sets it for its stages), or nothing."""
    tags = {}
    if name := os.environ.get("DVC_EXP_NAME"):
        tags[EXPERIMENT_TAG] = name
        if baseline := os.environ.get("DVC_EXP_BASELINE_REV"):
            tags[BASELINE_TAG] = baseline
    return tags


def source_tags(root: Path) -> dict[str, str]:
    """``mlflow.user``, ``mlflow.source.name`` and ``.type`` without the user name or a machine path.

    The source is the DVC stage (``DVC_STAGE``) when DVC runs it, else the script relative to
    the project, else the script's file name.
    """
    stage = os.environ.get("DVC_STAGE")
    if stage:
        name, kind = (stage if ":" in stage else f"dvc.yaml:{stage}"), "JOB"
    else:
        main = sys.argv[0] if sys.argv and sys.argv[0] else "<console>"
        try:
            name = Path(main).resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            name = Path(main).name or main
        kind = "LOCAL"
    return {"mlflow.user": RUN_USER, "mlflow.source.name": name, "mlflow.source.type": kind}


def public_remote(url: str | None) -> str:
    """A git remote as a run may record it: a network URL without credentials, else ``local``."""
    if not url:
        return "local"
    parts = urlsplit(url)
    if parts.scheme in {"http", "https", "ssh", "git", "git+ssh"} and parts.hostname:
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    scp = re.fullmatch(r"(?:[^@/:]+@)?([A-Za-z0-9.-]{2,}):([^/].*)", url)  # git@host:org/repo
    if scp and not Path(url).exists():
        return f"{scp[1]}:{scp[2]}"
    return "local"


def _register_context(root: Path) -> None:
    """Have MLflow tag every run and logged model of this process with ``source_tags`` (once)."""
    registered = bool(_CONTEXT)
    _CONTEXT["root"] = Path(root)
    if registered:
        return
    from mlflow.tracking.context.abstract_context import RunContextProvider
    from mlflow.tracking.context.git_context import GitRunContext
    from mlflow.tracking.context.registry import _run_context_provider_registry
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_REPO_URL

    class ProjectContext(RunContextProvider):
        """Last in MLflow's registry, so its tags replace those of the default providers."""

        def in_context(self) -> bool:
            return bool(_CONTEXT)

        def tags(self) -> dict[str, str]:
            tags = source_tags(_CONTEXT["root"])
            for provider in _run_context_provider_registry:
                if isinstance(provider, GitRunContext) and provider.in_context():
                    tags[MLFLOW_GIT_REPO_URL] = public_remote(
                        provider.tags().get(MLFLOW_GIT_REPO_URL)
                    )
            return tags

    _run_context_provider_registry.register(ProjectContext)


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
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def data_fingerprint(root: Path, stage: str = "data") -> str:
    """Hash of the data outputs (``DATA_OUTPUTS``) of ``stage`` as recorded in ``dvc.lock``.

    ``unknown`` before the first repro, or when the stage has no data output.
    """
    lock = root / "dvc.lock"
    if not lock.exists():
        return "unknown"
    with open(lock, encoding="utf-8") as fh:
        # libyaml's parser when PyYAML has it (the same values, a tenth of the time: dvc.lock is long)
        stages = (yaml.load(fh, Loader=_SAFE_LOADER) or {}).get("stages", {})
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
        **experiment_tags(),
        **source_tags(root),
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


# --- the modeling table as the run's dataset input --------------------------------------


def panel_schema(frame: Any) -> Any:
    """The MLflow schema of a frame as ``mlflow.data.from_pandas`` would infer it, in vectorised time.

    MLflow decides each column's ``required`` flag by testing every value in Python (about
    20 s for 200,000 x 120); here ``isna`` does it. Types come from the dtype, and for
    object columns from their non-missing values, as MLflow's own inference does.
    """
    from mlflow.types.schema import ColSpec, Schema, TensorSpec
    from mlflow.types.utils import _infer_pandas_column

    missing = frame.isna().any()
    specs: list[ColSpec | TensorSpec] = []
    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        values = column.dropna() if column.dtype.kind == "O" else column.iloc[:0]
        specs.append(
            ColSpec(
                type=_text_type(values) or _infer_pandas_column(values),
                name=str(name),
                required=not bool(missing.iloc[position]),
            )
        )
    return Schema(specs)


def _text_type(values: Any) -> Any:
    """``string`` for values that are all Python strings (MLflow's verdict, without typing each in Python), else None.

    MLflow types an object column value by value (``str`` and ``numpy.str_`` are ``string``);
    the type of every value is taken here in one pass and anything else is left to MLflow.
    """
    import numpy as np
    from mlflow.types import DataType

    if values.dtype.kind != "O" or not len(values):
        return None
    kinds = set(map(type, values.to_numpy(dtype=object)))
    return DataType.string if kinds <= {str, np.str_} else None


def log_panel_input(
    frame: Any, *, name: str, digest: str, source: str | Path, context: str = "training"
) -> None:
    """Log the modeling table as a dataset input of the active run, without hashing or profiling it twice.

    Args:
        frame: The table the model was trained on (a pandas DataFrame).
        name: The dataset's name (e.g. ``panel``).
        digest: Its content hash, computed by the caller (MLflow's own would re-hash the frame).
        source: Where it comes from, relative to the project (``data/features/panel.parquet``);
            an absolute path is refused (a run names no machine path).
        context: The input's role (``mlflow.data.context`` tag).

    The dataset records the source, the digest, the schema (``panel_schema``) and MLflow's
    profile (row and element counts); not the data.
    """
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    if Path(source).is_absolute() or str(source).startswith("file:"):
        raise ValueError(f"source must be relative to the project, not {source!r}")
    with warnings.catch_warnings():
        # "" and "file" both resolve a local path: MLflow warns that it picked one of the two
        warnings.filterwarnings("ignore", message="The specified dataset source")
        dataset = from_pandas(frame, source=Path(source).as_posix(), name=name, digest=digest)
    try:
        schema = panel_schema(frame)
    except Exception:  # a dataset without a schema is still worth logging
        schema = None
    dataset.__dict__["schema"] = schema  # fills the cached_property MLflow would compute slowly
    mlflow.log_input(dataset, context=context)


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

    Under the store's lock (``registry_lock``): two processes with the same content add one version.

    Returns:
        The version number (as text) that holds this content, and whether it is new.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.utils.logging_utils import disable_logging, enable_logging

    with registry_lock():  # the check and the new version, one process at a time
        client = MlflowClient()
        versions = client.search_model_versions(f"name = '{name}'")
        latest = max(versions, key=lambda v: int(v.version), default=None)
        if latest is not None and latest.tags.get(CONTENT_HASH_TAG) == content_hash:
            return str(latest.version), False
        disable_logging()  # MLflow prints "Successfully registered ..." to stderr; the stage says it
        try:
            created = mlflow.register_model(model_uri, name, tags={CONTENT_HASH_TAG: content_hash})
        finally:
            enable_logging()
        return str(created.version), True


def write_run_file(
    path: Path, *, run: Any, model_name: str, model_version: str, model_uri: str
) -> dict[str, str]:
    """Write ``run.json`` (what later stages need to add to the run and find the model).

    Its ``tracking_uri`` is relative to the project (``RUN_FILE_TRACKING_URI``), so the file
    names no machine path; ``resolve_tracking_uri`` makes it absolute.
    """
    import json

    record = {
        "run_id": run.info.run_id,
        "model_name": model_name,
        "model_version": model_version,
        "model_uri": model_uri,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": RUN_FILE_TRACKING_URI,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
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
    log_model: Callable[[], Any],
    content_hash: str,
    extra_artifacts: Sequence[tuple[str, Path]] = (),
    register: bool = True,
    on_registered: Callable[[str, str], Any] | None = None,
) -> dict[str, str]:
    """Inside an active run: params, metrics, the model files, the MLflow model, the registry.

    Args:
        model: The model's name in ``params.yaml`` (``models.<name>``).
        registry_name: Its name in the MLflow model registry.
        params: The parameters the stage used (nested; logged flattened).
        metrics: The metrics file's content (numeric leaves logged as ``section.name``).
        model_folder: ``models/<model>/`` (features, calibrator, challenger, grading).
        log_model: Logs the MLflow model in the active run and returns its ``ModelInfo`` (the
            train stage logs the packaged scoring model, ``research.models.package``; this
            module stays free of the model code so the stages that only log figures do not
            depend on it).
        content_hash: Hash of what decides the scores; a new registry version only when it changes.
        extra_artifacts: Further ``(artifact folder, file)`` pairs to log.
        register: Register the model (an interactive run logs it but registers nothing).
        on_registered: Called with the registry name and version, still under the registry
            lock (the train stage sets the ``candidate`` alias there, so concurrent runs of
            one model leave it on the version registered last).

    Returns:
        ``model_name``, ``model_version``, ``model_uri`` and whether the version ``is_new``.
    """
    import mlflow

    log_params(params)
    log_metrics(metrics)
    mlflow.log_artifacts(str(model_folder), artifact_path=MODEL_FILES_ARTIFACT)
    for folder, path in extra_artifacts:
        mlflow.log_artifact(str(path), artifact_path=folder)
    info = log_model()
    name = registry_name
    if not register:
        mlflow.set_tags({CONTENT_HASH_TAG: content_hash})
        return {
            "model_name": name,
            "model_version": "",
            "model_uri": info.model_uri,
            "is_new": "false",
        }
    with registry_lock():
        version, is_new = register_if_changed(info.model_uri, name, content_hash)
        if on_registered is not None:
            on_registered(name, version)
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
    """The scoring model as the run logged it, from its ``model_files`` artifacts (booster included)."""
    import mlflow

    from research.models.io import load_scoring_model

    configure(root)
    folder = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=MODEL_FILES_ARTIFACT, dst_path=str(dst)
    )
    return load_scoring_model(Path(folder))
