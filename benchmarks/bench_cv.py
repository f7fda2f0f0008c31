"""Repeated stratified k-fold AUC of the booster under several settings, and of the challenger.

On a synthetic flat table by default (``--rows``, ``--events``), or on the public tables
of issue 15 in a folder laid out as ``../shared/data`` (``--data``: the Taiwan card
default, German credit and bank churn tables; protected attributes, sex, age and marital
status or gender, and ids are left out). Settings compared: the shipped ones
(``params.yaml`` → ``models.credit.xgb``), the same with ``min_child_weight: auto``, and a
plain tuned XGBoost (``min_child_weight`` 1, depth 4, ``learning_rate`` 0.05, early stopping).
``--grid`` adds fixed ``min_child_weight`` values, to choose the ``auto`` formula.

    python benchmarks/bench_cv.py [--rows 5000] [--folds 5 --repeats 3]
    python benchmarks/bench_cv.py --data ../shared/data [--grid 1,3,10,25]
    python benchmarks/bench_cv.py --tiny   # a 2x1 CV on 400 rows (a smoke test)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from research.config import load_settings
from research.models.cv import BOOSTER, CHALLENGER, repeated_cv
from research.models.train import auto_min_child_weight

TUNED = {
    "n_estimators": 2000,
    "learning_rate": 0.05,
    "max_depth": 4,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 50,
}


def synthetic(rows: int, event_rate: float, seed: int) -> tuple[pd.DataFrame, str, list[str]]:
    """A flat table with a nonlinear signal in a few of 12 columns, one of them categorical."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 11))
    segment = rng.choice(list("abcd"), rows)
    logit = (
        0.8 * x[:, 0]
        - 0.6 * np.abs(x[:, 1])
        + 0.5 * x[:, 2] * x[:, 3]
        + 0.4 * (segment == "a")
        + np.log(event_rate / (1 - event_rate))
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(11)])
    frame["segment"] = segment
    frame["event"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, "event", [*(f"x{i}" for i in range(11)), "segment"]


def public_tables(folder: Path) -> dict[str, tuple[pd.DataFrame, str, list[str]]]:
    """The three tables of issue 15, protected attributes and ids left out."""
    tables = {}
    taiwan = pd.read_csv(folder / "taiwan_credit_default" / "UCI_Credit_Card.csv")
    label = "default.payment.next.month"
    drop = {"ID", "SEX", "MARRIAGE", "AGE", label}
    tables["taiwan_credit_default"] = (taiwan, label, [c for c in taiwan.columns if c not in drop])
    # German credit: no header, 20 attributes and the class (1 good, 2 bad); A9 is personal
    # status and sex, A13 the age in years.
    german = pd.read_csv(folder / "german_credit" / "german.data", sep=r"\s+", header=None)
    german.columns = [*(f"A{i}" for i in range(1, 21)), "class"]
    german["bad"] = (german["class"] == 2).astype(int)
    drop = {"A9", "A13", "class", "bad"}
    tables["german_credit"] = (german, "bad", [c for c in german.columns if c not in drop])
    churn = pd.read_csv(folder / "bank_churn" / "Churn_Modelling.csv")
    drop = {"RowNumber", "CustomerId", "Surname", "Gender", "Age", "Exited"}
    tables["bank_churn"] = (churn, "Exited", [c for c in churn.columns if c not in drop])
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a folder laid out as ../shared/data")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--event-rate", type=float, default=0.2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--grid", default="", help="extra fixed min_child_weight values, e.g. 1,3,10"
    )
    parser.add_argument("--only", default="", help="comma-separated table names (with --data)")
    parser.add_argument("--nthread", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="2x1 CV on 400 synthetic rows")
    args = parser.parse_args()
    if args.tiny:
        args.rows, args.folds, args.repeats, args.data = 400, 2, 1, None

    seed = 0
    shipped = load_settings().model("credit").xgb.as_dict()
    settings = {
        "shipped": shipped,
        "auto": {**shipped, "min_child_weight": "auto"},
        "tuned": TUNED,
    }
    for value in filter(None, args.grid.split(",")):
        settings[f"mcw={float(value):g}"] = {**shipped, "min_child_weight": float(value)}
    if args.tiny:
        settings["shipped"] = {**shipped, "n_estimators": 40, "early_stopping_rounds": 10}
        settings["auto"] = {**settings["shipped"], "min_child_weight": "auto"}
        settings["tuned"] = {**TUNED, "n_estimators": 40, "early_stopping_rounds": 10}

    if args.data:
        tables = public_tables(args.data)
        if args.only:
            tables = {k: v for k, v in tables.items() if k in args.only.split(",")}
    else:
        tables = {"synthetic": synthetic(args.rows, args.event_rate, seed)}

    print(f"repeated stratified CV: {args.folds} folds x {args.repeats} repeats, seed {seed}")
    print(
        f"{'table':<24}{'rows':>8}{'events':>8}{'setting':>10}{'mcw':>8}{'AUC':>8}{'± std':>8}{'cap':>5}{'s':>7}"
    )
    for name, (frame, label, features) in tables.items():
        events = int(frame[label].sum())
        start = time.perf_counter()
        for setting, xgb_settings in settings.items():
            result = repeated_cv(
                frame,
                label=label,
                features=features,
                xgb_settings=xgb_settings,
                folds=args.folds,
                repeats=args.repeats,
                seed=seed,
                challenger=setting == "shipped",
                nthread=args.nthread,
            )
            folds = result.folds[result.folds["learner"] == BOOSTER]
            mcw = "/".join(f"{v:g}" for v in sorted(folds["min_child_weight"].unique()))
            print(
                f"{name:<24}{len(frame):>8}{events:>8}{setting:>10}{mcw:>8}"
                f"{result.mean(BOOSTER):>8.4f}{result.std(BOOSTER):>8.4f}"
                f"{int(folds['round_cap'].sum()):>5}{result.seconds:>7.1f}",
                flush=True,
            )
            if setting == "shipped":
                print(
                    f"{name:<24}{len(frame):>8}{events:>8}{'challngr':>10}{'':>8}"
                    f"{result.mean(CHALLENGER):>8.4f}{result.std(CHALLENGER):>8.4f}",
                    flush=True,
                )
        print(f"{name}: {time.perf_counter() - start:.1f} s for all settings", flush=True)
    print(
        "auto min_child_weight by training rows/events: "
        + ", ".join(
            f"{n:,}/{e:,} -> {auto_min_child_weight(n, e):g}"
            for n, e in ((600, 180), (4800, 980), (19200, 4250), (60000, 3000), (600000, 30000))
        )
    )


if __name__ == "__main__":
    main()
