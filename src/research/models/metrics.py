"""Discrimination and calibration measures of a probability score (shared with validation).

Every function takes the observed outcome ``y`` (1 = event, 0 = none; no missing values)
and a predicted probability (or any score, for the ranking measures) of the same length.
Measures that a one-class sample cannot define (AUC, Gini, KS) come back as ``None``, so
the metrics files stay valid JSON.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

_EPS = 1e-15
PLOT_POINTS = 200
# sklearn.metrics (about 2 s of CPU to import) is imported by the measures that call it, so
# a stage that imports this module for its names pays it only when it measures.


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"outcome and score differ in length: {y_arr.shape} vs {p_arr.shape}")
    if np.isnan(y_arr).any() or not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("outcome must hold only 0 and 1 (drop censored rows first)")
    return y_arr, p_arr


def _two_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < len(y)


def auc(y: ArrayLike, p: ArrayLike) -> float | None:
    """Area under the ROC curve (ties count one half)."""
    from sklearn.metrics import roc_auc_score

    y_arr, p_arr = _arrays(y, p)
    return float(roc_auc_score(y_arr, p_arr)) if _two_classes(y_arr) else None


def gini(y: ArrayLike, p: ArrayLike) -> float | None:
    """Accuracy ratio: 2 AUC - 1."""
    area = auc(y, p)
    return None if area is None else 2.0 * area - 1.0


def ks(y: ArrayLike, p: ArrayLike) -> float | None:
    """Kolmogorov-Smirnov statistic: the largest gap between the events' and non-events' score CDFs."""
    from sklearn.metrics import roc_curve

    y_arr, p_arr = _arrays(y, p)
    if not _two_classes(y_arr):
        return None
    fpr, tpr, _ = roc_curve(y_arr, p_arr)
    return float(np.max(tpr - fpr))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of the probability."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def logloss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean negative log-likelihood of the probability (clipped away from 0 and 1)."""
    y_arr, p_arr = _arrays(y, p)
    q = np.clip(p_arr, _EPS, 1.0 - _EPS)
    return float(-np.mean(y_arr * np.log(q) + (1.0 - y_arr) * np.log(1.0 - q)))


def binary_metrics(y: ArrayLike, p: ArrayLike) -> dict[str, float | int | None]:
    """All five measures with the sample's size ``n`` and number of ``events``."""
    y_arr, p_arr = _arrays(y, p)
    return {
        "n": len(y_arr),
        "events": int(y_arr.sum()),
        "auc": auc(y_arr, p_arr),
        "gini": gini(y_arr, p_arr),
        "ks": ks(y_arr, p_arr),
        "brier": brier(y_arr, p_arr) if len(y_arr) else None,
        "logloss": logloss(y_arr, p_arr) if len(y_arr) else None,
    }


def thin_points(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Keep at most ``max_points`` evenly spaced rows of a curve, always the first and the last.

    Args:
        frame: The curve's points in order.
        max_points: The most rows kept.

    Returns:
        The kept rows with a fresh index.
    """
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_points(y: ArrayLike, p: ArrayLike, max_points: int = PLOT_POINTS) -> pd.DataFrame:
    """The ROC curve as ``fpr, tpr`` (thresholds thinned to ``max_points``)."""
    from sklearn.metrics import roc_curve

    y_arr, p_arr = _arrays(y, p)
    fpr, tpr, _ = roc_curve(y_arr, p_arr)
    return thin_points(pd.DataFrame({"fpr": fpr, "tpr": tpr}), max_points)


def precision_recall_points(
    y: ArrayLike, p: ArrayLike, max_points: int = PLOT_POINTS
) -> pd.DataFrame:
    """The precision-recall curve as ``recall, precision``, recall rising."""
    from sklearn.metrics import precision_recall_curve

    y_arr, p_arr = _arrays(y, p)
    precision, recall, _ = precision_recall_curve(y_arr, p_arr)
    curve = pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]})
    return thin_points(curve, max_points)


def calibration_points(y: ArrayLike, p: ArrayLike, bins: int = 20) -> pd.DataFrame:
    """Mean predicted against observed rate in equal-count bins of the prediction."""
    y_arr, p_arr = _arrays(y, p)
    order = np.argsort(p_arr, kind="stable")
    groups = np.array_split(order, min(bins, max(len(order), 1)))
    rows = [(p_arr[g].mean(), y_arr[g].mean(), len(g)) for g in groups if len(g)]
    return pd.DataFrame(rows, columns=["predicted", "observed", "n"])
