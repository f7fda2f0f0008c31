"""Financial statements: leverage, coverage, liquidity, DSCR, growth, margins and transparency.

Point in time: a statement is seen from its reported date (``reported_date < s``),
never from its period end, so a statement for a period that ended before the snapshot
but reported on or after it does not exist at the snapshot. The latest statement is
the seen one with the latest period end (the latest report among restatements).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.features._grid import (
    NAT,
    NS_PER_DAY,
    NS_PER_MONTH,
    SnapshotGrid,
    elapsed,
    family_frame,
    ratio,
    to_ns,
)

YEAR_AGO_MIN_DAYS = 300  # the comparison statement ended at least this long before the latest one
_DAY_OFFSET = 400_000  # keeps (customer, period day) keys positive for any plausible date
_KEY_SCALE = 1_000_000

_COLUMNS = (
    "revenue",
    "ebitda",
    "total_debt",
    "interest_expense",
    "current_assets",
    "current_liabilities",
    "cash",
    "cfads",
    "debt_service",
)


def financial_features(
    financials: pd.DataFrame,
    grid: SnapshotGrid,
    *,
    long_window_months: int,
    financials_overdue_days: int,
) -> pd.DataFrame:
    """Financial features (``fin_*``) of the panel rows of ``grid``."""
    codes = grid.codes(financials["customer_id"])
    period = to_ns(financials["period_end"])
    reported = to_ns(financials["reported_date"])
    ok = (codes >= 0) & (period != NAT) & (reported != NAT)
    order = np.flatnonzero(ok)[np.lexsort((reported[ok], period[ok], codes[ok]))]
    codes, period, reported = codes[order], period[order], reported[order]
    values = {c: financials[c].to_numpy(dtype=np.float64)[order] for c in _COLUMNS}
    margin = np.where(values["revenue"] > 0, ratio(values["ebitda"], values["revenue"]), np.nan)
    key = codes * _KEY_SCALE + (period // NS_PER_DAY + _DAY_OFFSET)

    n, shape = grid.n_customers, (grid.n_snapshots, grid.n_customers)
    latest = np.full(
        shape, -1, dtype=np.int64
    )  # row of the latest statement per snapshot and customer
    prior = np.full(shape, -1, dtype=np.int64)  # row of the statement about a year before it
    last_report = np.full(shape, NAT, dtype=np.int64)
    recent_count = np.zeros(shape)
    for i, s in enumerate(grid.snapshot_ns):
        seen = np.flatnonzero(reported < s)
        if not len(seen):
            continue
        c = codes[seen]
        ends = seen[np.r_[c[1:] != c[:-1], True]]
        latest[i, codes[ends]] = ends
        target = codes[ends] * _KEY_SCALE + (
            (period[ends] // NS_PER_DAY) - YEAR_AGO_MIN_DAYS + _DAY_OFFSET
        )
        j = np.searchsorted(key[seen], target, side="right") - 1
        found = (j >= 0) & (codes[seen[np.maximum(j, 0)]] == codes[ends])
        prior[i, codes[ends[found]]] = seen[j[found]]
        np.maximum.at(last_report[i], c, reported[seen])
        recent = seen[reported[seen] >= grid.edge(long_window_months)[i]]
        recent_count[i] = np.bincount(codes[recent], minlength=n)

    def at(rows: np.ndarray, column: np.ndarray) -> np.ndarray:
        return np.where(rows >= 0, column[np.maximum(rows, 0)] if len(column) else np.nan, np.nan)

    v = {c: at(latest, values[c]) for c in _COLUMNS}
    revenue_before = at(prior, values["revenue"])
    days_since = elapsed(grid.snapshot_ns, last_report, NS_PER_DAY)
    days_onboard = elapsed(grid.snapshot_ns, np.broadcast_to(grid.onboarding, shape), NS_PER_DAY)
    silent = np.where(np.isnan(days_since), days_onboard, days_since)
    return family_frame(
        grid,
        {
            "fin_leverage": np.where(v["ebitda"] > 0, ratio(v["total_debt"], v["ebitda"]), np.nan),
            "fin_interest_cover": ratio(v["ebitda"], v["interest_expense"]),
            "fin_current_ratio": ratio(v["current_assets"], v["current_liabilities"]),
            "fin_cash_ratio": ratio(v["cash"], v["current_liabilities"]),
            "fin_dscr": ratio(v["cfads"], v["debt_service"]),
            "fin_ebitda_margin": at(latest, margin),
            "fin_revenue_growth": np.where(
                revenue_before > 0, ratio(v["revenue"], revenue_before) - 1, np.nan
            ),
            "fin_margin_change": at(latest, margin) - at(prior, margin),
            "fin_log_revenue": np.log1p(np.clip(v["revenue"], 0, None)),
            "fin_reporting_lag_days": at(latest, (reported - period) / NS_PER_DAY),
            "fin_months_since_statement": elapsed(grid.snapshot_ns, last_report, NS_PER_MONTH),
            f"fin_statements_{long_window_months}m": recent_count,
            "fin_statement_overdue": np.where(
                np.isnan(silent), np.nan, (silent > financials_overdue_days).astype(float)
            ),
        },
    )
