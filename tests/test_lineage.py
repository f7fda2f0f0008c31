"""Lineage that survives a clone, a move and an experiment queue.

- A copied or moved project logs into itself, and leaves the original's store untouched.
- ``dvc exp run --temp`` and queued experiments log to the project's store, not to the
  temporary copy DVC deletes, tagged with the experiment's name.
- Runs, logged models and ``run.json`` name neither the OS user nor a machine path.
- The modeling table is logged as the run's dataset input, cheaply.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from research import tracking
from research.paths import experiment_origin, mlruns_dir

pytestmark = pytest.mark.xdist_group("lineage")

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _restore_tracking_uri():
    import mlflow

    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


def _env(**extra: str) -> dict[str, str]:
    """A clean environment for a child: no project root or DVC variables inherited from this run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DVC_", "RESEARCH_", "MLFLOW_TRACKING")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    env.update(extra)
    return env


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=_env(), check=True, capture_output=True)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _store_texts(store: Path) -> list[str]:
    """Every text value in the store's database."""
    con = sqlite3.connect(store / tracking.DB_FILE)
    try:
        values = []
        for table, column in tracking._text_columns(con):
            values += [
                v for (v,) in con.execute(f'SELECT "{column}" FROM "{table}"') if isinstance(v, str)
            ]
        return values
    finally:
        con.close()


# --- where a project's store is --------------------------------------------------------


def test_a_dvc_experiment_copy_logs_to_the_project_it_was_copied_from(tmp_path):
    repo = tmp_path / "repo"
    temp = repo / ".dvc" / "tmp" / "exps" / "standalone" / "tmpab12"
    queued = repo / ".dvc" / "tmp" / "exps" / "tmpcd34"
    for copy in (temp, queued):
        (copy / ".dvc").mkdir(parents=True)
    assert experiment_origin(temp) == repo.resolve()
    assert experiment_origin(queued) == repo.resolve()
    assert experiment_origin(temp / "sub") == (repo / "sub").resolve()
    # the copy already gone: DVC's layout decides
    gone = repo / ".dvc" / "tmp" / "exps" / "standalone" / "tmpgone"
    assert experiment_origin(gone) == repo.resolve()
    assert experiment_origin(repo / ".dvc" / "tmp" / "exps") == (repo / ".dvc/tmp/exps").resolve()
    assert experiment_origin(repo) == repo.resolve()
    assert mlruns_dir(temp) == repo.resolve() / "mlruns"
    assert tracking.tracking_uri(queued) == tracking.tracking_uri(repo)


def test_run_file_tracking_uri_is_relative_and_resolves_to_the_store(tmp_path):
    uri = tracking.RUN_FILE_TRACKING_URI
    assert uri == "sqlite:///mlruns/mlflow.db"
    assert tracking.resolve_tracking_uri(tmp_path, uri) == tracking.tracking_uri(tmp_path)
    absolute = f"sqlite:///{tmp_path}/elsewhere.db"
    assert tracking.resolve_tracking_uri(tmp_path, absolute) == absolute


def test_relocation_rewrites_only_what_lies_in_the_old_store(tmp_path):
    old, new = tmp_path / "a" / "mlruns", (tmp_path / "b" / "mlruns")
    new.mkdir(parents=True)
    con = sqlite3.connect(new / tracking.DB_FILE)
    con.executescript(
        "CREATE TABLE experiments (experiment_id INTEGER, artifact_location VARCHAR(2000));"
        "CREATE TABLE runs (run_uuid VARCHAR(32), artifact_uri VARCHAR(200), n INTEGER);"
    )
    con.executemany(
        "INSERT INTO experiments VALUES (?, ?)",
        [(0, f"{old}/artifacts/0"), (1, (old / "artifacts").as_uri()), (2, "s3://bucket/x")],
    )
    kept = [f"{old}2/artifacts/x", f"{tmp_path}/a/other", "s3://bucket/x/run"]
    con.executemany(
        "INSERT INTO runs VALUES (?, ?, 1)",
        [("r1", (old / "artifacts" / "r1").as_uri()), *(("k", v) for v in kept)],
    )
    con.commit()
    con.close()
    assert tracking.relocate_store(tmp_path / "b") == [old]
    con = sqlite3.connect(new / tracking.DB_FILE)
    assert dict(con.execute("SELECT experiment_id, artifact_location FROM experiments")) == {
        0: f"{new.resolve()}/artifacts/0",
        1: (new.resolve() / "artifacts").as_uri(),
        2: "s3://bucket/x",
    }
    runs = [v for (v,) in con.execute("SELECT artifact_uri FROM runs")]
    con.close()
    assert runs == [(new.resolve() / "artifacts" / "r1").as_uri(), *kept]
    assert tracking.relocate_store(tmp_path / "b") == [], "done once"


def test_public_remote_keeps_a_network_url_without_credentials(tmp_path):
    assert (
        tracking.public_remote("https://user:token@github.com/org/repo.git")
        == "https://github.com/org/repo.git"
    )
    assert tracking.public_remote("git@github.com:org/repo.git") == "github.com:org/repo.git"
    assert tracking.public_remote("ssh://me@host:2222/repo") == "ssh://host:2222/repo"
    for local in (str(tmp_path), tmp_path.as_uri(), "../sibling", None):
        assert tracking.public_remote(local) == "local"


# --- a logged project: what its runs say -----------------------------------------------

LOG_SCRIPT = """\
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb

from research import tracking

root = Path(sys.argv[1])
rng = np.random.default_rng(0)
table = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(table, table.a > 0.5), 3)
with tracking.model_run(root, "credit", tags={"seed": "7"}) as run:
    tracking.log_params({"seed": 7, "models": {"credit": {"xgb": {"max_depth": 2}}}})
    tracking.log_panel_input(table, name="panel", digest="d1", source="data/features/panel.parquet")
    mlflow.log_text("hello", "notes/hello.txt")
    info = tracking.log_booster(booster, table.head(3))
    version, _ = tracking.register_if_changed(info.model_uri, "credit_pd", "h1")
    tracking.write_run_file(
        root / "run.json", run=run, model_name="credit_pd", model_version=version,
        model_uri=info.model_uri,
    )
"""


# Tests using ``logged`` are slow: a child process logs a model (5-7 s).
@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A project cloned from a local repository, with one training-like run as a DVC stage logs it."""
    base = tmp_path_factory.mktemp("lineage")
    origin = base / "origin"
    origin.mkdir()
    _git(origin, "init", "-q")
    (origin / "log_train.py").write_text(LOG_SCRIPT, encoding="utf-8")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "init")
    _git(base, "clone", "-q", str(origin), "A")
    project = base / "A"
    env = _env(DVC_STAGE="train@credit", DVC_EXP_NAME="lineage-exp", DVC_EXP_BASELINE_REV="b" * 40)
    subprocess.run(
        [sys.executable, "log_train.py", str(project)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    record = tracking.read_run_file(project / "run.json")
    return base, project, record


@pytest.mark.slow
def test_runs_and_run_files_name_neither_the_user_nor_a_machine_path(logged):
    import mlflow
    from mlflow import MlflowClient

    base, project, record = logged
    tracking.configure(project)
    run = mlflow.get_run(record["run_id"])
    model = MlflowClient().get_logged_model(record["model_uri"].removeprefix("models:/"))
    version = MlflowClient().get_model_version("credit_pd", record["model_version"])
    dataset = run.inputs.dataset_inputs[0].dataset
    texts = {
        **{f"tag {k}": f"{k}={v}" for k, v in run.data.tags.items()},
        **{f"param {k}": f"{k}={v}" for k, v in run.data.params.items()},
        **{f"model tag {k}": f"{k}={v}" for k, v in model.tags.items()},
        **{f"version tag {k}": f"{k}={v}" for k, v in version.tags.items()},
        "version source": version.source,
        "dataset": f"{dataset.name} {dataset.source} {dataset.digest}",
        "run.json": (project / "run.json").read_text(encoding="utf-8"),
    }
    user, machine = getpass.getuser(), str(base.resolve())
    assert not [k for k, v in texts.items() if user in v or machine in v or str(base) in v]
    tags = run.data.tags
    assert tags["mlflow.user"] == model.tags["mlflow.user"] == tracking.RUN_USER
    assert tags["mlflow.source.name"] == "dvc.yaml:train@credit"
    assert tags["mlflow.source.git.repoURL"] == "local", "the clone's origin is a local folder"
    assert record["tracking_uri"] == "sqlite:///mlruns/mlflow.db"


@pytest.mark.slow
def test_runs_are_tagged_with_the_dvc_experiment(logged):
    import mlflow

    _, project, record = logged
    tracking.configure(project)
    tags = mlflow.get_run(record["run_id"]).data.tags
    assert tags[tracking.EXPERIMENT_TAG] == "lineage-exp"
    assert tags[tracking.BASELINE_TAG] == "b" * 40


@pytest.mark.slow
def test_the_modeling_table_is_the_runs_dataset_input(logged):
    import mlflow

    _, project, record = logged
    tracking.configure(project)
    (given,) = mlflow.get_run(record["run_id"]).inputs.dataset_inputs
    assert (given.dataset.name, given.dataset.digest) == ("panel", "d1")
    assert json.loads(given.dataset.source) == {"uri": "data/features/panel.parquet"}
    assert json.loads(given.dataset.profile) == {"num_rows": 60, "num_elements": 180}
    schema = json.loads(given.dataset.schema)["mlflow_colspec"]
    assert [c["name"] for c in schema] == ["a", "b", "c"]
    assert {t.key: t.value for t in given.tags} == {"mlflow.data.context": "training"}
    with pytest.raises(ValueError, match="relative"):
        tracking.log_panel_input(None, name="panel", digest="x", source=project / "panel.parquet")


@pytest.mark.slow
def test_a_copied_then_moved_project_logs_into_itself_and_leaves_the_original_alone(logged):
    import mlflow
    from mlflow import MlflowClient

    base, project, record = logged
    original = mlruns_dir(project)
    before = _hashes(original)
    copy = base / "B"
    shutil.copytree(project, copy)
    away = base / "A.away"  # the original out of reach: anything that still used it would fail
    project.rename(away)
    try:
        for root, came_from in ((copy, original), (base / "C", copy / "mlruns")):
            if root != copy:
                shutil.move(copy, root)
            assert tracking.relocate_store(root) == [came_from.resolve()]
            tracking.configure(root)
            store = mlruns_dir(root)
            with tracking.model_run(root, "credit") as run:
                mlflow.log_text("again", "notes/again.txt")
            assert (store / "artifacts" / run.info.run_id / "artifacts/notes/again.txt").exists()
            assert mlflow.get_run(run.info.run_id).info.artifact_uri.startswith(
                store.resolve().as_uri() + "/"
            )
            # the earlier run, its logged model and the registered version load from here
            assert (
                mlflow.artifacts.load_text(f"runs:/{record['run_id']}/notes/hello.txt") == "hello"
            )
            assert mlflow.xgboost.load_model("models:/credit_pd/1").num_boosted_rounds() == 3
            assert mlflow.xgboost.load_model(record["model_uri"]).num_boosted_rounds() == 3
            storage = MlflowClient().get_model_version_download_uri("credit_pd", "1")
            assert storage.startswith(store.resolve().as_uri() + "/")
            assert not [v for v in _store_texts(store) if str(came_from.parent) + "/" in v]
    finally:
        away.rename(project)
    assert _hashes(original) == before, "the original store is byte-identical"


@pytest.mark.slow
def test_two_processes_create_and_log_to_one_fresh_store_at_once(tmp_path):
    script = (
        "import sys\nfrom pathlib import Path\nfrom research import tracking\n"
        "for _ in range(5):\n"
        "    with tracking.model_run(Path(sys.argv[1]), 'together'):\n"
        "        pass\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-3000:]
    con = sqlite3.connect(mlruns_dir(tmp_path) / tracking.DB_FILE)
    statuses = [s for (s,) in con.execute("SELECT status FROM runs")]
    experiments = con.execute(
        "SELECT count(*) FROM experiments WHERE name = ?", ("corporate-lending",)
    )
    assert statuses == ["FINISHED"] * 10 and experiments.fetchone() == (1,)
    con.close()


# --- dvc exp run --temp and the queue ----------------------------------------------------

STAGE_SCRIPT = """\
import json
from pathlib import Path

import mlflow

from research import tracking
from research.paths import project_root

root = project_root()
with tracking.model_run(root, "exp") as run:
    mlflow.log_text("hello", "notes/hello.txt")
Path("run.json").write_text(json.dumps({"run_id": run.info.run_id}))
"""


def _dvc(project: Path, *args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=project,
        env=_env(DVC_SITE_CACHE_DIR=str(project / ".dvc" / "site-cache")),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_temp_and_queued_experiments_log_to_the_projects_store(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    _dvc(project, "init", "-q")
    (project / "log_run.py").write_text(STAGE_SCRIPT, encoding="utf-8")
    (project / "params.yaml").write_text("p: 1\n", encoding="utf-8")
    (project / ".gitignore").write_text("/mlruns/\n", encoding="utf-8")
    (project / "dvc.yaml").write_text(
        "stages:\n  log:\n"
        f"    cmd: {sys.executable} log_run.py\n"
        "    deps: [log_run.py]\n    params: [p]\n    outs: [run.json]\n",
        encoding="utf-8",
    )
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "init")

    _dvc(project, "exp", "run", "--temp", "-S", "p=2", "-n", "temp-one")
    _dvc(project, "exp", "run", "--queue", "-S", "p=3", "-n", "queued-one")
    _dvc(project, "exp", "run", "--queue", "-S", "p=4", "-n", "queued-two")
    try:
        _dvc(project, "queue", "start", "-j", "2")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = _dvc(project, "queue", "status")
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(2)
    finally:
        _dvc(project, "queue", "stop")
    assert status.count("Success") == 2, status

    con = sqlite3.connect(project / "mlruns" / tracking.DB_FILE)
    runs = dict(
        con.execute(
            "SELECT t.value, r.artifact_uri FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE t.key = ? AND r.status = 'FINISHED'",
            (tracking.EXPERIMENT_TAG,),
        )
    )
    con.close()
    assert set(runs) == {"temp-one", "queued-one", "queued-two"}
    for uri in runs.values():
        assert uri.startswith((project / "mlruns" / "artifacts").resolve().as_uri() + "/")
        assert Path(uri.removeprefix("file://"), "notes", "hello.txt").exists()
    assert not list((project / ".dvc" / "tmp").rglob("mlflow.db")), "no store in the copies"
