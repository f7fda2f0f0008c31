"""The features and training stages on Dask, on transactions larger than one worker's memory.

Writes a portfolio (customers and transactions, the table that outgrows a machine) as
Parquet, then runs the features stage (``build_panel_from_folder``: read, write by
customer partition, ``build_panel`` per partition, collect) and the training stage
(``fit_scoring_model_dask`` on the churn label, XGBoost's Dask trainer) on a
``LocalCluster`` of 1 and then 2 workers, each capped at ``compute.dask_worker_memory``
from params.yaml. Prints per stage the wall time, the peak resident memory of each
worker, the bytes written to disk (customer partitions, and what Dask spilled because a
worker's memory filled) and whether a worker died (Dask restarts a worker killed for
memory under a new address).

    python benchmarks/bench_dask.py                      # ~72M transactions, about 4.6 GiB in pandas
    python benchmarks/bench_dask.py --customers 4000     # a quick look
    python benchmarks/bench_dask.py --tiny               # every step in seconds (a smoke test)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.utils import format_bytes, parse_bytes

from research import distributed
from research.config import load_settings
from research.data.contract import (
    INDUSTRIES,
    REGIONS,
    SEGMENTS,
    TRANSACTION_CATEGORIES,
    TRANSACTION_CHANNELS,
)
from research.features.snapshot import snapshot_dates
from research.models import flat, scoring, splits, train

INFLOWS = ("sales_receipt", "other_inflow")
HISTORY_START = pd.Timestamp("2019-01-01")


# --------------------------------------------------------------------------- the portfolio


def customers_table(
    rng: np.random.Generator, n: int, months: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers with a latent health that drives both their cash flows and their churn."""
    health = rng.normal(size=n)
    onboarding = (
        HISTORY_START
        - pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D")
        + pd.to_timedelta(np.where(rng.random(n) < 0.3, rng.integers(0, 3 * 365, n), 0), unit="D")
    )
    hazard = 1 / (1 + np.exp(-(-5.0 - 0.9 * health)))  # monthly churn probability
    churn_month = np.minimum(rng.geometric(hazard), months + 1)
    end = HISTORY_START + pd.to_timedelta(churn_month * 30.4 + rng.integers(0, 28, n), unit="D")
    end = end.normalize()
    history_end = HISTORY_START + pd.DateOffset(months=months)
    ended = (churn_month < months) & (end > onboarding) & (end < history_end)
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i:07d}" for i in range(n)], dtype="str"),
            "segment": pd.Series(
                np.asarray(SEGMENTS)[rng.integers(0, len(SEGMENTS), n)], dtype="str"
            ),
            "industry": pd.Series(
                np.asarray(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)], dtype="str"
            ),
            "region": pd.Series(np.asarray(REGIONS)[rng.integers(0, len(REGIONS), n)], dtype="str"),
            "onboarding_date": onboarding.normalize().astype("datetime64[ns]"),
            "relationship_end_date": pd.Series(end.where(ended)).astype("datetime64[ns]"),
            "green_flag": rng.random(n) < 0.15,
            "inclusive_flag": rng.random(n) < 0.25,
            "rm_id": pd.Series([f"RM{i:03d}" for i in rng.integers(0, 300, n)], dtype="str"),
        }
    )
    return frame, health


def write_transactions(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    health: np.ndarray,
    *,
    months: int,
    per_month: float,
    path: Path,
) -> int:
    """One row group per month of account movements, customers interleaved as in a bank's extract."""
    ids = customers["customer_id"].to_numpy(dtype=object)
    start = customers["onboarding_date"].to_numpy()
    end = customers["relationship_end_date"].to_numpy()
    rate = per_month * np.exp(0.3 * rng.normal(size=len(ids)))
    rows = 0
    writer = None
    try:
        for m in range(months):
            month = HISTORY_START + pd.DateOffset(months=m)
            active = (start < month.to_datetime64()) & ~(end <= month.to_datetime64())
            # Cash flows fade in the months before a customer leaves.
            fading = ~np.isnat(end) & (end - month.to_datetime64() < np.timedelta64(180, "D"))
            counts = rng.poisson(rate * active * np.where(fading, 0.6, 1.0))
            who = np.repeat(np.arange(len(ids)), counts)
            size = len(who)
            inflow = rng.random(size) < 0.5 + 0.08 * np.tanh(health[who])
            category = np.where(
                inflow,
                np.asarray(INFLOWS)[rng.integers(0, 2, size)],
                np.asarray(TRANSACTION_CATEGORIES[2:])[
                    rng.integers(0, len(TRANSACTION_CATEGORIES) - 2, size)
                ],
            )
            amount = np.round(
                np.exp(8 + 0.4 * health[who] + rng.normal(size=size)) * np.where(inflow, 1, -1), 2
            )
            seconds = rng.integers(0, 28 * 86_400, size)
            order = np.argsort(seconds, kind="stable")
            batch = pa.table(
                {
                    "customer_id": pa.array(ids[who][order], pa.string()),
                    "timestamp": pa.array(
                        (month + pd.to_timedelta(seconds[order], unit="s")).to_numpy(),
                        pa.timestamp("ns"),
                    ),
                    "amount": pa.array(amount[order]),
                    "channel": pa.array(
                        np.asarray(TRANSACTION_CHANNELS)[
                            rng.integers(0, len(TRANSACTION_CHANNELS), size)
                        ][order],
                        pa.string(),
                    ),
                    "category": pa.array(category[order], pa.string()),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema, compression="zstd")
            writer.write_table(batch)
            rows += size
    finally:
        if writer is not None:
            writer.close()
    return rows


def write_portfolio(
    folder: Path, *, n_customers: int, months: int, per_month: float, seed: int
) -> dict:
    """Customers and transactions as ``folder/<table>.parquet``; returns rows and sizes."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    customers, health = customers_table(rng, n_customers, months)
    customers.to_parquet(folder / "customers.parquet", index=False)
    rows = write_transactions(
        rng,
        customers,
        health,
        months=months,
        per_month=per_month,
        path=folder / "transactions.parquet",
    )
    sample = pq.ParquetFile(folder / "transactions.parquet").read_row_group(0).to_pandas()
    bytes_per_row = sample.memory_usage(deep=True).sum() / len(sample)
    return {
        "customers": n_customers,
        "transactions": rows,
        "parquet_bytes": (folder / "transactions.parquet").stat().st_size,
        "pandas_bytes": int(rows * bytes_per_row),
    }


# --------------------------------------------------------------------------- measuring workers


def _reset_peak() -> int:
    """Reset this process's peak resident set (Linux ``clear_refs``); return the current one."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status("VmRSS")


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _peak() -> int:
    return _status("VmHWM")


def _disk_writes() -> int:
    """Bytes this process has sent to storage: the customer-partitioned tables and anything spilled."""
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("write_bytes:"))


def _spilled(dask_worker) -> int:
    """Bytes of task results this worker has spilled to disk because its memory filled."""
    return int(
        sum(
            v
            for k, v in dask_worker.digests_total.items()
            if "disk-write" in str(k) and "bytes" in str(k)
        )
    )


def measured(client, work, **labels) -> tuple[object, dict]:
    """Run ``work()`` on the client's workers; return its result and figures."""
    workers = set(client.nthreads())
    client.run(_reset_peak)
    written, spilled = client.run(_disk_writes), client.run(_spilled)
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    peaks = client.run(_peak)
    written_after, spilled_after = client.run(_disk_writes), client.run(_spilled)
    return result, {
        **labels,
        "seconds": seconds,
        "peaks": peaks,
        "written": sum(v - written.get(w, 0) for w, v in written_after.items()),
        "spilled": sum(v - spilled.get(w, 0) for w, v in spilled_after.items()),
        "restarted": len(workers - set(client.nthreads())),
    }


# --------------------------------------------------------------------------- the stages


def training_inputs(panel: pd.DataFrame, label: str, oot_first: str, seed: int):
    """Modeling table, split and layout of the churn model, as the train stage builds them."""
    table, date_column = flat.prepare_modeling_table(
        panel, id_column="customer_id", date_column="snapshot_date", label=label
    )
    features = flat.modeling_features(
        table, id_column="customer_id", date_column=date_column, labels=["default_12m", "churn_12m"]
    )
    split = splits.assign_splits(
        table,
        id_column="customer_id",
        date_column=date_column,
        label=label,
        oot_first_snapshot=oot_first,
        horizon_months=12,
        valid_fraction=0.2,
        test_fraction=0.2,
        seed=seed,
    )
    return table, split, train.feature_layout(table, features, {})


def run(n_workers: int, folder: Path, memory_limit: str, settings, n_partitions: int) -> list[dict]:
    features = settings.features
    snapshots = snapshot_dates("2020-01-01", "2023-10-01", features.snapshots.every_months)
    panel_kwargs = {
        "windows_months": features.windows_months,
        "long_window_months": features.long_window_months,
        "trend_recent_months": features.trend_recent_months,
        "dpd_thresholds": features.dpd_thresholds,
        "financials_overdue_days": features.financials_overdue_days,
        "default_dpd": settings.labels.default_dpd,
        "horizons_months": settings.labels.horizons_months,
    }
    xgb_settings = {k: getattr(settings.model("churn").xgb, k) for k in scoring.XGB_KEYS}
    # Each stage gets a fresh cluster, as each DVC stage starts its own: no memory carried over.
    cluster = {
        "n_workers": n_workers,
        "memory_limit": memory_limit,
        "threads_per_worker": 1,
        "local_directory": str(folder.parent / "dask-scratch"),
    }
    with distributed.dask_client("", **cluster) as client:
        (panel, _), features_row = measured(
            client,
            lambda: distributed.build_panel_from_folder(
                folder, snapshots, n_partitions=n_partitions, client=client, **panel_kwargs
            ),
            stage="features",
            rows=0,
            note=f"{n_partitions} customer partitions",
        )
    features_row["rows"] = len(panel)
    table, split, layout = training_inputs(panel, "churn_12m", "2022-10-01", settings.seed)
    del panel
    with distributed.dask_client("", **cluster) as client:
        (_, report), training_row = measured(
            client,
            lambda: distributed.fit_scoring_model_dask(
                table,
                split,
                client=client,
                settings=scoring.FitSettings(
                    label="churn_12m", xgb=xgb_settings, calibration_method="isotonic"
                ),
                layout=layout,
                nthread=1,
                seed=settings.seed,
            ),
            stage="training",
            rows=int(split.isin(splits.FITTED).sum()),
        )
    training_row["note"] = (
        f"best round {report.best_iteration}, boosting {report.seconds['boost']:.0f}s"
    )
    return [features_row, training_row]


def main(argv: list[str] | None = None) -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument(
        "--per-month", type=float, default=50.0, help="mean transactions per customer-month"
    )
    parser.add_argument("--worker-memory", default=settings.compute.dask_worker_memory)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--partitions", type=int, default=0, help="customer partitions (0: auto)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bench_dask/raw"))
    parser.add_argument("--reuse", action="store_true", help="keep a portfolio already in --folder")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="300 customers, one worker, in a throw-away folder (a smoke test)",
    )
    args = parser.parse_args(argv)
    if not args.tiny:
        report(args, settings)
        return
    args.customers, args.per_month, args.workers, args.partitions, args.reuse = (
        300,
        4.0,
        [1],
        2,
        False,
    )
    scratch = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    args.folder = scratch / "raw"
    try:
        report(args, settings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(args: argparse.Namespace, settings) -> None:
    """Write (or reuse) the portfolio, run both stages per worker count and print the figures."""
    limit = parse_bytes(args.worker_memory)
    start = time.perf_counter()
    if args.reuse and (args.folder / "transactions.parquet").exists():
        rows = pq.ParquetFile(args.folder / "transactions.parquet").metadata.num_rows
        sample = pq.ParquetFile(args.folder / "transactions.parquet").read_row_group(0).to_pandas()
        size = {
            "customers": len(pd.read_parquet(args.folder / "customers.parquet")),
            "transactions": rows,
            "parquet_bytes": (args.folder / "transactions.parquet").stat().st_size,
            "pandas_bytes": int(rows * sample.memory_usage(deep=True).sum() / len(sample)),
        }
    else:
        size = write_portfolio(
            args.folder,
            n_customers=args.customers,
            months=args.months,
            per_month=args.per_month,
            seed=settings.seed,
        )
    print(
        f"portfolio: {size['customers']:,} customers, {size['transactions']:,} transactions: "
        f"{format_bytes(size['parquet_bytes'])} Parquet, {format_bytes(size['pandas_bytes'])} in pandas "
        f"({size['pandas_bytes'] / limit:.1f}x the worker memory limit {format_bytes(limit)}); "
        f"written in {time.perf_counter() - start:.0f}s"
    )
    results = []
    for n_workers in args.workers:
        n_partitions = args.partitions or distributed.auto_partitions(
            sum(p.stat().st_size for p in args.folder.glob("*.parquet")),
            n_workers=n_workers,
            memory_limit=limit,
        )
        print(f"\n{n_workers} worker(s) x {format_bytes(limit)}, 1 thread each")
        for row in run(n_workers, args.folder, args.worker_memory, settings, n_partitions):
            peaks = ", ".join(format_bytes(v) for v in row["peaks"].values())
            print(
                f"  {row['stage']:<9} {row['seconds']:6.1f}s  peak memory per worker {peaks:<22} "
                f"disk writes {format_bytes(row['written']):<10} (spilled {format_bytes(row['spilled'])})  "
                f"workers restarted {row['restarted']}  {row['rows']:,} rows, {row['note']}"
            )
            results.append(row)
    worst = max(v for row in results for v in row["peaks"].values())
    print(
        f"\nhighest worker peak {format_bytes(worst)} against a limit of {format_bytes(limit)}; "
        f"no worker restarted: {all(row['restarted'] == 0 for row in results)}"
    )


if __name__ == "__main__":
    main()
