"""Checks shown in every SHAP report: additivity, agreement between paths, monotone signs.

All differences are on the log-odds (margin) scale.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

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


def average_rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D float array without missing values, ties sharing their mean rank.

    The same numbers as pandas' ``rank(method="average")`` (every rank is a whole or half
    number, exact in float64) at a fraction of its cost: the values are hashed
    (``pd.factorize``, which treats 0.0 and -0.0 as one value, as comparisons do) and
    only the distinct values are sorted. SHAP values of a tree model take few distinct
    values (one per leaf combination), so this is much cheaper than sorting every row.
    """
    codes, distinct = pd.factorize(np.asarray(values, dtype=np.float64), use_na_sentinel=True)
    if len(codes) and codes.min() < 0:
        raise ValueError("average_rank takes values without missing ones")
    order = np.argsort(distinct, kind="stable")
    counts = np.bincount(codes, minlength=len(distinct))[order]
    ends = np.cumsum(counts)
    by_value = np.empty(len(distinct), dtype=np.float64)
    by_value[order] = (ends - counts + ends + 1) / 2
    return by_value[codes]


def _numeric(feature_values: pd.Series | np.ndarray) -> np.ndarray:
    """A feature's values as float64 (non-numbers missing)."""
    return pd.to_numeric(pd.Series(np.asarray(feature_values)), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _ranks_of_feature(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pandas' ``rank(method="average")`` and ``rank(method="first")`` of values without missing ones.

    One stable sort gives both: ties keep their order of appearance ("first") and share
    the mean of their positions ("average"); 0.0 and -0.0 tie, as comparisons have them.
    """
    n = len(x)
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    first = np.empty(n, dtype=np.float64)
    first[order] = np.arange(1, n + 1, dtype=np.float64)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ends = np.append(starts[1:], n)
    average = np.empty(n, dtype=np.float64)
    average[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return average, first


def _shap_rank(shap_kept: np.ndarray) -> np.ndarray:
    if np.isnan(shap_kept).any():  # not from a tree model: pandas' ranks keep the gaps
        return pd.Series(shap_kept).rank().to_numpy()
    return average_rank(shap_kept)


def _spearman(x_rank: np.ndarray, shap_kept: np.ndarray) -> float:
    s_rank = _shap_rank(shap_kept)
    if np.std(x_rank) == 0 or np.std(s_rank) == 0:
        return 0.0
    return float(np.corrcoef(x_rank, s_rank)[0, 1])


def dependence_direction(feature_values: pd.Series, shap_values: np.ndarray) -> float:
    """Spearman correlation between a feature and its SHAP values (0 when either is constant)."""
    x = _numeric(feature_values)
    keep = ~np.isnan(x)
    if keep.sum() < 3:
        return 0.0
    return _spearman(average_rank(x[keep]), np.asarray(shap_values)[keep])


def dependence_directions(
    frame: pd.DataFrame, values: np.ndarray, features: Iterable[str]
) -> dict[str, float]:
    """``dependence_direction`` of each of ``features`` (numeric columns of ``frame``), computed once.

    ``summaries.challenger_comparison`` takes the mapping (``monotone_signs``'
    ``spearman`` column for the monotone features), so a feature both need is ranked once.
    """
    names = list(frame.columns)
    return {
        feature: dependence_direction(frame[feature], values[:, names.index(feature)])
        for feature in dict.fromkeys(features)
        if feature in names and not isinstance(frame[feature].dtype, pd.CategoricalDtype)
    }


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
    mean SHAP moves against the declared direction (context for the reader). Both come
    from one sort of the feature's values (``dependence_direction`` and ``_bins_against``
    give the same figures).
    """
    rows = []
    names = list(frame.columns)
    for feature, declared in monotone.items():
        if declared == 0 or feature not in names:
            continue
        column = values[:, names.index(feature)]
        x = _numeric(frame[feature])
        keep = ~np.isnan(x)
        kept = int(keep.sum())
        average, first = _ranks_of_feature(x[keep])
        rho = _spearman(average, column[keep]) if kept >= 3 else 0.0
        used = bool(np.any(column != 0))
        rows.append(
            {
                "feature": feature,
                "declared": int(declared),
                "spearman": rho,
                "bins_against": _bins_against(first, column[keep], declared, bins),
                "used": used,
                "passed": bool(declared * rho >= -tolerance),
            }
        )
    return pd.DataFrame(
        rows, columns=["feature", "declared", "spearman", "bins_against", "used", "passed"]
    )


def _bins_against(first: np.ndarray, column: np.ndarray, declared: int, bins: int) -> int:
    """Steps against ``declared`` between the mean SHAP (``column``) of adjacent quantile bins.

    ``first`` ranks the feature's non-missing values (pandas' ``rank(method="first")``),
    ``column`` holds the SHAP values of the same rows.
    """
    if len(first) < 2 * bins:
        return 0
    # ranks are always 1..n: the bins of pd.qcut(first, bins) are those of 1..n, by rank
    quantile_bin = _rank_bins(len(first), bins)[first.astype(np.int64) - 1]
    means = pd.Series(column).groupby(quantile_bin).mean().to_numpy()
    steps = np.diff(means) * declared
    return int((steps < -1e-9).sum())


@functools.lru_cache(maxsize=16)
def _rank_bins(n: int, bins: int) -> np.ndarray:
    """``pd.qcut`` bin (0 .. bins-1) of each rank 1..n (the same for every feature with n values)."""
    quantile_bin = pd.qcut(np.arange(1, n + 1, dtype=np.float64), bins, labels=False)
    quantile_bin.setflags(write=False)
    return quantile_bin
