"""Cash-flow features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from research.features.cashflow import cashflow_features

S = "2024-01-01"


def _tx(customer, timestamp, amount, channel="branch"):
    return {"customer_id": customer, "timestamp": timestamp, "amount": amount, "channel": channel}


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    transactions = table(
        "transactions",
        [
            _tx("A", "2023-12-31 23:00", 1000.0, "mobile_app"),
            _tx("A", "2023-12-15 10:00", -400.0),
            _tx("A", "2023-11-02 00:00", 500.0, "online_banking"),
            _tx("A", "2023-10-01 00:00", -100.0),  # exactly at the start of the 3-month window
            _tx("A", "2023-09-30 12:00", 300.0),
            _tx("A", "2023-08-10 09:00", -200.0, "host_to_host"),
            _tx("A", "2023-02-01 08:00", 1200.0, "swift"),
            _tx("A", "2022-12-31 23:59:59", 999.0),  # before the 12-month window
            _tx("A", "2024-01-01 00:00", 5000.0),  # at the snapshot: not seen
            _tx("C", "2023-12-05 10:00", 100.0),
        ],
    )
    people = pd.concat(
        [customers("A", "B"), customers("C", onboarding="2023-11-20")], ignore_index=True
    )
    return at_snapshot(
        cashflow_features, transactions, people, S, windows_months=[3, 6, 12], trend_recent_months=3
    )


def test_recency_frequency_and_value_per_window(features):
    a = features.loc["A"]
    assert [a["cf_inflow_amount_3m"], a["cf_inflow_amount_6m"], a["cf_inflow_amount_12m"]] == [
        1500,
        1800,
        3000,
    ]
    assert [a["cf_outflow_amount_3m"], a["cf_outflow_amount_6m"], a["cf_outflow_amount_12m"]] == [
        500,
        700,
        700,
    ]
    assert [a["cf_inflow_count_3m"], a["cf_inflow_count_6m"], a["cf_inflow_count_12m"]] == [2, 3, 4]
    assert [a["cf_outflow_count_3m"], a["cf_outflow_count_6m"], a["cf_outflow_count_12m"]] == [
        2,
        3,
        3,
    ]
    assert a["cf_inflow_outflow_ratio_3m"] == pytest.approx(3.0)
    assert a["cf_inflow_outflow_ratio_12m"] == pytest.approx(3000 / 700)
    assert a["cf_days_since_inflow"] == pytest.approx(1 / 24)
    assert a["cf_days_since_outflow"] == pytest.approx(16 + 14 / 24)


def test_volatility_trend_and_channels(features):
    a = features.loc["A"]
    monthly_net = [600, 500, -100, 300, -200, 0, 0, 0, 0, 0, 1200, 0]  # Dec 2023 back to Jan 2023
    assert a["cf_net_flow_std_12m"] == pytest.approx(np.std(monthly_net, ddof=1))
    assert a["cf_net_flow_volatility_12m"] == pytest.approx(
        np.std(monthly_net, ddof=1) / (3000 / 12)
    )
    assert a["cf_inflow_trend"] == pytest.approx(1500 / 300 - 1)
    assert a["cf_digital_share_12m"] == pytest.approx(3 / 7)
    assert a["cf_active_months_12m"] == 6


def test_a_customer_with_no_transactions(features):
    b = features.loc["B"]
    assert (b.filter(like="_amount_") == 0).all() and (b.filter(like="_count_") == 0).all()
    assert (
        b[
            [
                "cf_inflow_outflow_ratio_3m",
                "cf_days_since_inflow",
                "cf_days_since_outflow",
                "cf_net_flow_volatility_12m",
                "cf_inflow_trend",
                "cf_digital_share_12m",
            ]
        ]
        .isna()
        .all()
    )
    assert b["cf_net_flow_std_12m"] == 0 and b["cf_active_months_12m"] == 0


def test_volatility_counts_only_months_since_onboarding(features):
    c = features.loc["C"]  # onboarded 20 Nov 2023: December and November count
    assert c["cf_net_flow_std_12m"] == pytest.approx(np.std([100, 0], ddof=1))
    assert c["cf_net_flow_volatility_12m"] == pytest.approx(np.std([100, 0], ddof=1) / 50)
