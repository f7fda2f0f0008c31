"""Account-conduct features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _feature_fixtures import PARAMS, at_snapshot, customers, random_portfolio, table
from research.features.balances import balance_features
from research.features.snapshot import build_panel

S = "2024-01-01"
A_3M = [-200.0, 300.0, 500.0, -50.0]  # October to December 2023
A_6M = [*A_3M, 400.0, 600.0, -100.0]  # and July to September
A_12M = [*A_6M, 1000.0]  # and January to June


def _bal(customer, date, balance):
    return {"customer_id": customer, "balance_date": date, "balance": balance}


def _tx(customer, timestamp, amount):
    return {"customer_id": customer, "timestamp": timestamp, "amount": amount}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    balances = table(
        "account_balances",
        [
            _bal("A", "2024-01-01", 9999.0),  # dated on the snapshot: not seen
            _bal("A", "2023-12-31", -200.0),
            _bal("A", "2023-12-15", 300.0),
            _bal("A", "2023-11-30", 500.0),  # November: no overdraft
            _bal("A", "2023-10-01", -50.0),  # the first day of the 3-month window
            _bal("A", "2023-09-30", 400.0),  # the last day before it
            _bal("A", "2023-08-31", 600.0),
            _bal("A", "2023-07-31", -100.0),
            _bal("A", "2023-06-30", 1000.0),
            _bal("A", "2022-12-31", 7777.0),  # before the 12-month window
            _bal("C", "2023-11-30", 100.0),
            _bal("C", "2023-12-31", -40.0),
            _bal("D", "2022-06-30", 500.0),  # only long before the snapshot
            # Large balances that vary little: a running sum of squares would lose this.
            *(_bal("E", f"2023-{m:02d}-28", 1e12 + m) for m in (3, 6, 9, 12)),
        ],
    )
    transactions = table(
        "transactions",
        [
            _tx("A", "2024-01-01 00:00", -999.0),  # at the snapshot: not seen
            _tx("A", "2023-12-20 10:00", 5000.0),  # an inflow: not an outflow
            _tx("A", "2023-12-10 10:00", -300.0),
            _tx("A", "2023-08-05 10:00", -600.0),
            _tx("A", "2023-03-01 10:00", -1200.0),
            _tx("C", "2023-12-02 10:00", -60.0),
        ],
    )
    people = pd.concat(
        [customers("A", "B", "D", "E"), customers("C", onboarding="2023-11-20")], ignore_index=True
    )
    return {"account_balances": balances, "transactions": transactions, "customers": people}


@pytest.fixture(scope="module")
def features(tables) -> pd.DataFrame:
    return at_snapshot(
        balance_features,
        tables["account_balances"],
        tables["customers"],
        S,
        windows_months=[3, 6, 12],
        trend_recent_months=3,
        transactions=tables["transactions"],
    )


def test_level_low_point_and_overdraft_per_window(features):
    a = features.loc["A"]
    assert [a["bal_mean_3m"], a["bal_mean_6m"], a["bal_mean_12m"]] == pytest.approx(
        [np.mean(A_3M), np.mean(A_6M), np.mean(A_12M)]
    )
    assert [a["bal_min_3m"], a["bal_min_6m"], a["bal_min_12m"]] == [-200, -200, -200]
    # December and October in 3 months; July too in 6 and 12 months
    assert [
        a["bal_overdraft_months_3m"],
        a["bal_overdraft_months_6m"],
        a["bal_overdraft_months_12m"],
    ] == [2, 3, 3]
    assert [
        a["bal_overdrawn_share_3m"],
        a["bal_overdrawn_share_6m"],
        a["bal_overdrawn_share_12m"],
    ] == pytest.approx([2 / 4, 3 / 7, 3 / 8])


def test_closing_volatility_and_trend(features):
    a = features.loc["A"]
    assert a["bal_closing"] == -200  # 31 December; the balance dated 1 January is not seen
    assert a["bal_std_12m"] == pytest.approx(np.std(A_12M, ddof=1))
    before = [400.0, 600.0, -100.0]  # July to September
    assert a["bal_trend"] == pytest.approx(
        (np.mean(A_3M) - np.mean(before)) / np.mean(np.abs(before))
    )


def test_cash_cover_is_mean_balance_over_mean_monthly_outflows(features):
    a = features.loc["A"]
    assert a["bal_cash_cover_3m"] == pytest.approx(np.mean(A_3M) / (300 / 3))
    assert a["bal_cash_cover_6m"] == pytest.approx(np.mean(A_6M) / (900 / 6))
    assert a["bal_cash_cover_12m"] == pytest.approx(np.mean(A_12M) / (2100 / 12))


def test_a_new_client_averages_its_outflows_over_its_months_on_the_books(features):
    c = features.loc["C"]  # onboarded 20 November: November and December count
    assert c["bal_mean_3m"] == pytest.approx(30.0)
    assert c["bal_cash_cover_3m"] == pytest.approx(30.0 / (60 / 2))
    assert c["bal_cash_cover_12m"] == pytest.approx(30.0 / (60 / 2))
    assert c["bal_std_12m"] == pytest.approx(np.std([100.0, -40.0], ddof=1))
    assert np.isnan(c["bal_trend"])  # nothing in the 3 months before


def test_no_balances_give_missing_levels_and_no_overdraft(features):
    for customer in ("B", "D"):  # none at all; only long before the snapshot
        row = features.loc[customer]
        assert (row.filter(like="bal_overdraft_months_") == 0).all()
        missing = row.drop(row.filter(like="bal_overdraft_months_").index)
        assert missing.isna().all(), customer


def test_volatility_of_large_balances_is_exact(features):
    e = features.loc["E"]
    assert e["bal_std_12m"] == pytest.approx(np.std([3.0, 6.0, 9.0, 12.0], ddof=1), rel=1e-9)
    assert e["bal_mean_12m"] == pytest.approx(1e12 + 7.5, rel=1e-15)
    assert np.isnan(e["bal_cash_cover_12m"])  # no outflows


def test_without_transactions_there_is_no_cash_cover(tables):
    out = at_snapshot(
        balance_features,
        tables["account_balances"],
        tables["customers"],
        S,
        windows_months=[3, 6, 12],
        trend_recent_months=3,
    )
    assert not out.filter(like="bal_cash_cover").columns.size
    assert out.loc["A", "bal_mean_3m"] == pytest.approx(np.mean(A_3M))


def test_the_family_is_skipped_with_a_note_without_the_table():
    portfolio = random_portfolio(np.random.default_rng(3), n_customers=5)
    full, notes = build_panel(portfolio, ["2020-06-01"], **PARAMS)
    assert notes == [] and full.filter(like="bal_").columns.size == 18
    without = {name: frame for name, frame in portfolio.items() if name != "account_balances"}
    out, notes = build_panel(without, ["2020-06-01"], **PARAMS)
    assert not out.filter(like="bal_").columns.size
    assert notes == ["account_balances: table absent, so no account-conduct features (bal_*)"]
    no_flows = {name: frame for name, frame in portfolio.items() if name != "transactions"}
    out, notes = build_panel(no_flows, ["2020-06-01"], **PARAMS)
    assert out.filter(like="bal_").columns.size == 15
    assert not out.filter(like="bal_cash_cover").columns.size
    assert len(notes) == 1 and "bal_cash_cover_3m" in notes[0]
