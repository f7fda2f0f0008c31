"""Stability: the population stability index of the score (PSI) and of each feature (CSI).

Numeric values are cut at the quantiles of the development population (ties merged);
categorical values bin by category; missing values get a bin of their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Sized
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from research.validation._base import Thresholds, band_light

MISSING_BIN = "missing"


def _numeric_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    finite = reference[np.isfinite(reference)]
    if not finite.size:
        return np.array([])
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def _bin_labels(edges: np.ndarray) -> list[str]:
    if not edges.size:
        return ["all"]
    bounds = [-np.inf, *edges, np.inf]
    return [f"[{lo:.4g}, {hi:.4g})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _is_text(values: object) -> bool:
    return isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype)


def _label_shares(values: pd.Series) -> dict[str, float]:
    """Each label's share of ``values`` (text, missing ones labelled ``MISSING_BIN``)."""
    counts: dict[str, int] = {}
    for key, count in values.value_counts(dropna=False, sort=False).items():
        label = MISSING_BIN if pd.isna(key) else str(key)
        counts[label] = counts.get(label, 0) + int(count)
    total = sum(counts.values())
    return {label: count / total for label, count in counts.items()}


def _text_shares(expected: pd.Series, actual: pd.Series) -> pd.DataFrame:
    """``population_shares`` of two text columns by category, from their value counts.

    The same table as the general path (each value as text, missing ones in the missing
    bin, shares as count over size), without turning every row into a Python object.
    """
    e, a = _label_shares(expected), _label_shares(actual)
    order = sorted(set(e) | set(a), key=lambda v: (v == MISSING_BIN, v))
    return pd.DataFrame(
        {
            "bin": order,
            "expected_share": np.array([e.get(v, 0.0) for v in order], dtype=float),
            "actual_share": np.array([a.get(v, 0.0) for v in order], dtype=float),
        }
    )


def population_shares(
    expected: ArrayLike,
    actual: ArrayLike,
    *,
    bins: int = 10,
    categorical: bool = False,
) -> pd.DataFrame:
    """Share of the expected (development) and actual population in each bin.

    Numeric values are cut at the quantiles of the expected population (ties merged);
    categorical values bin by category. Missing values get their own bin.

    Args:
        expected: The development population's values.
        actual: The population compared with it.
        bins: Quantile bins of numeric values.
        categorical: Bin by category instead.

    Returns:
        Columns ``bin``, ``expected_share`` and ``actual_share``; the missing bin only
        when either population has missing values.
    """
    if categorical and _is_text(expected) and _is_text(actual):
        return _text_shares(cast(pd.Series, expected), cast(pd.Series, actual))
    if categorical:
        e = (
            pd.Series(expected, dtype=object)
            .astype(object)
            .where(pd.notna(pd.Series(expected, dtype=object)), MISSING_BIN)
        )
        a = (
            pd.Series(actual, dtype=object)
            .astype(object)
            .where(pd.notna(pd.Series(actual, dtype=object)), MISSING_BIN)
        )
        e, a = e.astype(str), a.astype(str)
        order = sorted(set(e) | set(a), key=lambda v: (v == MISSING_BIN, v))
        shares = pd.DataFrame(
            {
                "bin": order,
                "expected_share": e.value_counts(normalize=True)
                .reindex(order, fill_value=0.0)
                .to_numpy(),
                "actual_share": a.value_counts(normalize=True)
                .reindex(order, fill_value=0.0)
                .to_numpy(),
            }
        )
        return shares
    e = np.asarray(pd.to_numeric(pd.Series(expected), errors="coerce"), dtype=float)
    a = np.asarray(pd.to_numeric(pd.Series(actual), errors="coerce"), dtype=float)
    edges = _numeric_edges(e, bins)
    labels = [*_bin_labels(edges), MISSING_BIN]

    def shares_of(values: np.ndarray) -> np.ndarray:
        index = np.where(
            np.isfinite(values), np.searchsorted(edges, values, side="right"), len(labels) - 1
        )
        counts = np.bincount(index, minlength=len(labels)).astype(float)
        return counts / max(values.size, 1)

    frame = pd.DataFrame(
        {"bin": labels, "expected_share": shares_of(e), "actual_share": shares_of(a)}
    )
    has_missing = frame["expected_share"].iloc[-1] > 0 or frame["actual_share"].iloc[-1] > 0
    return frame if has_missing else frame.iloc[:-1].reset_index(drop=True)


def psi_from_shares(
    expected_share: ArrayLike, actual_share: ArrayLike, *, epsilon: float = 1e-4
) -> float:
    """Population stability index: Σ (actual - expected) · ln(actual / expected).

    Args:
        expected_share: Share of the expected population per bin.
        actual_share: Share of the actual population per bin.
        epsilon: Floor of an empty bin's share.

    Returns:
        The PSI.
    """
    e = np.maximum(np.asarray(expected_share, dtype=float), epsilon)
    a = np.maximum(np.asarray(actual_share, dtype=float), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(
    expected: ArrayLike,
    actual: ArrayLike,
    *,
    bins: int = 10,
    categorical: bool = False,
) -> float:
    """PSI of ``actual`` against ``expected`` (quantile bins of ``expected``, or categories).

    Returns:
        The PSI; NaN when either population is empty.
    """
    # ArrayLike admits scalars; psi is only ever given 1-D collections, which are Sized.
    if len(cast(Sized, expected)) == 0 or len(cast(Sized, actual)) == 0:
        return math.nan
    shares = population_shares(expected, actual, bins=bins, categorical=categorical)
    return psi_from_shares(shares["expected_share"], shares["actual_share"])


def csi_table(
    development: pd.DataFrame,
    target: pd.DataFrame,
    *,
    features: Sequence[str],
    categorical: Sequence[str] = (),
    bins: int = 10,
    bands: Sequence[float] = (0.10, 0.25),
) -> pd.DataFrame:
    """Characteristic stability index of every feature between two populations, worst first.

    Args:
        development: The expected population.
        target: The actual population.
        features: Columns of both to compare.
        categorical: Which of them bin by category (non-numeric columns always do).
        bins: Quantile bins of numeric features.
        bands: PSI bands of the light.

    Returns:
        Columns ``feature``, ``kind``, ``csi`` and ``light``, highest CSI first.
    """
    rows = []
    for feature in features:
        is_categorical = feature in categorical or not pd.api.types.is_numeric_dtype(
            development[feature]
        )
        value = psi(development[feature], target[feature], bins=bins, categorical=is_categorical)
        rows.append(
            {
                "feature": feature,
                "kind": "categorical" if is_categorical else "numeric",
                "csi": value,
                "light": band_light(value, bands, higher_is_better=False),
            }
        )
    frame = pd.DataFrame(rows, columns=["feature", "kind", "csi", "light"])
    return frame.sort_values("csi", ascending=False, na_position="last").reset_index(drop=True)


def score_stability(
    development: pd.DataFrame, frame: pd.DataFrame, t: Thresholds
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score PSI of the out-of-time and latest populations against development.

    Args:
        development: Development rows with ``score``.
        frame: All rows with ``split`` and ``score``.
        t: ``psi_bins`` and ``psi_bands`` are used.

    Returns:
        The PSI per population with its light, and the score shares per bin and population.
    """
    rows, distributions = [], []
    for name in ("oot", "latest"):
        target = frame[frame["split"] == name]
        if target.empty:
            continue
        shares = population_shares(development["score"], target["score"], bins=t.psi_bins)
        value = psi_from_shares(shares["expected_share"], shares["actual_share"])
        rows.append(
            {
                "population": name,
                "n_development": len(development),
                "n": len(target),
                "psi": value,
                "light": band_light(value, t.psi_bands, higher_is_better=False),
            }
        )
        distributions.append(shares.assign(population=name))
    return pd.DataFrame(rows), pd.concat(distributions, ignore_index=True)
