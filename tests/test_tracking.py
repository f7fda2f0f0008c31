"""MLflow at the edge: a training run logs enough to load the model back and reproduce the scores."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _panel_fixtures import fit_panel_model
from research import tracking
from research.models import scoring
from research.models.io import content_hash, save_scoring_model
from research.models.package import log_scoring_package

pytestmark = pytest.mark.xdist_group("tracking")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  features:\n    outs:\n    - path: data/features\n      md5: abc.dir\n",
        encoding="utf-8",
    )
    tracking.configure(root)
    return root


def _log(root, model_name, fitted, folder, seed=7):
    model, table, split, scores = fitted
    save_scoring_model(model, folder)
    results = scoring.model_metrics(scores)
    tags = {"seed": str(seed), "data_fingerprint": tracking.data_fingerprint(root, "features")}
    with tracking.model_run(root, model_name, tags=tags) as run:
        registry = tracking.log_training_run(
            model=model_name,
            registry_name={"credit": "credit_pd"}.get(model_name, model_name),
            params={
                "seed": seed,
                "models": {model_name: {"xgb": {"max_depth": 3}, "grades": {"names": ["A", "B"]}}},
            },
            metrics=results,
            model_folder=folder,
            log_model=lambda: log_scoring_package(
                model, table.head(5), name=tracking.MODEL_ARTIFACT
            ),
            content_hash=content_hash(folder),
        )
        record = tracking.write_run_file(
            folder / "run.json",
            run=run,
            model_name=registry["model_name"],
            model_version=registry["model_version"],
            model_uri=registry["model_uri"],
        )
    return record, registry


@pytest.fixture(scope="module")
def credit_run(project):
    fitted = fit_panel_model("default_12m", seed=7)
    record, registry = _log(project, "credit", fitted, project / "models" / "credit")
    return fitted, record, registry


def test_run_records_params_metrics_tags_and_artifacts(project, credit_run):
    import mlflow

    _, record, registry = credit_run
    assert tracking.read_run_file(project / "models" / "credit" / "run.json") == record
    assert record["model_name"] == "credit_pd" and registry["model_version"] == "1"
    run = mlflow.get_run(record["run_id"])
    assert run.data.params["models.credit.xgb.max_depth"] == "3"
    assert run.data.params["models.credit.grades.names"] == "['A', 'B']"
    assert {
        "oot.auc",
        "valid.ks",
        "train.brier",
        "challenger.auc",
        "challenger.valid.logloss",
    } <= set(run.data.metrics)
    tags = run.data.tags
    assert tags["seed"] == "7" and tags["model"] == "credit" and tags["git_commit"]
    assert tags["data_fingerprint"] == tracking.data_fingerprint(project, "features") != "unknown"
    assert tags["content_hash"] == content_hash(project / "models" / "credit")
    files = {
        f.path
        for f in mlflow.artifacts.list_artifacts(
            run_id=record["run_id"], artifact_path="model_files"
        )
    }
    assert {
        "model_files/features.json",
        "model_files/calibrator.json",
        "model_files/challenger.json",
        "model_files/master_scale.json",
    } <= files


def test_logged_model_has_signature_and_input_example(credit_run):
    from mlflow.models import get_model_info

    fitted, record, _ = credit_run
    info = get_model_info(f"runs:/{record['run_id']}/model")
    assert info.signature is not None
    inputs = [c.name for c in info.signature.inputs.inputs]
    assert [c for c in inputs if c not in ("customer_id", "snapshot_date")] == list(
        fitted[0].layout.features
    )
    assert info.saved_input_example_info is not None


def test_model_loaded_back_from_the_run_reproduces_the_scores_exactly(
    project, credit_run, tmp_path
):
    (model, table, split, scores), record, _ = credit_run
    loaded = tracking.load_logged_model(project, record["run_id"], tmp_path)
    rescored = scoring.score_table(
        loaded,
        table,
        split,
        id_column="customer_id",
        date_column="snapshot_date",
        label="default_12m",
    )
    pd.testing.assert_frame_equal(scores, rescored, check_exact=True)


def test_registry_gets_a_new_version_only_when_the_content_changes(project, credit_run, tmp_path):
    fitted, first, _ = credit_run
    _, same = _log(project, "credit", fitted, tmp_path / "same")
    assert same["model_version"] == "1" and same["is_new"] == "false"
    _, changed = _log(
        project, "credit", fit_panel_model("default_12m", seed=8), tmp_path / "changed", seed=8
    )
    assert changed["model_version"] == "2" and changed["is_new"] == "true"
    _, churn = _log(
        project,
        "churn",
        fit_panel_model("churn_12m", monotone=False, graded=False),
        tmp_path / "churn",
    )
    assert churn["model_name"] == "churn" and churn["model_version"] == "1"


def test_numeric_metrics_flatten_and_drop_text_and_empty_values():
    flat = tracking.numeric_metrics(
        {"holdout": "oot", "oot": {"auc": 0.7, "n": 10, "gini": None}, "ok": True}
    )
    assert flat == {"oot.auc": 0.7, "oot.n": 10.0}


def test_file_fingerprint_changes_with_content(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a\n1\n")
    first = tracking.file_fingerprint(path)
    path.write_text("a\n2\n")
    assert len(first) == 16 and tracking.file_fingerprint(path) != first


def test_run_file_is_json_with_what_later_stages_need(credit_run):
    _, record, _ = credit_run
    assert json.loads(json.dumps(record)).keys() >= {
        "run_id",
        "model_name",
        "model_version",
        "experiment_id",
        "tracking_uri",
    }


# --- faults: a run ends with what happened, and nothing reopens or abandons one --------


def _gone_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_ends_failed_on_an_exception_and_killed_on_a_signal(project):
    import os
    import signal
    import threading

    import mlflow

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled in the main thread only")
    with pytest.raises(ValueError), tracking.model_run(project, "faults") as run:
        raise ValueError("broken")
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"

    class Delivered(Exception):
        pass

    def delivered(signum, frame):
        raise Delivered(signum)

    previous = signal.signal(signal.SIGTERM, delivered)
    try:
        with pytest.raises(Delivered), tracking.model_run(project, "faults") as run:
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    # the run was closed as KILLED, then the signal went on to its own handler
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"
    assert mlflow.active_run() is None
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags[tracking.PID_TAG] == str(os.getpid())
    assert len(tags[tracking.HOST_TAG]) == 12


def test_sigterm_ends_the_run_as_killed_and_the_process_as_terminated(project):
    import os
    import signal
    import subprocess
    import sys

    import mlflow

    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from research import tracking\n"
        "with tracking.model_run(Path(sys.argv[1]), 'faults') as run:\n"
        "    print(run.info.run_id, flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert mlflow.get_run(run_id).info.status == "KILLED"


def test_later_stages_log_to_a_finished_run_without_reopening_it(project, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    with tracking.model_run(project, "faults") as run:
        pass
    before = mlflow.get_run(run.info.run_id).info
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    tracking.log_to_finished_run(
        project,
        run.info.run_id,
        metrics={"explain": {"rows": 10, "label": "text", "timing": {"seconds": 1.5}}},
        artifacts=[("explain", report)],
        tags={"validation.red": "0"},
        texts={"validation/checks.csv": "check,light\nauc,green\n"},
    )
    after = mlflow.get_run(run.info.run_id)
    assert (after.info.status, after.info.end_time) == ("FINISHED", before.end_time)
    assert after.data.metrics == {"explain.rows": 10.0, "explain.timing.seconds": 1.5}
    assert after.data.tags["validation.red"] == "0"
    files = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "explain")}
    files |= {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "validation")}
    assert files == {"explain/report.html", "validation/checks.csv"}


def test_configure_closes_runs_left_running_by_a_dead_or_reopening_process(project):
    import os

    from mlflow import MlflowClient

    from research import _process

    exp_id = tracking.configure(project)
    client = MlflowClient()
    here = _process.host_id()

    def running(pid, host=here):
        tags = {tracking.PID_TAG: str(pid), tracking.HOST_TAG: host, tracking.START_TAG: ""}
        return client.create_run(exp_id, tags=tags, run_name="faults").info.run_id

    dead, alive, elsewhere = running(_gone_pid()), running(os.getpid()), running(1, "other")
    untagged = client.create_run(exp_id, run_name="faults").info.run_id
    reopened = running(os.getpid())
    client.set_terminated(reopened, "FINISHED")
    end_time = client.get_run(reopened).info.end_time
    client.update_run(reopened, status="RUNNING")  # what mlflow.start_run(run_id=...) did
    try:
        tracking.configure(project)  # what every stage does first
        assert client.get_run(dead).info.status == "KILLED"
        assert client.get_run(dead).data.tags[tracking.CLOSED_TAG]
        restored = client.get_run(reopened).info
        assert (restored.status, restored.end_time) == ("FINISHED", end_time)
        for run_id in (alive, elsewhere, untagged):
            assert client.get_run(run_id).info.status == "RUNNING"
        assert tracking.close_abandoned_runs(exp_id) == {}, "nothing left to close"
    finally:
        for run_id in (alive, elsewhere, untagged):
            client.set_terminated(run_id, "KILLED")


def test_panel_schema_is_the_schema_mlflow_infers_for_text_numbers_and_gaps():
    import numpy as np
    from mlflow.types.utils import _infer_schema

    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(["C1", "C2", None, "C4"], dtype="str"),
            "segment": pd.Series(["a", np.str_("b"), "c", None], dtype=object),
            "mixed": pd.Series([1, 2.5, None, 4], dtype=object),
            "amount": [1.0, np.nan, 3.0, 4.0],
            "count": [1, 2, 3, 4],
            "flag": [True, False, True, True],
            "snapshot_date": pd.to_datetime(["2024-01-01"] * 4),
        }
    )
    assert tracking.panel_schema(frame) == _infer_schema(frame)
