"""The train notebook end to end on a user's own flat table (no feature stage, no snapshot date)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _panel_fixtures import make_flat_table
from research.paths import run_file
from research.stages.notebook import run_notebook
from research.tracking import read_run_file

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("train_notebook")]


def test_train_notebook_on_a_flat_table_without_dates(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("params.yaml", "dvc.yaml", "notebooks/train.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "own").mkdir()
    make_flat_table(n_rows=1500, with_date=False).to_csv(
        tmp_path / "own" / "loans.csv", index=False
    )
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    credit = params["models"]["credit"]
    credit.update(source="own/loans.csv", id_column="loan_id", date_column="", label="bad")
    credit["xgb"]["n_estimators"] = 40
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    executed = run_notebook("train", model="credit", root=tmp_path, html=False)

    text = executed.read_text()
    # no machine path in the executed notebook: papermill's recorded paths are the project's
    assert str(tmp_path) not in text
    recorded = json.loads(text)["metadata"]["papermill"]
    assert recorded["input_path"] == "notebooks/train.ipynb"
    assert recorded["output_path"] == "reports/notebooks/train-credit.ipynb"
    assert "NO SNAPSHOT DATE" in text and "stratified random test split" in text
    assert "oracle comparison is skipped" in text
    headline = json.loads((tmp_path / "metrics" / "credit.json").read_text())["credit"]
    assert set(headline) == {"train", "valid", "test", "challenger"}  # no oracle for a flat table
    # the train stage's whole record: the headline figures and the fitting facts
    metrics = json.loads(
        (tmp_path / "metrics" / "diagnostics" / "credit" / "train.json").read_text()
    )
    assert metrics["holdout"] == "test" and "oracle" not in metrics
    assert headline["test"] == {k: metrics["test"][k] for k in headline["test"]}
    # issue 15: imbalance handling stated, the round cap reported with the setting to raise
    assert "class imbalance: none" in text and metrics["imbalance"].startswith("none")
    # min_child_weight: auto (the shipped default) resolved from the training events
    assert set(metrics["xgb_auto"]) == {"min_child_weight"}
    assert 1.0 <= metrics["xgb_auto"]["min_child_weight"] <= 50.0
    if metrics["round_cap_hit"]:
        assert "models.credit.xgb.n_estimators (now 40)" in text
        assert metrics["fit_notes"]
    for section in ("train", "valid", "test", "challenger"):
        assert {"auc", "gini", "ks", "brier", "logloss", "n", "events"} <= set(metrics[section]), (
            section
        )
    scores = pd.read_parquet(tmp_path / "data" / "scores" / "credit.parquet")
    assert len(scores) == 1500 and set(scores["split"]) == {"train", "valid", "test"}
    assert {
        "customer_id",
        "snapshot_date",
        "label",
        "score",
        "raw_score",
        "margin",
        "challenger_score",
        "grade",
    } <= set(scores.columns)
    run = read_run_file(run_file(tmp_path, "credit"))
    assert run["model_name"] == "credit_pd" and run["model_version"] == "1"
    for name in ("roc", "precision_recall", "calibration"):
        assert len(pd.read_csv(tmp_path / "plots" / "credit" / f"{name}.csv")) <= 200
