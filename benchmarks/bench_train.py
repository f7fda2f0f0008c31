"""Training time of the train stage on 100,000 development customer-snapshots with 100 features.

Prints the stage's compute (splits, booster with early stopping, calibration, grading,
challenger, scoring every row, metrics), its writing of outputs and its MLflow logging,
beside XGBoost's own time for the same number of boosting rounds on a prebuilt DMatrix
(no evaluation sets), so the stage's overhead over bare training is visible. Settings
come from ``params.yaml`` (``models.credit.xgb``, ``compute.nthread``, ``seed``).

    python benchmarks/bench_train.py [--rows 100000] [--features 100] [--no-tracking] [--repeat 1]
    python benchmarks/bench_train.py --tiny --out /tmp/bench   # every step on 2,000 rows (a smoke test)

Results also go to ``benchmarks/out/bench_train.json`` (``--out`` to choose the folder).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd
import xgboost as xgb

from research.config import load_settings
from research.models import flat, scoring, splits, train
from research.models.io import content_hash, save_scoring_model

OUT = Path(__file__).resolve().parent / "out"
SNAPSHOTS = 10  # quarterly; the last two are the out-of-time test
CATEGORICAL = {"segment": 6, "industry": 10, "region": 6}


def synthetic_table(development_rows: int, n_features: int, seed: int) -> pd.DataFrame:
    """A panel-shaped table whose first eight snapshots hold ``development_rows`` rows."""
    rng = np.random.default_rng(seed)
    n_customers = development_rows // (SNAPSHOTS - 2)
    shape = (n_customers, SNAPSHOTS)
    risk = rng.normal(size=n_customers)[:, None] + np.cumsum(
        rng.normal(scale=0.3, size=shape), axis=1
    )
    columns: dict[str, np.ndarray] = {
        "customer_id": np.repeat([f"C{i:07d}" for i in range(n_customers)], SNAPSHOTS),
        "snapshot_date": np.tile(
            pd.date_range("2020-01-01", periods=SNAPSHOTS, freq="QS").to_numpy(), n_customers
        ),
    }
    for name, levels in CATEGORICAL.items():
        columns[name] = np.repeat(
            rng.choice([f"{name}_{i}" for i in range(levels)], n_customers), SNAPSHOTS
        )
    n_numeric = n_features - len(CATEGORICAL)
    loadings = rng.normal(scale=0.6, size=n_numeric) * (rng.random(n_numeric) < 0.4)
    for j in range(n_numeric):
        values = (loadings[j] * risk + rng.normal(size=shape)).ravel()
        values[rng.random(values.size) < 0.05] = np.nan
        columns[f"x{j:03d}"] = values
    p_default = 1 / (1 + np.exp(-(-3.2 + 1.1 * risk)))
    columns["default_12m"] = (rng.random(shape) < p_default).astype(float).ravel()
    return pd.DataFrame(columns)


def run_stage(table: pd.DataFrame, settings, *, track: bool) -> tuple[dict[str, float], dict]:
    """The train stage's work on ``table``, timed by part; return ``(seconds, facts)``."""
    model_settings = settings.model("credit")
    nthread, seed = settings.compute.nthread, settings.seed
    xgb_settings = {k: getattr(model_settings.xgb, k) for k in scoring.XGB_KEYS}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    prepared, date_column = flat.prepare_modeling_table(
        table, id_column="customer_id", date_column="snapshot_date", label="default_12m"
    )
    features = flat.modeling_features(
        prepared, id_column="customer_id", date_column=date_column, labels=["default_12m"]
    )
    split = splits.assign_splits(
        prepared,
        id_column="customer_id",
        date_column=date_column,
        label="default_12m",
        oot_first_snapshot=str(
            prepared["snapshot_date"].drop_duplicates().sort_values().iloc[-2].date()
        ),
        horizon_months=3,
        valid_fraction=settings.split.valid_fraction,
        test_fraction=settings.split.test_fraction,
        seed=seed,
    )
    layout = train.feature_layout(
        prepared, features, {f: 1 for f in features[:10] if f.startswith("x")}
    )
    seconds["splits_and_layout"] = time.perf_counter() - start
    model, report = scoring.fit_scoring_model(
        prepared,
        split,
        settings=scoring.FitSettings(
            label="default_12m",
            xgb=xgb_settings,
            calibration_method=model_settings.calibration.method,
            grade_names=model_settings.grades.names,
            grade_upper_pd=model_settings.grades.upper_pd,
        ),
        layout=layout,
        nthread=nthread,
        seed=seed,
    )
    seconds.update({f"fit_{k}": v for k, v in report.seconds.items()})
    clock = time.perf_counter()
    scores = scoring.score_table(
        model,
        prepared,
        split,
        id_column="customer_id",
        date_column=date_column,
        label="default_12m",
        nthread=nthread,
    )
    results = scoring.model_metrics(scores)
    seconds["score_and_metrics"] = time.perf_counter() - clock
    seconds["stage_compute"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = time.perf_counter()
        save_scoring_model(model, root / "models" / "credit")
        scores.to_parquet(root / "scores.parquet", index=False)
        seconds["write_outputs"] = time.perf_counter() - clock
        if track:
            seconds["mlflow_logging"] = _track(
                root, model, prepared, results, model_settings.registry_name
            )
    facts = {
        "rounds_run": len(report.loss["valid"]),
        "best_iteration": report.best_iteration,
        "development_rows": int(split.isin(splits.FITTED).sum()),
        "train_rows": int((split == splits.TRAIN).sum()),
        "oot_auc": results["oot"]["auc"],
        "params": train.booster_params(
            **{
                k: {**xgb_settings, **report.resolved}[k]  # `auto` as the fit resolved it
                for k in train.BOOSTER_KEYS
            },
            constraints=layout.constraints(),
            nthread=nthread,
            seed=seed,
        ),
        "train_matrix": train.model_matrix(prepared.loc[split == splits.TRAIN], layout),
        "train_label": prepared.loc[split == splits.TRAIN, "default_12m"].to_numpy(),
    }
    return seconds, facts


def _track(root: Path, model, table: pd.DataFrame, results: dict, registry_name: str) -> float:
    from research import tracking
    from research.models.package import log_scoring_package

    tracking.configure(root)  # the store's one-off creation is not part of a run
    clock = time.perf_counter()
    with tracking.model_run(root, "credit", tags={"seed": "0"}):
        tracking.log_training_run(
            model="credit",
            registry_name=registry_name,
            params={"bench": True},
            metrics=results,
            model_folder=root / "models" / "credit",
            log_model=lambda: log_scoring_package(
                model, table.head(5), name=tracking.MODEL_ARTIFACT
            ),
            content_hash=content_hash(root / "models" / "credit"),
        )
    return time.perf_counter() - clock


def bare_xgboost(facts: dict) -> dict[str, float]:
    """XGBoost alone: DMatrix construction, then the same rounds with no evaluation set."""
    params = facts["params"]
    clock = time.perf_counter()
    matrix = xgb.DMatrix(
        facts["train_matrix"],
        label=facts["train_label"],
        enable_categorical=True,
        nthread=params["nthread"],
    )
    dmatrix_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    xgb.train(params, matrix, num_boost_round=facts["rounds_run"])
    return {"xgb_dmatrix": dmatrix_seconds, "xgb_train": time.perf_counter() - clock}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="development customer-snapshots")
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--no-tracking", action="store_true", help="skip timing the MLflow logging")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each part; the fastest counts (a busy machine)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="folder of bench_train.json")
    parser.add_argument(
        "--tiny", action="store_true", help="2,000 rows and 20 features (a smoke test)"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.rows, args.features, args.repeat = 2_000, 20, 1
    settings = load_settings()
    table = synthetic_table(args.rows, args.features, settings.seed)
    runs = [run_stage(table, settings, track=not args.no_tracking) for _ in range(args.repeat)]
    facts = runs[0][1]
    seconds = {k: min(run[0][k] for run in runs) for k in runs[0][0]}
    bare_runs = [bare_xgboost(facts) for _ in range(args.repeat)]
    bare = {k: min(run[k] for run in bare_runs) for k in bare_runs[0]}
    seconds |= bare
    bare_total = bare["xgb_dmatrix"] + bare["xgb_train"]
    print(
        f"train stage: {facts['development_rows']:,} development customer-snapshots "
        f"({facts['train_rows']:,} train), {args.features} features, {settings.compute.nthread} threads, "
        f"{facts['rounds_run']} rounds run (best {facts['best_iteration'] + 1}), OOT AUC {facts['oot_auc']:.3f}"
    )
    rows = [
        ("splits, layout", seconds["splits_and_layout"]),
        ("booster (DMatrix, boosting, early stopping on valid)", seconds["fit_boost"]),
        ("calibration and grading", seconds["fit_calibrate"]),
        ("challenger (logistic regression)", seconds["fit_challenger"]),
        ("scoring every row, metrics", seconds["score_and_metrics"]),
        ("stage compute, total", seconds["stage_compute"]),
        ("writing model files and scores", seconds["write_outputs"]),
    ]
    if "mlflow_logging" in seconds:
        rows.append(("MLflow logging and registry", seconds["mlflow_logging"]))
    rows += [
        ("XGBoost alone: DMatrix", bare["xgb_dmatrix"]),
        ("XGBoost alone: xgb.train, same rounds, no eval set", bare["xgb_train"]),
        ("XGBoost alone, total", bare_total),
    ]
    for name, value in rows:
        print(f"  {name:<60} {value:8.2f} s")
    print(f"  stage compute / bare XGBoost: {seconds['stage_compute'] / bare_total:.2f}x")
    summary = {
        "seconds": seconds,
        "repeat": args.repeat,
        **{
            k: facts[k]
            for k in ("rounds_run", "best_iteration", "development_rows", "train_rows", "oot_auc")
        },
        "features": args.features,
        "table_rows": len(table),
        "nthread": settings.compute.nthread,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "xgboost": xgb.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_train.json").write_text(
        json.dumps(summary, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
