"""Account cash flow: recency, frequency and value of inflows and outflows, volatility, trend, channels.

Point in time: a transaction is seen when its timestamp is before the snapshot.
Inflows are positive amounts, outflows negative ones (reported as positive sums).
Months are calendar months counted back from the snapshot, so "the last 3 months"
of a snapshot on 1 April 2024 is 1 January to 31 March 2024.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from research.data.contract import DIGITAL_TRANSACTION_CHANNELS
from research.features._grid import (
    NS_PER_DAY,
    SnapshotGrid,
    category_codes,
    elapsed,
    family_frame,
    ratio,
    to_ns,
)

_KINDS, _IN, _OUT = 3, 0, 1


def cashflow_features(
    transactions: pd.DataFrame,
    grid: SnapshotGrid,
    *,
    windows_months: Sequence[int],
    trend_recent_months: int,
) -> pd.DataFrame:
    """Cash-flow features (``cf_*``) of the panel rows of ``grid``."""
    windows = sorted(set(windows_months))
    longest, recent = max(windows), trend_recent_months
    times = to_ns(transactions["timestamp"])
    flat = grid.place(grid.codes(transactions["customer_id"]), times)
    amount = transactions["amount"].to_numpy(dtype=np.float64)
    # One pass per total: inflows, outflows and zero movements are kinds 0, 1, 2 of a bucket.
    kind = (amount < 0).astype(np.int64) + 2 * (amount == 0)
    stride = grid.trash + 1
    key = kind * stride + flat
    shape = (_KINDS, grid.n_buckets, grid.n_customers)
    counts = np.bincount(key, minlength=stride * _KINDS)
    by_kind = counts.reshape(_KINDS, stride)[:, : grid.trash].reshape(shape)
    sums = np.bincount(key, weights=amount, minlength=stride * _KINDS)
    sums = sums.reshape(_KINDS, stride)[:, : grid.trash].reshape(shape)
    money_in, money_out = sums[_IN], -sums[_OUT]
    count_in, count_out = by_kind[_IN], by_kind[_OUT]
    count_all = by_kind.sum(axis=0)
    count_digital = grid.totals(flat, where=_is_digital(transactions["channel"]))
    last = grid.latest(flat, times, kinds=kind, n_kinds=_KINDS, counts=counts)

    out: dict[str, np.ndarray] = {}
    for w in windows:
        out[f"cf_inflow_amount_{w}m"] = grid.window(money_in, w)
    for w in windows:
        out[f"cf_outflow_amount_{w}m"] = grid.window(money_out, w)
    for w in windows:
        out[f"cf_inflow_count_{w}m"] = grid.window(count_in, w)
    for w in windows:
        out[f"cf_outflow_count_{w}m"] = grid.window(count_out, w)
    for w in windows:
        out[f"cf_inflow_outflow_ratio_{w}m"] = ratio(
            out[f"cf_inflow_amount_{w}m"], out[f"cf_outflow_amount_{w}m"]
        )
    out["cf_days_since_inflow"] = elapsed(grid.snapshot_ns, last[_IN], NS_PER_DAY)
    out["cf_days_since_outflow"] = elapsed(grid.snapshot_ns, last[_OUT], NS_PER_DAY)
    std, mean_inflow, active = _monthly_net_flow(
        grid, money_in - money_out, money_in, count_all, longest
    )
    out[f"cf_net_flow_std_{longest}m"] = std
    out[f"cf_net_flow_volatility_{longest}m"] = ratio(std, mean_inflow)
    out["cf_inflow_trend"] = (
        ratio(grid.window(money_in, recent), grid.window(money_in, 2 * recent, recent)) - 1
    )
    out[f"cf_digital_share_{longest}m"] = ratio(
        grid.window(count_digital, longest), grid.window(count_all, longest)
    )
    out[f"cf_active_months_{longest}m"] = active
    return family_frame(grid, out)


def _is_digital(channel: pd.Series) -> np.ndarray:
    return category_codes(channel, DIGITAL_TRANSACTION_CHANNELS) >= 0


def _monthly_net_flow(
    grid: SnapshotGrid, net: np.ndarray, money_in: np.ndarray, count_all: np.ndarray, months: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample std of monthly net flow, mean monthly inflow and active months over the last ``months``.

    Month ``k`` is ``[s - k, s - k + 1)`` months; it counts once the customer was onboarded
    before its end, and a month without movements counts as zero net flow.
    """
    flows, included = [], []
    active = np.zeros((grid.n_snapshots, grid.n_customers))
    for k in range(1, months + 1):
        flows.append(grid.window(net, k, k - 1))
        included.append(grid.edge(k - 1)[:, None] > grid.onboarding[None, :])
        active += grid.window(count_all, k, k - 1) > 0
    n_months = np.sum(included, axis=0)
    total = sum(np.where(inc, flow, 0.0) for flow, inc in zip(flows, included, strict=True))
    mean = ratio(total, n_months)
    squares = sum(
        np.where(inc, (flow - mean) ** 2, 0.0) for flow, inc in zip(flows, included, strict=True)
    )
    std = np.where(n_months >= 2, np.sqrt(ratio(squares, n_months - 1)), np.nan)
    mean_inflow = ratio(grid.window(money_in, months), n_months)
    return std, mean_inflow, active
