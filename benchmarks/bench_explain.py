"""Benchmark: SHAP values of 100,000 rows by each path, and the whole explain stage at that size.

Builds a throw-away project (a model of the issue's reference size: 80 features with
three native categoricals, 300 trees of depth 6; its scores, panel, model folder and
MLflow run) and prints, in one run:

1. the seconds for the SHAP values of the explained rows (default 100,000) by XGBoost's
   native ``pred_contribs``, ``shap.TreeExplainer`` and woodelf (the stage's default),
   woodelf's speed-up over each, and the p99 / max |difference| against native (log-odds);
2. the wall time of the explain stage itself (``research notebook explain`` through
   papermill, report and executed-notebook HTML included) and its SHAP step.

Targets: the stage's SHAP step at least 10x faster than ``shap.TreeExplainer`` on the same
rows (issue 18), with the same agreement with native (max |difference| about 1e-6, from
XGBoost's float32); woodelf on ``--nthread`` threads identical to woodelf on one; the whole
stage under 60 s for 100,000 rows (2 cores). The load average is printed with the figures:
the machine may be shared, so compare only figures of the same run.

Run: ``python benchmarks/bench_explain.py [--rows N] [--trees T] [--depth D] [--nthread K] [--keep DIR]``;
``--tiny`` runs every step on 2,000 rows and 20 shallow trees (a smoke test, no figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SEGMENTS = ["micro", "small", "medium", "large", "multinational", "project_spv"]
GRADES = (["A", "B", "C", "D", "E", "F", "G"], [0.003, 0.007, 0.015, 0.03, 0.06, 0.12])
SNAPSHOTS = pd.date_range(
    "2023-01-01", periods=6, freq="QS"
)  # 1 development, 4 out-of-time, 1 latest


def make_panel(rows_per_snapshot: int, n_numeric: int, seed: int = 0) -> pd.DataFrame:
    """Customer-snapshots with numeric features (some missing), flags, three categoricals and a label."""
    rng = np.random.default_rng(seed)
    n = rows_per_snapshot * len(SNAPSHOTS)
    numeric = rng.normal(size=(n, n_numeric))
    numeric[rng.random((n, n_numeric)) < 0.05] = np.nan
    panel = pd.DataFrame(numeric, columns=[f"x{i:02d}" for i in range(n_numeric)])
    panel.insert(
        0, "customer_id", np.tile([f"C{i:06d}" for i in range(rows_per_snapshot)], len(SNAPSHOTS))
    )
    panel.insert(
        1,
        "snapshot_date",
        np.repeat(SNAPSHOTS.to_numpy(), rows_per_snapshot).astype("datetime64[ns]"),
    )
    panel["segment"] = rng.choice(SEGMENTS, n)
    panel["industry"] = rng.choice(["energy", "retail", "tech", "construction", "transport"], n)
    panel["region"] = rng.choice(["north", "south", "east", "west"], n)
    panel["green_flag"] = (rng.random(n) < 0.2).astype(float)
    panel["inclusive_flag"] = (rng.random(n) < 0.15).astype(float)
    x = np.nan_to_num(numeric[:, :12])
    logit = (
        -3.2
        + x[:, :8] @ np.linspace(0.6, 0.1, 8)
        + 0.4 * x[:, 8] * x[:, 9]
        + 0.5 * (panel["segment"] == "micro")
    )
    panel["default_12m"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return panel


def build_project(root: Path, *, rows: int, trees: int, depth: int, nthread: int = 2) -> None:
    """A project folder the explain notebook runs in: params, notebook, model folder, scores, panel, MLflow run."""
    import xgboost as xgb

    from research import tracking
    from research.models import calibration, challenger, io, scoring, train
    from research.paths import model_dir, panel_path, run_file, scores_path

    for name in ("params.yaml", "dvc.yaml", "notebooks/explain.ipynb"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    per_snapshot = rows // (len(SNAPSHOTS) - 1)
    panel = make_panel(per_snapshot, n_numeric=75)
    features = [
        c for c in panel.columns if c not in ("customer_id", "snapshot_date", "default_12m")
    ]
    layout = train.feature_layout(panel, features, {"x00": 1, "x01": 1, "x02": 1})
    split = pd.Series(
        np.where(panel["snapshot_date"] == SNAPSHOTS[0], "train", "oot"), index=panel.index
    )
    split[panel["snapshot_date"] == SNAPSHOTS[-1]] = "latest"
    development = panel[split == "train"]
    x_dev = train.model_matrix(development, layout)
    params = train.booster_params(
        learning_rate=0.1,
        max_depth=depth,
        min_child_weight=1.0,
        subsample=0.8,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        constraints=layout.constraints(),
        nthread=nthread,
        seed=0,
    )
    booster = xgb.train(
        params, train.dmatrix(x_dev, development["default_12m"], nthread=nthread), trees
    )
    margin = train.predict_margin(booster, x_dev, nthread=nthread)
    model = scoring.ScoringModel(
        layout=layout,
        booster=booster,
        calibrator=calibration.fit_calibrator(
            margin, development["default_12m"], method="isotonic"
        ),
        challenger=challenger.fit_challenger(
            x_dev,
            development["default_12m"],
            numeric=layout.numeric,
            categorical=tuple(layout.categories),
        ),
        master_scale=calibration.MasterScale(tuple(GRADES[0]), tuple(GRADES[1])),
    )
    folder = model_dir(root, "credit")
    io.save_scoring_model(model, folder)
    scores = scoring.score_table(
        model,
        panel,
        split,
        id_column="customer_id",
        date_column="snapshot_date",
        label="default_12m",
        nthread=nthread,
    )
    for path in (scores_path(root, "credit"), panel_path(root)):
        path.parent.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(scores_path(root, "credit"), index=False)
    panel.to_parquet(panel_path(root), index=False)
    with tracking.model_run(root, "credit") as run:
        tracking.write_run_file(
            run_file(root, "credit"),
            run=run,
            model_name="credit_pd",
            model_version="1",
            model_uri=f"runs:/{run.info.run_id}/model",
        )


def time_paths(root: Path, *, nthread: int = 2) -> dict[str, dict[str, float]]:
    """SHAP seconds of every path on the explained rows, with differences against native.

    woodelf runs twice: on ``nthread`` threads (the stage's setting) and on one, which must
    give the same values bit for bit.
    """
    from research.explain import explain_population, native_shap, shap_tree_explainer, woodelf_shap
    from research.models.io import load_scoring_model
    from research.models.train import model_matrix
    from research.paths import model_dir, panel_path, scores_path

    model = load_scoring_model(model_dir(root, "credit"))
    population = explain_population(
        pd.read_parquet(scores_path(root, "credit")), pd.read_parquet(panel_path(root))
    )
    frame = model_matrix(population, model.layout)
    results = {}
    native = native_shap(model.booster, frame, nthread=nthread)
    single = woodelf_shap(model.booster, frame, nthread=1)
    for name, values in (
        ("native", native),
        ("shap", shap_tree_explainer(model.booster, frame, nthread=nthread)),
        ("woodelf", woodelf_shap(model.booster, frame, nthread=nthread)),
        ("woodelf_1", single),
    ):
        diff = np.abs(values.values - native.values)
        results[name] = {
            "seconds": values.seconds,
            "p99": float(np.quantile(diff, 0.99)),
            "max": float(diff.max()),
            "rows": len(frame),
            "threads_identical": bool(np.array_equal(values.values, single.values)),
        }
    return results


def time_stage(root: Path) -> tuple[float, dict]:
    """Wall seconds of ``research notebook explain --model credit`` in ``root``, and its metrics.

    The stage's record (``metrics/diagnostics/credit/explain.json``) holds its figures; its
    timings (seconds differ on every run, so they stay out of the DVC outputs) come from the
    model's MLflow run.
    """
    from mlflow import MlflowClient

    from research import tracking
    from research.paths import diagnostics_path, run_file
    from research.stages.notebook import run_notebook

    start = time.perf_counter()
    run_notebook("explain", model="credit", root=root)
    seconds = time.perf_counter() - start
    metrics = json.loads(diagnostics_path(root, "credit", "explain.json").read_text())
    run_id = tracking.read_run_file(run_file(root, "credit"))["run_id"]
    tracking.configure(root)
    logged = MlflowClient().get_run(run_id).data.metrics
    prefix = "explain.timing."
    metrics["timing"] = {k[len(prefix) :]: v for k, v in logged.items() if k.startswith(prefix)}
    return seconds, metrics


def _loadavg() -> str:
    """The 1-minute load average, where the platform has one (the machine may be shared)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=100_000, help="explained rows (out-of-time plus latest)"
    )
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument(
        "--keep", type=Path, default=None, help="build the project here and keep it"
    )
    parser.add_argument("--nthread", type=int, default=2, help="threads of every SHAP path")
    parser.add_argument(
        "--tiny", action="store_true", help="2,000 rows, 20 trees of depth 3 (a smoke test)"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.rows, args.trees, args.depth = 2_000, 20, 3
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_explain_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        clock = time.perf_counter()
        build_project(root, rows=args.rows, trees=args.trees, depth=args.depth)
        print(f"built the project in {time.perf_counter() - clock:.1f} s: {root}")
        paths = time_paths(root, nthread=args.nthread)
        rows = paths["native"]["rows"]
        print(
            f"\nSHAP values of {rows:,} rows, 80 features, {args.trees} trees of depth {args.depth} "
            f"(log-odds), {args.nthread} threads, load average {_loadavg()}:"
        )
        print(f"{'path':<10} {'seconds':>9} {'p99 |diff| vs native':>22} {'max |diff|':>12}")
        for name, figures in paths.items():
            print(
                f"{name:<10} {figures['seconds']:>9.2f} {figures['p99']:>22.2e} {figures['max']:>12.2e}"
            )
        fast = paths["woodelf"]["seconds"]
        print(
            f"woodelf speed-up: {paths['native']['seconds'] / fast:.1f}x over native, "
            f"{paths['shap']['seconds'] / fast:.1f}x over shap.TreeExplainer (target: at least 10x); "
            f"{paths['woodelf_1']['seconds'] / fast:.2f}x over itself on 1 thread"
        )
        if not paths["woodelf"]["threads_identical"]:
            raise SystemExit(f"woodelf on {args.nthread} threads differs from 1 thread")
        print(f"woodelf on {args.nthread} threads and on 1: identical values")
        seconds, metrics = time_stage(root)
        step = metrics["timing"]["shap_seconds"]
        print(
            f"\nexplain stage (papermill, report and notebook HTML included): {seconds:.1f} s for "
            f"{metrics['rows']:,} rows (target: under 60 s); its SHAP step {step:.2f} s "
            f"({paths['shap']['seconds'] / step:.1f}x faster than shap.TreeExplainer)"
        )
        print("stage timings:", json.dumps(metrics["timing"]))
        print(
            f"additivity max residual {metrics['additivity_max_residual']:.2e}; "
            f"agreement {json.dumps(metrics['agreement'])}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
