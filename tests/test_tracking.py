"""MLflow at the edge: a training run logs enough to load the model back and reproduce the scores."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _panel_fixtures import fit_panel_model
from research import tracking
from research.models import scoring
from research.models.io import content_hash, save_scoring_model
from research.models.train import model_matrix

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
            booster=model.booster,
            input_example=model_matrix(table.head(5), model.layout),
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
    assert [c.name for c in info.signature.inputs.inputs] == list(fitted[0].layout.features)
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
