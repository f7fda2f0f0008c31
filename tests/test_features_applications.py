"""Application features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from research.features.applications import application_features

S = "2024-01-01"


def _request(aid, submitted, decision=None, decided=None, amount=100.0):
    return {
        "application_id": aid,
        "customer_id": "A",
        "submitted_date": submitted,
        "decision": decision,
        "decided_date": decided,
        "amount": amount,
    }


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    applications = table(
        "applications",
        [
            _request("a1", "2023-03-01", "declined", "2023-03-21"),
            _request("a2", "2023-06-01", "withdrawn", "2023-06-11"),
            _request("a3", "2023-11-01", "approved", "2023-11-04"),
            # submitted before the snapshot, decided after it: pending at the snapshot
            _request("a4", "2023-12-15", "declined", "2024-01-05", amount=1000.0),
            _request(
                "a5", "2022-12-20", "approved", "2023-01-10"
            ),  # request before the window, decision in it
            _request(
                "a6", "2024-01-01", "declined", "2024-01-02"
            ),  # submitted on the snapshot: not seen
            _request("a7", "2023-12-30"),  # pending
        ],
    )
    return at_snapshot(
        application_features, applications, customers("A", "B"), S, long_window_months=12
    )


def test_requests_decisions_and_turnaround(features):
    a = features.loc["A"]
    assert a["app_requests_12m"] == 5
    assert a["app_requested_amount_12m"] == 1400
    assert a["app_decline_share_12m"] == pytest.approx(1 / 4)  # a4's decline is not known yet
    assert a["app_withdrawn_12m"] == 1
    assert a["app_pending"] == 2
    assert a["app_mean_turnaround_days_12m"] == pytest.approx((21 + 20 + 10 + 3) / 4)
    assert a["app_days_since_request"] == 2


def test_a_customer_without_requests(features):
    b = features.loc["B"]
    assert (
        b[["app_requests_12m", "app_requested_amount_12m", "app_withdrawn_12m", "app_pending"]] == 0
    ).all()
    assert (
        b[["app_decline_share_12m", "app_mean_turnaround_days_12m", "app_days_since_request"]]
        .isna()
        .all()
    )
