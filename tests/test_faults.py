"""Faults leave nothing wrong behind: no run left RUNNING, no kernel left writing, no stale report shown as current.

The unit tier checks the stale marker (which stages a failure makes stale, which reports
go, the front page's banner) and the process identity it and the MLflow runs rely on.
The slow tier kills real processes in a temporary git copy of the project at small
scale: SIGKILL in the middle of the data stage's writes and of the train stage's MLflow
logging, then checks that the working tree holds nothing new, that no run is RUNNING
once the next stage has configured the store, and that the next run gives byte-identical
outputs; and that a killed ``research notebook`` takes its Jupyter kernel with it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from _project import copy_project
from research import _process
from research.stages import _stale, stage_context

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("faults")


# ----------------------------------------------------------------------------- the stage graph


def _outs(body: dict) -> list[str]:
    paths = []
    for key in ("outs", "metrics", "plots"):
        for entry in body.get(key, []):
            paths.extend(entry if isinstance(entry, dict) else [entry])
    return paths


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def dvc_graph(models: list[str]) -> dict[str, set[str]]:
    """Stage -> stages whose deps overlap its outs, read from dvc.yaml (foreach expanded)."""
    instances: dict[str, tuple[list[str], list[str]]] = {}
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        if "foreach" in stage:
            for model in models:
                body = json.loads(json.dumps(stage["do"]).replace("${key}", model))
                instances[f"{name}@{model}"] = (body["deps"], _outs(body))
        else:
            instances[name] = (stage["deps"], _outs(stage))
    return {
        source: {
            target
            for target, (deps, _) in instances.items()
            if target != source and any(_overlaps(d, o) for d in deps for o in outs)
        }
        for source, (_, outs) in instances.items()
    }


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_stale_graph_is_the_dvc_graph():
    models = list(yaml.safe_load((ROOT / "params.yaml").read_text())["models"])
    graph = dvc_graph(models)
    for name in graph:
        stage, _, model = name.partition("@")
        assert set(_stale.downstream(stage, model or None, models)) == _closure(graph, name), name
    assert _stale.downstream("train", "credit", ["credit", "churn"]) == [
        "explain@credit",
        "validate@credit",
        "value",
        "report",
    ]


# ----------------------------------------------------------------------------- the marker


def _reports(root: Path, models=("credit", "churn")) -> None:
    for page in (
        "value.html",
        "index.html",
        *(f"{m}/{p}" for m in models for p in ("shap.html", "validation.html")),
    ):
        (root / "reports" / page).parent.mkdir(parents=True, exist_ok=True)
        (root / "reports" / page).write_text("<html>previous run</html>")


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_failure_takes_the_reports_downstream_down_and_a_success_clears_it(tmp_path):
    _reports(tmp_path)
    models = ["credit", "churn"]
    assert _stale.begin(tmp_path, "train", "credit", models) == []
    assert "train@credit" in _stale.read(tmp_path)["running"]
    record = _stale.fail(tmp_path, "train", "credit", models, "ValueError: no rows")
    assert record["stale"] == ["explain@credit", "validate@credit", "value", "report"]
    assert sorted(record["removed"]) == [
        "reports/credit/shap.html",
        "reports/credit/validation.html",
        "reports/value.html",
    ]
    assert (tmp_path / "reports/churn/shap.html").exists(), "another model's reports stay"
    assert (tmp_path / "reports/index.html").exists(), "the front page stays (to show the banner)"
    marker = _stale.read(tmp_path)
    assert marker["running"] == {} and marker["failures"]["train@credit"]["error"] == (
        "ValueError: no rows"
    )
    assert [f["stage"] for f in _stale.failures(tmp_path, models)] == ["train@credit"]
    assert _stale.failures(tmp_path, ["churn"]) == [], "a model no longer in params is no failure"
    _stale.begin(tmp_path, "train", "credit", models)
    _stale.succeed(tmp_path, "train", "credit")
    assert not _stale.marker_path(tmp_path).exists()


def test_a_stage_whose_process_died_is_recorded_by_the_next_start(tmp_path):
    _reports(tmp_path)
    models = ["credit", "churn"]
    _stale.begin(tmp_path, "data", None, models)
    marker = _stale.marker_path(tmp_path)
    content = json.loads(marker.read_text())
    content["running"]["data"]["pid"] = str(_gone_pid())  # as if SIGKILLed
    marker.write_text(json.dumps(content))
    assert _stale.begin(tmp_path, "report", None, models) == ["data"]
    failure = _stale.read(tmp_path)["failures"]["data"]
    assert "killed" in failure["error"] and "features" in failure["stale"]
    assert not any((tmp_path / "reports" / m / "shap.html").exists() for m in models)


def test_a_live_stage_on_this_host_or_any_on_another_is_left_running(tmp_path):
    models = ["credit"]
    _stale.begin(tmp_path, "data", None, models)
    marker = _stale.marker_path(tmp_path)
    content = json.loads(marker.read_text())
    content["running"]["features"] = {**content["running"]["data"], "host": "elsewhere"}
    content["running"]["features"]["pid"] = str(_gone_pid())
    marker.write_text(json.dumps(content))
    assert _stale.begin(tmp_path, "value", None, models) == []
    assert set(_stale.read(tmp_path)["running"]) == {"data", "features", "value"}


def test_the_error_line_is_the_cells_exception():
    class CellError(Exception):  # papermill's PapermillExecutionError carries these two
        ename, evalue = "ValueError", "bad rows\nmore"

    assert _stale.first_line(CellError("Exception encountered at In [3]")) == "ValueError: bad rows"
    assert _stale.first_line(RuntimeError("")) == "RuntimeError"
    assert _stale.first_line(KeyError("x\ny")) == "KeyError: 'x\\ny'"


def test_the_front_page_is_rewritten_with_a_banner_at_failure_and_without_after_success(
    tmp_path,
):
    from research.stages.report import refresh_front_page

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    ctx = stage_context(tmp_path, write=True)
    models = list(ctx.settings.models)
    assert refresh_front_page(ctx) is None, "no front page yet: none is written"
    _reports(tmp_path, models)
    _stale.fail(tmp_path, "features", None, models, "KeyError: 'snapshot_date'")
    assert refresh_front_page(ctx) == tmp_path / "reports/index.html"
    page = (tmp_path / "reports/index.html").read_text()
    assert 'class="stale-banner"' in page and "<code>features</code> failed" in page
    assert "KeyError: &#x27;snapshot_date&#x27;" in page
    for model in models:
        assert f'href="{model}/shap.html"' not in page
    _stale.succeed(tmp_path, "features", None)
    refresh_front_page(ctx)
    assert "stale-banner" not in (tmp_path / "reports/index.html").read_text()


# ----------------------------------------------------------------------------- process identity


def test_process_identity_tells_a_gone_or_reused_pid_from_a_live_one():
    me = _process.this_process()
    assert len(me["host"]) == 12 and os.uname().nodename not in me["host"]
    assert not _process.is_gone(me["pid"], me["host"], me["start"])
    assert _process.is_gone(_gone_pid(), me["host"])
    assert not _process.is_gone(_gone_pid(), "another-host"), "another host is never judged"
    if me["start"]:
        assert _process.is_gone(me["pid"], me["host"], me["start"] + "0"), "a reused pid"


def test_interrupted_blocks_see_the_signal_as_an_exception():
    if not _process.INTERRUPTS or os.name != "posix":
        pytest.skip("POSIX signals")
    import threading

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled in the main thread only")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(_process.Interrupted) as caught, _process.signals_raise():
        signal.raise_signal(signal.SIGTERM)
        time.sleep(1)
    assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


# ----------------------------------------------------------------------------- kills (slow)

SMALL = {
    "data.synthetic.n_customers": 600,
    "models.credit.xgb.n_estimators": 60,
    "models.churn.xgb.n_estimators": 60,
    # 600 firms: the shipped min_child_weight (50, sized for 100,000-row panels) grows no split
    "models.credit.xgb.min_child_weight": 5.0,
    "models.churn.xgb.min_child_weight": 5.0,
    "explain.report_sample": 200,
    "explain.interaction_sample": 40,
}


def _set(params: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        params = params[key]
    params[leaf] = value


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    """A git copy of the project (tracked and new files) at small scale, its data stage run once."""
    base = tmp_path_factory.mktemp("faults")
    root = base / "project"
    copy_project(root)
    params = copy.deepcopy(yaml.safe_load((root / "params.yaml").read_text()))
    for key, value in SMALL.items():
        _set(params, key, value)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
        # compiled modules cached outside the project: each process started here imports fast
        "PYTHONPYCACHEPREFIX": str(base / "pycache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    for name in ("PYTHONDONTWRITEBYTECODE", "RESEARCH_ROOT", "RESEARCH_PIPELINE", "DVC_STAGE"):
        env.pop(name, None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    _research(root, env, "stage", "data")
    return root, env


def _research(root: Path, env: dict, *args: str) -> None:
    done = subprocess.run(["research", *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"research {' '.join(args)}:\n{done.stderr[-4000:]}"


def _start(root: Path, env: dict, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [*prefix, "research", *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(condition: Callable[[], object], proc: subprocess.Popen, timeout: float = 120.0):
    """Poll ``condition`` every 10 ms until it returns something truthy (the process must still run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert proc.poll() is None, "the process ended before the moment to kill it"
        time.sleep(0.01)
    raise AssertionError("timed out waiting for the moment to kill")


def _files(folder: Path) -> dict[str, float]:
    found = {}
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            found[path.relative_to(folder).as_posix()] = path.stat().st_mtime_ns
    return found


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _git_status(root: Path, env: dict) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _query(root: Path, sql: str, *args) -> list[tuple]:
    for _ in range(200):
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{root / 'mlruns' / 'mlflow.db'}?mode=ro", uri=True)
            ) as db:
                return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # locked by the writer, or not created yet
            time.sleep(0.01)
    raise AssertionError("the MLflow store could not be read")


def _logging_run(root: Path, known: set[str]) -> str | None:
    """A new run that is RUNNING and has logged metrics: the train stage is inside MLflow logging."""
    rows = _query(
        root,
        "SELECT r.run_uuid FROM runs r WHERE r.status = 'RUNNING' AND EXISTS "
        "(SELECT 1 FROM metrics m WHERE m.run_uuid = r.run_uuid)",
    )
    fresh = [r[0] for r in rows if r[0] not in known]
    return fresh[0] if fresh else None


@pytest.mark.slow
def test_kill_mid_data_and_mid_logging_leaves_nothing_wrong(project):
    root, env = project
    started = time.monotonic()
    figures: dict[str, float] = {}
    reference = _digests(root / "data")  # the fixture's uninterrupted data run

    # SIGKILL while the data stage writes: the moment anything under data/ changes
    before = _files(root / "data")
    proc = _start(root, env, "stage", "data")
    t0 = time.monotonic()
    _wait_for(lambda: _files(root / "data") != before, proc)
    proc.kill()
    assert proc.wait() == -signal.SIGKILL
    figures["data: start to kill (s)"] = time.monotonic() - t0
    assert _git_status(root, env) == ""
    _research(root, env, "stage", "data")
    assert _digests(root / "data") == reference, "the next data run gives the same files"

    _research(root, env, "stage", "features")
    _research(root, env, "stage", "train", "--model", "credit")
    uninterrupted = (root / "metrics/credit.json").read_bytes()
    model_files = {k: v for k, v in _digests(root / "models/credit").items() if k != "run.json"}
    known = {r[0] for r in _query(root, "SELECT run_uuid FROM runs")}

    # SIGKILL while the train stage logs to MLflow: its new run is RUNNING with metrics logged
    proc = _start(root, env, "stage", "train", "--model", "credit")
    t0 = time.monotonic()
    run_id = _wait_for(lambda: _logging_run(root, known), proc)
    proc.kill()
    assert proc.wait() == -signal.SIGKILL
    figures["train: start to kill inside logging (s)"] = time.monotonic() - t0
    assert _query(root, "SELECT status FROM runs WHERE run_uuid = ?", run_id) == [("RUNNING",)]
    assert _git_status(root, env) == ""

    # the next stage configures the store: the killed run is closed, and the rerun matches
    t0 = time.monotonic()
    _research(root, env, "stage", "train", "--model", "credit")
    figures["train: rerun (s)"] = time.monotonic() - t0
    assert _query(root, "SELECT status FROM runs WHERE status = 'RUNNING'") == []
    assert _query(root, "SELECT status FROM runs WHERE run_uuid = ?", run_id) == [("KILLED",)]
    assert _query(
        root, "SELECT value FROM tags WHERE run_uuid = ? AND key = 'research.closed'", run_id
    ) == [("its process ended without closing it",)]
    assert (root / "metrics/credit.json").read_bytes() == uninterrupted
    assert {
        k: v for k, v in _digests(root / "models/credit").items() if k != "run.json"
    } == model_files
    assert _git_status(root, env) == ""
    figures["test wall time (s)"] = time.monotonic() - started
    print("\nkill test:", json.dumps({k: round(v, 2) for k, v in figures.items()}))


def _kernel_of(pid: int):
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    return next((c for c in children if "ipykernel_launcher" in " ".join(c.cmdline() or [])), None)


def _gone(process) -> bool:
    import psutil

    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(processes, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if all(_gone(p) for p in processes):
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError(f"still running after {timeout} s: {processes}")


@pytest.mark.slow
def test_a_killed_notebook_run_takes_its_kernel_with_it(project):
    pytest.importorskip("psutil")
    root, env = project
    models = list(yaml.safe_load((root / "params.yaml").read_text())["models"])
    _reports(root, models)
    proc = _start(root, env, "notebook", "features")
    kernel = _wait_for(lambda: _kernel_of(proc.pid), proc)
    time.sleep(1.0)  # the kernel is executing the stage
    proc.kill()
    proc.wait()
    seconds = _wait_gone([kernel], timeout=5.0)
    print(f"\nkernel gone {seconds:.2f} s after SIGKILL of research notebook")
    assert _git_status(root, env) == ""
    # SIGKILL let the stage record nothing; the next stage start finds it dead
    assert "features" in _stale.read(root)["running"]
    assert _stale.begin(root, "report", None, models) == ["features"]
    assert not (root / "reports/credit/shap.html").exists()
    _stale.succeed(root, "report", None)
    _stale.succeed(root, "features", None)


@pytest.mark.slow
def test_killing_dvc_stops_its_stage_and_the_kernel_and_marks_the_reports_stale(project):
    """``research notebook`` under DVC (``DVC_STAGE`` set) gets SIGTERM when DVC dies; it stops the kernel."""
    psutil = pytest.importorskip("psutil")
    root, env = project
    models = list(yaml.safe_load((root / "params.yaml").read_text())["models"])
    _reports(root, models)
    fake_dvc = (sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])")
    dvc = _start(root, {**env, "DVC_STAGE": "features"}, "notebook", "features", prefix=fake_dvc)
    stage = _wait_for(lambda: (psutil.Process(dvc.pid).children() or [None])[0], dvc)
    kernel = _wait_for(lambda: _kernel_of(stage.pid), dvc)
    time.sleep(1.0)
    dvc.kill()
    dvc.wait()
    seconds = _wait_gone([kernel, stage], timeout=30.0)
    print(f"\nstage and kernel gone {seconds:.2f} s after SIGKILL of its DVC")
    failure = _stale.read(root)["failures"]["features"]
    assert failure["error"] == "interrupted by SIGTERM"
    assert "train@credit" in failure["stale"] and "reports/value.html" in failure["removed"]
    page = (root / "reports/index.html").read_text()
    assert 'class="stale-banner"' in page and "<code>features</code> failed" in page
    assert (root / "reports/notebooks/features.ipynb").exists(), "the failure log is kept"
    assert _git_status(root, env) == ""
    _stale.succeed(root, "features", None)
