"""Benchmark and calibration figures of the synthetic portfolio generator.

Usage::

    python benchmarks/bench_synthetic.py                 # timing and calibration
    python benchmarks/bench_synthetic.py timing --customers 100000 [--workers 2]
    python benchmarks/bench_synthetic.py timing --sizes 16000 100000 [--in-memory]
    python benchmarks/bench_synthetic.py calibration [--customers 8000] [--model]
    python benchmarks/bench_synthetic.py --tiny          # every step, --model included, in seconds

``timing`` runs the generator in a fresh subprocess per size, as the data stage does:
written block by block to Parquet files in a temporary folder (``write_portfolio``, in
``--workers`` processes), or with ``--in-memory`` as one ``Portfolio`` of frames
(``generate_portfolio``). It prints the wall time and the peak resident memory of the
whole process tree (the subprocess and its workers, summed, sampled every 0.5 s).
``calibration`` generates the default portfolio and
prints, over the out-of-time snapshots: event counts, the oracle AUC for default and
churn against the events realised in the tables, the AUC of single observables
computed point-in-time from the tables, and default and churn rates by segment and
year. ``--model`` also fits the pipeline's scoring model on the feature panel and
prints its gap to the oracle.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from bench_scale import tree_rss  # the scale benchmark's process-tree sampler (same folder)
from research.data.synthetic import generate_portfolio

DPD = 90
HORIZON = 12
OOT_SNAPSHOTS = ("2023-04-01", "2023-07-01", "2023-10-01", "2024-01-01")
REVOLVING = ("revolver", "working_capital", "trade_finance")
DIGITAL_TRANSACTIONS = ("online_banking", "mobile_app", "host_to_host")

_CHILD = """
import json, sys, time
from pathlib import Path
from research.data.synthetic import generate_portfolio, write_portfolio
n, workers, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
arguments = dict(n_customers=n, start="2019-01-01", months=72, scenario="baseline",
                 transactions_per_month=6, seed=20261129, progress=n >= 50_000, workers=workers)
clock = time.perf_counter()
if folder:
    rows = write_portfolio(Path(folder) / "raw", Path(folder) / "truth", **arguments).rows
else:
    p = generate_portfolio(**arguments)
    rows = {name: len(frame) for name, frame in {**p.tables, **p.truth}.items()}
seconds = time.perf_counter() - clock
print(json.dumps({"customers": n, "seconds": round(seconds, 1), "rows": rows}))
"""


def run_sampled(command: list[str], every: float = 0.5) -> tuple[str, float, int]:
    """Run ``command``; its stdout, wall seconds and the peak RSS of its process tree."""
    import psutil

    clock = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, tree_rss(process))
        time.sleep(every)
    out = child.stdout.read() if child.stdout else ""
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command, out)
    return out, time.perf_counter() - clock, peak


def timing(sizes: list[int], workers: int, in_memory: bool) -> None:
    """Generator wall time and peak memory of the process tree, one fresh process per size."""
    how = "in memory" if in_memory else f"written by blocks, {workers} worker(s)"
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-synthetic-") as folder:
            out, wall, peak = run_sampled(
                [sys.executable, "-c", _CHILD, str(n), str(workers), "" if in_memory else folder]
            )
        figures = json.loads(out.strip().splitlines()[-1])
        rows = ", ".join(f"{k} {v:,}" for k, v in figures["rows"].items())
        print(
            f"{n:>9,} customers ({how}): generator {figures['seconds']:6.1f} s, process "
            f"{wall:6.1f} s, peak {peak / 2**30:.2f} GiB  ({rows})"
        )


# --- realised events ------------------------------------------------------------------


def first_default_dates(repayments: pd.DataFrame, observation_end: pd.Timestamp) -> pd.Series:
    """First day an instalment of the customer reached DPD days past due (observed only)."""
    reached = repayments["due_date"] + pd.Timedelta(days=DPD)
    late = repayments["paid_date"].isna() | (repayments["paid_date"] >= reached)
    hit = repayments.loc[late & (reached < observation_end)].assign(reached=reached)
    return hit.groupby("customer_id")["reached"].min()


def labelled_rows(tables: dict[str, pd.DataFrame], snapshots) -> pd.DataFrame:
    """Eligible (customer, snapshot) rows with their 12-month default and churn outcomes."""
    customers = tables["customers"].set_index("customer_id")
    first_default = first_default_dates(tables["repayments"], pd.Timestamp("2025-01-01"))
    first_default = first_default.reindex(customers.index)
    ends = customers["relationship_end_date"]
    frames = []
    for snapshot in pd.to_datetime(list(snapshots)):
        stop = snapshot + pd.DateOffset(months=HORIZON)
        eligible = (
            (customers["onboarding_date"] < snapshot)
            & ~(ends < snapshot)
            & ~(first_default < snapshot)
        )
        frame = pd.DataFrame(
            {
                "snapshot_date": snapshot,
                "segment": customers["segment"],
                "default": first_default.between(snapshot, stop, inclusive="left"),
                "churn": ends.between(snapshot, stop, inclusive="left"),
            }
        )[eligible]
        frames.append(frame.rename_axis("customer_id").reset_index())
    return pd.concat(frames, ignore_index=True)


# --- single observables, point in time --------------------------------------------------


def _per_customer(index: pd.Index, values: pd.Series, fill: float = np.nan) -> np.ndarray:
    return values.reindex(index).fillna(fill).to_numpy(dtype=float)


def _window(frame: pd.DataFrame, column: str, snapshot, months: int) -> pd.DataFrame:
    start = snapshot - pd.DateOffset(months=months)
    return frame[(frame[column] >= start) & (frame[column] < snapshot)]


def observables_at(tables: dict[str, pd.DataFrame], snapshot, customers: pd.Index) -> pd.DataFrame:
    """Single observable quantities of ``customers`` from records strictly before ``snapshot``."""
    repayments = tables["repayments"]
    due = repayments[repayments["due_date"] < snapshot]
    paid_before = due["paid_date"] < snapshot
    dpd = np.where(
        paid_before,
        (due["paid_date"] - due["due_date"]).dt.days.clip(lower=0),
        (snapshot - due["due_date"]).dt.days,
    )
    due = due.assign(dpd=dpd)
    recent_due = due[due["due_date"] >= snapshot - pd.DateOffset(months=12)]
    transactions = tables["transactions"]
    inflows = transactions[transactions["amount"] > 0]
    last3 = _window(inflows, "timestamp", snapshot, 3).groupby("customer_id")["amount"].sum()
    last6 = _window(inflows, "timestamp", snapshot, 6).groupby("customer_id")["amount"].sum()
    previous3 = last6.sub(last3, fill_value=0.0)
    moves12 = _window(transactions, "timestamp", snapshot, 12)
    digital = moves12["channel"].isin(DIGITAL_TRANSACTIONS).groupby(moves12["customer_id"]).mean()
    moves3 = _window(transactions, "timestamp", snapshot, 3).groupby("customer_id").size()
    interactions = _window(tables["interactions"], "timestamp", snapshot, 12)
    complaints = interactions[interactions["interaction_type"] == "complaint"]
    statements = tables["financials"][tables["financials"]["reported_date"] < snapshot]
    latest = statements.sort_values("reported_date").groupby("customer_id").tail(1)
    latest = latest.set_index("customer_id")
    leverage = (latest["total_debt"] / latest["ebitda"]).where(latest["ebitda"] > 0, 99.0)
    months_since = (snapshot - latest["reported_date"]).dt.days / 30.44
    applications = _window(tables["applications"], "decided_date", snapshot, 12)
    withdrawn = applications[applications["decision"] == "withdrawn"].groupby("customer_id").size()
    return pd.DataFrame(
        {
            "worst_dpd_so_far": _per_customer(
                customers, due.groupby("customer_id")["dpd"].max(), 0
            ),
            "max_dpd_12m": _per_customer(
                customers, recent_due.groupby("customer_id")["dpd"].max(), 0
            ),
            "inflow_change_3m": _per_customer(
                customers,
                last3.reindex(previous3.index).fillna(0) / previous3.where(previous3 > 0) - 1,
            ),
            "revolver_utilisation": _per_customer(
                customers, _revolver_utilisation(tables, snapshot)
            ),
            "complaints_12m": _per_customer(customers, complaints.groupby("customer_id").size(), 0),
            "leverage_last_statement": _per_customer(customers, leverage),
            "months_since_statement": _per_customer(customers, months_since, 999.0),
            "withdrawn_applications_12m": _per_customer(customers, withdrawn, 0),
            "transactions_3m": _per_customer(customers, moves3, 0),
            "digital_share_12m": _per_customer(customers, digital),
            "interactions_12m": _per_customer(
                customers, interactions.groupby("customer_id").size(), 0
            ),
        },
        index=customers,
    )


def _revolver_utilisation(tables: dict[str, pd.DataFrame], snapshot) -> pd.Series:
    """Drawn over limit of the revolving lines at the latest month end before the snapshot."""
    facilities = tables["facilities"]
    revolving = facilities.loc[facilities["product"].isin(REVOLVING), "facility_id"]
    balances = tables["facility_balances"]
    latest = balances[
        (balances["month_end"] == snapshot - pd.Timedelta(days=1))
        & balances["facility_id"].isin(revolving)
    ]
    sums = latest.groupby("customer_id")[["drawn_amount", "limit_amount"]].sum()
    return sums["drawn_amount"] / sums["limit_amount"]


def oriented_auc(label: np.ndarray, values: np.ndarray) -> float:
    """AUC in the better direction; missing values are ranked lowest."""
    values = np.where(np.isinf(values), np.nan, values)
    filled = np.where(
        np.isnan(values), np.nanmin(values) - 1 if np.isfinite(values).any() else 0, values
    )
    auc = roc_auc_score(label, filled)
    return max(auc, 1 - auc)


# --- calibration report ---------------------------------------------------------------


def calibration(n_customers: int, seed: int, scenario: str, with_model: bool) -> None:
    clock = time.perf_counter()
    portfolio = generate_portfolio(
        n_customers=n_customers,
        start="2019-01-01",
        months=72,
        scenario=scenario,
        transactions_per_month=6,
        seed=seed,
    )
    print(
        f"generated {n_customers:,} customers ({scenario}, seed {seed}) in {time.perf_counter() - clock:.1f} s"
    )
    tables, truth = portfolio.tables, portfolio.truth
    rows = labelled_rows(tables, OOT_SNAPSHOTS)
    rows = rows.merge(
        truth["oracle"], on=["customer_id", "snapshot_date"], how="left", validate="one_to_one"
    )
    observed = pd.concat(
        [
            observables_at(tables, s, pd.Index(g["customer_id"])).reset_index(drop=True)
            for s, g in rows.groupby("snapshot_date", sort=True)
        ],
        ignore_index=True,
    )
    rows = pd.concat(
        [rows.sort_values(["snapshot_date"], kind="stable").reset_index(drop=True), observed],
        axis=1,
    )
    print(f"\nout-of-time snapshots {', '.join(OOT_SNAPSHOTS)}: {len(rows):,} customer-snapshots")
    for event in ("default", "churn"):
        oracle = f"oracle_{event}_{HORIZON}m"  # the oracle's column for the label <event>_<H>m
        label = rows[event].to_numpy()
        oracle_auc = roc_auc_score(label, rows[oracle])
        print(
            f"\n{event}: {int(label.sum()):,} events ({label.mean():.2%}), oracle AUC {oracle_auc:.4f}"
        )
        singles = {
            name: oriented_auc(label, rows[name].to_numpy(dtype=float)) for name in observed.columns
        }
        for name, auc in sorted(singles.items(), key=lambda item: -item[1]):
            print(f"  {name:28s} AUC {auc:.4f}  (oracle - {oracle_auc - auc:.4f})")
    _rates_by_year(tables)
    if with_model:
        _model_gap(portfolio)


def _rates_by_year(tables: dict[str, pd.DataFrame]) -> None:
    """Default and churn rates among customers active on 1 January, by segment and year."""
    rows = labelled_rows(tables, [f"{year}-01-01" for year in range(2019, 2024 + 1)])
    rows["year"] = rows["snapshot_date"].dt.year
    for event in ("default", "churn"):
        table = rows.pivot_table(index="segment", columns="year", values=event, aggfunc="mean")
        table.loc["all"] = rows.groupby("year")[event].mean()
        print(f"\nannual {event} rate by segment and year\n{(100 * table).round(2).to_string()}")


def _model_gap(portfolio) -> None:
    """The pipeline's scoring model on the feature panel against the oracle (out of time)."""
    from research.config import load_settings
    from research.evaluation import oracle_comparison
    from research.features.catalog import catalog_for
    from research.features.snapshot import build_panel, snapshot_dates
    from research.models import flat, scoring, splits, train

    settings = load_settings()
    f = settings.features
    panel, _ = build_panel(
        portfolio.tables,
        snapshot_dates(f.snapshots.first, f.snapshots.last, f.snapshots.every_months),
        windows_months=f.windows_months,
        long_window_months=f.long_window_months,
        trend_recent_months=f.trend_recent_months,
        dpd_thresholds=f.dpd_thresholds,
        financials_overdue_days=f.financials_overdue_days,
        default_dpd=DPD,
        horizons_months=[HORIZON],
    )
    for model in ("credit", "churn"):
        spec = settings.model(model)
        oracle = f"oracle_{spec.label}"
        table, date = flat.prepare_modeling_table(
            panel, id_column="customer_id", date_column="snapshot_date", label=spec.label
        )
        features = flat.modeling_features(
            table,
            id_column="customer_id",
            date_column=date,
            labels=[f"default_{HORIZON}m", f"churn_{HORIZON}m"],
        )
        directions = train.risk_directions(catalog_for(features)) if spec.monotone else {}
        layout = train.feature_layout(table, features, directions)
        split = splits.assign_splits(
            table,
            id_column="customer_id",
            date_column=date,
            label=spec.label,
            oot_first_snapshot=settings.split.oot_first_snapshot,
            horizon_months=HORIZON,
            valid_fraction=settings.split.valid_fraction,
            test_fraction=settings.split.test_fraction,
            seed=settings.seed,
        )
        fitted, _ = scoring.fit_scoring_model(
            table,
            split,
            settings=scoring.FitSettings.from_spec(spec),
            layout=layout,
            nthread=settings.compute.nthread,
            seed=settings.seed,
        )
        scores = scoring.score_table(
            fitted,
            table,
            split,
            id_column="customer_id",
            date_column=date,
            label=spec.label,
            nthread=settings.compute.nthread,
        )
        comparison = oracle_comparison(
            scores, portfolio.truth["oracle"], label="label", oracle_column=oracle, split="oot"
        )
        print(
            f"\n{model} model ({len(features)} features): oracle AUC {comparison['oracle_auc']:.4f}, "
            f"model AUC {comparison['oracle_auc'] - comparison['gap']:.4f}, gap {comparison['gap']:.4f}, "
            f"{comparison['events']} out-of-time events"
        )
        held = scores[scores["split"] == "oot"]
        print(
            f"  out of time: mean predicted {held['score'].mean():.2%}, "
            f"observed {held['label'].mean():.2%}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("all", "timing", "calibration"), default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument(
        "--customers", type=int, default=None, help="timing: the size; calibration: 8,000"
    )
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="timing: processes"
    )
    parser.add_argument(
        "--in-memory", action="store_true", help="timing: generate_portfolio, not written"
    )
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--scenario", default="baseline", choices=("baseline", "downturn"))
    parser.add_argument(
        "--model", action="store_true", help="also fit the pipeline's model and print its gap"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a few hundred customers, --model included (a smoke test)",
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.sizes, args.customers, args.model = [300], 600, True
    sizes = args.sizes or ([args.customers] if args.customers else [5_000, 100_000])
    if args.what in ("all", "timing"):
        timing(sizes, args.workers, args.in_memory)
    if args.what in ("all", "calibration"):
        calibration(args.customers or 8_000, args.seed, args.scenario, args.model)


if __name__ == "__main__":
    main()
