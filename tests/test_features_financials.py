"""Financial features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from research.features.financials import financial_features

S = "2024-01-01"
MONTH = 365.25 / 12


def _statement(customer, period, reported, **values):
    return {"customer_id": customer, "period_end": period, "reported_date": reported, **values}


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    financials = table(
        "financials",
        [
            _statement("A", "2021-12-31", "2022-03-31", revenue=1000.0, ebitda=100.0),
            _statement(
                "A",
                "2022-12-31",
                "2023-04-30",
                revenue=1200.0,
                ebitda=180.0,
                total_debt=540.0,
                interest_expense=30.0,
                current_assets=400.0,
                current_liabilities=200.0,
                cash=100.0,
            ),
            # a period that ended before the snapshot, reported after it: not seen
            _statement("A", "2023-09-30", "2024-01-10", revenue=9999.0, ebitda=-999.0),
            # B, a project: a late statement with negative EBITDA and no current liabilities
            _statement(
                "B",
                "2023-06-30",
                "2023-12-20",
                revenue=500.0,
                ebitda=-50.0,
                interest_expense=10.0,
                current_assets=100.0,
                current_liabilities=0.0,
                cfads=120.0,
                debt_service=100.0,
            ),
            # E restated its 2022 accounts: the later report counts
            _statement("E", "2022-12-31", "2023-03-01", revenue=100.0),
            _statement("E", "2022-12-31", "2023-05-01", revenue=110.0),
        ],
    )
    people = pd.concat(
        [
            customers("A", "B", "D", "E", onboarding="2020-01-01"),
            customers("C", onboarding="2023-09-01"),
        ],
        ignore_index=True,
    )
    return at_snapshot(
        financial_features,
        financials,
        people,
        S,
        long_window_months=12,
        financials_overdue_days=180,
    )


def test_ratios_of_the_latest_reported_statement(features):
    a = features.loc["A"]
    assert a["fin_leverage"] == pytest.approx(3.0)
    assert a["fin_interest_cover"] == pytest.approx(6.0)
    assert a["fin_current_ratio"] == pytest.approx(2.0)
    assert a["fin_cash_ratio"] == pytest.approx(0.5)
    assert np.isnan(a["fin_dscr"])
    assert a["fin_ebitda_margin"] == pytest.approx(0.15)
    assert a["fin_revenue_growth"] == pytest.approx(0.2)
    assert a["fin_margin_change"] == pytest.approx(0.05)
    assert a["fin_log_revenue"] == pytest.approx(np.log(1201))


def test_transparency(features):
    a = features.loc["A"]
    assert a["fin_reporting_lag_days"] == 120
    assert a["fin_months_since_statement"] == pytest.approx(246 / MONTH)
    assert a["fin_statements_12m"] == 1
    assert a["fin_statement_overdue"] == 1.0


def test_a_late_project_statement(features):
    b = features.loc["B"]
    assert np.isnan(b["fin_leverage"])  # EBITDA not positive
    assert b["fin_interest_cover"] == pytest.approx(-5.0)
    assert np.isnan(b["fin_current_ratio"]) and np.isnan(b["fin_cash_ratio"])
    assert b["fin_dscr"] == pytest.approx(1.2)
    assert b["fin_ebitda_margin"] == pytest.approx(-0.1)
    assert np.isnan(b["fin_revenue_growth"]) and np.isnan(b["fin_margin_change"])
    assert b["fin_reporting_lag_days"] == 173
    assert b["fin_months_since_statement"] == pytest.approx(12 / MONTH)
    assert b["fin_statement_overdue"] == 0.0


def test_customers_without_statements(features):
    c, d = features.loc["C"], features.loc["D"]
    assert c.drop(["fin_statements_12m", "fin_statement_overdue"]).isna().all()
    assert c["fin_statements_12m"] == 0
    assert c["fin_statement_overdue"] == 0.0  # onboarded 122 days ago
    assert d["fin_statement_overdue"] == 1.0  # onboarded in 2020, never reported


def test_a_restatement_replaces_the_first_report(features):
    e = features.loc["E"]
    assert e["fin_log_revenue"] == pytest.approx(np.log(111))
    assert e["fin_reporting_lag_days"] == 121
    assert e["fin_statements_12m"] == 2
