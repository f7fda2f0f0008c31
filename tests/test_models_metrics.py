"""The shared metric functions on hand-checked examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from research.models import metrics

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_auc_gini_ks_on_a_hand_checked_example():
    assert metrics.auc(Y, P) == pytest.approx(0.75)
    assert metrics.gini(Y, P) == pytest.approx(0.5)
    assert metrics.ks(Y, P) == pytest.approx(0.5)


def test_brier_and_logloss_on_a_hand_checked_example():
    assert metrics.brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert metrics.logloss(Y, P) == pytest.approx(expected)
    assert math.isfinite(metrics.logloss([1, 0], [0.0, 1.0]))


def test_one_class_gives_none_not_nan():
    result = metrics.binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert result["auc"] is None and result["gini"] is None and result["ks"] is None
    assert (
        result["n"] == 3
        and result["events"] == 0
        and result["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)
    )


def test_bad_outcomes_are_refused():
    with pytest.raises(ValueError, match="0 and 1"):
        metrics.auc([0, np.nan, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="length"):
        metrics.auc([0, 1], [0.1])


def test_plot_data_is_small_and_spans_the_curve():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.1).astype(float)
    p = np.clip(y * 0.2 + rng.random(5000) * 0.8, 0, 1)
    roc = metrics.roc_points(y, p)
    assert (
        len(roc) <= 200
        and roc.iloc[0].tolist() == [0.0, 0.0]
        and roc.iloc[-1].tolist() == [1.0, 1.0]
    )
    pr = metrics.precision_recall_points(y, p)
    assert (
        len(pr) <= 200
        and list(pr.columns) == ["recall", "precision"]
        and pr["recall"].is_monotonic_increasing
    )
    curve = metrics.calibration_points(y, p, bins=20)
    assert len(curve) == 20 and curve["n"].sum() == 5000
    assert curve["predicted"].is_monotonic_increasing


def test_thin_points_keeps_the_ends_and_at_most_max_points():
    curve = pd.DataFrame({"x": np.arange(1000.0)}, index=np.arange(1000) + 7)
    thinned = metrics.thin_points(curve, 50)
    assert len(thinned) == 50 and thinned["x"].iloc[0] == 0.0 and thinned["x"].iloc[-1] == 999.0
    assert thinned.index.equals(pd.RangeIndex(50)) and thinned["x"].is_monotonic_increasing
    short = metrics.thin_points(curve.head(10), 50)
    assert short["x"].tolist() == list(np.arange(10.0)) and short.index.equals(pd.RangeIndex(10))
