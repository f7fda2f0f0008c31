"""Value tiers, risk bands, treatments, the value-risk matrix and the green and inclusive slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.value import (
    grade_order,
    high_value_share,
    portfolio_slices,
    risk_band,
    tier_summary,
    treatment,
    value_risk_matrix,
    value_tiers,
)

TIERS = ["low", "core", "high", "top"]
CUTS = [0.5, 0.8, 0.95]
BANDS = {"low_risk": ["A", "B"], "medium_risk": ["C"], "high_risk": ["D"]}
TREATMENTS = {
    tier: {
        "low_risk": f"{tier}_grow",
        "medium_risk": f"{tier}_monitor",
        "high_risk": f"{tier}_tighten",
    }
    for tier in TIERS
}


def test_value_tiers_by_quantile():
    clv = pd.Series(np.arange(1.0, 21.0))  # 20 customers: 10 low, 6 core, 3 high, 1 top
    tiers = value_tiers(clv, cuts=CUTS, names=TIERS)
    assert tiers.value_counts().to_dict() == {"low": 10, "core": 6, "high": 3, "top": 1}
    assert (
        tiers.iloc[9] == "low"
        and tiers.iloc[10] == "core"
        and tiers.iloc[15] == "core"
        and tiers.iloc[16] == "high"
    )
    assert tiers.iloc[19] == "top"
    with pytest.raises(ValueError, match="one more name than cut points"):
        value_tiers(clv, cuts=CUTS, names=TIERS[:3])


def test_grade_order_follows_the_scores():
    scores = pd.DataFrame(
        {"grade": ["C", "A", "B", "C", "A"], "score": [0.05, 0.001, 0.01, 0.04, 0.002]}
    )
    assert grade_order(scores) == ["A", "B", "C"]


def test_risk_band_and_treatment():
    bands = risk_band(pd.Series(["A", "C", "D"]), BANDS)
    assert bands.tolist() == ["low_risk", "medium_risk", "high_risk"]
    chosen = treatment(pd.Series(["top", "low", "core"]), bands, TREATMENTS)
    assert chosen.tolist() == ["top_grow", "low_monitor", "core_tighten"]
    with pytest.raises(ValueError, match=r"grade\(s\) \['E'\].*value\.risk_bands"):
        risk_band(pd.Series(["A", "E"]), BANDS)


@pytest.fixture()
def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "value_tier": ["top", "top", "low", "core"],
            "grade": ["A", "A", "D", "C"],
            "exposure": [100.0, 300.0, 600.0, 0.0],
            "clv": [50.0, 30.0, -10.0, 30.0],
            "expected_loss_1y": [0.1, 0.2, 30.0, 0.0],
            "pd": [0.001, 0.002, 0.2, 0.03],
            "churn_probability": [0.1, 0.2, 0.3, 0.4],
            "on_watch": [False, False, True, True],
            "green_flag": [True, False, False, False],
            "inclusive_flag": [False, False, True, True],
        }
    )


def test_value_risk_matrix_counts_and_exposure(customers):
    matrix = value_risk_matrix(
        customers,
        tier_names=TIERS,
        grades=["A", "B", "C", "D"],
        risk_bands=BANDS,
        treatments=TREATMENTS,
    )
    assert len(matrix) == 16 and matrix["customers"].sum() == 4
    cell = matrix.set_index(["value_tier", "grade"])
    assert cell.loc[("top", "A"), "customers"] == 2 and cell.loc[("top", "A"), "exposure"] == 400.0
    assert (
        cell.loc[("top", "A"), "clv"] == 80.0 and cell.loc[("top", "A"), "treatment"] == "top_grow"
    )
    assert (
        cell.loc[("low", "D"), "treatment"] == "low_tighten"
        and cell.loc[("low", "D"), "exposure"] == 600.0
    )
    assert (
        cell.loc[("high", "B"), "customers"] == 0
        and cell.loc[("high", "B"), "treatment"] == "high_grow"
    )
    assert matrix["value_tier"].iloc[0] == "top"  # best tier first


def test_tier_summary_and_high_value_share(customers):
    tiers = tier_summary(customers, tier_names=TIERS).set_index("value_tier")
    assert tiers.index.tolist() == ["top", "high", "core", "low"]
    assert (
        tiers.loc["top", "clv_share"] == pytest.approx(80 / 100)
        and tiers.loc["high", "customers"] == 0
    )
    assert high_value_share(customers, ["high", "top"]) == pytest.approx(0.8)


def test_green_and_inclusive_slices_side_by_side(customers):
    slices = portfolio_slices(customers).set_index(["slice", "group"])
    green = slices.loc[("green_finance", "green")]
    assert green["customers"] == 1 and green["customer_share"] == pytest.approx(0.25)
    assert green["exposure_share"] == pytest.approx(0.1) and green["clv_share"] == pytest.approx(
        0.5
    )
    inclusive = slices.loc[("inclusive_finance", "inclusive (micro and small)")]
    assert inclusive["exposure"] == 600.0 and inclusive["watch_share"] == 1.0
    assert inclusive["exposure_weighted_pd"] == pytest.approx(0.2) and inclusive[
        "loss_rate"
    ] == pytest.approx(30 / 600)
    rest = slices.loc[("inclusive_finance", "rest")]
    assert rest["customers"] == 2 and rest["mean_pd"] == pytest.approx(0.0015)
    assert rest["exposure_weighted_pd"] == pytest.approx((0.001 * 100 + 0.002 * 300) / 400)
