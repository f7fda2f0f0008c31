"""Size-aware booster settings (``auto``), the round-cap note, the imbalance statement and repeated CV."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from research import cli
from research.config import ParamsError, parse_settings, read_params
from research.models import cv, scoring, train

XGB = {
    "n_estimators": 200,
    "learning_rate": 0.1,
    "max_depth": 3,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 10,
}


def flat_table(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    logit = 1.2 * x[:, 0] - 0.8 * np.abs(x[:, 1]) - 0.8
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "x0": x[:, 0],
            "x1": x[:, 1],
            "x2": x[:, 2],
            "x3": x[:, 3],
            "segment": rng.choice(["a", "b", "c"], rows),
            "event": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


FEATURES = ["x0", "x1", "x2", "x3", "segment"]
QUICK = {**XGB, "learning_rate": 0.3, "n_estimators": 30, "early_stopping_rounds": 5}


# --------------------------------------------------------------------------- auto settings


@pytest.mark.parametrize(
    ("rows", "events", "expected"),
    [
        (600, 180, 1.0),  # German credit's training rows: 180 / 200 = 0.9, floored at 1
        (6_400, 1_300, 6.5),  # bank churn's
        (19_200, 4_250, 21.2),  # Taiwan's
        (1_000, 900, 1.0),  # the minority class counts: 100 non-events
        (2_000_000, 400_000, 50.0),  # capped
        (50, 0, 1.0),  # no events at all: the floor (the event floor stops such a model)
    ],
)
def test_auto_min_child_weight_follows_the_formula(rows, events, expected):
    assert train.auto_min_child_weight(rows, events) == expected
    assert expected == round(
        min(max(min(events, rows - events) / train.MCW_EVENTS_PER_UNIT, 1.0), 50.0), 1
    )


def test_resolve_replaces_only_auto_and_says_what_it_chose():
    y = np.r_[np.ones(400), np.zeros(1600)]
    settings, chosen = train.resolve_xgb_settings({**XGB, "min_child_weight": "auto"}, y)
    assert chosen == {"min_child_weight": 2.0}
    assert settings == {**XGB, "min_child_weight": 2.0}
    assert train.resolve_xgb_settings(XGB, y) == (XGB, {})
    with pytest.raises(ValueError, match="xgb.max_depth cannot be 'auto'"):
        train.resolve_xgb_settings({**XGB, "max_depth": "auto"}, y)


def test_params_accept_auto_min_child_weight_and_name_the_key_otherwise():
    params = read_params()
    params["models"]["credit"]["xgb"]["min_child_weight"] = "auto"
    assert parse_settings(params).model("credit").xgb.min_child_weight == "auto"
    params["models"]["credit"]["xgb"]["min_child_weight"] = "automatic"
    with pytest.raises(
        ParamsError, match=r"models\.credit\.xgb\.min_child_weight must be float or auto"
    ):
        parse_settings(params)
    params["models"]["credit"]["xgb"]["n_estimators"] = "auto"
    params["models"]["credit"]["xgb"]["min_child_weight"] = 5
    with pytest.raises(ParamsError, match=r"models\.credit\.xgb\.n_estimators must be int"):
        parse_settings(params)


# --------------------------------------------------------------------------- fit report


def _fit(xgb_settings, table=None):
    table = flat_table() if table is None else table
    split = pd.Series(np.where(np.arange(len(table)) % 4 == 0, "valid", "train"), index=table.index)
    layout = train.feature_layout(table, FEATURES)
    settings = scoring.FitSettings(
        label="event", xgb=xgb_settings, calibration_method="platt", model="tiny"
    )
    return scoring.fit_scoring_model(
        table, split, settings=settings, layout=layout, nthread=1, seed=0
    )[1]


def test_hitting_the_round_cap_is_reported_with_the_setting_to_raise():
    report = _fit({**XGB, "n_estimators": 5, "early_stopping_rounds": 2})
    assert report.round_cap_hit and report.best_iteration == 4
    (note,) = report.notes
    assert "models.tiny.xgb.n_estimators (now 5)" in note
    assert "models.tiny.xgb.learning_rate (now 0.1)" in note


def test_no_note_when_early_stopping_stops_and_auto_is_resolved_on_the_training_rows():
    report = _fit({**XGB, "min_child_weight": "auto"})
    assert not report.round_cap_hit and report.notes == ()
    assert report.best_iteration < XGB["n_estimators"] - 1
    train_rows = flat_table().iloc[[i for i in range(600) if i % 4]]
    events = int(train_rows["event"].sum())
    assert report.resolved == {"min_child_weight": train.auto_min_child_weight(450, events)}
    assert report.xgb["min_child_weight"] == report.resolved["min_child_weight"]
    assert report.imbalance.startswith("none:") and "calibrated" in report.imbalance


# --------------------------------------------------------------------------- repeated CV


def test_repeated_cv_gives_folds_times_repeats_aucs_and_is_seeded():
    table = flat_table(600)
    first = cv.repeated_cv(
        table, label="event", features=FEATURES, xgb_settings=QUICK, folds=5, repeats=3, seed=1
    )
    booster = first.folds[first.folds["learner"] == cv.BOOSTER]
    challenger = first.folds[first.folds["learner"] == cv.CHALLENGER]
    assert len(booster) == len(challenger) == 15
    assert sorted(set(zip(booster["repeat"], booster["fold"], strict=True))) == [
        (r, f) for r in range(3) for f in range(5)
    ]
    assert booster["n_test"].sum() == 3 * len(table)
    assert 0.65 < first.mean(cv.BOOSTER) < 0.9 and 0 < first.std(cv.BOOSTER) < 0.1
    assert 0.65 < first.mean(cv.CHALLENGER) < 0.9
    summary = first.summary.set_index("learner")
    assert summary.loc[cv.BOOSTER, "n"] == 15
    again = cv.repeated_cv(  # the booster alone: the challenger's fit has no randomness
        table,
        label="event",
        features=FEATURES,
        xgb_settings=QUICK,
        folds=5,
        repeats=3,
        seed=1,
        challenger=False,
    )
    assert booster["auc"].tolist() == again.folds["auc"].tolist()
    assert booster["best_iteration"].tolist() == again.folds["best_iteration"].tolist()
    other = cv.repeated_cv(
        table,
        label="event",
        features=FEATURES,
        xgb_settings=QUICK,
        folds=5,
        repeats=1,
        seed=2,
        challenger=False,
    )
    assert not np.allclose(booster["auc"][:5], other.folds["auc"])
    assert "booster" in cv.format_summary(first)


def test_repeated_cv_resolves_auto_inside_the_training_folds_and_keeps_groups_together():
    table = flat_table(400)
    groups = table["id"] // 4  # four rows per customer
    result = cv.repeated_cv(
        table,
        label="event",
        features=FEATURES,
        xgb_settings={**QUICK, "min_child_weight": "auto"},
        folds=4,
        repeats=1,
        seed=0,
        challenger=False,
        groups=groups,
    )
    assert len(result.folds) == 4 and set(result.folds["learner"]) == {cv.BOOSTER}
    assert (result.folds["min_child_weight"] == 1.0).all()  # ~60 training events: the floor


def test_research_cv_prints_the_table_for_a_flat_model(tmp_path, monkeypatch, capsys):
    params = read_params()
    model = copy.deepcopy(params["models"]["credit"])
    model.update(
        task="propensity",
        description="a tiny flat table",
        label="event",
        registry_name="tiny-flat",
        grading="deciles",
        grades={"names": [], "upper_pd": []},
        source="tiny.csv",
        id_column="id",
        date_column="",
        features={"include": [], "exclude": []},
        monotone=False,
        xgb={**QUICK, "min_child_weight": "auto"},
    )
    params["models"]["tiny"] = model
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    flat_table(300).to_csv(tmp_path / "tiny.csv", index=False)
    monkeypatch.setenv("RESEARCH_ROOT", str(tmp_path))
    assert cli.main(["cv", "tiny", "--folds", "3", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "tiny: tiny.csv, 300 rows" in out and "3 folds x 2 repeats" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["booster"][1] == lines["challenger"][1] == "6"
    assert "min_child_weight 1" in out
