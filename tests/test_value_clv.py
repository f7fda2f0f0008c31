"""Risk-adjusted lifetime value on hand-computed cases: known margins, survival and loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.value import annual_probability, clv_split, lifetime_value


def test_two_year_clv_by_hand():
    # m = 100 a year, churn 10 %, PD 5 %, LGD x EAD = 0.45 x 1,000, 10 % discount, 2 years.
    clv = lifetime_value(
        pd.Series([100.0]),
        pd.Series([0.10]),
        pd.Series([0.05]),
        pd.Series([450.0]),
        horizon_years=2,
        discount_rate=0.10,
    ).iloc[0]
    v1, v2 = 1 / 1.1, 1 / 1.21
    alive1, alive2 = 0.9 * 0.95, (0.9 * 0.95) ** 2
    assert clv["gross_margin"] == pytest.approx(100 * v1 + 100 * v2)  # 173.55
    assert clv["churn_attrition"] == pytest.approx(100 * v1 * 0.1 + 100 * v2 * 0.19)  # 24.79
    assert clv["default_attrition"] == pytest.approx(
        100 * v1 * (0.9 - alive1) + 100 * v2 * (0.81 - alive2)
    )  # 10.62
    assert clv["retained_margin"] == pytest.approx(100 * (v1 * alive1 + v2 * alive2))  # 138.14
    # A default in year t needs the relationship alive at its start: 1 in year 1, 0.855 in year 2.
    assert clv["expected_credit_loss"] == pytest.approx(
        0.05 * 450 * (v1 * 1 + v2 * alive1)
    )  # 36.35
    assert clv["clv"] == pytest.approx(138.1426 - 36.3533, abs=1e-3)


def test_without_attrition_or_loss_clv_is_the_discounted_margin():
    clv = lifetime_value(
        pd.Series([1000.0]),
        pd.Series([0.0]),
        pd.Series([0.0]),
        pd.Series([5e6]),
        horizon_years=5,
        discount_rate=0.0,
    ).iloc[0]
    assert clv["clv"] == pytest.approx(5000.0)
    assert clv["churn_attrition"] == clv["default_attrition"] == clv["expected_credit_loss"] == 0


def test_certain_churn_leaves_nothing():
    clv = lifetime_value(
        pd.Series([1000.0]),
        pd.Series([1.0]),
        pd.Series([0.2]),
        pd.Series([100.0]),
        horizon_years=3,
        discount_rate=0.0,
    ).iloc[0]
    assert clv["retained_margin"] == pytest.approx(0.0)
    assert clv["churn_attrition"] == pytest.approx(3000.0)
    # Year 1 can still default (alive at its start), later years cannot.
    assert clv["expected_credit_loss"] == pytest.approx(0.2 * 100.0)


def test_parts_add_up_and_keep_the_index():
    rng = np.random.default_rng(0)
    index = pd.Index(["a", "b", "c", "d"], name="customer_id")
    clv = lifetime_value(
        pd.Series(rng.uniform(-10, 100, 4), index=index),
        pd.Series(rng.uniform(0, 1, 4), index=index),
        pd.Series(rng.uniform(0, 1, 4), index=index),
        pd.Series(rng.uniform(0, 500, 4), index=index),
        horizon_years=7,
        discount_rate=0.08,
    )
    assert clv.index.equals(index)
    rebuilt = (
        clv["gross_margin"]
        - clv["churn_attrition"]
        - clv["default_attrition"]
        - clv["expected_credit_loss"]
    )
    assert np.allclose(rebuilt, clv["clv"])
    total = clv_split(clv)
    assert total["clv"].iloc[0] == pytest.approx(clv["clv"].sum())


def test_annual_probability():
    assert annual_probability(np.array([0.19]), 24) == pytest.approx([0.1])
    assert annual_probability(pd.Series([0.05, 0.0, 1.0]), 12) == pytest.approx([0.05, 0.0, 1.0])
    assert annual_probability(np.array([0.0975]), 6)[0] == pytest.approx(1 - 0.9025**2)
