"""Satisfaction and loyalty indices on hand-computed cases, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.value import loyalty_index, satisfaction_index
from research.value.indices import months_back
from research.value.params import LoyaltyParams, SatisfactionParams

SNAPSHOT = pd.Timestamp("2024-01-01")
SATISFACTION = SatisfactionParams(
    response_target_hours=24, weights={"survey": 0.6, "complaint_free": 0.2, "responsiveness": 0.2}
)
LOYALTY = LoyaltyParams(
    tenure_cap_years=10,
    product_breadth_cap=3,
    weights={
        "tenure": 0.25,
        "contact_regularity": 0.25,
        "account_regularity": 0.25,
        "product_breadth": 0.25,
    },
)


def _interactions(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "timestamp",
            "interaction_type",
            "response_hours",
            "satisfaction_score",
        ],
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    return frame.assign(channel="phone")


def test_satisfaction_index_by_hand():
    interactions = _interactions(
        [
            ("C1", "2023-03-01 10:00", "survey", 2.0, 5.0),
            ("C1", "2023-06-01 10:00", "inquiry", 30.0, 3.0),
            ("C1", "2023-09-01 10:00", "complaint", 10.0, np.nan),
            ("C1", "2023-12-31 23:00", "inquiry", np.nan, np.nan),
            ("C1", "2024-01-01 00:00", "complaint", 500.0, 1.0),  # at the snapshot: not seen
            ("C1", "2022-12-31 23:00", "complaint", 500.0, 1.0),  # before the 12-month window
            ("C2", "2023-05-05 09:00", "complaint", 24.0, np.nan),  # answered exactly at the target
        ]
    )
    out = satisfaction_index(
        interactions, ["C1", "C2", "C3"], SNAPSHOT, window_months=12, params=SATISFACTION
    ).set_index("customer_id")
    c1 = out.loc["C1"]
    assert c1["sat_survey"] == pytest.approx((1.0 + 0.5) / 2)  # scores 5 and 3 on 1..5
    assert c1["sat_complaint_free"] == pytest.approx(1 - 1 / 4)
    assert c1["sat_responsiveness"] == pytest.approx(2 / 3)  # 2 h and 10 h of 3 answered
    assert c1["satisfaction_index"] == pytest.approx(
        100 * (0.6 * 0.75 + 0.2 * 0.75 + 0.2 * 2 / 3)
    )  # 73.33
    # No survey answer: the weights of the other two components are renormalised.
    c2 = out.loc["C2"]
    assert np.isnan(c2["sat_survey"])
    assert c2["satisfaction_index"] == pytest.approx(100 * (0.2 * 0.0 + 0.2 * 1.0) / 0.4)
    assert np.isnan(out.loc["C3", "satisfaction_index"])


def test_months_back():
    snapshot = pd.Timestamp("2025-01-15")
    times = pd.Series(
        pd.to_datetime(
            [
                "2025-01-14 23:59",
                "2024-12-15 00:00",
                "2024-12-14 23:00",
                "2024-12-20",
                "2024-11-10",
            ],
            format="ISO8601",
        )
    )
    assert months_back(times, snapshot).tolist() == [1, 1, 2, 1, 3]
    times = pd.Series(
        pd.to_datetime(["2023-12-31", "2023-12-01", "2023-11-30 23:00"], format="ISO8601")
    )
    assert months_back(times, SNAPSHOT).tolist() == [1, 1, 2]


def test_loyalty_index_by_hand():
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "onboarding_date": pd.to_datetime(["2018-01-01", "2023-07-01"]),
        }
    )
    interactions = _interactions(
        [
            ("C1", "2023-12-05 10:00", "inquiry", 1.0, np.nan),
            ("C1", "2023-12-20 10:00", "inquiry", 1.0, np.nan),  # same month: counts once
            ("C1", "2023-06-05 10:00", "survey", 1.0, 4.0),
            ("C1", "2023-01-05 10:00", "survey", 1.0, 4.0),
            ("C1", "2024-01-01 00:00", "survey", 1.0, 4.0),  # at the snapshot: not seen
        ]
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["C1"] * 6,
            "timestamp": pd.to_datetime([f"2023-{m:02d}-10" for m in (2, 4, 6, 8, 10, 12)]),
            "amount": 100.0,
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3", "F4"],
            "customer_id": ["C1", "C1", "C1", "C1"],
            "product": ["revolver", "term_loan", "revolver", "trade_finance"],
            "origination_date": pd.to_datetime(
                ["2020-01-01", "2021-01-01", "2022-01-01", "2024-01-01"]
            ),
            "close_date": pd.to_datetime([None, None, None, None]),
        }
    )
    tables = {
        "customers": customers,
        "interactions": interactions,
        "transactions": transactions,
        "facilities": facilities,
    }
    out = loyalty_index(tables, ["C1", "C2"], SNAPSHOT, window_months=12, params=LOYALTY).set_index(
        "customer_id"
    )
    c1 = out.loc["C1"]
    tenure = (SNAPSHOT - pd.Timestamp("2018-01-01")).days / 365.25 / 10  # 0.5999
    assert c1["loy_tenure"] == pytest.approx(tenure)
    assert c1["loy_contact_regularity"] == pytest.approx(3 / 12)
    assert c1["loy_account_regularity"] == pytest.approx(6 / 12)
    assert c1["loy_product_breadth"] == pytest.approx(2 / 3)  # F4 opens on the snapshot date
    assert c1["loyalty_index"] == pytest.approx(100 * (tenure + 0.25 + 0.5 + 2 / 3) / 4)
    c2 = out.loc["C2"]  # half a year as a client, nothing else
    assert c2["loyalty_index"] == pytest.approx(100 * 0.25 * (184 / 365.25 / 10))


def test_index_weights_matter():
    interactions = _interactions([("C1", "2023-03-01", "survey", 100.0, 5.0)])
    survey_only = satisfaction_index(
        interactions,
        ["C1"],
        SNAPSHOT,
        window_months=12,
        params=SatisfactionParams(
            response_target_hours=24,
            weights={"survey": 1.0, "complaint_free": 0.0, "responsiveness": 0.0},
        ),
    )
    assert survey_only["satisfaction_index"].iloc[0] == pytest.approx(100.0)


def test_report_definitions_cover_every_component():
    from research.value.indices import (
        INDEX_DEFINITIONS,
        LOYALTY_COMPONENTS,
        SATISFACTION_COMPONENTS,
    )

    assert set(INDEX_DEFINITIONS["satisfaction_index"]) == {"summary", *SATISFACTION_COMPONENTS}
    assert set(INDEX_DEFINITIONS["loyalty_index"]) == {"summary", *LOYALTY_COMPONENTS}
