"""Credit applications: requests, declines, withdrawals (a sign of a competing offer), turnaround.

Point in time: a request is seen from its submitted date and its decision from its
decided date (``decided_date < s``); a request decided on or after the snapshot is
pending at the snapshot, whatever the decision turned out to be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.data.contract import DECISIONS
from research.features._grid import (
    NAT,
    NS_PER_DAY,
    SnapshotGrid,
    category_codes,
    elapsed,
    family_frame,
    ratio,
    to_ns,
)


def application_features(
    applications: pd.DataFrame, grid: SnapshotGrid, *, long_window_months: int
) -> pd.DataFrame:
    """Application features (``app_*``) of the panel rows of ``grid``."""
    window = long_window_months
    codes = grid.codes(applications["customer_id"])
    submitted = to_ns(applications["submitted_date"])
    decided = to_ns(applications["decided_date"])
    decision = category_codes(applications["decision"], DECISIONS)
    amount = applications["amount"].to_numpy(dtype=np.float64)
    has_decision = (decided != NAT) & (submitted != NAT)
    # A decision is seen once both the request and the decision exist.
    decision_time = np.where(has_decision, np.maximum(submitted, decided), NAT)
    turnaround = np.where(has_decision, (decided - submitted) / NS_PER_DAY, 0.0)

    requests = grid.place(codes, submitted)
    decisions = grid.place(np.where(has_decision, codes, -1), decision_time)
    submitted_count = grid.totals(requests)
    decided_count = grid.totals(decisions)
    declined = grid.totals(decisions, where=decision == DECISIONS.index("declined"))
    withdrawn = grid.totals(decisions, where=decision == DECISIONS.index("withdrawn"))
    turnaround_sum = grid.totals(decisions, turnaround)
    recent_decisions = grid.window(decided_count, window)
    return family_frame(
        grid,
        {
            f"app_requests_{window}m": grid.window(submitted_count, window),
            f"app_requested_amount_{window}m": grid.window(grid.totals(requests, amount), window),
            f"app_decline_share_{window}m": ratio(grid.window(declined, window), recent_decisions),
            f"app_withdrawn_{window}m": grid.window(withdrawn, window),
            "app_pending": grid.before(submitted_count) - grid.before(decided_count),
            f"app_mean_turnaround_days_{window}m": ratio(
                grid.window(turnaround_sum, window), recent_decisions
            ),
            "app_days_since_request": _within(
                elapsed(grid.snapshot_ns, grid.latest(requests, submitted), NS_PER_DAY), window
            ),
        },
    )


def _within(days: np.ndarray, window_months: int) -> np.ndarray:
    """Days since an event, missing beyond the look-back window (history length must not leak in)."""
    return np.where(days <= window_months * 365.25 / 12, days, np.nan)
