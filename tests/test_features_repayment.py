"""Repayment features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from research.features.repayment import repayment_features

S = "2024-01-01"
MONTH = 365.25 / 12


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    rows = [
        # A: windows 3m = Oct-Dec 2023, 6m from 1 Jul 2023, 12m from 1 Jan 2023
        {
            "customer_id": "A",
            "due_date": "2023-12-01",
            "paid_date": "2023-11-28",
            "amount_paid": 100.0,
        },  # early: 0 dpd
        {
            "customer_id": "A",
            "due_date": "2023-11-01",
            "paid_date": "2023-11-21",
            "amount_paid": 100.0,
        },  # 20 days late
        # paid after the snapshot: unpaid at it, 47 days past due (1 Jan - 15 Nov)
        {
            "customer_id": "A",
            "due_date": "2023-11-15",
            "paid_date": "2024-01-15",
            "amount_paid": 100.0,
        },
        {
            "customer_id": "A",
            "due_date": "2023-08-01",
            "paid_date": "2023-08-01",
            "amount_paid": 60.0,
        },  # on time, 40 short
        {
            "customer_id": "A",
            "due_date": "2023-03-01",
            "paid_date": "2023-05-10",
            "amount_paid": 100.0,
        },  # 70 days late
        {
            "customer_id": "A",
            "due_date": "2022-06-01",
            "paid_date": "2022-06-05",
            "amount_paid": 100.0,
        },  # before 12m
        # due on the snapshot (paid before it): not seen yet
        {
            "customer_id": "A",
            "due_date": "2024-01-01",
            "paid_date": "2023-12-30",
            "amount_paid": 100.0,
        },
        {"customer_id": "A", "due_date": "2024-02-01"},
        # C: a single instalment, unpaid, 17 days past due
        {"customer_id": "C", "due_date": "2023-12-15", "amount_due": 250.0},
    ]
    repayments = table("repayments", rows)
    return at_snapshot(
        repayment_features,
        repayments,
        customers("A", "B", "C"),
        S,
        windows_months=[3, 6, 12],
        trend_recent_months=3,
        dpd_thresholds=[30, 60, 90],
    )


def test_counts_shares_and_days_past_due_per_window(features):
    a = features.loc["A"]
    assert [
        a["rep_instalments_due_3m"],
        a["rep_instalments_due_6m"],
        a["rep_instalments_due_12m"],
    ] == [3, 4, 5]
    assert a["rep_on_time_share_3m"] == pytest.approx(1 / 3)
    assert a["rep_on_time_share_6m"] == pytest.approx(2 / 4)
    assert a["rep_on_time_share_12m"] == pytest.approx(2 / 5)
    assert a["rep_mean_dpd_3m"] == pytest.approx((0 + 20 + 47) / 3)
    assert a["rep_mean_dpd_6m"] == pytest.approx(67 / 4)
    assert a["rep_mean_dpd_12m"] == pytest.approx(137 / 5)
    assert [a["rep_max_dpd_3m"], a["rep_max_dpd_6m"], a["rep_max_dpd_12m"]] == [47, 47, 70]
    assert [a["rep_dpd30_count_12m"], a["rep_dpd60_count_12m"], a["rep_dpd90_count_12m"]] == [
        2,
        1,
        0,
    ]


def test_arrears_lateness_and_trend(features):
    a = features.loc["A"]
    assert a["rep_months_since_late"] == pytest.approx(47 / MONTH)
    assert a["rep_arrears_amount"] == pytest.approx(
        100 + 40
    )  # the unpaid instalment and a shortfall
    assert a["rep_overdue_instalments"] == 1
    assert a["rep_current_dpd"] == 47
    # mean DPD of Oct-Dec (22.33) minus that of Jul-Sep (one on-time instalment: 0)
    assert a["rep_dpd_trend"] == pytest.approx(67 / 3)


def test_a_customer_without_instalments(features):
    b = features.loc["B"]
    assert (
        b[["rep_instalments_due_3m", "rep_instalments_due_12m", "rep_dpd30_count_12m"]] == 0
    ).all()
    assert (
        b[
            [
                "rep_on_time_share_3m",
                "rep_mean_dpd_12m",
                "rep_max_dpd_12m",
                "rep_months_since_late",
                "rep_dpd_trend",
            ]
        ]
        .isna()
        .all()
    )
    assert (b[["rep_arrears_amount", "rep_overdue_instalments", "rep_current_dpd"]] == 0).all()


def test_a_single_unpaid_instalment(features):
    c = features.loc["C"]
    assert c["rep_instalments_due_3m"] == 1 and c["rep_on_time_share_3m"] == 0
    assert c["rep_mean_dpd_3m"] == 17 and c["rep_max_dpd_12m"] == 17 and c["rep_current_dpd"] == 17
    assert c["rep_arrears_amount"] == 250 and c["rep_overdue_instalments"] == 1
    assert c["rep_months_since_late"] == pytest.approx(17 / MONTH)
    assert np.isnan(c["rep_dpd_trend"])  # nothing fell due in the three months before


def test_a_payment_on_the_snapshot_is_not_seen():
    """Paid exactly at the snapshot (midnight): still unpaid at it."""
    repayments = table(
        "repayments",
        [{"customer_id": "A", "due_date": "2023-12-01", "paid_date": S, "amount_paid": 100.0}],
    )
    out = at_snapshot(
        repayment_features,
        repayments,
        customers("A"),
        S,
        windows_months=[3],
        trend_recent_months=1,
        dpd_thresholds=[30],
    )
    assert out.loc["A", "rep_current_dpd"] == 31 and out.loc["A", "rep_arrears_amount"] == 100
    later = at_snapshot(
        repayment_features,
        repayments,
        customers("A"),
        "2024-01-02",
        windows_months=[3],
        trend_recent_months=1,
        dpd_thresholds=[30],
    )
    assert later.loc["A", "rep_current_dpd"] == 0 and later.loc["A", "rep_max_dpd_3m"] == 31
