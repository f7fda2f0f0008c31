"""The checks that stop the train stage: too few events, a booster without splits, a coin-flip model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from research.models import checks
from research.validation.discrimination import auc_confidence_interval


def test_event_counts_per_split_count_only_events():
    labels = pd.Series([1, 0, 1, 1, np.nan, 1])
    split = pd.Series(["train", "train", "valid", "oot", "oot", "latest"])
    assert checks.event_counts(labels, split, ("train", "valid", "oot")) == {
        "train": 1,
        "valid": 1,
        "oot": 1,
    }
    assert checks.event_counts(labels, split, ("test",)) == {"test": 0}


def test_enough_events_pass():
    verdict = checks.event_floor(
        "credit", "default_12m", {"train": 400, "valid": 90, "oot": 120}, floor=30
    )
    assert verdict.ok and verdict.message == ""
    verdict.raise_if_failed()


def test_too_few_events_stop_with_counts_and_settings():
    verdict = checks.event_floor(
        "rare", "default_6m", {"train": 200, "valid": 41, "oot": 7}, floor=30
    )
    assert not verdict.ok
    text = verdict.message
    for part in (
        "model 'rare'",
        "'default_6m'",
        "train 200, valid 41, oot 7",
        "short: oot",
        "split.min_events is 30",
        "split.oot_first_snapshot",
        "features.snapshots",
        "models.rare.enabled: false",
    ):
        assert part in text, part
    with pytest.raises(checks.DegenerateModelError, match="too few events"):
        verdict.raise_if_failed()


def test_too_few_events_in_an_undated_table_point_at_the_test_share():
    verdict = checks.event_floor(
        "flat", "bad", {"train": 5, "valid": 1, "test": 2}, floor=10, dated=False
    )
    assert not verdict.ok
    assert "split.test_fraction" in verdict.message
    assert "split.oot_first_snapshot" not in verdict.message


def test_tree_splits_count_trees_that_split():
    stump = "0:leaf=-0.1\n"
    grown = "0:[f0<0.5] yes=1,no=2,missing=1\n\t1:leaf=0.1\n\t2:leaf=-0.1\n"
    assert checks.tree_splits([stump, stump]) == 0
    assert checks.tree_splits([stump, grown]) == 1


def _random_problem(
    n: int = 4000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features and a label drawn independently of them: nothing to learn."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (rng.random(n) < 0.2).astype(float)
    half = n // 2
    return x[:half], y[:half], x[half:], y[half:]


def test_booster_of_single_leaves_stops_naming_min_child_weight():
    x, y, _, _ = _random_problem()
    booster = xgb.train(
        {"max_depth": 3, "min_child_weight": 1e6, "objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(x, label=y),
        num_boost_round=5,
    )
    verdict = checks.booster_grew(
        "churn", "churn_12m", booster.get_dump(), min_child_weight=1e6, max_depth=3
    )
    assert not verdict.ok
    for part in (
        "grew no split",
        "models.churn.xgb.min_child_weight",
        "models.churn.xgb.max_depth",
        "'churn_12m'",
    ):
        assert part in verdict.message, part


def test_a_grown_booster_passes():
    x, y, _, _ = _random_problem()
    y = (x[:, 0] > 0.5).astype(float)
    booster = xgb.train(
        {"max_depth": 2, "objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(x, label=y),
        num_boost_round=3,
    )
    assert checks.booster_grew("m", "y", booster.get_dump(), min_child_weight=1, max_depth=2).ok


def test_a_label_unrelated_to_every_feature_stops_on_the_validation_auc():
    x, y, x_valid, y_valid = _random_problem()
    booster = xgb.train(
        {
            "max_depth": 3,
            "min_child_weight": 1,
            "objective": "binary:logistic",
            "nthread": 1,
            "seed": 1,
        },
        xgb.DMatrix(x, label=y),
        num_boost_round=20,
    )
    assert checks.booster_grew("noise", "y", booster.get_dump(), min_child_weight=1, max_depth=3).ok
    score = booster.predict(xgb.DMatrix(x_valid))
    verdict = checks.validation_discrimination(
        "noise", "random_label", y_valid, score, min_child_weight=1, max_depth=3
    )
    assert not verdict.ok
    for part in (
        "model 'noise'",
        "indistinguishable from 0.5",
        "'random_label'",
        "models.noise.xgb.min_child_weight",
        "models.noise.enabled: false",
    ):
        assert part in verdict.message, part
    with pytest.raises(checks.DegenerateModelError, match="indistinguishable from 0.5"):
        verdict.raise_if_failed()


def test_a_model_that_ranks_passes_the_discrimination_check():
    rng = np.random.default_rng(4)
    y = (rng.random(2000) < 0.1).astype(float)
    score = y * 0.5 + rng.random(2000)
    assert checks.validation_discrimination("m", "y", y, score, min_child_weight=1, max_depth=3).ok


def test_one_class_is_not_judged_here():
    # the event floor stops a split without events; this check has nothing to measure
    assert checks.validation_discrimination(
        "m", "y", [0, 0, 0], [0.1, 0.2, 0.3], min_child_weight=1, max_depth=3
    ).ok


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_interval_matches_the_validation_layers_delong(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3).astype(float)
    score = np.round(y * 0.3 + rng.random(500), 2)  # ties included
    ours = checks.auc_interval(y, score)
    theirs = auc_confidence_interval(y, score)
    assert ours == pytest.approx(theirs, abs=1e-9)
