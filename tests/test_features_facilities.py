"""Facility features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from research.features.facilities import BALANCE_FEATURES, facility_features

S = "2024-01-01"
MONTH = 365.25 / 12


def _facility(
    fid,
    product,
    origination,
    maturity,
    limit,
    rate,
    collateral="unsecured",
    close=None,
    kind="amortising",
):
    return {
        "facility_id": fid,
        "customer_id": "A",
        "product": product,
        "origination_date": origination,
        "maturity_date": maturity,
        "close_date": close,
        "limit_amount": limit,
        "interest_rate": rate,
        "collateral_type": collateral,
        "repayment_type": kind,
    }


FACILITIES = table(
    "facilities",
    [
        _facility("F1", "term_loan", "2020-01-01", "2025-01-01", 1000.0, 0.05, "real_estate"),
        _facility("F2", "revolver", "2023-06-01", "2026-06-01", 500.0, 0.08, kind="revolving"),
        _facility(
            "F3", "term_loan", "2019-01-01", "2023-05-01", 800.0, 0.04, close="2023-05-01"
        ),  # closed
        _facility(
            "F4", "trade_finance", "2024-01-01", "2025-01-01", 999.0, 0.2
        ),  # opened on the snapshot
        _facility(
            "F5", "working_capital", "2024-03-01", "2025-01-01", 999.0, 0.2
        ),  # opened after it
        # closes on the snapshot: still active at it
        _facility(
            "F6",
            "revolver",
            "2022-01-01",
            "2024-06-01",
            200.0,
            0.10,
            "guarantee",
            close="2024-01-01",
            kind="revolving",
        ),
    ],
)


def _balances(fid, drawn_by_month_end, limit):
    return [
        {
            "facility_id": fid,
            "customer_id": "A",
            "month_end": m,
            "drawn_amount": d,
            "limit_amount": limit,
        }
        for m, d in drawn_by_month_end.items()
    ]


BALANCES = table(
    "facility_balances",
    [
        *_balances("F1", {"2023-12-31": 600.0, "2023-11-30": 700.0}, 1000.0),
        *_balances(
            "F2",
            {
                "2023-12-31": 250.0,
                "2023-11-30": 100.0,
                "2023-10-31": 50.0,
                "2023-09-30": 0.0,
                "2023-08-31": 500.0,
                "2023-07-31": 400.0,
                "2023-06-30": 300.0,
            },
            500.0,
        ),
        *_balances(
            "F6",
            {
                "2023-12-31": 200.0,
                "2023-11-30": 100.0,
                "2023-10-31": 0.0,
                "2023-09-30": 0.0,
                "2023-08-31": 0.0,
                "2023-07-31": 0.0,
            },
            200.0,
        ),
        *_balances(
            "F4", {"2024-01-31": 999.0, "2023-12-31": 999.0}, 999.0
        ),  # the second predates F4: ignored
    ],
)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return at_snapshot(
        facility_features,
        FACILITIES,
        customers("A", "B"),
        S,
        long_window_months=12,
        trend_recent_months=3,
        windows_months=(6, 3),
        facility_balances=BALANCES,
    )


def test_products_limits_and_maturity(features):
    a = features.loc["A"]
    assert a["fac_active_count"] == 3  # F1, F2, F6
    assert a["fac_product_count"] == 2  # term loan, revolver
    assert a["fac_opened_12m"] == 1 and a["fac_closed_12m"] == 1  # F2 opened, F3 closed
    assert a["fac_total_limit"] == 1700
    assert a["fac_months_to_maturity"] == pytest.approx(152 / MONTH)  # F6 matures 1 June 2024
    assert a["fac_mean_interest_rate"] == pytest.approx((50 + 40 + 20) / 1700)
    assert a["fac_secured_share"] == pytest.approx(1200 / 1700)


def test_exposure_and_utilisation_from_month_end_balances(features):
    a = features.loc["A"]
    assert a["fac_exposure"] == 1050
    assert a["fac_utilisation"] == pytest.approx(1050 / 1700)
    assert a["fac_revolver_utilisation"] == pytest.approx(450 / 700)
    # Oct-Dec month ends: 700 drawn of 2100; Jul-Sep: 900 of 2100
    assert a["fac_revolver_utilisation_trend"] == pytest.approx(700 / 2100 - 900 / 2100)


def test_revolving_utilisation_averaged_over_the_month_ends_of_each_window(features):
    a = features.loc["A"]
    # Revolving lines F2 (limit 500) and F6 (limit 200). Oct-Dec: F2 50 + 100 + 250, F6 0 + 100 + 200.
    assert a["fac_revolver_utilisation_3m"] == pytest.approx(700 / 2100)
    # Jul-Dec adds F2 400 + 500 + 0 and F6 0 + 0 + 0 (F2's June balance is outside the window).
    assert a["fac_revolver_utilisation_6m"] == pytest.approx(1600 / 4200)
    assert list(features.columns).index("fac_revolver_utilisation_3m") < list(
        features.columns
    ).index("fac_revolver_utilisation_6m")
    assert (
        features.loc["B", ["fac_revolver_utilisation_3m", "fac_revolver_utilisation_6m"]]
        .isna()
        .all()
    )


def test_a_customer_without_facilities(features):
    b = features.loc["B"]
    assert (
        b[["fac_active_count", "fac_product_count", "fac_total_limit", "fac_exposure"]] == 0
    ).all()
    assert (
        b[
            [
                "fac_months_to_maturity",
                "fac_mean_interest_rate",
                "fac_utilisation",
                "fac_revolver_utilisation_trend",
            ]
        ]
        .isna()
        .all()
    )


def test_without_balances_the_balance_features_are_left_out():
    out = at_snapshot(
        facility_features,
        FACILITIES,
        customers("A"),
        S,
        long_window_months=12,
        trend_recent_months=3,
    )
    assert not set(BALANCE_FEATURES) & set(out.columns)
    assert not [c for c in out.columns if c.startswith("fac_revolver_utilisation")]
    assert out.loc["A", "fac_total_limit"] == 1700
