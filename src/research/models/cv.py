"""Repeated stratified k-fold AUC of the product's learner and its challenger on one table.

``repeated_cv`` cuts the rows into ``folds`` stratified folds, ``repeats`` times with
fresh shuffles. In each round the booster is fitted the way the train stage fits it
(``models.<name>.xgb``, ``auto`` settings resolved on the rows the trees grow on, early
stopping on a stratified inner validation part of the training folds only) and the
challenger (``research.models.challenger``) on all the training folds; both are scored
by AUC on the held-out fold, which neither saw. The figures compare with published
repeated-CV results on public tables. Nothing here reads files or prints.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    train_test_split,
)

from research.models.challenger import fit_challenger
from research.models.train import (
    BOOSTER_KEYS,
    booster_params,
    feature_layout,
    fit_booster,
    model_matrix,
    predict_margin,
    resolve_xgb_settings,
)

BOOSTER, CHALLENGER = "booster", "challenger"


@dataclasses.dataclass(frozen=True)
class CVResult:
    """One AUC per learner, repeat and fold (``folds``), and their mean and spread (``summary``)."""

    folds: pd.DataFrame
    seconds: float

    @property
    def summary(self) -> pd.DataFrame:
        """Per learner: rounds measured, mean AUC, its standard deviation, min and max."""
        grouped = self.folds.groupby("learner", sort=False)["auc"]
        table = grouped.agg(["count", "mean", "std", "min", "max"])
        return table.rename(columns={"count": "n"}).reset_index()

    def mean(self, learner: str = BOOSTER) -> float:
        return float(self.folds.loc[self.folds["learner"] == learner, "auc"].mean())

    def std(self, learner: str = BOOSTER) -> float:
        return float(self.folds.loc[self.folds["learner"] == learner, "auc"].std())


def repeated_cv(
    frame: pd.DataFrame,
    *,
    label: str,
    features: Sequence[str],
    xgb_settings: Mapping[str, Any],
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    valid_fraction: float = 0.2,
    directions: Mapping[str, int] | None = None,
    challenger: bool = True,
    challenger_c: float = 1.0,
    nthread: int = 1,
    groups: Sequence[Any] | None = None,
) -> CVResult:
    """Repeated stratified k-fold AUC of the booster (and the challenger) on ``frame``.

    Args:
        frame: One row per case: the ``features`` and a 1/0 ``label``.
        label: The outcome column (1 = event).
        features: The model's inputs; categorical levels are fixed on the whole table
            (levels only, no outcome), as the train stage fixes them.
        xgb_settings: ``models.<name>.xgb`` (``research.models.scoring.XGB_KEYS``); ``auto``
            settings are resolved in each round on the inner training rows.
        folds, repeats: ``folds``-fold cross-validation, ``repeats`` times (``folds * repeats``
            AUCs per learner).
        seed: Seeds the fold shuffles, the inner validation cut and XGBoost's subsampling.
        valid_fraction: Share of the training folds held out for early stopping.
        directions: Monotone constraints ``{feature: +1 | -1}``.
        challenger: Whether to fit the logistic challenger as well.
        challenger_c: The challenger's inverse L2 strength.
        nthread: XGBoost threads.
        groups: A key per row (a customer id) whose rows stay together in one fold and on one
            side of the inner cut (stratified group folds); ``None``: rows are independent.
    """
    if folds < 2 or repeats < 1:
        raise ValueError(f"need folds >= 2 and repeats >= 1, got folds={folds}, repeats={repeats}")
    clock = time.perf_counter()
    layout = feature_layout(frame, list(features), directions)
    x = model_matrix(frame, layout).reset_index(drop=True)
    y = pd.to_numeric(frame[label], errors="raise").to_numpy(dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"label {label!r} must hold only 1 (event) and 0")
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < folds:
        raise ValueError(
            f"label {label!r} has {minority} rows in its smaller class: fewer than the {folds} folds"
        )
    keys = None if groups is None else np.asarray(groups)
    rows: list[dict[str, Any]] = []
    for index, (fit_rows, test_rows) in enumerate(_cuts(y, keys, folds, repeats, seed)):
        repeat, fold = divmod(index, folds)
        round_seed = seed + index
        inner, valid = _inner_cut(y, keys, fit_rows, valid_fraction, round_seed)
        settings, chosen = resolve_xgb_settings(xgb_settings, y[inner])
        params = booster_params(
            **{k: settings[k] for k in BOOSTER_KEYS},
            constraints=layout.constraints(),
            nthread=nthread,
            seed=round_seed,
        )
        booster, _ = fit_booster(
            x.iloc[inner],
            y[inner],
            x.iloc[valid],
            y[valid],
            params=params,
            n_estimators=int(settings["n_estimators"]),
            early_stopping_rounds=int(settings["early_stopping_rounds"]),
        )
        best = booster.num_boosted_rounds() - 1
        margin = predict_margin(booster, x.iloc[test_rows], nthread=nthread)
        base = {"repeat": repeat, "fold": fold, "n_test": len(test_rows)}
        rows.append(
            {
                **base,
                "learner": BOOSTER,
                "auc": float(roc_auc_score(y[test_rows], margin)),
                "best_iteration": best,
                "round_cap": best >= int(settings["n_estimators"]) - 1,
                "min_child_weight": float(settings["min_child_weight"]),
                **{f"auto_{k}": v for k, v in chosen.items() if k != "min_child_weight"},
            }
        )
        if challenger:
            model = fit_challenger(
                x.iloc[fit_rows],
                y[fit_rows],
                numeric=layout.numeric,
                categorical=tuple(layout.categories),
                c=challenger_c,
            )
            rows.append(
                {
                    **base,
                    "learner": CHALLENGER,
                    "auc": float(roc_auc_score(y[test_rows], model.predict(x.iloc[test_rows]))),
                }
            )
    return CVResult(folds=pd.DataFrame(rows), seconds=time.perf_counter() - clock)


def _cuts(
    y: np.ndarray, groups: np.ndarray | None, folds: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(training rows, test rows)`` of every fold of every repeat."""
    if groups is None:
        cutter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        return list(cutter.split(np.zeros(len(y)), y))
    cuts = []
    for repeat in range(repeats):
        grouped = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        cuts += list(grouped.split(np.zeros(len(y)), y, groups))
    return cuts


def _inner_cut(
    y: np.ndarray, groups: np.ndarray | None, rows: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training folds cut into the rows the trees grow on and the early-stopping rows."""
    if groups is None:
        inner, valid = train_test_split(
            rows, test_size=fraction, stratify=y[rows], random_state=seed
        )
        return np.asarray(inner), np.asarray(valid)
    parts = max(2, round(1 / fraction))
    grouped = StratifiedGroupKFold(n_splits=parts, shuffle=True, random_state=seed)
    inner, valid = next(grouped.split(np.zeros(len(rows)), y[rows], groups[rows]))
    return rows[inner], rows[valid]


def format_summary(result: CVResult, *, title: str = "") -> str:
    """A small text table: learner, rounds, AUC mean ± std, min and max."""
    lines = [title] if title else []
    lines.append(f"{'learner':<12}{'n':>4}{'AUC mean':>10}{'± std':>8}{'min':>8}{'max':>8}")
    for row in result.summary.itertuples(index=False):
        lines.append(
            f"{row.learner:<12}{row.n:>4}{row.mean:>10.4f}{row.std:>8.4f}{row.min:>8.4f}{row.max:>8.4f}"
        )
    booster = result.folds[result.folds["learner"] == BOOSTER]
    if not booster.empty:
        lines.append(
            f"booster: min_child_weight {', '.join(f'{v:g}' for v in sorted(booster['min_child_weight'].unique()))}; "
            f"best round median {int(booster['best_iteration'].median())}, "
            f"at the round cap in {int(booster['round_cap'].sum())} of {len(booster)} fits"
        )
    lines.append(f"{result.seconds:.1f} s")
    return "\n".join(lines)
