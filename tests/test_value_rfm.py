"""RFM: quantile scores, segment rules and the point-in-time relationship business, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.value import quantile_score, relationship_business, rfm_scores, rfm_segment
from research.value.params import LGDParams

SNAPSHOT = pd.Timestamp("2024-01-01")


def test_quantile_score_ranks_into_buckets():
    values = pd.Series([50.0, 10.0, 30.0, 20.0, 40.0])
    assert quantile_score(values, 5).tolist() == [5, 1, 3, 2, 4]
    assert quantile_score(values, 5, higher_is_better=False).tolist() == [1, 5, 3, 4, 2]
    # n = 10, q = 5: two customers per bucket.
    assert quantile_score(pd.Series(np.arange(10.0)), 5).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_quantile_score_ties_and_missing():
    assert quantile_score(pd.Series([7.0, 7.0, 7.0, 7.0]), 5).tolist() == [3, 3, 3, 3]
    # Recency of a customer that never moved money is missing: the worst score.
    scored = quantile_score(pd.Series([1.0, np.nan, 3.0]), 2, higher_is_better=False)
    assert scored.tolist() == [2, 1, 1]
    assert quantile_score(pd.Series([np.nan, np.nan]), 5).tolist() == [1, 1]


def test_rfm_scores_hand_case():
    business = pd.DataFrame(
        {
            "recency_days": [1.0, 5.0, 30.0, 90.0, np.nan],
            "frequency": [50, 40, 30, 2, 0],
            "monetary": [900.0, 100.0, 500.0, 800.0, 0.0],
        }
    )
    scores = rfm_scores(business, quantiles=5)
    assert scores["r_score"].tolist() == [5, 4, 3, 2, 1]
    assert scores["f_score"].tolist() == [5, 4, 3, 2, 1]
    assert scores["m_score"].tolist() == [5, 2, 3, 4, 1]
    assert scores["rfm"].tolist() == ["555", "442", "333", "224", "111"]
    assert scores["rfm_segment"].tolist() == ["champions", "growing", "steady", "at_risk", "lost"]


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 4, 4, "champions"),
        (4, 5, 3, "growing"),
        (3, 5, 5, "steady"),
        (2, 4, 1, "at_risk"),
        (2, 1, 5, "at_risk"),
        (2, 3, 3, "dormant"),
        (1, 1, 2, "dormant"),
        (1, 1, 1, "lost"),
    ],
)
def test_rfm_segment_rules(r, f, m, segment):
    named = rfm_segment(pd.Series([r]), pd.Series([f]), pd.Series([m]), quantiles=5)
    assert named.tolist() == [segment]


def test_inactive_customer_is_lost_whatever_its_scores():
    named = rfm_segment(
        pd.Series([5]), pd.Series([5]), pd.Series([5]), quantiles=5, inactive=pd.Series([True])
    )
    assert named.tolist() == ["lost"]


def _ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"))


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    facilities = pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3", "F4"],
            "customer_id": ["C1", "C1", "C1", "C2"],
            "product": ["revolver", "term_loan", "term_loan", "trade_finance"],
            "origination_date": _ts("2022-01-01", "2020-01-01", "2024-01-01", "2022-01-01"),
            "maturity_date": _ts("2027-01-01", "2023-06-01", "2029-01-01", "2026-01-01"),
            # F2 closed before the snapshot; F3 originates on the snapshot date: neither is open.
            "close_date": _ts(None, "2023-06-01", None, "2024-01-01"),
            "limit_amount": [1_000_000.0, 500_000.0, 300_000.0, 200_000.0],
            "interest_rate": [0.05, 0.06, 0.07, 0.04],
            "fee_rate": [0.01, 0.0, 0.0, 0.0],
            "repayment_type": ["revolving", "amortising", "amortising", "bullet"],
            "collateral_type": ["real_estate", "unsecured", "unsecured", "receivables"],
            "green_loan": [False, False, False, False],
        }
    )
    balances = pd.DataFrame(
        {
            "facility_id": ["F1", "F1", "F1", "F2", "F4"],
            "customer_id": ["C1", "C1", "C1", "C1", "C2"],
            "month_end": _ts("2023-11-30", "2023-12-31", "2024-01-31", "2023-05-31", "2023-12-31"),
            "drawn_amount": [500_000.0, 600_000.0, 999_999.0, 400_000.0, 100_000.0],
            "limit_amount": [1_000_000.0, 1_000_000.0, 1_000_000.0, 500_000.0, 200_000.0],
        }
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C1"],
            "timestamp": _ts(
                "2022-06-01", "2023-06-01 12:00", "2023-12-30 12:00", "2024-01-01 00:00"
            ),
            "amount": [1e6, 60_000.0, -40_000.0, 5e6],
            "channel": ["swift"] * 4,
            "category": ["other_inflow"] * 4,
        }
    )
    return {"facilities": facilities, "facility_balances": balances, "transactions": transactions}


def test_relationship_business_is_point_in_time(tables):
    business = relationship_business(
        tables,
        ["C1", "C2", "C3"],
        SNAPSHOT,
        window_months=12,
        funding_cost=0.03,
        payments_margin=0.001,
        ccf=0.5,
        lgd=LGDParams(
            collateral={"real_estate": 0.25, "unsecured": 0.45, "receivables": 0.35},
            product_adjustment={"revolver": 0.05, "trade_finance": -0.10},
        ),
    ).set_index("customer_id")
    c1 = business.loc["C1"]
    # Activity: the movement at the snapshot's midnight is not seen; the 2022 one is outside the window.
    assert c1["recency_days"] == pytest.approx(1.5)
    assert c1["frequency"] == 2 and c1["turnover"] == pytest.approx(100_000.0)
    # Income: F1's Nov and Dec balances (not Jan's) and F2's May balance.
    assert c1["interest_income"] == pytest.approx(
        (500_000 + 600_000) * 0.05 / 12 + 400_000 * 0.06 / 12
    )
    assert c1["fee_income"] == pytest.approx(2 * 1_000_000 * 0.01 / 12)
    assert c1["monetary"] == pytest.approx(c1["interest_income"] + c1["fee_income"])
    # Exposure: only F1 is open; drawn from December's balance.
    assert c1["facilities"] == 1 and c1["drawn"] == 600_000.0
    assert c1["exposure"] == pytest.approx(600_000 + 0.5 * 400_000)
    assert c1["lgd"] == pytest.approx(0.25 + 0.05)
    assert c1["yearly_margin"] == pytest.approx(
        600_000 * (0.05 - 0.03) + 1_000_000 * 0.01 + 100_000 * 0.001
    )
    c2 = business.loc["C2"]  # F4 closes on the snapshot date: still open at it
    assert c2["facilities"] == 1 and c2["lgd"] == pytest.approx(0.25)
    assert np.isnan(c2["recency_days"]) and c2["frequency"] == 0
    c3 = business.loc["C3"]
    assert c3["exposure"] == 0 and c3["yearly_margin"] == 0 and np.isnan(c3["lgd"])


def test_unknown_collateral_names_the_fix(tables):
    with pytest.raises(
        ValueError,
        match=r"no LGD for collateral type\(s\) \['receivables'\].*value\.lgd\.collateral",
    ):
        relationship_business(
            tables,
            ["C1"],
            SNAPSHOT,
            window_months=12,
            funding_cost=0.03,
            payments_margin=0.0,
            ccf=0.5,
            lgd=LGDParams(
                collateral={"real_estate": 0.25, "unsecured": 0.45}, product_adjustment={}
            ),
        )
