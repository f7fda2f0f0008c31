"""Account conduct: level, low point, overdraft, volatility, trend and cash cover of current-account balances.

Point in time: a balance dated ``d`` (the end of that day) is seen by a snapshot ``s``
only when ``d < s``, so a balance dated on the snapshot day itself is not seen.
Balances may come daily, on days with movements or at month ends; every statistic is
over the dated observations in the window (not weighted by the days between them).
Months are calendar months counted back from the snapshot, as for the cash-flow
features, so "the last 3 months" of a snapshot on 1 April 2024 is 1 January to 31
March 2024.

Levels are in the currency and so scale with the firm; ``bal_cash_cover_*`` (mean
balance over mean monthly outflows of the same window) and the overdraft counts and
shares do not. Levels are kept as they are, not made relative to peers
(``research.features.peers``): they do not drift with the calendar the way loan
pricing or digital adoption do, and when a downturn lowers every firm's balances
that is a real rise in risk, which a distance from the book's median would hide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.features._grid import NAT, SnapshotGrid, family_frame, ratio, to_ns

CASH_COVER = "bal_cash_cover_{w}m"  # the one feature that needs the transactions table


def cash_cover_names(windows_months: Sequence[int]) -> list[str]:
    """The features lost when the transactions table is absent."""
    return [CASH_COVER.format(w=w) for w in sorted(set(windows_months))]


def balance_features(
    account_balances: pd.DataFrame,
    grid: SnapshotGrid,
    *,
    windows_months: Sequence[int],
    trend_recent_months: int,
    transactions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Account-conduct features (``bal_*``) of the panel rows of ``grid``.

    ``bal_cash_cover_{w}m`` needs ``transactions`` (its outflows); without them those
    columns are left out.
    """
    windows = sorted(set(windows_months))
    longest, recent = max(windows), trend_recent_months
    buckets = _BucketStats.of(account_balances, grid)

    out: dict[str, np.ndarray] = {}
    stats = {w: buckets.window(grid, w) for w in windows}
    for w in windows:
        out[f"bal_mean_{w}m"] = stats[w].mean
    for w in windows:
        out[f"bal_min_{w}m"] = stats[w].minimum
    overdraft_months = _months_with(grid, buckets.negative, longest)
    for w in windows:
        out[f"bal_overdraft_months_{w}m"] = overdraft_months[w]
    for w in windows:
        out[f"bal_overdrawn_share_{w}m"] = ratio(stats[w].negative, stats[w].count)
    out[f"bal_std_{longest}m"] = stats[longest].std
    out["bal_closing"] = buckets.closing(grid, longest)
    now, before = buckets.window(grid, recent), buckets.window(grid, 2 * recent, recent)
    out["bal_trend"] = ratio(now.mean - before.mean, before.mean_absolute)
    if transactions is not None:
        monthly_outflow = _monthly_outflows(transactions, grid, windows)
        for w in windows:
            out[CASH_COVER.format(w=w)] = ratio(stats[w].mean, monthly_outflow[w])
    return family_frame(grid, out)


@dataclass(frozen=True)
class _Window:
    """Statistics of the observations in one window, ``(S, n)`` each."""

    count: np.ndarray
    mean: np.ndarray
    mean_absolute: np.ndarray
    minimum: np.ndarray
    std: np.ndarray
    negative: np.ndarray


@dataclass(frozen=True)
class _BucketStats:
    """Per bucket and customer ``(K, n)``: count, sum, sum of absolute values, overdrawn
    count, mean, squared deviations from the bucket's mean, minimum, and the latest value."""

    count: np.ndarray
    total: np.ndarray
    absolute: np.ndarray
    negative: np.ndarray
    mean: np.ndarray
    squares: np.ndarray
    minimum: np.ndarray
    last: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, grid: SnapshotGrid) -> _BucketStats:
        value = frame["balance"].to_numpy(dtype=np.float64)
        times = to_ns(frame["balance_date"])
        flat = grid.place(grid.codes(frame["customer_id"]), times)
        flat[np.isnan(value)] = grid.trash
        value = np.where(np.isnan(value), 0.0, value)
        shape = (grid.n_buckets, grid.n_customers)

        def per_bucket(weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(flat, weights=weights, minlength=grid.trash + 1)[: grid.trash]

        count = per_bucket()
        total = per_bucket(value)
        mean = ratio(total, count)
        # Squared deviations from each bucket's own mean: exact where a running sum of
        # squares would cancel (balances of millions varying by thousands).
        deviation = value - np.append(mean, 0.0)[flat]
        squares = per_bucket(deviation * deviation)
        # Minimum and latest value per bucket (the latest time; the last row among equal
        # times), by unbuffered extrema rather than a sort of every observation.
        slots = grid.trash + 1
        minimum = np.full(slots, np.inf)
        np.minimum.at(minimum, flat, value)
        latest_time = np.full(slots, NAT, dtype=np.int64)
        np.maximum.at(latest_time, flat, times)
        at_latest = np.flatnonzero(times == latest_time[flat])
        row = np.full(slots, -1, dtype=np.int64)
        np.maximum.at(row, flat[at_latest], at_latest)
        last = np.where(row >= 0, value[np.maximum(row, 0)] if len(value) else np.nan, np.nan)
        minimum, last = minimum[: grid.trash], last[: grid.trash]
        return cls(
            count=count.reshape(shape),
            total=total.reshape(shape),
            absolute=per_bucket(np.abs(value)).reshape(shape),
            negative=per_bucket((value < 0).astype(np.float64)).reshape(shape),
            mean=mean.reshape(shape),
            squares=squares.reshape(shape),
            minimum=minimum.reshape(shape),
            last=last.reshape(shape),
        )

    def window(self, grid: SnapshotGrid, far: int, near: int = 0) -> _Window:
        """The observations in ``[s - far months, s - near months)`` for every snapshot."""
        shape = (grid.n_snapshots, grid.n_customers)
        count, total, absolute, negative, squares, minimum = (np.empty(shape) for _ in range(6))
        starts, stops = grid.positions[:, grid.reach(far)], grid.positions[:, grid.reach(near)]
        for i, (lo, hi) in enumerate(zip(starts, stops, strict=True)):
            part = slice(lo + 1, hi + 1)
            n = self.count[part]
            count[i], total[i] = n.sum(axis=0), self.total[part].sum(axis=0)
            absolute[i] = self.absolute[part].sum(axis=0)
            negative[i] = self.negative[part].sum(axis=0)
            mean = ratio(total[i], count[i])
            # Pooled squared deviations: within buckets plus between bucket means.
            between = np.where(n > 0, n * (np.nan_to_num(self.mean[part]) - mean) ** 2, 0.0)
            squares[i] = self.squares[part].sum(axis=0) + between.sum(axis=0)
            minimum[i] = self.minimum[part].min(axis=0, initial=np.inf)
        std = np.where(count >= 2, np.sqrt(ratio(squares, count - 1)), np.nan)
        return _Window(
            count=count,
            mean=ratio(total, count),
            mean_absolute=ratio(absolute, count),
            minimum=np.where(np.isinf(minimum), np.nan, minimum),
            std=std,
            negative=negative,
        )

    def closing(self, grid: SnapshotGrid, months: int) -> np.ndarray:
        """The latest balance before each snapshot within the last ``months`` months; NaN when none."""
        k, n = self.count.shape
        index_type = np.int16 if k < np.iinfo(np.int16).max else np.int32
        latest = np.where(self.count > 0, np.arange(k, dtype=index_type)[:, None], index_type(-1))
        np.maximum.accumulate(latest, axis=0, out=latest)
        found = latest[grid.positions[:, 0]].astype(np.int64)  # (S, n): last non-empty bucket
        inside = found > grid.positions[:, grid.reach(months)][:, None]
        value = self.last[np.maximum(found, 0), np.arange(n)[None, :]]
        return np.where(inside, value, np.nan)


def _months_with(grid: SnapshotGrid, totals: np.ndarray, longest: int) -> dict[int, np.ndarray]:
    """For every ``w`` up to ``longest``: the months among the last ``w`` with a positive total."""
    out, running = {}, np.zeros((grid.n_snapshots, grid.n_customers))
    for k in range(1, longest + 1):
        running = running + (grid.window(totals, k, k - 1) > 0)
        out[k] = running
    return out


def cash_cover_columns(
    grid: SnapshotGrid, features: pd.DataFrame, windows_months: Sequence[int]
) -> dict[str, np.ndarray]:
    """``bal_cash_cover_{w}m`` of the panel rows from the families' own columns.

    The same figures as ``balance_features(..., transactions=...)`` gives (bit for bit), from
    ``bal_mean_{w}m`` and the cash-flow family's ``cf_outflow_amount_{w}m``, so that the
    transactions are read once (by the cash-flow family) rather than twice.
    """
    months_on_books = np.zeros((grid.n_snapshots, grid.n_customers))
    windows, out = sorted(set(windows_months)), {}
    for k in range(1, max(windows) + 1):
        months_on_books += grid.edge(k - 1)[:, None] > grid.onboarding[None, :]
        if k in windows:
            outflows = features[f"cf_outflow_amount_{k}m"].to_numpy(dtype=np.float64)
            monthly = ratio(outflows, grid.select(months_on_books))
            mean = features[f"bal_mean_{k}m"].to_numpy(dtype=np.float64)
            out[CASH_COVER.format(w=k)] = ratio(mean, monthly)
    return out


def _monthly_outflows(
    transactions: pd.DataFrame, grid: SnapshotGrid, windows: Sequence[int]
) -> dict[int, np.ndarray]:
    """Mean monthly outflows (a positive amount) over each window.

    Divided by the window's months on the books (a month counts once the customer was
    onboarded before its end), as the cash-flow volatility counts them, so a new client's
    first months are not averaged with months before it was a client.
    """
    amount = transactions["amount"].to_numpy(dtype=np.float64)
    flat = grid.place(grid.codes(transactions["customer_id"]), to_ns(transactions["timestamp"]))
    outflows = grid.totals(flat, weights=-amount, where=amount < 0)
    months_on_books = np.zeros((grid.n_snapshots, grid.n_customers))
    out = {}
    for k in range(1, max(windows) + 1):
        months_on_books += grid.edge(k - 1)[:, None] > grid.onboarding[None, :]
        if k in windows:
            out[k] = ratio(grid.window(outflows, k), months_on_books)
    return out
