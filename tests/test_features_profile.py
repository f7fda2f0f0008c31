"""Feature profiles: quality flags and univariate power against both labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.features.profile import (
    auc,
    feature_quality,
    information_value,
    segment_summary,
    univariate_power,
)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 2000
    default = (rng.random(n) < 0.2).astype(float)
    churn = (rng.random(n) < 0.3).astype(float)
    churn[:100] = np.nan  # censored
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in range(n)], dtype="str"),
            "snapshot_date": pd.Timestamp("2024-01-01"),
            "rep_max_dpd_12m": default * 30 + rng.random(n),  # separates defaults perfectly
            "cf_inflow_amount_3m": -churn * 5 + rng.normal(size=n),  # lower for churners
            "eng_phone_12m": rng.normal(size=n),  # noise
            "fin_dscr": np.where(rng.random(n) < 0.97, np.nan, 1.0),  # mostly missing
            "fac_active_count": 1.0,  # no variance
            "segment": pd.Series(
                np.where(default == 1, "micro", rng.choice(["micro", "large"], n)), dtype="str"
            ),
            "default_12m": default,
            "churn_12m": churn,
        }
    )


def test_auc_and_information_value_by_hand():
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(np.array([0, 1, 0, 1]), np.array([1.0, 1.0, 2.0, 2.0])) == 0.5
    assert np.isnan(auc(np.array([1, 1]), np.array([0.1, 0.2])))
    # two bins, events 3 / 1 and non-events 1 / 3 (each + 0.5): IV = 2 * (3.5-1.5)/5 * ln(3.5/1.5)
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    x = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"], dtype="str")
    assert information_value(y, x) == pytest.approx(2 * 0.4 * np.log(3.5 / 1.5))


def test_univariate_power_per_feature_and_label(panel):
    power = univariate_power(panel, ["default_12m", "churn_12m"])
    assert list(power.columns) == [
        "feature",
        "family",
        "label",
        "rows",
        "events",
        "coverage",
        "auc_oriented",
        "auc",
        "iv",
    ]
    assert len(power) == 2 * 6 and power["label"].tolist()[:6] == ["default_12m"] * 6
    by = power.set_index(["label", "feature"])
    assert by.loc[("default_12m", "rep_max_dpd_12m"), "auc"] == 1.0
    assert by.loc[("default_12m", "rep_max_dpd_12m"), "iv"] > 3
    churn = by.loc[("churn_12m", "cf_inflow_amount_3m")]
    assert churn["auc"] < 0.1 and churn["auc_oriented"] > 0.9 and churn["rows"] == 1900
    assert abs(by.loc[("default_12m", "eng_phone_12m"), "auc"] - 0.5) < 0.05
    assert (
        np.isnan(by.loc[("default_12m", "segment"), "auc"])
        and by.loc[("default_12m", "segment"), "iv"] > 0.3
    )
    assert by.loc[("default_12m", "fin_dscr"), "coverage"] < 0.1
    assert power["feature"].iloc[0] == "rep_max_dpd_12m"  # strongest first


def test_quality_flags(panel):
    quality = feature_quality(panel, max_missing_share=0.95).set_index("feature")
    assert list(quality.index) == [
        "rep_max_dpd_12m",
        "cf_inflow_amount_3m",
        "eng_phone_12m",
        "fin_dscr",
        "fac_active_count",
        "segment",
    ]
    assert (
        quality.loc["fac_active_count", "flag_no_variance"]
        and not quality.loc["eng_phone_12m", "flag_no_variance"]
    )
    assert (
        quality.loc["fin_dscr", "flag_missing"]
        and not quality.loc["rep_max_dpd_12m", "flag_missing"]
    )
    assert (
        quality.loc["segment", "n_unique"] == 2
        and quality.loc["segment", "family"] == "relationship"
    )


def test_segment_summary(panel):
    summary = segment_summary(panel, ["rep_max_dpd_12m", "fin_dscr"])
    assert set(summary["segment"]) == {"micro", "large"} and len(summary) == 4
    large = summary[
        (summary["segment"] == "large") & (summary["feature"] == "rep_max_dpd_12m")
    ].iloc[0]
    assert large["p90"] < 1  # no defaulter is large


def test_quality_counts_by_hand():
    # 0.0 and -0.0 are one value; NaN is missing, not a value; integers are counted as they are
    panel = pd.DataFrame(
        {
            "customer_id": pd.Series(["A", "B", "C", "D", "E"], dtype="str"),
            "snapshot_date": pd.Timestamp("2024-01-01"),
            "cf_inflow_amount_3m": [0.0, -0.0, np.nan, 2.5, 0.0],
            "eng_phone_12m": np.array([3, 3, 1, 2, 3], dtype=np.int64),
            "fin_dscr": np.nan,
        }
    )
    quality = feature_quality(panel, max_missing_share=0.5).set_index("feature")
    flows = quality.loc["cf_inflow_amount_3m"]
    assert flows["n_unique"] == 2 and flows["top_value_share"] == 3 / 4
    assert flows["missing_share"] == 1 / 5 and not flows["flag_missing"]
    phone = quality.loc["eng_phone_12m"]
    assert phone["n_unique"] == 3 and phone["top_value_share"] == 3 / 5
    empty = quality.loc["fin_dscr"]
    assert empty["n_unique"] == 0 and np.isnan(empty["top_value_share"])
    assert empty["flag_no_variance"] and empty["flag_missing"]


def test_information_value_by_hand():
    # the median (1.0) splits two bins (x < 1, x >= 1) beside the missing bin; each side of
    # each bin gets 0.5 added: events 0, 1, 2 and non-events 1, 1, 1 (missing, low, high)
    label = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    values = pd.Series([0.0, 1.0, 0.5, 2.0, 3.0, np.nan])
    events = np.array([0.5, 1.5, 2.5])
    others = np.array([1.5, 1.5, 1.5])
    events, others = events / events.sum(), others / others.sum()
    expected = float(np.sum((events - others) * np.log(events / others)))
    assert information_value(label, values, bins=2) == pytest.approx(expected, rel=1e-12)
