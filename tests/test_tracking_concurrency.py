"""Two processes that log to one fresh MLflow store at the same time (the train stages of two models).

Both create the store (SQLite schema, alembic migrations), get or create the experiment, log
a run and register models at once; ``research.tracking`` serialises the store's creation, the
experiment and the registration with the store's lock (``mlruns/.lock``), and MLflow's SQLite
sessions wait for each other (``busy_timeout``) while the runs log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from research import tracking

pytestmark = pytest.mark.xdist_group("tracking")

# One process: wait for the start signal, then log a run with params, many metrics, tags and an
# artifact, and register a version of its own model and of the model both share (same content).
CHILD = textwrap.dedent(
    """
    import json, sys, time, types
    from pathlib import Path

    root, model, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    import mlflow
    from research import registry, tracking

    (root / f"{model}.ready").touch()
    while not go.exists():
        time.sleep(0.002)
    with tracking.model_run(root, model) as run:
        for step in range(40):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.set_tag(f"step_{step % 5}", str(step))
        files = root / f"files_{model}"
        files.mkdir()
        (files / "features.json").write_text("[]", encoding="utf-8")
        info = types.SimpleNamespace(model_uri=mlflow.get_artifact_uri("model_files"))
        versions = {}
        for name, content in ((f"{model}_pd", model), ("shared_pd", "same content")):
            logged = tracking.log_training_run(
                model=model,
                registry_name=name,
                params={"model": model, "xgb": {"max_depth": 3, "eta": 0.1}},
                metrics={"oot": {"auc": 0.8, "gini": 0.6}},
                model_folder=files,
                log_model=lambda: info,
                content_hash=content,
                on_registered=lambda n, v: registry.mark_candidate(n, v, model, root=root),
            )
            versions[name] = [logged["model_version"], logged["is_new"] == "true"]
    print(json.dumps(versions))
    """
)


def _aliases(client, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _start(root: Path, model: str, go: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), model, str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # two fresh Python processes import MLflow (5-10 s on two busy cores)
def test_two_processes_create_log_and_register_in_one_fresh_store_at_once(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    go = tmp_path / "go"
    assert not (root / "mlruns").exists()
    procs = {model: _start(root, model, go) for model in ("credit", "churn")}
    deadline = time.monotonic() + 60
    while not all((root / f"{m}.ready").exists() for m in procs):  # both imported, neither begun
        assert time.monotonic() < deadline, "the processes did not start"
        assert all(p.poll() is None for p in procs.values()), "a process ended before the start"
        time.sleep(0.01)
    go.touch()
    out = {}
    for model, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{model} failed:\n{stderr[-3000:]}"
        assert "database is locked" not in stderr
        assert "IntegrityError" not in stderr
        out[model] = json.loads(stdout.strip().splitlines()[-1])

    from mlflow import MlflowClient

    exp_id = tracking.configure(root)
    client = MlflowClient()
    experiments = [e.name for e in client.search_experiments()]
    assert experiments.count(tracking.EXPERIMENT) == 1
    runs = client.search_runs([exp_id])
    assert sorted(r.data.tags["model"] for r in runs) == ["churn", "credit"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(len(client.get_metric_history(r.info.run_id, "loss")) == 40 for r in runs)
    for model in procs:  # each its own model's first version
        assert out[model][f"{model}_pd"] == ["1", True]
        assert _aliases(client, f"{model}_pd") == {"candidate": "1"}
    # the shared model: one version (the check and the registration are one step), made by one
    shared = client.search_model_versions("name = 'shared_pd'")
    assert [str(v.version) for v in shared] == ["1"]
    assert sorted(out[m]["shared_pd"][1] for m in procs) == [False, True]
    assert _aliases(client, "shared_pd") == {"candidate": "1"}


def test_the_store_lock_is_reentrant_in_its_process_and_excludes_others(tmp_path):
    store = tmp_path / "mlruns"
    with tracking.store_lock(store), tracking.store_lock(store):  # nesting does not wait for itself
        assert (store / tracking.LOCK_FILE).exists()
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, sys; h = open(sys.argv[1], 'a+b')\n"
                "try:\n    fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                "except BlockingIOError:\n    print('held')\nelse:\n    print('free')",
                str(store / tracking.LOCK_FILE),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stdout.strip() == "held"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; h = open(sys.argv[1], 'a+b')\n"
            "fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')",
            str(store / tracking.LOCK_FILE),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "free"
