"""Flat-table mode: any modeling table (id, optional date, label, features) gives the same model and scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _panel_fixtures import GRADES, SMALL_XGB, make_flat_table
from research.models import flat, scoring, splits, train
from research.models.io import load_scoring_model, save_scoring_model


def _train_flat(raw: pd.DataFrame, date_column: str | None):
    table, date_column = flat.prepare_modeling_table(
        raw, id_column="loan_id", date_column=date_column, label="bad"
    )
    features = flat.modeling_features(
        table, id_column="loan_id", date_column=date_column, labels=["bad"]
    )
    split = splits.assign_splits(
        table,
        id_column="loan_id",
        date_column=date_column,
        label="bad",
        oot_first_snapshot="2023-01-01",
        horizon_months=6,
        valid_fraction=0.25,
        test_fraction=0.25,
        seed=4,
    )
    splits.check_splits(table, split, id_column="loan_id", date_column=date_column)
    layout = train.feature_layout(table, features, {"debt_ratio": 1})
    settings = scoring.FitSettings(label="bad", xgb=SMALL_XGB, calibration_method="platt", **GRADES)
    model, _ = scoring.fit_scoring_model(
        table, split, settings=settings, layout=layout, nthread=2, seed=4
    )
    scores = scoring.score_table(
        model, table, split, id_column="loan_id", date_column=date_column, label="bad"
    )
    return model, table, split, scores


@pytest.mark.parametrize("with_date", [True, False], ids=["dated", "undated"])
def test_flat_table_with_mixed_types_trains_and_scores(tmp_path, with_date):
    raw = make_flat_table(with_date=with_date)
    path = tmp_path / "loans.csv"
    raw.to_csv(path, index=False)
    read = flat.read_modeling_table(path)
    model, table, split, scores = _train_flat(read, "application_date" if with_date else "")
    assert model.layout.categories.keys() == {"purpose", "home"}
    assert set(model.layout.numeric) == {"age", "income", "debt_ratio", "has_guarantor"}
    assert model.layout.monotone == {"debt_ratio": 1}
    assert (
        len(scores) == len(raw)
        and scores["score"].between(0, 1).all()
        and scores["challenger_score"].notna().all()
    )
    holdout = "oot" if with_date else "test"
    assert splits.holdout_name(split) == holdout
    assert set(scores["split"]) == (
        {"train", "valid", "oot", "purged"} if with_date else {"train", "valid", "test"}
    )
    assert scores["snapshot_date"].isna().all() != with_date
    results = scoring.model_metrics(scores)
    assert (
        results["holdout"] == holdout
        and results[holdout]["auc"] > 0.7
        and results["challenger"]["auc"] > 0.7
    )
    assert results[holdout]["n"] == (split == holdout).sum()


def test_parquet_with_native_types_gives_the_same_model_as_its_csv(tmp_path):
    raw = make_flat_table(with_date=False)
    raw.to_parquet(tmp_path / "loans.parquet", index=False)
    raw.to_csv(tmp_path / "loans.csv", index=False)
    from_parquet = _train_flat(flat.read_modeling_table(tmp_path / "loans.parquet"), None)[3]
    from_csv = _train_flat(flat.read_modeling_table(tmp_path / "loans.csv"), None)[3]
    assert np.allclose(from_parquet["score"], from_csv["score"])


def test_saved_flat_model_reloads_and_scores_identically(tmp_path):
    model, table, split, scores = _train_flat(make_flat_table(with_date=False), None)
    save_scoring_model(model, tmp_path / "model")
    again = load_scoring_model(tmp_path / "model")
    rescored = scoring.score_table(
        again, table, split, id_column="loan_id", date_column=None, label="bad"
    )
    pd.testing.assert_frame_equal(scores, rescored)


def test_bad_tables_get_clear_errors(tmp_path):
    raw = make_flat_table(n_rows=50, with_date=False)
    with pytest.raises(KeyError, match="application_date.*date_column"):
        flat.prepare_modeling_table(
            raw, id_column="loan_id", date_column="application_date", label="bad"
        )
    with pytest.raises(KeyError, match="'client'.*id_column"):
        flat.prepare_modeling_table(raw, id_column="client", date_column="", label="bad")
    with pytest.raises(ValueError, match="label column 'home'.*rent"):
        flat.prepare_modeling_table(raw, id_column="loan_id", date_column="", label="home")
    (tmp_path / "loans.xlsx").write_text("x")
    with pytest.raises(ValueError, match=".parquet or .csv"):
        flat.read_modeling_table(tmp_path / "loans.xlsx")
    with pytest.raises(FileNotFoundError, match="models.<name>.source"):
        flat.read_modeling_table(tmp_path / "missing.csv")


def test_labels_may_be_booleans_or_censored():
    raw = pd.DataFrame({"id": [1, 2, 3], "y": [True, False, None], "x": [1.0, 2.0, 3.0]})
    table, _ = flat.prepare_modeling_table(
        raw.astype({"y": "boolean"}), id_column="id", date_column=None, label="y"
    )
    assert table["y"].tolist()[:2] == [1.0, 0.0] and np.isnan(table["y"].iloc[2])
    assert flat.modeling_features(
        table, id_column="id", date_column=None, labels=["y", "other"]
    ) == ["x"]
