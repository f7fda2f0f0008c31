"""A small portfolio that satisfies the input contract: 3 customers, a few rows per table."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _dates(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)))


def small_valid_tables() -> dict[str, pd.DataFrame]:
    """Return fresh frames for every table of the contract, valid as they are."""
    customers = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003"],
            "segment": ["small", "medium", "project_spv"],
            "industry": ["manufacturing", "technology", "energy_renewables"],
            "region": ["north", "capital", "international"],
            "onboarding_date": _dates("2018-01-15", "2019-06-01", "2020-03-10"),
            "relationship_end_date": _dates(None, None, "2024-06-30"),
            "green_flag": [False, False, True],
            "inclusive_flag": [True, False, False],
            "rm_id": ["RM01", "RM02", "RM01"],
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": ["F001", "F002", "F003"],
            "customer_id": ["C001", "C002", "C003"],
            "product": ["term_loan", "revolver", "project_finance"],
            "origination_date": _dates("2019-01-01", "2020-01-01", "2021-01-01"),
            "maturity_date": _dates("2024-01-01", "2025-01-01", "2035-12-31"),
            "close_date": _dates(None, None, "2024-06-30"),
            "limit_amount": [1_000_000.0, 250_000.0, 40_000_000.0],
            "interest_rate": [0.045, 0.06, 0.052],
            "fee_rate": [0.005, 0.01, 0.0075],
            "repayment_type": ["amortising", "revolving", "sculpted"],
            "collateral_type": ["equipment", "receivables", "project_assets"],
            "green_loan": [False, False, True],
        }
    )
    facility_balances = pd.DataFrame(
        {
            "facility_id": ["F001", "F001", "F002", "F003"],
            "customer_id": ["C001", "C001", "C002", "C003"],
            "month_end": _dates("2023-01-31", "2023-02-28", "2023-01-31", "2023-01-31"),
            "drawn_amount": [600_000.0, 580_000.0, 120_000.0, 38_000_000.0],
            "limit_amount": [1_000_000.0, 1_000_000.0, 250_000.0, 40_000_000.0],
        }
    )
    repayments = pd.DataFrame(
        {
            "facility_id": ["F001", "F001", "F003"],
            "customer_id": ["C001", "C001", "C003"],
            "due_date": _dates("2023-01-31", "2023-02-28", "2023-06-30"),
            "amount_due": [20_000.0, 20_000.0, 1_500_000.0],
            "paid_date": _dates("2023-01-30", None, "2023-07-05"),
            "amount_paid": [20_000.0, np.nan, 1_500_000.0],
        }
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["C001", "C001", "C002", "C003"],
            "timestamp": _dates(
                "2023-01-03 09:15:00",
                "2023-01-04 17:40:00",
                "2023-01-05 11:00:00",
                "2023-01-06 08:30:00",
            ),
            "amount": [12_500.0, -3_200.5, 48_000.0, -250_000.0],
            "channel": ["online_banking", "mobile_app", "host_to_host", "swift"],
            "category": ["sales_receipt", "payroll", "sales_receipt", "supplier_payment"],
        }
    )
    interactions = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003"],
            "timestamp": _dates(
                "2023-02-01 10:00:00", "2023-02-02 14:30:00", "2023-02-03 09:00:00"
            ),
            "channel": ["phone", "web_portal", "rm_visit"],
            "interaction_type": ["inquiry", "complaint", "survey"],
            "response_hours": [2.0, 30.5, np.nan],
            "satisfaction_score": [4.0, np.nan, 5.0],
        }
    )
    financials = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003"],
            "period_end": _dates("2022-12-31", "2022-12-31", "2022-12-31"),
            "reported_date": _dates("2023-03-31", "2023-04-15", "2023-05-31"),
            "revenue": [5_000_000.0, 20_000_000.0, 6_000_000.0],
            "ebitda": [600_000.0, -150_000.0, 4_200_000.0],
            "total_debt": [1_200_000.0, 3_000_000.0, 39_000_000.0],
            "interest_expense": [60_000.0, 180_000.0, 2_000_000.0],
            "current_assets": [1_500_000.0, 6_000_000.0, 2_500_000.0],
            "current_liabilities": [900_000.0, 5_500_000.0, 1_000_000.0],
            "cash": [200_000.0, 800_000.0, 1_200_000.0],
            "cfads": [np.nan, np.nan, 4_000_000.0],
            "debt_service": [np.nan, np.nan, 3_000_000.0],
        }
    )
    applications = pd.DataFrame(
        {
            "application_id": ["A001", "A002", "A003"],
            "customer_id": ["C001", "C002", "C003"],
            "submitted_date": _dates("2018-12-01", "2023-03-01", "2023-09-01"),
            "product": ["term_loan", "working_capital", "trade_finance"],
            "amount": [1_000_000.0, 500_000.0, 2_000_000.0],
            "decision": ["approved", "declined", None],
            "decided_date": _dates("2018-12-20", "2023-03-10", None),
        }
    )
    return {
        "customers": customers,
        "facilities": facilities,
        "facility_balances": facility_balances,
        "repayments": repayments,
        "transactions": transactions,
        "interactions": interactions,
        "financials": financials,
        "applications": applications,
    }
