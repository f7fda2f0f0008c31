"""The scipy.stats and sklearn figures validation uses, computed the same way without importing them.

Importing ``scipy.stats`` and ``sklearn.metrics`` costs about 2 s of CPU, more than the
validate stage spends on its arithmetic, and each ``roc_auc_score`` call checks its inputs
at length. Every function here performs the same floating-point operations, in the same
order, as the one it stands for, so its results are bit for bit the same (the tests
compare them with scipy and sklearn on random and tied inputs):

- ``midranks``: ``scipy.stats.rankdata`` (method ``average``: tied values share the mean
  of their ranks);
- ``roc_curve``: ``sklearn.metrics.roc_curve`` (intermediate collinear points dropped), its
  ``fpr`` and ``tpr``; ``roc_auc`` their trapezoid area, as ``roc_auc_score``; ``curve_ks``
  the largest ``tpr - fpr``, as ``research.models.metrics.ks``;
- ``norm_ppf``, ``norm_sf``, ``chi2_sf``, ``beta_cdf``: ``scipy.stats``' ``norm.ppf``,
  ``norm.sf``, ``chi2.sf`` and ``beta.cdf`` inside their supports, from the
  ``scipy.special`` functions those call;
- ``binomtest_p_value``: ``scipy.stats.binomtest(k, n, p).pvalue`` (two-sided), with the
  binomial pmf, cdf and sf of ``scipy.special``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc
from scipy.special import _ufuncs as scu


def midranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1 with ties given the mean of their ranks (``scipy.stats.rankdata``)."""
    x = np.asarray(x)
    size = x.size
    if not size:
        return np.empty(0, dtype=float)
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(first)
    counts = np.diff(starts, append=size)
    # ordinal rank of each tie group's first member plus half its extra members: exact
    tied = (starts + 1).astype(float) + (counts.astype(float) - 1) / 2
    ranks = np.empty(size, dtype=float)
    ranks[order] = np.repeat(tied, counts)
    return ranks


def roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fpr`` and ``tpr`` of ``sklearn.metrics.roc_curve(y, s)`` (both classes present).

    Args:
        y: Labels 0 or 1.
        s: Scores, finite, higher meaning more likely an event.

    Returns:
        The false and true positive rates from (0, 0), collinear points dropped.
    """
    order = np.argsort(-np.asarray(s, dtype=float), kind="stable")
    ordered = np.asarray(s, dtype=float)[order]
    thresholds = np.r_[np.flatnonzero(np.diff(ordered)), y.size - 1]
    # cumulative counts of whole numbers: exact, whatever the order within a tie
    tps = np.cumsum(np.asarray(y, dtype=np.float64)[order])[thresholds]
    fps = 1 + thresholds.astype(np.float64) - tps
    if fps.shape[0] > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[keep], tps[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    return fps / fps[-1], tps / tps[-1]


def roc_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The trapezoid area under a ROC curve (``sklearn.metrics.auc``: ``fpr`` never falls)."""
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0, dtype=np.float64))


def curve_ks(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The largest gap between the true and false positive rates of a ROC curve."""
    return float(np.max(tpr - fpr))


def norm_ppf(q: float) -> float:
    """``scipy.stats.norm.ppf(q)`` for ``0 < q < 1``."""
    return float(sc.ndtri(q))


def norm_sf(x: float) -> float:
    """``scipy.stats.norm.sf(x)``."""
    return float(sc.ndtr(-x))


def chi2_sf(x: float, df: float) -> float:
    """``scipy.stats.chi2.sf(x, df)`` for ``x >= 0`` (or NaN) and ``df > 0``."""
    if x <= 0:
        return 1.0
    return float(sc.chdtrc(float(df), float(x)))


def beta_cdf(x: float, a: float, b: float) -> float:
    """``scipy.stats.beta.cdf(x, a, b)`` for ``0 < x < 1`` and ``a, b > 0``."""
    return float(sc.betainc(float(a), float(b), float(x)))


def _binom_pmf(k: float, n: float, p: float) -> float:
    if not (0 <= k <= n) or math.floor(k) != k:
        return 0.0
    return float(np.clip(scu._binom_pmf(float(k), float(n), p), 0, 1))


def _binom_cdf(k: float, n: float, p: float) -> float:
    k = math.floor(k)
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    return float(np.clip(scu._binom_cdf(float(k), float(n), p), 0, 1))


def _binom_sf(k: float, n: float, p: float) -> float:
    k = math.floor(k)
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return float(np.clip(scu._binom_sf(float(k), float(n), p), 0, 1))


def _binary_search(a, d: float, lo: float, hi: float) -> float:
    """``scipy.stats._binomtest._binary_search_for_binom_tst``: i with a(i) <= d < a(i + 1)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        midval = a(mid)
        if midval < d:
            lo = mid + 1
        elif midval > d:
            hi = mid - 1
        else:
            return mid
    return lo if a(lo) <= d else lo - 1


def binomtest_p_value(k: int, n: int, p: float) -> float:
    """``scipy.stats.binomtest(k, n, p).pvalue``, two-sided (``0 <= k <= n``, ``n >= 1``)."""
    k, n = int(k), int(n)
    if k < 0 or n < 1 or k > n or not (0 <= p <= 1):
        raise ValueError(f"binomial test: need 0 <= k <= n, n >= 1 and p in [0, 1] ({k}, {n}, {p})")
    d = _binom_pmf(k, n, p)
    rerr = 1 + 1e-7
    if k == p * n:
        return 1.0
    if k < p * n:
        ix = _binary_search(lambda x1: -_binom_pmf(x1, n, p), -d * rerr, math.ceil(p * n), n)
        y = n - ix + int(d * rerr == _binom_pmf(ix, n, p))
        pval = _binom_cdf(k, n, p) + _binom_sf(n - y, n, p)
    else:
        ix = _binary_search(lambda x1: _binom_pmf(x1, n, p), d * rerr, 0, math.floor(p * n))
        y = ix + 1
        pval = _binom_cdf(y - 1, n, p) + _binom_sf(k - 1, n, p)
    return min(1.0, pval)
