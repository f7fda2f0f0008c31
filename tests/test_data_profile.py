"""The portfolio profile's event rates (research.evaluation), by hand on a three-firm portfolio."""

from __future__ import annotations

import pandas as pd
import pytest

from research.evaluation import event_rates_by_year, oriented_auc


def _portfolio() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "segment": ["micro", "micro", "large"],
            "onboarding_date": pd.to_datetime(["2018-05-01", "2018-06-01", "2018-07-01"]),
            "relationship_end_date": pd.to_datetime([None, "2020-09-15", None]),
        }
    )
    due = pd.date_range("2019-01-31", "2021-12-31", freq="ME")
    rows = []
    for cid in ("C1", "C2", "C3"):
        for d in due:
            if cid == "C2" and d >= pd.Timestamp("2020-09-15"):
                break
            unpaid = cid == "C1" and d >= pd.Timestamp(
                "2020-03-31"
            )  # stops paying: default 90 days later
            rows.append(
                {
                    "facility_id": f"F{cid}",
                    "customer_id": cid,
                    "due_date": d,
                    "amount_due": 10.0,
                    "paid_date": pd.NaT if unpaid else d,
                    "amount_paid": None if unpaid else 10.0,
                }
            )
    return {"customers": customers, "repayments": pd.DataFrame(rows)}


def test_event_rates_by_year_by_hand():
    rates = event_rates_by_year(
        _portfolio(), default_dpd=90, as_of=pd.Timestamp("2021-12-31")
    ).set_index(["year", "segment"])
    # 2019: all three active, no events.
    assert rates.loc[(2019, "all"), "customers"] == 3
    assert rates.loc[(2019, "all"), "default_rate"] == 0.0
    # 2020: C1 defaults (2020-03-31 + 90 days = 2020-06-29), C2 leaves in September.
    assert rates.loc[(2020, "micro"), "default_rate"] == pytest.approx(0.5)
    assert rates.loc[(2020, "micro"), "churn_rate"] == pytest.approx(0.5)
    assert rates.loc[(2020, "large"), "default_rate"] == 0.0
    # 2021: only C3 is still active and not in default.
    assert rates.loc[(2021, "all"), "customers"] == 1
    assert 2022 not in rates.index.get_level_values("year")  # no complete year of data after 2021


def test_oriented_auc_takes_the_better_direction():
    label = pd.Series([0, 0, 1, 1])
    assert oriented_auc(label, pd.Series([4.0, 3.0, 2.0, 1.0])) == 1.0
    assert oriented_auc(label, pd.Series([1.0, 2.0, 3.0, 4.0])) == 1.0
    assert oriented_auc(label, pd.Series([1.0, 1.0, 1.0, 1.0])) == 0.5
