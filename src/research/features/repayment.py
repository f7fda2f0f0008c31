"""Repayment behaviour: instalments due, punctuality, days past due, arrears and their trend.

Point in time: an instalment is seen from its due date (``due_date < s``) and its
payment from the paid date (``paid_date < s``). An instalment due before the snapshot
and paid on or after it is unpaid at the snapshot, ``(s - due_date).days`` past due.
An instalment paid on or before its due date is on time; any other is late, which is
already known the day after it fell due.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from research.features._grid import (
    NAT,
    NEVER,
    NS_PER_DAY,
    NS_PER_MONTH,
    SnapshotGrid,
    elapsed,
    family_frame,
    ratio,
    to_ns,
)


def repayment_features(
    repayments: pd.DataFrame,
    grid: SnapshotGrid,
    *,
    windows_months: Sequence[int],
    trend_recent_months: int,
    dpd_thresholds: Sequence[int],
) -> pd.DataFrame:
    """Repayment features (``rep_*``) of the panel rows of ``grid``."""
    windows = sorted(set(windows_months))
    longest, recent = max(windows), trend_recent_months
    codes = grid.codes(repayments["customer_id"])
    due = to_ns(repayments["due_date"])
    paid = to_ns(repayments["paid_date"], missing=NEVER)
    amount_due = repayments["amount_due"].to_numpy(dtype=np.float64)
    amount_paid = repayments["amount_paid"].to_numpy(dtype=np.float64)
    # A payment recorded without an amount settles the instalment in full.
    shortfall = np.clip(
        amount_due - np.where(np.isnan(amount_paid), amount_due, amount_paid), 0, None
    )
    valid = (codes >= 0) & (due != NAT)
    on_time = paid <= due

    records = grid.place(codes, due)
    settled = grid.place(np.where(valid, codes, -1), np.maximum(due, paid))
    due_count = grid.totals(records)
    on_time_count = grid.totals(records, where=on_time)
    settled_shortfall = grid.totals(settled, weights=shortfall)
    last_late = grid.latest(records, due, where=~on_time)

    spans = {(w, 0) for w in windows} | {(recent, 0), (2 * recent, recent)}
    late = _late_at_snapshots(
        grid,
        codes[valid & ~on_time],
        due[valid & ~on_time],
        paid[valid & ~on_time],
        amount_due[valid & ~on_time],
        spans=spans,
        windows=windows,
        longest=longest,
        thresholds=sorted(set(dpd_thresholds)),
    )

    out: dict[str, np.ndarray] = {}
    counts = {span: grid.window(due_count, *span) for span in spans}
    for w in windows:
        out[f"rep_instalments_due_{w}m"] = counts[(w, 0)]
    for w in windows:
        out[f"rep_on_time_share_{w}m"] = ratio(grid.window(on_time_count, w), counts[(w, 0)])
    for w in windows:
        out[f"rep_mean_dpd_{w}m"] = ratio(late["dpd_sum"][(w, 0)], counts[(w, 0)])
    for w in windows:
        out[f"rep_max_dpd_{w}m"] = np.where(
            counts[(w, 0)] > 0, np.maximum(late["dpd_max"][w], 0), np.nan
        )
    for t in sorted(set(dpd_thresholds)):
        out[f"rep_dpd{t}_count_{longest}m"] = late["over"][t]
    # Capped at the longest window: beyond it the figure would depend on how much history
    # the data holds (it grows with calendar time), not on the customer.
    since_late = elapsed(grid.snapshot_ns, last_late, NS_PER_MONTH)
    out["rep_months_since_late"] = np.where(since_late <= longest, since_late, np.nan)
    out["rep_arrears_amount"] = late["unpaid_amount"] + grid.before(settled_shortfall)
    out["rep_overdue_instalments"] = late["unpaid_count"]
    out["rep_current_dpd"] = late["current_dpd"]
    out["rep_dpd_trend"] = ratio(late["dpd_sum"][(recent, 0)], counts[(recent, 0)]) - ratio(
        late["dpd_sum"][(2 * recent, recent)], counts[(2 * recent, recent)]
    )
    return family_frame(grid, out)


def _late_at_snapshots(
    grid: SnapshotGrid,
    codes: np.ndarray,
    due: np.ndarray,
    paid: np.ndarray,
    amount_due: np.ndarray,
    *,
    spans: set[tuple[int, int]],
    windows: list[int],
    longest: int,
    thresholds: list[int],
) -> dict:
    """Snapshot-dependent figures of the late instalments (on-time ones are 0 days past due)."""
    order = np.argsort(due, kind="stable")
    codes, due, paid, amount_due = codes[order], due[order], paid[order], amount_due[order]
    shape = (grid.n_snapshots, grid.n_customers)
    n = grid.n_customers
    dpd_sum = {span: np.zeros(shape) for span in spans}
    dpd_max = {w: np.full(shape, -1.0) for w in windows}
    over = {t: np.zeros(shape) for t in thresholds}
    unpaid_count, unpaid_amount, current_dpd = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    reach = max(max(a for a, _ in spans), longest)
    for i, s in enumerate(grid.snapshot_ns):
        hi = np.searchsorted(due, s, side="left")
        unpaid = np.flatnonzero(paid[:hi] >= s)
        unpaid_count[i] = np.bincount(codes[unpaid], minlength=n)
        unpaid_amount[i] = np.bincount(codes[unpaid], weights=amount_due[unpaid], minlength=n)
        oldest = np.full(n, NEVER, dtype=np.int64)
        np.minimum.at(oldest, codes[unpaid], due[unpaid])
        current_dpd[i] = np.where(oldest == NEVER, 0.0, (s - oldest) // NS_PER_DAY)

        lo = np.searchsorted(due, grid.edge(reach)[i], side="left")
        c, d, p = codes[lo:hi], due[lo:hi], paid[lo:hi]
        days = (np.where(p < s, p, s) - d) // NS_PER_DAY
        for far, near in spans:
            m = (d >= grid.edge(far)[i]) & (d < grid.edge(near)[i])
            dpd_sum[(far, near)][i] = np.bincount(c[m], weights=days[m], minlength=n)
            if near == 0 and far in dpd_max:
                np.maximum.at(dpd_max[far][i], c[m], days[m])
            if near == 0 and far == longest:
                for t in thresholds:
                    over[t][i] = np.bincount(c[m & (days >= t)], minlength=n)
    return {
        "dpd_sum": dpd_sum,
        "dpd_max": dpd_max,
        "over": over,
        "unpaid_count": unpaid_count,
        "unpaid_amount": unpaid_amount,
        "current_dpd": current_dpd,
    }
