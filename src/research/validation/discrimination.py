"""Discrimination: AUC, Gini, KS, their DeLong or bootstrap intervals, ROC and CAP curves.

AUC, Gini, KS and the ROC points are the training stage's (``research.models.metrics``),
computed here on the labelled rows only (NaN labels or scores dropped) and NaN instead of
None when a sample holds one class. They come from ``_exact``, which repeats sklearn's
arithmetic bit for bit without importing sklearn (nor scipy.stats), from one sort per
sample. AUC confidence intervals are DeLong's (normal
approximation on the DeLong standard error) unless a number of bootstrap resamples is
given (percentile intervals); the paired AUC comparison with the challenger is DeLong's
test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from research.models import metrics as shared_metrics
from research.validation import _exact
from research.validation._base import LABELLED_SETS, _as_arrays, _both_classes


def auc(label: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve over labelled rows (``research.models.metrics``).

    Args:
        label: 1 = event, 0 = none, NaN = no label (dropped).
        score: Higher means more likely an event.

    Returns:
        The AUC; NaN with one class only.
    """
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan
    return _exact.roc_auc(*_exact.roc_curve(y, s))


def gini(label: ArrayLike, score: ArrayLike) -> float:
    """Gini coefficient (accuracy ratio): 2 AUC - 1; NaN with one class only."""
    area = auc(label, score)
    return math.nan if math.isnan(area) else 2.0 * area - 1.0


def ks(label: ArrayLike, score: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: largest gap between the score CDFs of non-events and events."""
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan
    return _exact.curve_ks(*_exact.roc_curve(y, s))


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and DeLong covariance matrix of ``scores`` (k rows) on the same labels."""
    scores = np.atleast_2d(scores)
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    v10 = np.empty((scores.shape[0], m))
    v01 = np.empty((scores.shape[0], n))
    for k in range(scores.shape[0]):
        # Structural components from midranks (Sun and Xu, 2014): the share of negatives
        # below each positive and of positives above each negative, ties counting one half.
        combined = _exact.midranks(np.concatenate([positives[k], negatives[k]]))
        v10[k] = (combined[:m] - _exact.midranks(positives[k])) / n
        v01[k] = 1.0 - (combined[m:] - _exact.midranks(negatives[k])) / m
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((scores.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((scores.shape[0],) * 2)
    return aucs, s10 / m + s01 / n


def delong_auc_variance(label: ArrayLike, score: ArrayLike) -> float:
    """DeLong's variance of the AUC estimate (NaN with one class only)."""
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan
    return float(_delong_components(y, s)[1][0, 0])


def auc_confidence_interval(
    label: ArrayLike,
    score: ArrayLike,
    *,
    level: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUC with its confidence interval: DeLong (``bootstrap=0``) or bootstrap percentiles.

    Args:
        label: 1 = event, 0 = none, NaN = no label (dropped).
        score: Higher means more likely an event.
        level: Coverage of the interval.
        bootstrap: 0 for DeLong, else the number of bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        ``(auc, low, high)``; NaNs when the sample holds one class only.
    """
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan, math.nan, math.nan
    if bootstrap:
        return _bootstrap_auc_ci(y, s, resamples=bootstrap, level=level, seed=seed)
    aucs, cov = _delong_components(y, s)
    half = _exact.norm_ppf(0.5 + level / 2) * math.sqrt(max(cov[0, 0], 0.0))
    value = float(aucs[0])
    return value, max(0.0, value - half), min(1.0, value + half)


def _bootstrap_auc_ci(
    y: np.ndarray, s: np.ndarray, *, resamples: int, level: float, seed: int
) -> tuple[float, float, float]:
    from scipy import stats  # the bootstrap only: ranks per resample (rows of a matrix)

    rng = np.random.default_rng(seed)
    samples: list[np.ndarray] = []
    chunk = max(1, min(resamples, 5_000_000 // max(y.size, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        index = rng.integers(0, y.size, size=(size, y.size))
        ys, ss = y[index], s[index]
        ranks = stats.rankdata(ss, axis=1)
        events = ys.sum(axis=1).astype(float)
        non_events = y.size - events
        with np.errstate(divide="ignore", invalid="ignore"):
            sample = ((ranks * ys).sum(axis=1) - events * (events + 1) / 2) / (events * non_events)
        samples.append(sample[(events > 0) & (non_events > 0)])
        done += size
    values = np.concatenate(samples)
    low, high = np.quantile(values, [0.5 - level / 2, 0.5 + level / 2])
    return auc(y, s), float(low), float(high)


def delong_test(label: ArrayLike, score: ArrayLike, other: ArrayLike) -> dict[str, float]:
    """DeLong's paired test of two AUCs on the same rows (two-sided).

    Args:
        label: 1 = event, 0 = none; rows where it or either score is missing are dropped.
        score: The first score (the model).
        other: The second score (the challenger).

    Returns:
        ``auc``, ``other_auc``, ``auc_diff`` (first minus other), its standard error,
        ``z`` and the two-sided ``p_value``.
    """
    y = np.asarray(label, dtype=float)
    a = np.asarray(score, dtype=float)
    b = np.asarray(other, dtype=float)
    keep = np.isfinite(y) & np.isfinite(a) & np.isfinite(b)
    y, a, b = y[keep].astype(np.int8), a[keep], b[keep]
    if not _both_classes(y):
        return dict.fromkeys(("auc", "other_auc", "auc_diff", "se", "z", "p_value"), math.nan)
    aucs, cov = _delong_components(y, np.vstack([a, b]))
    diff = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if variance <= 1e-15:
        z, p_value = 0.0, 1.0 if abs(diff) < 1e-12 else 0.0
    else:
        z = diff / math.sqrt(variance)
        p_value = float(2 * _exact.norm_sf(abs(z)))
    return {
        "auc": float(aucs[0]),
        "other_auc": float(aucs[1]),
        "auc_diff": diff,
        "se": math.sqrt(max(variance, 0.0)),
        "z": z,
        "p_value": p_value,
    }


def _cumulative_by_threshold(
    y: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative rows and events when lowering the cut-off one distinct score at a time."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    rows = np.arange(1, y.size + 1)[last_of_tie]
    events = np.cumsum(y_sorted)[last_of_tie]
    return s_sorted[last_of_tie], rows, events


def roc_points(label: ArrayLike, score: ArrayLike, *, max_points: int = 400) -> pd.DataFrame:
    """ROC curve: false and true positive rates per cut-off (thinned to ``max_points``).

    Returns:
        Columns ``fpr, tpr``; empty with one class only.
    """
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return pd.DataFrame({"fpr": [], "tpr": []})
    fpr, tpr = _exact.roc_curve(y, s)
    return shared_metrics.thin_points(pd.DataFrame({"fpr": fpr, "tpr": tpr}), max_points)


def cap_points(label: ArrayLike, score: ArrayLike, *, max_points: int = 400) -> pd.DataFrame:
    """Cumulative accuracy profile: share of events captured by the riskiest share of the population.

    Returns:
        Columns ``population_share, event_share`` from (0, 0), thinned to ``max_points``;
        empty with one class only.
    """
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return pd.DataFrame({"population_share": [], "event_share": []})
    _, rows, events = _cumulative_by_threshold(y, s)
    frame = pd.DataFrame(
        {"population_share": np.r_[0.0, rows / y.size], "event_share": np.r_[0.0, events / y.sum()]}
    )
    return shared_metrics.thin_points(frame, max_points)


def accuracy_ratio(label: ArrayLike, score: ArrayLike) -> float:
    """Accuracy ratio from the CAP curve: area to the model over area to the perfect model (equals Gini)."""
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan
    _, rows, events = _cumulative_by_threshold(y, s)
    x = np.r_[0.0, rows / y.size]
    h = np.r_[0.0, events / y.sum()]
    area = float(np.sum((x[1:] - x[:-1]) * (h[1:] + h[:-1]) / 2))
    event_rate = y.mean()
    return (area - 0.5) / ((1 - event_rate / 2) - 0.5)


def discrimination_table(
    labelled: pd.DataFrame, *, bootstrap: int = 0, seed: int = 0
) -> pd.DataFrame:
    """AUC with its 95% interval, Gini, KS and sizes per labelled set.

    Args:
        labelled: Rows with ``split``, ``label`` (0/1) and ``score``.
        bootstrap: 0 for DeLong intervals, else the number of bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        One row per labelled set present, in ``LABELLED_SETS`` order.
    """
    rows = []
    for name in LABELLED_SETS:
        part = labelled[labelled["split"] == name]
        if part.empty:
            continue
        value, low, high = auc_confidence_interval(
            part["label"], part["score"], bootstrap=bootstrap, seed=seed
        )
        rows.append(
            {
                "set": name,
                "n": len(part),
                "events": int(part["label"].sum()),
                "event_rate": float(part["label"].mean()),
                "auc": value,
                "auc_ci_low": low,
                "auc_ci_high": high,
                "gini": 2 * value - 1,
                "ks": ks(part["label"], part["score"]),
            }
        )
    return pd.DataFrame(rows)


def challenger_table(labelled: pd.DataFrame) -> pd.DataFrame:
    """The model's AUC against the challenger's per labelled set (DeLong's paired test).

    Args:
        labelled: Rows with ``split``, ``label``, ``score`` and ``challenger_score``.

    Returns:
        Per set: ``auc``, ``challenger_auc``, ``auc_diff``, ``se``, ``z``, ``p_value``;
        no rows when there is no challenger score.
    """
    if "challenger_score" not in labelled.columns:
        return pd.DataFrame(
            columns=["set", "auc", "challenger_auc", "auc_diff", "se", "z", "p_value"]
        )
    rows = []
    for name in LABELLED_SETS:
        part = labelled[labelled["split"] == name]
        if not part.empty:
            rows.append(
                {"set": name, **delong_test(part["label"], part["score"], part["challenger_score"])}
            )
    return pd.DataFrame(rows).rename(columns={"other_auc": "challenger_auc"})
