"""Batch scoring (``research score``): a registered model scores new tables at one snapshot.

One small project for the module: 400 generated firms over five years, the panel, a small
PD model fitted on it and registered as ``credit_pd`` with the ``champion`` alias.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research import registry, tracking
from research.data.io import load_validated, write_tables
from research.data.synthetic import generate_portfolio
from research.features.catalog import catalog_for
from research.features.snapshot import build_panel, snapshot_dates
from research.labels import label_names
from research.models import flat, scoring, splits, train
from research.models.io import content_hash, save_scoring_model
from research.models.package import log_scoring_package
from research.paths import model_dir, panel_path, scores_path
from research.scoring_batch import (
    REFERENCE_ARTIFACT,
    ScoringInputError,
    check_inputs,
    score_batch,
    stability_path,
    summary_lines,
)
from research.stages._context import stage_context
from research.validation.stability import psi

pytestmark = pytest.mark.xdist_group("score_batch")

ROOT = Path(__file__).resolve().parents[1]
MODEL, REGISTRY, LABEL = "credit", "credit_pd", "default_12m"
START, MONTHS = "2020-01-01", 48  # the data run to 2023-12-31
LAST = "2024-01-01"  # the last snapshot: it sees every record
EARLIER = "2023-04-01"  # a snapshot with records after it
XGB = {
    "n_estimators": 40,
    "learning_rate": 0.1,
    "max_depth": 3,
    "min_child_weight": 2.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 10,
}


def _panel(tables, snapshots, settings, end):
    return build_panel(
        tables,
        [pd.Timestamp(s) for s in snapshots],
        default_dpd=settings.labels.default_dpd,
        horizons_months=settings.labels.horizons_months,
        observation_end=pd.Timestamp(end),
        **settings.features.panel_settings(),
    )[0]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with raw tables, a panel, a trained PD model, its scores, and the champion."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("score_project")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    settings = stage_context(root, write=False).settings
    tables = generate_portfolio(
        n_customers=400,
        start=START,
        months=MONTHS,
        scenario="baseline",
        transactions_per_month=4,
        seed=11,
        default_dpd=90,
        horizons_months=[12],
    ).tables
    raw = root / "data" / "raw"
    write_tables(tables, raw)
    tables = load_validated(raw)
    panel = _panel(tables, snapshot_dates("2021-01-01", LAST, 3), settings, LAST)
    table, date_column = flat.prepare_modeling_table(
        panel, id_column="customer_id", date_column="snapshot_date", label=LABEL
    )
    features = flat.modeling_features(
        table, id_column="customer_id", date_column=date_column, labels=label_names([12])
    )
    split = splits.assign_splits(
        table,
        id_column="customer_id",
        date_column=date_column,
        label=LABEL,
        oot_first_snapshot="2022-07-01",
        horizon_months=12,
        valid_fraction=0.3,
        test_fraction=0.2,
        seed=3,
    )
    layout = train.feature_layout(table, features, train.risk_directions(catalog_for(features)))
    spec = settings.model(MODEL)
    fit = scoring.FitSettings(
        label=LABEL,
        xgb=XGB,
        grade_names=tuple(spec.grades.names),
        grade_upper_pd=tuple(spec.grades.upper_pd),
    )
    model, _ = scoring.fit_scoring_model(
        table, split, settings=fit, layout=layout, nthread=2, seed=3
    )
    scores = scoring.score_table(
        model, table, split, id_column="customer_id", date_column=date_column, label=LABEL
    )
    folder = model_dir(root, MODEL)
    save_scoring_model(model, folder)
    scores_path(root, MODEL).parent.mkdir(parents=True)
    scores.to_parquet(scores_path(root, MODEL), index=False)
    panel_path(root).parent.mkdir(parents=True)
    panel.to_parquet(panel_path(root), index=False)
    with tracking.model_run(root, MODEL) as _run:
        registry = tracking.log_training_run(
            model=MODEL,
            registry_name=REGISTRY,
            params={"model": MODEL},
            metrics={},
            model_folder=folder,
            log_model=lambda: log_scoring_package(
                model, table.head(5), name=tracking.MODEL_ARTIFACT
            ),
            content_hash=content_hash(folder),
        )
    MlflowClient().set_registered_model_alias(REGISTRY, "champion", registry["model_version"])
    return {"root": root, "raw": raw, "tables": tables, "model": model, "scores": scores}


@pytest.fixture(scope="module")
def scored_last(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored") / "scores.parquet"
    result = score_batch(project["root"], MODEL, data=project["raw"], as_of=LAST, out=out)
    return result


def test_scores_at_a_snapshot_equal_the_model_on_the_panel_built_for_that_date(
    project, scored_last
):
    settings = stage_context(project["root"], write=False).settings
    one = _panel(project["tables"], [LAST], settings, LAST)
    expected = project["model"].score(one)
    written = pd.read_parquet(scored_last.out)
    assert len(written) == len(one) > 200
    assert written["customer_id"].tolist() == one["customer_id"].tolist()
    assert (written["snapshot_date"] == pd.Timestamp(LAST)).all()
    np.testing.assert_array_equal(written["probability"].to_numpy(), expected["score"].to_numpy())
    assert written["grade"].astype(str).tolist() == expected["grade"].astype(str).tolist()
    # and the training run's own scores of that snapshot (a panel of 13 snapshots)
    trained = project["scores"]
    trained = trained[trained["snapshot_date"] == pd.Timestamp(LAST)].reset_index(drop=True)
    np.testing.assert_array_equal(written["probability"].to_numpy(), trained["score"].to_numpy())
    assert written["grade"].astype(str).tolist() == trained["grade"].astype(str).tolist()
    # reason codes and the PD model's early-warning triggers beside every score
    assert written["reason_features"].notna().mean() > 0.9
    assert {"trigger_pd_rise", "trigger_grade_downgrade", "triggers", "on_watch"} <= set(written)
    assert written["previous_probability"].notna().mean() > 0.9  # scored one quarter earlier


def test_records_after_the_as_of_date_change_nothing(project, tmp_path):
    """Change every record dated on or after the snapshot: the output stays byte-equal."""
    cut = pd.Timestamp(EARLIER)
    changed = {name: frame.copy() for name, frame in project["tables"].items()}
    tx = changed["transactions"]
    late = tx["timestamp"] >= cut
    tx.loc[late, "amount"] = tx.loc[late, "amount"] * 3
    changed["transactions"] = tx[~late | (np.arange(len(tx)) % 2 == 0)]
    inter = changed["interactions"]
    changed["interactions"] = inter[inter["timestamp"] < cut]
    customers = changed["customers"]
    ended_late = customers["relationship_end_date"] >= cut
    customers.loc[ended_late, "relationship_end_date"] = pd.NaT
    assert late.sum() > 1000 and ended_late.any()
    folder = tmp_path / "changed"
    write_tables(changed, folder)

    outs = []
    for name, data in (("original", project["raw"]), ("changed", folder)):
        out = tmp_path / f"{name}.parquet"
        score_batch(project["root"], MODEL, data=data, as_of=EARLIER, out=out)
        outs.append(out)
    original, after = (pd.read_parquet(p) for p in outs)
    assert len(original) > 200
    pd.testing.assert_frame_equal(original, after, check_exact=True)
    reports = [json.loads(stability_path(p).read_text()) for p in outs]
    assert reports[0]["score"] == reports[1]["score"]
    assert reports[0]["features"] == reports[1]["features"]


def test_a_missing_table_stops_naming_the_columns_and_writes_nothing(project, tmp_path):
    folder = tmp_path / "no_financials"
    shutil.copytree(project["raw"], folder)
    (folder / "financials.parquet").unlink()
    out = tmp_path / "scores.csv"
    with pytest.raises(ScoringInputError) as err:
        score_batch(project["root"], MODEL, data=folder, as_of=LAST, out=out)
    message = str(err.value)
    assert "missing column" in message and "fin_" in message
    assert "financials: table absent" in message and "Fix:" in message
    assert not out.exists() and not stability_path(out).exists()


def test_a_mistyped_column_stops_before_anything_is_written(project, tmp_path):
    from research.data.schema import SchemaError

    folder = tmp_path / "text_amounts"
    shutil.copytree(project["raw"], folder)
    tx = pd.read_parquet(folder / "transactions.parquet")
    tx["amount"] = tx["amount"].astype(str).where(tx.index % 50 != 0, "n/a")
    tx.to_parquet(folder / "transactions.parquet", index=False)
    out = tmp_path / "scores.parquet"
    with pytest.raises(SchemaError, match="amount"):
        score_batch(project["root"], MODEL, data=folder, as_of=LAST, out=out)
    assert not out.exists() and not stability_path(out).exists()


def test_check_inputs_names_missing_and_mistyped_columns_and_reads_numbers_held_as_text():
    layout = train.FeatureLayout(
        features=("income", "debt_ratio", "home", "age"),
        categories={"home": ("own", "rent")},
        monotone={},
    )
    frame = pd.DataFrame(
        {
            "income": ["1200.5", " 300", ""],  # numbers as text: read as numbers
            "debt_ratio": ["0.3", "high", "0.1"],  # text: mistyped
            "home": ["own", "rent", "boat"],  # one unseen level: scored as missing
        }
    )
    with pytest.raises(ScoringInputError) as err:
        check_inputs(frame, layout, fix="send the table's columns")
    message = str(err.value)
    assert "1 missing column(s): age" in message
    assert "debt_ratio (a number expected" in message and "'high'" in message
    assert "income" not in message and "Fix: send the table's columns" in message

    good = frame.assign(debt_ratio=[0.3, 0.2, 0.1], age=[30, 40, 50])
    features, notes = check_inputs(good, layout)
    assert features["income"].tolist()[:2] == [1200.5, 300.0] and np.isnan(features["income"][2])
    assert features["age"].dtype == "float64"
    assert notes and "home" in notes[0] and "'boat'" in notes[0]
    with pytest.raises(ScoringInputError, match="home"):  # no known level at all
        check_inputs(good.assign(home=[1, 2, 3]), layout)


def test_the_stability_report_holds_the_score_psi_against_development(project, scored_last):
    report = json.loads(scored_last.report.read_text())
    assert report["version"] == "1" and report["asked"] == "champion"
    assert report["rows"] == len(scored_last.scores)
    score = report["score"]
    assert score["light"] in ("green", "amber", "red") and score["psi"] >= 0
    development = project["scores"][project["scores"]["split"].isin(["train", "valid"])]
    assert score["n_development"] == len(development)
    # the same binning as the validation pack's PSI
    assert score["psi"] == pytest.approx(
        psi(development["score"], scored_last.scores["probability"], bins=10), abs=1e-12
    )
    assert len(report["features"]) == len(project["model"].layout.features)
    csi = [f["csi"] for f in report["features"]]
    assert csi == sorted(csi, reverse=True)
    lines = summary_lines(scored_last)
    assert any(line.startswith("score PSI") for line in lines)
    assert any(line.startswith("top drifting features") for line in lines)


def test_the_reference_is_attached_to_the_run_and_used_without_the_project_data(
    project, scored_last, tmp_path
):
    from mlflow import MlflowClient

    listed = [a.path for a in MlflowClient().list_artifacts(scored_last.loaded.run_id, "scoring")]
    assert REFERENCE_ARTIFACT in listed
    moved = tmp_path / "scores.parquet"
    shutil.move(scores_path(project["root"], MODEL), moved)
    try:
        again = score_batch(
            project["root"], MODEL, data=project["raw"], as_of=LAST, out=tmp_path / "again.csv"
        )
    finally:
        shutil.move(moved, scores_path(project["root"], MODEL))
    assert REFERENCE_ARTIFACT in again.reference
    assert again.score_stability == scored_last.score_stability


def test_an_alias_that_does_not_exist_says_how_to_set_it(project, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient()
    with pytest.raises(registry.Refused, match="no version with the alias 'candidate'"):
        score_batch(
            project["root"],
            MODEL,
            data=project["raw"],
            as_of=LAST,
            out=tmp_path / "x.parquet",
            version="candidate",
        )
    client.delete_registered_model_alias(REGISTRY, "champion")
    try:
        with pytest.raises(registry.Refused) as err:
            score_batch(
                project["root"], MODEL, data=project["raw"], as_of=LAST, out=tmp_path / "x.parquet"
            )
    finally:
        client.set_registered_model_alias(REGISTRY, "champion", "1")
    assert str(err.value).startswith("no champion:")
    assert f"research promote {MODEL} --by <id>" in str(err.value)
    assert "--version N" in str(err.value)
    assert not (tmp_path / "x.parquet").exists()


def test_a_snapshot_after_the_data_is_refused(project, tmp_path):
    with pytest.raises(ValueError, match="lies after the data"):
        score_batch(
            project["root"], MODEL, data=project["raw"], as_of="2024-04-01", out=tmp_path / "x.csv"
        )


def test_a_flat_file_is_prepared_as_training_prepared_its_table(tmp_path):
    """Renamed columns and numbers held as text are read as training read them; the scores
    equal the model's on the prepared training rows; rows dated after --as-of are left out."""
    import dataclasses

    from _panel_fixtures import SMALL_XGB, make_flat_table
    from research.scoring_batch import LoadedVersion, _flat_rows

    raw = make_flat_table(n_rows=600).rename(columns={"debt_ratio": "debt[ratio]"})
    raw["income"] = raw["income"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")  # text
    table, date_column = flat.prepare_modeling_table(
        raw, id_column="loan_id", date_column="application_date", label="bad"
    )
    candidates = flat.modeling_features(
        table, id_column="loan_id", date_column=date_column, labels=["bad"]
    )
    table, features, record = flat.prepare_features(table, candidates)
    assert record.renamed == {"debt_ratio": "debt[ratio]"} and "income" in record.converted_numeric
    split = splits.assign_splits(
        table,
        id_column="loan_id",
        date_column=None,
        label="bad",
        oot_first_snapshot="",
        horizon_months=12,
        valid_fraction=0.2,
        test_fraction=0.2,
        seed=1,
    )
    layout = train.feature_layout(table, features)
    model, _ = scoring.fit_scoring_model(
        table,
        split,
        settings=scoring.FitSettings(label="bad", xgb=SMALL_XGB),
        layout=layout,
        nthread=2,
        seed=1,
    )
    settings = stage_context(ROOT, write=False).settings
    spec = dataclasses.replace(
        settings.model(MODEL),
        source="loans.csv",
        id_column="loan_id",
        date_column="application_date",
        label="bad",
    )
    loaded = LoadedVersion(model, "loans", "1", "1", "run", "", record.as_dict())
    path = tmp_path / "new_loans.csv"
    raw.drop(columns="bad").to_csv(path, index=False)  # no label in new data
    cut = pd.Timestamp("2022-12-31")
    rows, notes = _flat_rows(spec, loaded, path, cut)
    kept = (table["application_date"] <= cut).to_numpy()
    assert notes and "left out" in notes[0] and len(rows) == kept.sum() < len(table)
    assert rows["customer_id"].tolist() == table.loc[kept, "loan_id"].tolist()
    expected = model.score(table[kept].reset_index(drop=True))
    np.testing.assert_array_equal(model.score(rows)["score"].to_numpy(), expected["score"])
    with pytest.raises(ScoringInputError, match=r"debt\[ratio\]"):
        _flat_rows(spec, loaded, _without(raw, "debt[ratio]", tmp_path), cut)


def _without(frame: pd.DataFrame, column: str, folder: Path) -> Path:
    path = folder / f"without_{len(list(folder.iterdir()))}.csv"
    frame.drop(columns=column).to_csv(path, index=False)
    return path
