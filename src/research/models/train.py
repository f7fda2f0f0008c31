"""The boosted model: feature layout, model matrix and XGBoost (``hist``) with early stopping.

String (and boolean-free object) columns are categoricals with levels fixed when the
layout is built, so scoring later sees the same codes (XGBoost's native categorical
support); every other column is a float and missing values stay missing (XGBoost learns
where they go). Monotone constraints come from a plain ``{feature: +1 | -1 | 0}`` map
(+1: the event becomes more likely as the feature rises); categoricals and features the
map does not name are unconstrained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb


@dataclasses.dataclass(frozen=True)
class FeatureLayout:
    """The model's ordered inputs: names, categorical levels and monotone constraints."""

    features: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    monotone: dict[str, int]

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f not in self.categories)

    def constraints(self) -> tuple[int, ...]:
        """One constraint per feature, in model order."""
        return tuple(self.monotone.get(f, 0) for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "monotone": dict(self.monotone),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureLayout:
        return cls(
            features=tuple(raw["features"]),
            categories={k: tuple(v) for k, v in raw["categories"].items()},
            monotone={k: int(v) for k, v in raw["monotone"].items()},
        )


def is_categorical(column: pd.Series) -> bool:
    """Strings and existing categoricals are categorical; numbers and booleans are not."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return True
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def feature_layout(
    frame: pd.DataFrame, features: Sequence[str], directions: Mapping[str, int] | None = None
) -> FeatureLayout:
    """Fix the feature order, the categorical levels (sorted) and the monotone constraints."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise KeyError(f"features not in the table: {missing[:5]}")
    categories = {}
    for name in features:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            raise TypeError(
                f"feature {name!r} is a date; derive a number from it (e.g. an age in days) or drop it"
            )
        if is_categorical(column):
            categories[name] = tuple(sorted(column.dropna().astype(str).unique()))
    bad = {k: v for k, v in (directions or {}).items() if v not in (-1, 0, 1)}
    if bad:
        raise ValueError(f"risk directions must be -1, 0 or +1, got {bad}")
    monotone = {
        f: int(d)
        for f, d in (directions or {}).items()
        if f in features and f not in categories and d
    }
    return FeatureLayout(tuple(features), categories, monotone)


def model_matrix(frame: pd.DataFrame, layout: FeatureLayout) -> pd.DataFrame:
    """The model's input frame: floats and fixed-level categoricals (an unseen level is missing), in layout order."""
    columns = {}
    for name in layout.features:
        column = frame[name]
        if name in layout.categories:
            levels = list(layout.categories[name])
            values = column.astype(str)
            columns[name] = pd.Categorical(values.where(values.isin(levels)), categories=levels)
        else:
            columns[name] = pd.to_numeric(column, errors="raise").astype("float64").to_numpy()
    return pd.DataFrame(columns, index=frame.index)


# The settings of ``models.<name>.xgb`` that ``booster_params`` takes (the rest steer the rounds).
BOOSTER_KEYS = (
    "learning_rate",
    "max_depth",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
)


def booster_params(
    *,
    learning_rate: float,
    max_depth: int,
    min_child_weight: float,
    subsample: float,
    colsample_bytree: float,
    reg_lambda: float,
    constraints: Sequence[int] | None,
    nthread: int,
    seed: int,
) -> dict[str, Any]:
    """XGBoost's native parameters for a binary ``hist`` model."""
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "eta": learning_rate,
        "max_depth": max_depth,
        "min_child_weight": min_child_weight,
        "subsample": subsample,
        "colsample_bytree": colsample_bytree,
        "lambda": reg_lambda,
        "nthread": nthread,
        "seed": seed,
    }
    if constraints is not None and any(constraints):
        params["monotone_constraints"] = "(" + ",".join(str(int(c)) for c in constraints) + ")"
    return params


def dmatrix(x: pd.DataFrame, y: Sequence[float] | None = None, *, nthread: int) -> xgb.DMatrix:
    """A DMatrix with native categoricals."""
    label = None if y is None else np.asarray(y, dtype=float)
    return xgb.DMatrix(x, label=label, enable_categorical=True, nthread=nthread)


def fit_booster(
    x_train: pd.DataFrame,
    y_train: Sequence[float],
    x_valid: pd.DataFrame,
    y_valid: Sequence[float],
    *,
    params: Mapping[str, Any],
    n_estimators: int,
    early_stopping_rounds: int,
) -> tuple[xgb.Booster, dict[str, list[float]]]:
    """Boost on train, stop early on valid; return the booster cut to its best round and the valid loss by round."""
    nthread = int(params.get("nthread", 0))
    d_train = dmatrix(x_train, y_train, nthread=nthread)
    d_valid = dmatrix(x_valid, y_valid, nthread=nthread)
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        dict(params),
        d_train,
        num_boost_round=n_estimators,
        evals=[(d_valid, "valid")],  # a training-set curve would cost a third more time
        early_stopping_rounds=early_stopping_rounds,
        evals_result=history,
        verbose_eval=False,
    )
    best = booster.best_iteration
    loss = {name: values[params.get("eval_metric", "logloss")] for name, values in history.items()}
    return booster[: best + 1], loss


def predict_margin(booster: xgb.Booster, x: pd.DataFrame, *, nthread: int = 0) -> np.ndarray:
    """The booster's log-odds (float64 of XGBoost's float32 output)."""
    if x.empty:
        return np.empty(0, dtype=np.float64)
    return booster.predict(dmatrix(x, nthread=nthread), output_margin=True).astype(np.float64)


def sigmoid(margin: np.ndarray) -> np.ndarray:
    """Probability from log-odds.

    ``scipy.special.expit`` (the C library's ``exp``), not ``numpy.exp``: numpy picks its ``exp``
    by the processor's features (its AVX-512 one rounds differently), so a score would depend on
    the machine and on ``NPY_DISABLE_CPU_FEATURES``; the registered model must score as the
    pipeline did in any process.
    """
    from scipy.special import expit

    return np.asarray(expit(np.asarray(margin, dtype=np.float64)), dtype=np.float64)


def risk_directions(specs: Iterable[Any]) -> dict[str, int]:
    """``{feature: risk_direction}`` from feature catalog entries (objects with ``name`` and ``risk_direction``)."""
    return {spec.name: int(spec.risk_direction) for spec in specs}


# --------------------------------------------------------------------------- size-aware settings

AUTO = "auto"
# ``min_child_weight: auto`` = minority-class rows the trees are grown on / MCW_EVENTS_PER_UNIT,
# within [MCW_FLOOR, MCW_CEILING]. A leaf's hessian is about its events x (1 - event rate), so
# this asks each leaf to hold roughly the same share of the events whatever the table's size:
# ~1 on 1,000 rows with 300 events (180 in training), 50 from 10,000 training events.
# Measured by repeated 5x3 cross-validation on three public tables (issue 15's report).
MCW_EVENTS_PER_UNIT = 200.0
MCW_FLOOR, MCW_CEILING = 1.0, 50.0
# The settings ``auto`` may stand for.
AUTO_KEYS = ("min_child_weight",)


def auto_min_child_weight(n_rows: int, n_events: int) -> float:
    """``min_child_weight`` for ``n_rows`` training rows of which ``n_events`` are events.

    The minority class counts (a 90 % event rate is as thin as a 10 % one); the result is
    rounded to one decimal so logs and params read the same.
    """
    minority = min(int(n_events), int(n_rows) - int(n_events))
    value = minority / MCW_EVENTS_PER_UNIT
    return round(float(min(max(value, MCW_FLOOR), MCW_CEILING)), 1)


def resolve_xgb_settings(
    xgb_settings: Mapping[str, Any], y_train: Sequence[float]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``models.<name>.xgb`` with every ``auto`` replaced by its value for these training labels.

    Returns the settings to fit with and ``{setting: value}`` for the ones that were ``auto``
    (empty when none was), so a stage can log what was used.
    """
    labels = np.asarray(y_train, dtype=float)
    n_rows, n_events = len(labels), int(np.nansum(labels))
    resolved, chosen = dict(xgb_settings), {}
    for key, value in xgb_settings.items():
        if value != AUTO:
            continue
        if key not in AUTO_KEYS:
            raise ValueError(f"xgb.{key} cannot be {AUTO!r}; only {', '.join(AUTO_KEYS)} can")
        resolved[key] = chosen[key] = auto_min_child_weight(n_rows, n_events)
    return resolved, chosen


def round_cap_note(
    model: str, *, best_iteration: int, n_estimators: int, learning_rate: float
) -> str:
    """A note when early stopping never stopped (the best round is the last allowed), else ``""``."""
    if best_iteration < n_estimators - 1:
        return ""
    return (
        f"Model {model!r}: the booster's best round is its last ({n_estimators} rounds): "
        f"validation loss was still falling when boosting stopped at the cap, so the model may "
        f"underfit. Raise models.{model}.xgb.n_estimators (now {n_estimators}) or "
        f"models.{model}.xgb.learning_rate (now {learning_rate:g})."
    )


# Imbalance handling, stated in every fit report: the event rate is left as it is.
IMBALANCE = (
    "none: no class weights and no resampling (scale_pos_weight 1); the booster fits the "
    "observed event rate and its margins are calibrated afterwards on the validation split"
)
