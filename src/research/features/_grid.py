"""The customer-by-snapshot grid every feature family computes on.

Records are aggregated once by customer and time bucket, where the bucket edges are
every snapshot and every whole month before it that a window needs; any window
``[s - a months, s - b months)`` is then a sum of a few bucket totals, so a panel of
many snapshots costs little more than one. A record at time ``t`` falls in
the bucket ``[edge[i-1], edge[i])``; records at or after the last snapshot fall in
no bucket and are never seen, which is what keeps the features point-in-time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

NAT = np.iinfo(np.int64).min
NEVER = np.iinfo(np.int64).max
NS_PER_DAY = 86_400 * 10**9
DAYS_PER_MONTH = 365.25 / 12
NS_PER_MONTH = DAYS_PER_MONTH * NS_PER_DAY


def to_ns(values: pd.Series, *, missing: int = NAT) -> np.ndarray:
    """Dates or timestamps as int64 nanoseconds since the epoch; NaT becomes ``missing``."""
    out = values.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if missing != NAT:
        out = np.where(out == NAT, missing, out)
    return out


def months_before(snapshot: pd.Timestamp, months: int) -> pd.Timestamp:
    """The calendar date ``months`` months before ``snapshot`` (day clipped to the month's end)."""
    return snapshot - pd.DateOffset(months=months)


def months_before_table(snapshots: pd.DatetimeIndex, months_back: int) -> np.ndarray:
    """``months_before(s, k)`` as int64 ns for every snapshot ``s`` (rows) and ``k = 0..months_back``.

    Vectorised calendar arithmetic, equal to ``s - pd.DateOffset(months=k)``: the day is
    clipped to the target month's end and the time of day kept.
    """
    stamps = snapshots.as_unit("ns").to_numpy()
    days = stamps.astype("datetime64[D]")
    time_of_day = stamps - days.astype("datetime64[ns]")
    month = days.astype("datetime64[M]")
    day_of_month = (days - month.astype("datetime64[D]")).astype(np.int64)
    target = month[:, None] - np.arange(months_back + 1)[None, :]
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    day = np.minimum(day_of_month[:, None], length - 1)
    out = target.astype("datetime64[D]") + day + time_of_day[:, None]
    return out.astype("datetime64[ns]").view(np.int64).reshape(len(stamps), months_back + 1)


def as_snapshot_index(snapshots) -> pd.DatetimeIndex:
    """Sorted, unique snapshot dates at nanosecond resolution."""
    index = pd.DatetimeIndex(pd.to_datetime(list(snapshots))).unique().sort_values()
    return index.as_unit("ns")


def arrow_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A string column as an Arrow string array (zero-copy for pyarrow-backed ``str`` columns)."""
    try:
        array = (
            pa.array(values.array) if hasattr(values.array, "__arrow_array__") else pa.array(values)
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(values.astype("str").array)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return array


def category_codes(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Position of each value in ``categories`` (-1 when absent or missing).

    A pandas categorical is looked up by its levels, then its codes (its text is never
    spelled out row by row).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = pd.Series(values.cat.categories)
        positions = np.append(category_codes(levels, categories), -1)  # code -1: missing
        return positions[values.cat.codes.to_numpy()]
    found = pc.index_in(arrow_strings(values), value_set=pa.array(list(categories), pa.string()))
    return _filled(found)


def _filled(found) -> np.ndarray:
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class SnapshotGrid:
    """Customers (sorted ids) by snapshots, the panel rows among them, and the bucket edges.

    Arrays shaped ``(S, n)`` hold one value per snapshot and customer; ``select`` keeps the
    panel rows (snapshot-major, customers sorted) in the order of ``keys()``.
    """

    customer_ids: pa.Array
    snapshots: pd.DatetimeIndex
    rows: np.ndarray
    edges: np.ndarray
    positions: np.ndarray  # (S, months_back + 1): index in edges of s - k months
    onboarding: np.ndarray

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_snapshots(self) -> int:
        return len(self.snapshots)

    @property
    def n_buckets(self) -> int:
        return len(self.edges)

    @property
    def months_back(self) -> int:
        return self.positions.shape[1] - 1

    @property
    def snapshot_ns(self) -> np.ndarray:
        return self.snapshots.asi8

    def reach(self, months: int) -> int:
        """``months``, after checking that the grid's edges go back that far."""
        if not 0 <= months <= self.months_back:
            raise ValueError(
                f"a window reaches {months} months before the snapshot but the grid only "
                f"{self.months_back}; build it with make_grid(..., months_back={months}) or more"
            )
        return months

    def edge(self, months: int) -> np.ndarray:
        """``s - months`` months for every snapshot (int64 ns)."""
        return self.edges[self.positions[:, self.reach(months)]]

    def codes(self, customer_ids: pd.Series) -> np.ndarray:
        """Grid position of each customer id (-1 for ids not among the customers)."""
        return _filled(pc.index_in(arrow_strings(customer_ids), value_set=self.customer_ids))

    def keys(self) -> pd.DataFrame:
        """``customer_id`` and ``snapshot_date`` of the panel rows."""
        n = self.n_customers
        ids = self.customer_ids.take(pa.array(self.rows % n)).to_pandas(types_mapper=_str_dtype)
        dates = self.snapshots[self.rows // n]
        return pd.DataFrame({"customer_id": ids.astype("str"), "snapshot_date": np.asarray(dates)})

    def select(self, values: np.ndarray) -> np.ndarray:
        """The panel rows of an ``(S, n)`` array, as float64."""
        return np.asarray(values, dtype=np.float64).reshape(-1)[self.rows]

    @property
    def trash(self) -> int:
        """The flat position of records that lie on no bucket (unknown customer, missing or late time)."""
        return self.n_customers * self.n_buckets

    def place(self, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Flat position (bucket * n + customer code) of each record; ``trash`` when off the grid.

        Off-grid records keep their place in the array, so masks and values of the input
        rows line up with the result without copying. Bucket-major order keeps each
        bucket's customers contiguous, so summing a window of buckets is a few vector adds.
        """
        bucket = np.searchsorted(self.edges, times, side="right")
        flat = bucket * self.n_customers + codes
        flat[(codes < 0) | (bucket >= self.n_buckets) | (times == NAT)] = self.trash
        return flat

    def only(self, flat: np.ndarray, where: np.ndarray | None) -> np.ndarray:
        """``flat`` with the records outside ``where`` moved to ``trash``."""
        return flat if where is None else np.where(where, flat, self.trash)

    def totals(
        self,
        flat: np.ndarray,
        weights: np.ndarray | None = None,
        where: np.ndarray | None = None,
    ) -> np.ndarray:
        """Count (or sum of ``weights``) of records per bucket and customer: ``(K, n)``."""
        size = self.trash
        counts = np.bincount(self.only(flat, where), weights=weights, minlength=size + 1)
        return counts[:size].reshape(self.n_buckets, self.n_customers)

    def latest(
        self,
        flat: np.ndarray,
        times: np.ndarray,
        where: np.ndarray | None = None,
        *,
        kinds: np.ndarray | None = None,
        n_kinds: int = 1,
        counts: np.ndarray | None = None,
        near: int = 0,
    ) -> np.ndarray:
        """Latest record time per snapshot and customer before ``s - near`` months; NAT when none.

        Returns ``(S, n)``, or ``(n_kinds, S, n)`` when records come in ``kinds`` (codes
        ``0..n_kinds-1``, keyed ``kind * (trash + 1) + flat``, whose counts may be passed as
        ``counts``). Only the records in each customer's last non-empty bucket before the
        edge can hold the answer, so only those enter the (slow) unbuffered maximum.
        """
        n, k, stride = self.n_customers, self.n_buckets, self.trash + 1
        key = self.only(flat, where)
        if kinds is not None:
            key = kinds.astype(np.int64) * stride + key
        if counts is None:
            counts = np.bincount(key, minlength=stride * n_kinds)
        nonempty = counts.reshape(n_kinds, stride)[:, : self.trash].reshape(n_kinds, k, n) > 0
        index_type = (
            np.int16 if k < np.iinfo(np.int16).max else np.int32
        )  # small: this array is large
        last = np.where(nonempty, np.arange(k, dtype=index_type)[None, :, None], index_type(-1))
        np.maximum.accumulate(last, axis=1, out=last)
        last = last[
            :, self.positions[:, near], :
        ]  # (kinds, S, n): last non-empty bucket before the edge
        found = last >= 0
        keys = (
            np.arange(n_kinds)[:, None, None] * stride
            + last.astype(np.int64) * n
            + np.arange(n)[None, None, :]
        )
        keys = np.where(found, keys, self.trash)  # the trash slot of kind 0 never holds a time
        wanted = np.zeros(stride * n_kinds, dtype=bool)
        wanted[keys[found]] = True
        chosen = np.flatnonzero(wanted[key])
        best = np.full(stride * n_kinds, NAT, dtype=np.int64)
        np.maximum.at(best, key[chosen], times[chosen])
        out = best[keys]
        return out[0] if kinds is None else out

    def window(self, totals: np.ndarray, far: int, near: int = 0) -> np.ndarray:
        """Per snapshot and customer, the total over ``[s - far months, s - near months)``: ``(S, n)``.

        Bucket totals are added up afresh for each window (not differenced from running
        sums) so that an empty window is exactly zero and small sums keep their precision.
        """
        out = np.empty((self.n_snapshots, self.n_customers), dtype=totals.dtype)
        far, near = self.reach(far), self.reach(near)
        for i, (lo, hi) in enumerate(
            zip(self.positions[:, far], self.positions[:, near], strict=True)
        ):
            out[i] = totals[lo + 1 : hi + 1].sum(axis=0)
        return out

    def before(self, totals: np.ndarray, near: int = 0) -> np.ndarray:
        """Per snapshot and customer, the total over all records before ``s - near`` months: ``(S, n)``."""
        out = np.empty((self.n_snapshots, self.n_customers), dtype=totals.dtype)
        for i, hi in enumerate(self.positions[:, self.reach(near)]):
            out[i] = totals[: hi + 1].sum(axis=0)
        return out


def _str_dtype(arrow_type: pa.DataType):
    return pd.StringDtype("pyarrow", na_value=np.nan) if pa.types.is_string(arrow_type) else None


def make_grid(
    customers: pd.DataFrame,
    snapshots,
    *,
    months_back: int,
    default_dates: pd.Series | None = None,
    churn_dates: pd.Series | None = None,
) -> SnapshotGrid:
    """The grid of ``customers`` by ``snapshots`` with the panel rows marked.

    A row is kept when the customer was onboarded before the snapshot, the relationship
    had not ended before it and (given ``default_dates``, customer id to first default
    date) the customer had not defaulted before it, nor (given ``churn_dates``, the churn
    events of a bank's events table) left before it.
    """
    snaps = as_snapshot_index(snapshots)
    ordered = customers.sort_values("customer_id", kind="stable")
    ids = arrow_strings(ordered["customer_id"])
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    ids = ids.cast(pa.string())
    onboarding = to_ns(ordered["onboarding_date"])
    ended = to_ns(ordered["relationship_end_date"], missing=NEVER)
    s = snaps.asi8[:, None]
    eligible = (onboarding[None, :] < s) & (ended[None, :] >= s) & (onboarding[None, :] != NAT)
    for dates in (default_dates, churn_dates):
        if dates is not None and len(dates):
            eligible &= first_dates(ids, dates)[None, :] >= s
    table = months_before_table(snaps, months_back)
    edges = np.unique(table)
    return SnapshotGrid(
        customer_ids=ids,
        snapshots=snaps,
        rows=np.flatnonzero(eligible.reshape(-1)),
        edges=edges,
        positions=np.searchsorted(edges, table),
        onboarding=onboarding,
    )


def first_dates(ids: pa.Array, dates: pd.Series) -> np.ndarray:
    """Per customer of ``ids``, its date in ``dates`` (customer id to date) as int64 ns; ``NEVER`` where none."""
    code = _filled(pc.index_in(arrow_strings(dates.index.to_series()), value_set=ids))
    first = np.full(len(ids), NEVER, dtype=np.int64)
    ok = code >= 0
    first[code[ok]] = to_ns(pd.Series(dates.to_numpy()), missing=NEVER)[ok]
    return first


def ratio(numerator: ArrayLike, denominator: ArrayLike) -> np.ndarray:
    """``numerator / denominator`` as float64, NaN where the denominator is zero or missing."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=(den != 0) & ~np.isnan(den))
    return out


def elapsed(snapshot_ns: np.ndarray, times: np.ndarray, unit: float) -> np.ndarray:
    """``(snapshot - times) / unit`` per snapshot row of an ``(S, n)`` time array; NaN where NAT."""
    out = (snapshot_ns[:, None] - times) / unit
    return np.where(times == NAT, np.nan, out)


def family_frame(grid: SnapshotGrid, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The panel rows of ``(S, n)`` feature arrays as a float64 DataFrame aligned with ``grid.keys()``."""
    return pd.DataFrame({name: grid.select(values) for name, values in columns.items()})
