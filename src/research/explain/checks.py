"""Checks shown in every SHAP report: additivity, agreement between paths, monotone signs.

All differences are on the log-odds (margin) scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

ADDITIVITY_TOLERANCE = 1e-4
AGREEMENT_TOLERANCE = 1e-5
MONOTONE_TOLERANCE = 0.05


def additivity(
    values: np.ndarray, base_value: float, margin: np.ndarray
) -> dict[str, float | bool]:
    """How far SHAP sum plus base value is from the model margin (max and 99th percentile)."""
    residual = np.abs(values.sum(axis=1) + base_value - margin)
    worst = float(residual.max()) if residual.size else 0.0
    return {
        "max_residual": worst,
        "p99_residual": float(np.quantile(residual, 0.99)) if residual.size else 0.0,
        "tolerance": ADDITIVITY_TOLERANCE,
        "passed": bool(worst <= ADDITIVITY_TOLERANCE),
    }


def agreement(values: np.ndarray, reference: np.ndarray) -> dict[str, float | int | bool]:
    """Absolute differences between two SHAP matrices of the same rows (99th percentile and max)."""
    if values.shape != reference.shape:
        raise ValueError(
            f"cannot compare SHAP matrices of shapes {values.shape} and {reference.shape}"
        )
    diff = np.abs(values - reference)
    p99 = float(np.quantile(diff, 0.99)) if diff.size else 0.0
    return {
        "p99": p99,
        "max": float(diff.max()) if diff.size else 0.0,
        "rows": int(values.shape[0]),
        "tolerance_p99": AGREEMENT_TOLERANCE,
        "passed": bool(p99 <= AGREEMENT_TOLERANCE),
    }


def dependence_direction(feature_values: pd.Series, shap_values: np.ndarray) -> float:
    """Spearman correlation between a feature and its SHAP values (0 when either is constant)."""
    x = pd.to_numeric(pd.Series(np.asarray(feature_values)), errors="coerce")
    keep = x.notna().to_numpy()
    if keep.sum() < 3:
        return 0.0
    x_rank = x[keep].rank().to_numpy()
    s_rank = pd.Series(shap_values[keep]).rank().to_numpy()
    if np.std(x_rank) == 0 or np.std(s_rank) == 0:
        return 0.0
    return float(np.corrcoef(x_rank, s_rank)[0, 1])


def monotone_signs(
    frame: pd.DataFrame,
    values: np.ndarray,
    monotone: Mapping[str, int],
    *,
    tolerance: float = MONOTONE_TOLERANCE,
    bins: int = 10,
) -> pd.DataFrame:
    """For each feature declared monotone, does its SHAP dependence have the declared sign?

    The dependence sign is the Spearman correlation between the feature and its SHAP
    value; it fails when it points against the declared direction by more than
    ``tolerance``. ``bins_against`` counts steps between adjacent quantile bins whose
    mean SHAP moves against the declared direction (context for the reader).
    """
    rows = []
    names = list(frame.columns)
    for feature, declared in monotone.items():
        if declared == 0 or feature not in names:
            continue
        column = values[:, names.index(feature)]
        rho = dependence_direction(frame[feature], column)
        used = bool(np.any(column != 0))
        rows.append(
            {
                "feature": feature,
                "declared": int(declared),
                "spearman": rho,
                "bins_against": _bins_against(frame[feature], column, declared, bins),
                "used": used,
                "passed": bool(declared * rho >= -tolerance),
            }
        )
    return pd.DataFrame(
        rows, columns=["feature", "declared", "spearman", "bins_against", "used", "passed"]
    )


def _bins_against(feature: pd.Series, column: np.ndarray, declared: int, bins: int) -> int:
    x = pd.to_numeric(pd.Series(np.asarray(feature)), errors="coerce")
    keep = x.notna().to_numpy()
    if keep.sum() < 2 * bins:
        return 0
    quantile_bin = pd.qcut(x[keep].rank(method="first"), bins, labels=False)
    means = pd.Series(column[keep]).groupby(quantile_bin.to_numpy()).mean().to_numpy()
    steps = np.diff(means) * declared
    return int((steps < -1e-9).sum())
