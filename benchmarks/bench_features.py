"""Benchmark: the whole feature panel against a reference DuckDB query (figures printed, not a test).

On a random portfolio (default 100,000 customers and 10 million transactions, every table of
the contract but ``events``) it prints

1. that the reference (``reference_features.sql``: every feature of every family and both
   labels, for one snapshot, written independently in SQL) and ``build_panel`` give the same
   panel: the same rows, the same columns, the same values (relative difference at most
   1e-9, absolute below 1; strings equal). The reference computes the panel's final columns,
   after the peer-relative step of ``research.features.peers``. It stops on any difference;
2. the time of ``build_panel`` for that snapshot against the time of the reference, both warm
   and with the same number of threads, best of ``--repeat`` runs taken in turns, and their
   ratio (target: at most 1.0);
3. the peak resident memory while the panel is built (target: within 8 GiB);
4. one panel of S snapshots against S single-snapshot panels.

Run: ``python benchmarks/bench_features.py [--customers N] [--transactions N] [--snapshots S]``;
``--tiny`` runs every step on a few hundred customers in seconds (a smoke test, no figures).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from research import labels
from research.features.snapshot import STANDARD_FEATURE_SETTINGS, build_panel, snapshot_dates

HERE = Path(__file__).resolve().parent
SETTINGS = {
    **STANDARD_FEATURE_SETTINGS,
    "default_dpd": 90,
    "horizons_months": [12],
}
START, END = np.datetime64("2019-01-01", "ns"), np.datetime64("2025-01-01", "ns")
SNAPSHOT = pd.Timestamp("2024-01-01")


# --------------------------------------------------------------------------- random tables


def _strings(values: list[str], picks: np.ndarray) -> pd.Series:
    """A ``str`` column of ``values[picks]`` built in Arrow (no Python string per row)."""
    return pa.array(values).take(pa.array(picks)).to_pandas()


def _days(rng: np.random.Generator, low, high, size: int) -> np.ndarray:
    low, high = np.datetime64(low, "D"), np.datetime64(high, "D")
    return (low + rng.integers(0, (high - low).astype(int), size)).astype("datetime64[ns]")


def make_tables(n_customers: int, n_transactions: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A random portfolio with every table of the contract (vectorized; sizes scale with customers)."""
    from research.data.contract import (
        COLLATERAL_TYPES,
        DECISIONS,
        INDUSTRIES,
        INTERACTION_CHANNELS,
        INTERACTION_TYPES,
        PRODUCTS,
        REGIONS,
        REPAYMENT_TYPES,
        SEGMENTS,
        TRANSACTION_CATEGORIES,
        TRANSACTION_CHANNELS,
    )

    rng = np.random.default_rng(seed)
    ids = [f"C{i:07d}" for i in range(n_customers)]
    onboarding = _days(rng, "2010-01-01", "2023-10-01", n_customers)
    gone = rng.random(n_customers) < 0.15
    end = onboarding + (rng.integers(60, 4000, n_customers) * 86_400 * 10**9).astype(
        "timedelta64[ns]"
    )
    end = np.where(gone & (end < END), end, np.datetime64("NaT", "ns"))
    customers = pd.DataFrame(
        {
            "customer_id": _strings(ids, np.arange(n_customers)),
            "segment": _strings(list(SEGMENTS), rng.integers(0, len(SEGMENTS), n_customers)),
            "industry": _strings(list(INDUSTRIES), rng.integers(0, len(INDUSTRIES), n_customers)),
            "region": _strings(list(REGIONS), rng.integers(0, len(REGIONS), n_customers)),
            "onboarding_date": onboarding,
            "relationship_end_date": end,
            "green_flag": rng.random(n_customers) < 0.2,
            "inclusive_flag": rng.random(n_customers) < 0.3,
            "rm_id": _strings(
                [f"RM{i:03d}" for i in range(500)], rng.integers(0, 500, n_customers)
            ),
        }
    )

    owner = np.sort(rng.integers(0, n_customers, n_transactions))
    transactions = pd.DataFrame(
        {
            "customer_id": _strings(ids, owner),
            "timestamp": START
            + rng.integers(0, (END - START).astype(np.int64) // 10**9, n_transactions)
            * np.timedelta64(1, "s"),
            "amount": np.round(
                rng.normal(0, 1.0, n_transactions) * rng.lognormal(8, 1, n_customers)[owner], 2
            ),
            "channel": _strings(
                list(TRANSACTION_CHANNELS),
                rng.integers(0, len(TRANSACTION_CHANNELS), n_transactions),
            ),
            "category": _strings(
                list(TRANSACTION_CATEGORIES),
                rng.integers(0, len(TRANSACTION_CATEGORIES), n_transactions),
            ),
        }
    ).sort_values("timestamp", kind="stable", ignore_index=True)

    n_fac = int(1.5 * n_customers)
    fac_owner = rng.integers(0, n_customers, n_fac)
    orig = np.maximum(_days(rng, "2016-01-01", "2024-10-01", n_fac), onboarding[fac_owner])
    term_months = rng.integers(12, 84, n_fac)
    maturity = (orig.astype("datetime64[M]") + term_months).astype("datetime64[ns]")
    close = np.where(maturity < END, maturity, np.datetime64("NaT", "ns"))
    limit = np.round(rng.lognormal(12, 1, n_fac), -2)
    facility_ids = [f"F{i:08d}" for i in range(n_fac)]
    facilities = pd.DataFrame(
        {
            "facility_id": _strings(facility_ids, np.arange(n_fac)),
            "customer_id": _strings(ids, fac_owner),
            "product": _strings(list(PRODUCTS), rng.integers(0, len(PRODUCTS), n_fac)),
            "origination_date": orig,
            "maturity_date": maturity,
            "close_date": close,
            "limit_amount": limit,
            "interest_rate": rng.uniform(0.02, 0.12, n_fac),
            "fee_rate": rng.uniform(0.0, 0.02, n_fac),
            "repayment_type": _strings(
                list(REPAYMENT_TYPES), rng.integers(0, len(REPAYMENT_TYPES), n_fac)
            ),
            "collateral_type": _strings(
                list(COLLATERAL_TYPES), rng.integers(0, len(COLLATERAL_TYPES), n_fac)
            ),
            "green_loan": rng.random(n_fac) < 0.1,
        }
    )

    # quarterly instalments from three months after origination to maturity or the data end
    first_due = orig.astype("datetime64[M]") + 3
    last_due = np.minimum(maturity, END - np.timedelta64(1, "D")).astype("datetime64[M]")
    count = np.maximum((last_due - first_due).astype(int) // 3 + 1, 0)
    fac_of = np.repeat(np.arange(n_fac), count)
    step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    due = (first_due[fac_of] + 3 * step).astype("datetime64[ns]")
    state = rng.random(len(due))
    delay = np.where(state < 0.85, -rng.integers(0, 5, len(due)), rng.integers(1, 60, len(due)))
    paid = due + (delay * 86_400 * 10**9).astype("timedelta64[ns]")
    paid = np.where((state > 0.995) | (paid >= END), np.datetime64("NaT", "ns"), paid)
    amount_due = np.round(limit[fac_of] / np.maximum(term_months[fac_of] / 3, 1), 2)
    repayments = pd.DataFrame(
        {
            "facility_id": _strings(facility_ids, fac_of),
            "customer_id": _strings(ids, fac_owner[fac_of]),
            "due_date": due,
            "amount_due": amount_due,
            "paid_date": paid,
            "amount_paid": np.where(np.isnat(paid), np.nan, amount_due),
        }
    )

    # month-end balances over the last three years of each facility's life
    first_month = np.maximum(orig.astype("datetime64[M]"), np.datetime64("2022-01", "M"))
    last_month = np.minimum(maturity, END - np.timedelta64(1, "D")).astype("datetime64[M]")
    count = np.maximum((last_month - first_month).astype(int) + 1, 0)
    fac_of = np.repeat(np.arange(n_fac), count)
    step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    month_end = ((first_month[fac_of] + step + 1).astype("datetime64[D]") - 1).astype(
        "datetime64[ns]"
    )
    balances = pd.DataFrame(
        {
            "facility_id": _strings(facility_ids, fac_of),
            "customer_id": _strings(ids, fac_owner[fac_of]),
            "month_end": month_end,
            "drawn_amount": np.round(limit[fac_of] * rng.uniform(0, 1, len(fac_of)), 2),
            "limit_amount": limit[fac_of],
        }
    )

    n_int = 20 * n_customers
    interactions = pd.DataFrame(
        {
            "customer_id": _strings(ids, rng.integers(0, n_customers, n_int)),
            "timestamp": START
            + rng.integers(0, (END - START).astype(np.int64) // 10**9, n_int)
            * np.timedelta64(1, "s"),
            "channel": _strings(
                list(INTERACTION_CHANNELS), rng.integers(0, len(INTERACTION_CHANNELS), n_int)
            ),
            "interaction_type": _strings(
                list(INTERACTION_TYPES), rng.integers(0, len(INTERACTION_TYPES), n_int)
            ),
            "response_hours": np.where(rng.random(n_int) < 0.5, rng.uniform(0, 72, n_int), np.nan),
            "satisfaction_score": np.where(
                rng.random(n_int) < 0.2, rng.integers(1, 6, n_int).astype(float), np.nan
            ),
        }
    )

    years = np.arange(2018, 2024)
    fin_owner = np.repeat(np.arange(n_customers), len(years))
    period = np.tile(
        (years + 1 - 1970).astype("datetime64[Y]").astype("datetime64[D]") - 1, n_customers
    ).astype("datetime64[ns]")
    reported = period + (rng.integers(30, 300, len(period)) * 86_400 * 10**9).astype(
        "timedelta64[ns]"
    )
    revenue = np.round(rng.lognormal(14, 1.5, len(period)), -2)
    project = rng.random(len(period)) < 0.05
    financials = pd.DataFrame(
        {
            "customer_id": _strings(ids, fin_owner),
            "period_end": period,
            "reported_date": reported,
            "revenue": revenue,
            "ebitda": revenue * rng.normal(0.12, 0.1, len(period)),
            "total_debt": revenue * rng.uniform(0, 2, len(period)),
            "interest_expense": revenue * rng.uniform(0, 0.05, len(period)),
            "current_assets": revenue * rng.uniform(0.1, 0.8, len(period)),
            "current_liabilities": revenue * rng.uniform(0.1, 0.8, len(period)),
            "cash": revenue * rng.uniform(0, 0.3, len(period)),
            "cfads": np.where(project, revenue * 0.2, np.nan),
            "debt_service": np.where(project, revenue * rng.uniform(0.1, 0.2, len(period)), np.nan),
        }
    )

    n_app = 3 * n_customers
    submitted = _days(rng, "2019-01-01", "2024-12-01", n_app)
    decided = submitted + (rng.integers(0, 45, n_app) * 86_400 * 10**9).astype("timedelta64[ns]")
    pending = (rng.random(n_app) < 0.05) | (decided >= END)
    applications = pd.DataFrame(
        {
            "application_id": _strings([f"A{i:08d}" for i in range(n_app)], np.arange(n_app)),
            "customer_id": _strings(ids, rng.integers(0, n_customers, n_app)),
            "submitted_date": submitted,
            "product": _strings(list(PRODUCTS), rng.integers(0, len(PRODUCTS), n_app)),
            "amount": np.round(rng.lognormal(12, 1, n_app), -2),
            "decision": _strings(list(DECISIONS), rng.integers(0, len(DECISIONS), n_app)).where(
                ~pending, None
            ),
            "decided_date": np.where(pending, np.datetime64("NaT", "ns"), decided),
        }
    )
    # current-account balances: about one a month per customer over three years (at most one
    # a day), the level scaled by firm, some overdrawn, a few missing
    n_bal = 36 * n_customers
    bal_owner = rng.integers(0, n_customers, n_bal)
    bal_day = _days(rng, "2022-01-01", "2024-12-31", n_bal)
    day_key = bal_owner * 10**6 + bal_day.astype("datetime64[D]").astype(np.int64)
    keep = np.sort(np.unique(day_key, return_index=True)[1])
    level = rng.lognormal(11, 1.5, n_customers)[bal_owner[keep]]
    balance = np.round(level * rng.normal(0.5, 0.6, len(keep)), 2)
    balance[rng.random(len(keep)) < 0.01] = np.nan
    account_balances = pd.DataFrame(
        {
            "customer_id": _strings(ids, bal_owner[keep]),
            "balance_date": bal_day[keep],
            "balance": balance,
        }
    )
    return {
        "customers": customers,
        "account_balances": account_balances,
        "facilities": facilities,
        "facility_balances": balances,
        "repayments": repayments,
        "transactions": transactions,
        "interactions": interactions,
        "financials": financials,
        "applications": applications,
    }


# --------------------------------------------------------------------------- measuring


class PeakMemory:
    """Samples this process's resident memory every few milliseconds while active."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def timed(fn) -> tuple[float, float, object]:
    """Wall-clock and CPU seconds (all threads of this process) of one call, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def race(
    first, second, repeat: int
) -> tuple[tuple[float, float], tuple[float, float], object, object]:
    """Best wall and CPU seconds of two warm functions run in turns (so a busy machine hurts both alike)."""
    results = [first(), second()]  # warm-up
    best = [[np.inf, np.inf], [np.inf, np.inf]]
    for _ in range(repeat):
        for i, fn in enumerate((first, second)):
            wall, cpu, results[i] = timed(fn)
            best[i] = [min(best[i][0], wall), min(best[i][1], cpu)]
    return tuple(best[0]), tuple(best[1]), results[0], results[1]


# Panel columns the reference does not compute, with the reason (none at present: every
# feature of every family and both labels are expressed in SQL).
NOT_IN_REFERENCE: dict[str, str] = {}
RTOL = 1e-9


def compare(panel: pd.DataFrame, reference: pd.DataFrame) -> tuple[int, float]:
    """Columns compared and the largest relative difference between panel and reference.

    The two must hold the same rows and the same columns (but ``NOT_IN_REFERENCE``), with
    the same values: numbers within ``RTOL`` relatively (absolutely below 1) and missing in
    the same rows, strings equal.
    """
    ours = panel.drop(columns="snapshot_date").set_index("customer_id")
    theirs = reference.set_index("customer_id")
    missing = [c for c in theirs.columns if c not in ours.columns]
    if missing:
        raise AssertionError(
            f"reference columns not in the panel (renamed or removed?): {', '.join(missing)}"
        )
    uncovered = [c for c in ours.columns if c not in theirs.columns and c not in NOT_IN_REFERENCE]
    if uncovered:
        raise AssertionError(
            f"panel columns the reference does not compute: {', '.join(uncovered)}"
        )
    if not ours.index.equals(theirs.index):
        raise AssertionError(f"rows differ: panel {len(ours)}, reference {len(theirs)}")
    worst = 0.0
    for column in theirs.columns:
        if not pd.api.types.is_numeric_dtype(ours[column]):
            a, b = ours[column].astype("str"), theirs[column].astype("str")
            if not a.equals(b):
                raise AssertionError(f"{column}: differs in {(a != b).sum()} rows")
            continue
        a, b = ours[column].to_numpy(dtype=float), theirs[column].to_numpy(dtype=float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            raise AssertionError(
                f"{column}: missing values differ in {(np.isnan(a) != np.isnan(b)).sum()} rows"
            )
        ok = ~np.isnan(a)
        diff = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1.0)
        if len(diff) and diff.max() > RTOL:
            raise AssertionError(f"{column}: differs by up to {diff.max():.3g} (relative)")
        worst = max(worst, float(diff.max()) if len(diff) else 0.0)
    return len(theirs.columns), worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument(
        "--snapshots", type=int, default=8, help="S for the multi-snapshot comparison"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--tiny", action="store_true", help="a few hundred customers, one run of each step"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.customers, args.transactions, args.snapshots, args.repeat = 300, 30_000, 2, 1

    start = time.perf_counter()
    tables = make_tables(args.customers, args.transactions)
    sizes = ", ".join(f"{name} {len(frame):,}" for name, frame in tables.items())
    print(f"random portfolio in {time.perf_counter() - start:.1f} s: {sizes}")

    # The first day after the data, as the pipeline passes it (labels censor there).
    end = labels.observation_end(tables)

    def panel_for(snapshots):
        return build_panel(
            tables, snapshots, n_threads=args.threads, observation_end=end, **SETTINGS
        )[0]

    sql = (HERE / "reference_features.sql").read_text()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    for name, frame in tables.items():
        con.register(name, frame)
    query = {"snapshot": SNAPSHOT.to_pydatetime(), "end": end.to_pydatetime()}
    (ours, ours_cpu), (theirs, theirs_cpu), panel, reference = race(
        lambda: panel_for([SNAPSHOT]),
        lambda: con.execute(sql, query).df(),
        args.repeat,
    )
    print(f"panel, one snapshot: {len(panel):,} rows x {panel.shape[1]} columns")
    columns, worst = compare(panel, reference)
    skipped = f"; not in SQL: {', '.join(NOT_IN_REFERENCE)}" if NOT_IN_REFERENCE else ""
    print(
        f"reference and panel agree on {columns} columns (every feature and label) x "
        f"{len(reference):,} customers (largest relative difference {worst:.1e}, "
        f"tolerance {RTOL:g}){skipped}"
    )
    print(
        f"best of {args.repeat} warm runs in turns, {args.threads} threads, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}:     wall      CPU"
    )
    print(
        f"  build_panel (all {panel.shape[1] - 4} features and both labels)   {ours:7.2f} s {ours_cpu:7.2f} s"
    )
    print(
        f"  DuckDB reference (the same columns)                {theirs:7.2f} s {theirs_cpu:7.2f} s"
    )
    print(
        f"  ratio panel / reference                            {ours / theirs:7.2f}   {ours_cpu / theirs_cpu:7.2f}"
        "   (target: wall <= 1.0)"
    )
    with PeakMemory() as memory:
        panel_for([SNAPSHOT])
    gib = 2**30
    print(
        f"peak resident memory while building: {memory.peak / gib:.2f} GiB "
        f"(inputs and interpreter {memory.start / gib:.2f} GiB; target <= 8 GiB)"
    )

    snapshots = snapshot_dates(
        str((SNAPSHOT - pd.DateOffset(months=3 * (args.snapshots - 1))).date()),
        str(SNAPSHOT.date()),
        3,
    )
    with PeakMemory() as memory:
        together, together_cpu, many = timed(lambda: panel_for(snapshots))
    apart, apart_cpu, singles = timed(lambda: [panel_for([s]) for s in snapshots])
    assert len(many) == sum(len(p) for p in singles)
    print(f"{len(snapshots)} quarterly snapshots ({len(many):,} rows), wall (CPU):")
    print(
        f"  one panel of {len(snapshots)} snapshots      {together:7.2f} s ({together_cpu:.2f} s), "
        f"peak {memory.peak / gib:.2f} GiB"
    )
    print(
        f"  {len(snapshots)} single-snapshot panels    {apart:7.2f} s ({apart_cpu:.2f} s), "
        f"{apart / together:.1f}x the time of one panel"
    )


if __name__ == "__main__":
    main()
