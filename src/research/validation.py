"""The validator's evidence: discrimination, calibration, stability, backtesting, overfitting, segments.

Every function here is pure: DataFrames or arrays in, numbers or DataFrames out; the
thresholds arrive as keyword arguments (the stage reads them from ``params.yaml``).
``validate_model`` runs every check on a scores table (``data/scores/<model>.parquet``)
joined to the feature panel and returns a ``ValidationResult`` whose ``checks`` table
holds one row per judged figure: its value, the threshold beside it, a traffic light
(green, amber, red; grey when a sample is too small to judge) and the reason.

AUC, Gini, KS, Brier and the ROC and calibration points are the training stage's
(``research.models.metrics``), so both stages report the same figures.

Conventions:
- a higher score means a higher event probability (default or churn);
- labelled sets are ``train``, ``valid`` and ``oot``; the development population is
  ``train`` plus ``valid``; rows with split ``latest`` (no label yet) count only for
  stability and migration;
- AUC confidence intervals are DeLong's (normal approximation on the DeLong standard
  error) unless a number of bootstrap resamples is given (percentile intervals); the
  paired AUC comparison with the challenger is DeLong's test;
- calibration per rating grade (credit) or score decile (churn) uses the two-sided exact
  binomial test and the one-sided Jeffreys test (ECB TRIM: p-value = Beta(D + 1/2,
  N - D + 1/2) cdf at the grade's PD; small means the PD underestimates), both
  Bonferroni-adjusted over the grades;
- the rate tests on pooled snapshots (per grade or decile, per segment, the whole set,
  and each Hosmer-Lemeshow group)
  treat a customer's rows as one cluster: with quarterly snapshots and a 12-month horizon
  one default or departure is an event in up to four rows, which a plain binomial test
  counts as four independent trials. The counts are divided by the design effect
  (cluster-robust over naive variance of the residuals, about 2.5 on the default
  portfolio) before testing; ``cluster_adjust: false`` in ``params.yaml`` turns this off.
  Each per-snapshot backtest row has one row per customer and needs no adjustment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from research.models import metrics as shared_metrics

LABELLED_SETS = ("train", "valid", "oot")
DEVELOPMENT_SETS = ("train", "valid")
SIZE_SEGMENTS = ("micro", "small", "medium", "large", "multinational", "project_spv")
LIGHT_ORDER = ("green", "amber", "red", "grey")
KEYS = ("customer_id", "snapshot_date")

# ---------------------------------------------------------------------------------------
# Thresholds and traffic lights
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The bands every check is judged against (defaults equal ``params.yaml``)."""

    psi_bands: tuple[float, float] = (0.10, 0.25)
    auc_bands: tuple[float, float] = (0.70, 0.60)
    overfit_gap_bands: tuple[float, float] = (0.03, 0.06)
    calibration_alpha: float = 0.01
    calibration_amber_alpha: float = 0.05
    challenger_alpha: float = 0.05
    hl_groups: int = 10
    psi_bins: int = 10
    hhi_bands: tuple[float, float] = (0.20, 0.30)
    min_segment_events: int = 20
    cluster_adjust: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Thresholds:
        """The thresholds among ``values`` (e.g. the ``validation`` settings as a dict); other keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        picked = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names
        }
        return cls(**picked)


def _bound(value: float) -> str:
    """A threshold as shown: two decimals unless it needs more."""
    return f"{value:.2f}" if round(value, 2) == value else f"{value:g}"


def band_light(value: float, bands: Sequence[float], *, higher_is_better: bool) -> str:
    """Green, amber or red for ``value`` against two bounds; grey when it is missing.

    Higher is better (AUC): green at or above ``bands[0]``, red below ``bands[1]``.
    Lower is better (PSI, gaps): green below ``bands[0]``, red at or above ``bands[1]``.
    """
    if value is None or not np.isfinite(value):
        return "grey"
    first, second = bands
    if higher_is_better:
        return "green" if value >= first else "amber" if value >= second else "red"
    return "green" if value < first else "amber" if value < second else "red"


def band_threshold(bands: Sequence[float], *, higher_is_better: bool) -> str:
    """The bands as the text shown beside a figure."""
    first, second = bands
    if higher_is_better:
        return f"green ≥ {_bound(first)}, red < {_bound(second)}"
    return f"green < {_bound(first)}, red ≥ {_bound(second)}"


def p_value_light(p_value: float, *, alpha: float, amber_alpha: float) -> str:
    """Red below ``alpha``, amber below ``amber_alpha``, else green (grey when missing)."""
    if p_value is None or not np.isfinite(p_value):
        return "grey"
    return "red" if p_value < alpha else "amber" if p_value < amber_alpha else "green"


def p_value_threshold(*, alpha: float, amber_alpha: float, tests: int = 1) -> str:
    """The p-value bands as the text shown beside a test (with the Bonferroni factor)."""
    adjust = f" (Bonferroni ×{tests})" if tests > 1 else ""
    return f"green p ≥ {_bound(amber_alpha)}, red p < {_bound(alpha)}{adjust}"


def worst_light(lights: Iterable[str]) -> str:
    """The worst of several lights (red > amber > green); grey only when all are grey."""
    found = set(lights)
    for colour in ("red", "amber", "green"):
        if colour in found:
            return colour
    return "grey"


def light_counts(lights: Iterable[str]) -> dict[str, int]:
    """How many checks got each light."""
    counts = dict.fromkeys(LIGHT_ORDER, 0)
    for colour in lights:
        counts[colour] += 1
    return counts


def _band_reason(
    name: str, value: float, bands: Sequence[float], *, higher_is_better: bool, fmt: str = ".3f"
) -> str:
    light = band_light(value, bands, higher_is_better=higher_is_better)
    if light == "grey":
        return f"{name} could not be computed"
    first, second = _bound(bands[0]), _bound(bands[1])
    shown = format(value, fmt)
    if higher_is_better:
        relation = {"green": f"≥ {first}", "amber": f"in [{second}, {first})", "red": f"< {second}"}
    else:
        relation = {"green": f"< {first}", "amber": f"in [{first}, {second})", "red": f"≥ {second}"}
    return f"{name} {shown} {relation[light]}"


# ---------------------------------------------------------------------------------------
# Discrimination
# ---------------------------------------------------------------------------------------


def _as_arrays(label: Sequence[float], score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(label, dtype=float)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"label and score differ in length ({y.size} against {s.size})")
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (or NaN for rows without a label)")
    return y.astype(np.int8), s


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < y.sum() < y.size


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def auc(label: Sequence[float], score: Sequence[float]) -> float:
    """Area under the ROC curve over labelled rows (``research.models.metrics``); NaN with one class only."""
    y, s = _as_arrays(label, score)
    return _nan_if_none(shared_metrics.auc(y, s))


def gini(label: Sequence[float], score: Sequence[float]) -> float:
    """Gini coefficient (accuracy ratio): 2 AUC - 1."""
    y, s = _as_arrays(label, score)
    return _nan_if_none(shared_metrics.gini(y, s))


def ks(label: Sequence[float], score: Sequence[float]) -> float:
    """Kolmogorov-Smirnov statistic: largest gap between the score CDFs of non-events and events."""
    y, s = _as_arrays(label, score)
    return _nan_if_none(shared_metrics.ks(y, s))


def brier(label: Sequence[float], score: Sequence[float]) -> float:
    """Brier score: mean squared difference between the outcome and the predicted probability."""
    y, s = _as_arrays(label, score)
    return shared_metrics.brier(y, s) if y.size else math.nan


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
        combined = stats.rankdata(np.concatenate([positives[k], negatives[k]]))
        v10[k] = (combined[:m] - stats.rankdata(positives[k])) / n
        v01[k] = 1.0 - (combined[m:] - stats.rankdata(negatives[k])) / m
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((scores.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((scores.shape[0],) * 2)
    return aucs, s10 / m + s01 / n


def delong_auc_variance(label: Sequence[float], score: Sequence[float]) -> float:
    """DeLong's variance of the AUC estimate."""
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan
    return float(_delong_components(y, s)[1][0, 0])


def auc_confidence_interval(
    label: Sequence[float],
    score: Sequence[float],
    *,
    level: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUC with its confidence interval: DeLong (``bootstrap=0``) or bootstrap percentiles.

    Returns:
        ``(auc, low, high)``; NaNs when the sample holds one class only.
    """
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return math.nan, math.nan, math.nan
    if bootstrap:
        return _bootstrap_auc_ci(y, s, resamples=bootstrap, level=level, seed=seed)
    aucs, cov = _delong_components(y, s)
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(max(cov[0, 0], 0.0))
    value = float(aucs[0])
    return value, max(0.0, value - half), min(1.0, value + half)


def _bootstrap_auc_ci(
    y: np.ndarray, s: np.ndarray, *, resamples: int, level: float, seed: int
) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    values = []
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
        values.append(sample[(events > 0) & (non_events > 0)])
        done += size
    values = np.concatenate(values)
    low, high = np.quantile(values, [0.5 - level / 2, 0.5 + level / 2])
    return auc(y, s), float(low), float(high)


def delong_test(
    label: Sequence[float], score: Sequence[float], other: Sequence[float]
) -> dict[str, float]:
    """DeLong's paired test of two AUCs on the same rows (two-sided).

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
        p_value = float(2 * stats.norm.sf(abs(z)))
    return {
        "auc": float(aucs[0]),
        "other_auc": float(aucs[1]),
        "auc_diff": diff,
        "se": math.sqrt(max(variance, 0.0)),
        "z": z,
        "p_value": p_value,
    }


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


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


def roc_points(
    label: Sequence[float], score: Sequence[float], *, max_points: int = 400
) -> pd.DataFrame:
    """ROC curve: false and true positive rates per cut-off (thinned to ``max_points``)."""
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return pd.DataFrame({"fpr": [], "tpr": []})
    return shared_metrics.roc_points(y, s, max_points=max_points)


def cap_points(
    label: Sequence[float], score: Sequence[float], *, max_points: int = 400
) -> pd.DataFrame:
    """Cumulative accuracy profile: share of events captured by the riskiest share of the population."""
    y, s = _as_arrays(label, score)
    if not _both_classes(y):
        return pd.DataFrame({"population_share": [], "event_share": []})
    _, rows, events = _cumulative_by_threshold(y, s)
    frame = pd.DataFrame(
        {"population_share": np.r_[0.0, rows / y.size], "event_share": np.r_[0.0, events / y.sum()]}
    )
    return _thin(frame, max_points)


def accuracy_ratio(label: Sequence[float], score: Sequence[float]) -> float:
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


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------


def _clip_probability(pd_value: float) -> float:
    return float(min(max(pd_value, 1e-12), 1 - 1e-12))


def binomial_p_value(events: int, n: int, pd_value: float) -> float:
    """Two-sided exact binomial test of ``events`` out of ``n`` against the probability ``pd_value``."""
    if n <= 0:
        return math.nan
    return float(stats.binomtest(int(events), int(n), _clip_probability(pd_value)).pvalue)


def jeffreys_p_value(events: int, n: int, pd_value: float) -> float:
    """One-sided Jeffreys test: Beta(events + 1/2, n - events + 1/2) cdf at ``pd_value``.

    Small p-values mean more events than the PD predicts (the PD underestimates).
    """
    if n <= 0:
        return math.nan
    return float(stats.beta.cdf(_clip_probability(pd_value), events + 0.5, n - events + 0.5))


def design_effect(
    label: Sequence[float], score: Sequence[float], cluster: Sequence[object] | None
) -> float:
    """How much the rows of one customer inflate the variance of the mean residual (at least 1).

    With quarterly snapshots and a 12-month horizon a customer sits in up to four rows of
    the same set, and one default or departure makes up to four events: the rows are not
    independent trials. The design effect is the cluster-robust variance of the mean of
    the residuals ``r = label - score`` (centred at their mean) over the naive one,
    ``Σ_customers (Σ_rows r)² / Σ_rows r²``; 1 when every customer has one row or
    ``cluster`` is None.
    """
    y, s = _as_arrays(label, score)
    if cluster is None or y.size == 0:
        return 1.0
    residual = (y - s) - float(np.mean(y - s))
    naive = float(np.sum(residual**2))
    if naive <= 0:
        return 1.0
    codes = pd.factorize(pd.Series(np.asarray(cluster)))[0]
    by_cluster = np.bincount(codes, weights=residual)
    return max(float(np.sum(by_cluster**2)) / naive, 1.0)


def effective_counts(events: int, n: int, design: float) -> tuple[int, int]:
    """Events and rows scaled down by the design effect (rounded; the observed rate is kept)."""
    if n <= 0 or design <= 1.0:
        return int(events), int(n)
    n_effective = max(int(round(n / design)), 1)
    return int(round(events / n * n_effective)), n_effective


def clustered_counts(part: pd.DataFrame, cluster_column: str | None) -> tuple[float, int, int]:
    """The design effect of ``part`` (``label``, ``score``, the cluster column) and its effective events and rows."""
    design = design_effect(part["label"], part["score"], part[cluster_column] if cluster_column else None)
    events, n = effective_counts(int(part["label"].sum()), len(part), design)
    return design, events, n


def _equal_groups(score: np.ndarray, groups: int) -> np.ndarray:
    """Group number of each row when sorted by score and cut into ``groups`` near-equal parts."""
    order = np.argsort(score, kind="mergesort")
    group = np.empty(score.size, dtype=int)
    group[order] = np.arange(score.size) * groups // max(score.size, 1)
    return group


def hosmer_lemeshow(
    label: Sequence[float],
    score: Sequence[float],
    *,
    groups: int = 10,
    fitted_on_sample: bool = False,
    cluster: Sequence[object] | None = None,
) -> dict[str, float]:
    """Hosmer-Lemeshow test over score groups (deciles by default).

    The statistic sums (O - E)² / (E (1 - E/n)) over the groups. On the sample the model
    was fitted on it follows chi² with ``groups - 2`` degrees of freedom; on an independent
    sample (validation, out-of-time) with ``groups`` (Hosmer, Lemeshow and Sturdivant,
    Applied Logistic Regression, 3rd ed., section 5.2). With ``cluster`` (the customer of
    each row) every group's variance is multiplied by its design effect (``design_effect``),
    a per-group Rao-Scott correction; ``design_effect`` in the result is their mean.
    """
    y, s = _as_arrays(label, score)
    groups = min(groups, y.size)
    if groups < 3:
        return {"statistic": math.nan, "df": math.nan, "p_value": math.nan, "design_effect": math.nan}
    group = _equal_groups(s, groups)
    observed = np.bincount(group, weights=y, minlength=groups)
    expected = np.bincount(group, weights=s, minlength=groups)
    size = np.bincount(group, minlength=groups)
    designs = np.ones(groups)
    if cluster is not None:
        ids = np.asarray(cluster)
        for g in range(groups):
            rows = group == g
            designs[g] = design_effect(y[rows], s[rows], ids[rows])
    variance = expected * (1 - expected / size) * designs
    terms = np.where(
        variance > 0, (observed - expected) ** 2 / np.where(variance > 0, variance, 1), 0.0
    )
    statistic = float(terms.sum())
    df = groups - 2 if fitted_on_sample else groups
    return {
        "statistic": statistic,
        "df": float(df),
        "p_value": float(stats.chi2.sf(statistic, df)),
        "design_effect": float(designs.mean()),
    }


def calibration_curve(
    label: Sequence[float], score: Sequence[float], *, bins: int = 10
) -> pd.DataFrame:
    """Observed event rate against mean predicted probability per score decile (or ``bins``)."""
    y, s = _as_arrays(label, score)
    if not y.size:
        return pd.DataFrame(columns=["bin", "predicted", "observed", "n"])
    points = shared_metrics.calibration_points(y, s, bins=bins)
    return points.assign(bin=np.arange(1, len(points) + 1))[["bin", "predicted", "observed", "n"]]


def calibration_by_class(
    frame: pd.DataFrame,
    *,
    rating_column: str,
    classes: Sequence[object],
    alpha: float,
    amber_alpha: float,
    cluster_column: str | None = None,
) -> pd.DataFrame:
    """Observed against predicted per rating grade (or score decile) with binomial and Jeffreys tests.

    Args:
        frame: Labelled rows with ``label``, ``score`` and ``rating_column``.
        rating_column: ``grade`` (credit) or ``decile`` (churn).
        classes: The classes in order, best first.
        alpha: Red below this Bonferroni-adjusted p-value.
        amber_alpha: Amber below this Bonferroni-adjusted p-value.
        cluster_column: Rows sharing a value (``customer_id``) are one cluster: both tests
            then run on the counts divided by the class's design effect (``design_effect``).

    Returns:
        One row per class: ``n``, ``events``, ``observed_rate``, ``predicted_rate``,
        ``design_effect`` and ``n_effective``, both raw and adjusted p-values, a light per
        test and the class's light (the worse one).
    """
    grouped = frame.groupby(rating_column, observed=True).agg(
        n=("label", "size"), events=("label", "sum"), predicted_rate=("score", "mean")
    )
    clustered = {key: clustered_counts(part, cluster_column) for key, part in frame.groupby(rating_column, observed=True)}
    out = grouped.reindex(list(classes))
    out.index.name = "class"
    out["n"] = out["n"].fillna(0).astype(int)
    out["events"] = out["events"].fillna(0).astype(int)
    out["observed_rate"] = np.where(
        out["n"] > 0, out["events"] / out["n"].where(out["n"] > 0, 1), np.nan
    )
    design, events_eff, n_eff = zip(*(clustered.get(key, (1.0, 0, 0)) for key in out.index), strict=True)
    out["design_effect"], out["n_effective"] = list(design), list(n_eff)
    tests = max(int((out["n"] > 0).sum()), 1)
    rows = list(zip(events_eff, n_eff, out["predicted_rate"], strict=True))
    out["binomial_p"] = [binomial_p_value(d, n, p) if n else math.nan for d, n, p in rows]
    out["jeffreys_p"] = [jeffreys_p_value(d, n, p) if n else math.nan for d, n, p in rows]
    out["binomial_p_adj"] = np.minimum(out["binomial_p"] * tests, 1.0)
    out["jeffreys_p_adj"] = np.minimum(out["jeffreys_p"] * tests, 1.0)
    out["binomial_light"] = [
        p_value_light(p, alpha=alpha, amber_alpha=amber_alpha) for p in out["binomial_p_adj"]
    ]
    out["jeffreys_light"] = [
        p_value_light(p, alpha=alpha, amber_alpha=amber_alpha) for p in out["jeffreys_p_adj"]
    ]
    out["light"] = [
        worst_light(pair) for pair in zip(out["binomial_light"], out["jeffreys_light"], strict=True)
    ]
    out["tests"] = tests
    return out.reset_index()


# ---------------------------------------------------------------------------------------
# Stability
# ---------------------------------------------------------------------------------------

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


def population_shares(
    expected: Sequence[object],
    actual: Sequence[object],
    *,
    bins: int = 10,
    categorical: bool = False,
) -> pd.DataFrame:
    """Share of the expected (development) and actual population in each bin.

    Numeric values are cut at the quantiles of the expected population (ties merged);
    categorical values bin by category. Missing values get their own bin.
    """
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
    expected_share: Sequence[float], actual_share: Sequence[float], *, epsilon: float = 1e-4
) -> float:
    """Population stability index: Σ (actual - expected) · ln(actual / expected), empty bins floored at ``epsilon``."""
    e = np.maximum(np.asarray(expected_share, dtype=float), epsilon)
    a = np.maximum(np.asarray(actual_share, dtype=float), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(
    expected: Sequence[object],
    actual: Sequence[object],
    *,
    bins: int = 10,
    categorical: bool = False,
) -> float:
    """PSI of ``actual`` against ``expected`` (quantile bins of ``expected``, or categories)."""
    if len(expected) == 0 or len(actual) == 0:
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
    """Characteristic stability index of every feature between two populations, worst first."""
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


# ---------------------------------------------------------------------------------------
# Rating classes, migration and concentration
# ---------------------------------------------------------------------------------------


def rating_column(scores: pd.DataFrame) -> str:
    """``grade`` when the scores carry rating grades (credit), else ``decile`` (churn)."""
    if "grade" in scores.columns and scores["grade"].notna().any():
        return "grade"
    if "decile" in scores.columns and scores["decile"].notna().any():
        return "decile"
    raise ValueError(
        "scores: neither a 'grade' nor a 'decile' column with values; the train stage writes "
        "grades for a model with a master scale and score deciles otherwise"
    )


def rating_classes(
    scores: pd.DataFrame, column: str, grade_names: Sequence[str] = ()
) -> list[object]:
    """The classes of ``column`` in order, best first (``grade_names`` for grades, 1..10 for deciles)."""
    present = pd.unique(scores[column].dropna())
    if column == "grade" and grade_names:
        unknown = sorted(set(map(str, present)) - set(map(str, grade_names)))
        if unknown:
            raise ValueError(
                f"scores: grade(s) {unknown} not in models.<model>.grades.names {list(grade_names)}; "
                "rerun the train stage after changing the master scale"
            )
        return list(grade_names)
    return sorted(present.tolist())


def herfindahl(shares: Sequence[float]) -> float:
    """Herfindahl-Hirschman index of shares (normalised to sum to one): 1/k when even, 1 when all in one."""
    values = np.asarray(shares, dtype=float)
    total = values.sum()
    return float(np.sum((values / total) ** 2)) if total > 0 else math.nan


def migration_matrix(
    frame: pd.DataFrame, *, rating_column: str, classes: Sequence[object]
) -> pd.DataFrame:
    """Counts of customers moving from each class (rows) to each class (columns) between consecutive snapshots."""
    ratings = frame[["customer_id", "snapshot_date", rating_column]].dropna()
    dates = pd.Series(np.sort(ratings["snapshot_date"].unique()))
    # each snapshot's successor, as a frame so the key keeps its datetime type
    successor = pd.DataFrame(
        {"snapshot_date": dates.iloc[:-1].to_numpy(), "next_date": dates.iloc[1:].to_numpy()}
    )
    current = ratings.merge(successor, on="snapshot_date", how="inner")
    later = ratings.rename(columns={"snapshot_date": "next_date", rating_column: "to"})
    pairs = current.merge(later, on=["customer_id", "next_date"], how="inner")
    counts = pd.crosstab(pairs[rating_column], pairs["to"])
    counts = (
        counts.reindex(index=list(classes), columns=list(classes), fill_value=0)
        .fillna(0)
        .astype(int)
    )
    counts.index.name, counts.columns.name = "from", "to"
    return counts


def migration_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per class: customers, share staying, upgraded, downgraded, moved two or more notches, and the row HHI."""
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1)
    k = counts.shape[0]
    notches = np.arange(k)[None, :] - np.arange(k)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = counts / totals[:, None]
    return pd.DataFrame(
        {
            "class": matrix.index,
            "n": totals.astype(int),
            "stay_share": np.diag(shares),
            "upgrade_share": np.where(notches < 0, shares, 0).sum(axis=1),
            "downgrade_share": np.where(notches > 0, shares, 0).sum(axis=1),
            "two_notch_share": np.where(np.abs(notches) >= 2, shares, 0).sum(axis=1),
            "hhi": [
                herfindahl(row) if total > 0 else math.nan
                for row, total in zip(counts, totals, strict=True)
            ],
        }
    )


def concentration_by_snapshot(
    frame: pd.DataFrame, *, rating_column: str, classes: Sequence[object]
) -> pd.DataFrame:
    """Share of the population in each class and the HHI over classes, per snapshot."""
    counts = pd.crosstab(frame["snapshot_date"], frame[rating_column]).reindex(
        columns=list(classes), fill_value=0
    )
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = shares.copy()
    out.columns = [f"share_{c}" for c in classes]
    out.insert(0, "n", counts.sum(axis=1))
    out["hhi"] = [herfindahl(row) for row in counts.to_numpy(dtype=float)]
    return out.reset_index()


# ---------------------------------------------------------------------------------------
# Backtesting, overfitting and segments
# ---------------------------------------------------------------------------------------


def _period(splits: pd.Series) -> str:
    top = splits.value_counts().idxmax()
    return "development" if top in DEVELOPMENT_SETS else str(top)


def backtest_table(
    labelled: pd.DataFrame,
    *,
    auc_bands: Sequence[float],
    alpha: float,
    amber_alpha: float,
    min_events: int,
) -> pd.DataFrame:
    """AUC and observed against predicted event rate per snapshot (labelled rows of every split).

    Out-of-time snapshots are judged (AUC bands; two-sided binomial test of the rate,
    Bonferroni over the out-of-time snapshots); in-sample snapshots are shown, not judged.
    """
    rows = []
    for date, group in labelled.groupby("snapshot_date", sort=True):
        rows.append(
            {
                "snapshot_date": date,
                "period": _period(group["split"]),
                "n": len(group),
                "events": int(group["label"].sum()),
                "observed_rate": float(group["label"].mean()),
                "predicted_rate": float(group["score"].mean()),
                "auc": auc(group["label"], group["score"]),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "snapshot_date",
            "period",
            "n",
            "events",
            "observed_rate",
            "predicted_rate",
            "auc",
        ],
    )
    judged = (
        (out["period"] == "oot")
        & (out["events"] >= min_events)
        & (out["n"] - out["events"] >= min_events)
    )
    tests = max(int(judged.sum()), 1)
    out["binomial_p"] = [
        binomial_p_value(d, n, p)
        for d, n, p in zip(out["events"], out["n"], out["predicted_rate"], strict=True)
    ]
    out["binomial_p_adj"] = np.minimum(out["binomial_p"] * tests, 1.0)
    out["judged"] = judged
    out["auc_light"] = [
        band_light(v, auc_bands, higher_is_better=True) if j else "grey"
        for v, j in zip(out["auc"], judged, strict=True)
    ]
    out["calibration_light"] = [
        p_value_light(p, alpha=alpha, amber_alpha=amber_alpha) if j else "grey"
        for p, j in zip(out["binomial_p_adj"], judged, strict=True)
    ]
    out["tests"] = tests
    return out


def overfit_table(discrimination: pd.DataFrame, *, bands: Sequence[float]) -> pd.DataFrame:
    """AUC gaps between sets; the train against out-of-time gap is the one judged."""
    by_set = discrimination.set_index("set")["auc"]
    rows = []
    for first, second in (("train", "oot"), ("train", "valid"), ("valid", "oot")):
        gap = float(by_set.get(first, math.nan) - by_set.get(second, math.nan))
        judged = (first, second) == ("train", "oot")
        rows.append(
            {
                "comparison": f"{first} − {second}",
                "auc_first": by_set.get(first, math.nan),
                "auc_second": by_set.get(second, math.nan),
                "auc_gap": gap,
                "light": band_light(gap, bands, higher_is_better=False) if judged else "grey",
            }
        )
    return pd.DataFrame(rows)


def segment_masks(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The portfolio slices judged separately: size classes, project finance, green and inclusive lending."""
    masks: dict[str, pd.Series] = {}
    if "segment" in frame.columns:
        present = [s for s in pd.unique(frame["segment"].dropna()) if s not in SIZE_SEGMENTS]
        for name in [*SIZE_SEGMENTS, *sorted(map(str, present))]:
            if (frame["segment"] == name).any():
                title = (
                    "project finance (project_spv)" if name == "project_spv" else f"size: {name}"
                )
                masks[title] = frame["segment"] == name
    if "green_flag" in frame.columns:
        masks["green lending"] = frame["green_flag"] == 1
    if "inclusive_flag" in frame.columns:
        masks["inclusive lending"] = frame["inclusive_flag"] == 1
    return masks


def segment_table(
    labelled: pd.DataFrame,
    *,
    auc_bands: Sequence[float],
    alpha: float,
    amber_alpha: float,
    min_events: int,
    cluster_column: str | None = None,
) -> pd.DataFrame:
    """AUC and calibration per segment with sample sizes; too few events or non-events: not judged.

    With ``cluster_column`` the rate test runs on counts divided by the segment's design effect.
    """
    rows = []
    for name, mask in segment_masks(labelled).items():
        part = labelled[mask.to_numpy()]
        events = int(part["label"].sum())
        n = len(part)
        design, events_eff, n_eff = clustered_counts(part, cluster_column)
        judged = events >= min_events and n - events >= min_events
        value, low, high = auc_confidence_interval(part["label"], part["score"])
        rows.append(
            {
                "segment": name,
                "n": n,
                "events": events,
                "observed_rate": events / n if n else math.nan,
                "predicted_rate": float(part["score"].mean()) if n else math.nan,
                "auc": value,
                "auc_ci_low": low,
                "auc_ci_high": high,
                "design_effect": design,
                "n_effective": n_eff,
                "binomial_p": binomial_p_value(events_eff, n_eff, float(part["score"].mean()))
                if n
                else math.nan,
                "judged": judged,
                "note": ""
                if judged
                else f"too small to judge: {events} events, {n - events} non-events (< {min_events})",
            }
        )
    columns = [
        "segment",
        "n",
        "events",
        "observed_rate",
        "predicted_rate",
        "auc",
        "auc_ci_low",
        "auc_ci_high",
        "design_effect",
        "n_effective",
        "binomial_p",
        "judged",
        "note",
    ]
    out = pd.DataFrame(rows, columns=columns)
    tests = max(int(out["judged"].sum()), 1)
    out["binomial_p_adj"] = np.minimum(out["binomial_p"].astype(float) * tests, 1.0)
    out["auc_light"] = [
        band_light(v, auc_bands, higher_is_better=True) if j else "grey"
        for v, j in zip(out["auc"], out["judged"], strict=True)
    ]
    out["calibration_light"] = [
        p_value_light(p, alpha=alpha, amber_alpha=amber_alpha) if j else "grey"
        for p, j in zip(out["binomial_p_adj"], out["judged"], strict=True)
    ]
    out["tests"] = tests
    return out


# ---------------------------------------------------------------------------------------
# The whole evidence pack
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """Every table of the validation evidence for one model (see ``validate_model``)."""

    rating_column: str
    classes: list[object]
    ci_method: str
    discrimination: pd.DataFrame
    roc: pd.DataFrame
    cap: pd.DataFrame
    challenger: pd.DataFrame
    calibration: pd.DataFrame
    calibration_summary: pd.DataFrame
    calibration_curve: pd.DataFrame
    score_stability: pd.DataFrame
    score_distribution: pd.DataFrame
    csi: pd.DataFrame
    backtest: pd.DataFrame
    migration: pd.DataFrame
    migration_summary: pd.DataFrame
    concentration: pd.DataFrame
    overfit: pd.DataFrame
    segments: pd.DataFrame
    checks: pd.DataFrame
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def lights(self) -> dict[str, int]:
        return light_counts(self.checks["light"])


def join_panel(
    scores: pd.DataFrame, panel: pd.DataFrame | None, columns: Sequence[str]
) -> pd.DataFrame:
    """Scores with those of ``columns`` the panel holds attached by customer and snapshot (a new frame)."""
    wanted = [c for c in dict.fromkeys(columns) if c not in scores.columns]
    if panel is not None:
        wanted = [c for c in wanted if c in panel.columns]
    if panel is None or not wanted:
        return scores.copy()
    right = panel[[*KEYS, *wanted]].copy()
    right["snapshot_date"] = pd.to_datetime(right["snapshot_date"]).astype("datetime64[ns]")
    if right["customer_id"].dtype != scores["customer_id"].dtype:
        right["customer_id"] = right["customer_id"].astype(scores["customer_id"].dtype)
    left = scores.assign(
        snapshot_date=pd.to_datetime(scores["snapshot_date"]).astype("datetime64[ns]")
    )
    return left.merge(right, on=list(KEYS), how="left", validate="many_to_one")


def _check_scores(scores: pd.DataFrame) -> None:
    required = {"customer_id", "snapshot_date", "split", "label", "score"}
    missing = sorted(required - set(scores.columns))
    if missing:
        raise ValueError(
            f"scores: missing column(s) {missing}; expected the train stage's data/scores/<model>.parquet"
        )
    unknown = sorted(
        set(scores["split"].dropna().astype(str)) - {*LABELLED_SETS, "purged", "latest"}
    )
    if unknown:
        raise ValueError(
            f"scores: unknown split value(s) {unknown}; expected train, valid, oot, purged or latest"
        )
    if not (scores["split"] == "oot").any():
        raise ValueError(
            "scores: no out-of-time rows (split == 'oot'); check split.oot_first_snapshot"
        )


def discrimination_table(
    labelled: pd.DataFrame, *, bootstrap: int = 0, seed: int = 0
) -> pd.DataFrame:
    """AUC with its 95% interval, Gini, KS and sizes per labelled set."""
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
    """The model's AUC against the challenger's per labelled set (DeLong's paired test)."""
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


def calibration_summary_table(
    labelled: pd.DataFrame, *, groups: int, cluster_column: str | None = None
) -> pd.DataFrame:
    """Brier score, Hosmer-Lemeshow test and the portfolio rate against its prediction per set.

    With ``cluster_column`` the portfolio-rate test runs on counts divided by the design effect.
    """
    rows = []
    for name in LABELLED_SETS:
        part = labelled[labelled["split"] == name]
        if part.empty:
            continue
        test = hosmer_lemeshow(
            part["label"],
            part["score"],
            groups=groups,
            fitted_on_sample=name == "train",
            cluster=part[cluster_column] if cluster_column else None,
        )
        n, events, predicted = len(part), int(part["label"].sum()), float(part["score"].mean())
        design, events_eff, n_eff = clustered_counts(part, cluster_column)
        rows.append(
            {
                "set": name,
                "n": n,
                "observed_rate": events / n,
                "predicted_rate": predicted,
                "design_effect": design,
                "n_effective": n_eff,
                "central_p": binomial_p_value(events_eff, n_eff, predicted),
                "brier": brier(part["label"], part["score"]),
                "hl_statistic": test["statistic"],
                "hl_df": test["df"],
                "hl_p": test["p_value"],
                "hl_design_effect": test["design_effect"],
            }
        )
    return pd.DataFrame(rows)


def validate_model(
    scores: pd.DataFrame,
    panel: pd.DataFrame | None = None,
    *,
    features: Sequence[str] = (),
    categorical: Sequence[str] = (),
    grade_names: Sequence[str] = (),
    thresholds: Thresholds = Thresholds(),
    bootstrap: int = 0,
    seed: int = 0,
) -> ValidationResult:
    """Run every validation check on one model's scores.

    Args:
        scores: The train stage's scores (``customer_id, snapshot_date, split, label,
            score``, optionally ``challenger_score`` and ``grade`` or ``decile``).
        panel: The feature panel (features, ``segment``, ``green_flag``, ``inclusive_flag``).
        features: The model's features (CSI is computed for each).
        categorical: Which of them are categorical.
        grade_names: The master scale's grade names, best first (empty for deciles).
        thresholds: Bands and test levels of the traffic lights.
        bootstrap: 0 for DeLong intervals, else the number of bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        The evidence tables and the ``checks`` table with one light per judged figure.
    """
    notes = []
    if (
        "split" in scores.columns
        and not (scores["split"] == "oot").any()
        and (scores["split"] == "test").any()
    ):
        scores = scores.assign(split=scores["split"].replace("test", "oot"))
        notes.append(
            "undated modelling table: the random test split stands in for the out-of-time set; "
            "backtesting, migration and concentration need snapshot dates"
        )
    _check_scores(scores)
    t = thresholds
    frame = join_panel(scores, panel, [*features, "segment", "green_flag", "inclusive_flag"])
    missing = [f for f in features if f not in frame.columns]
    if missing:
        notes.append(f"features not in the panel, left out of the CSI: {', '.join(missing)}")
    column = rating_column(frame)
    if column == "decile":
        frame["decile"] = frame["decile"].astype("Int64")
    classes = rating_classes(frame, column, grade_names)
    labelled_rows = frame["label"].notna() & frame["split"].isin([*LABELLED_SETS, "purged"])
    labelled = frame[labelled_rows].assign(label=lambda f: f["label"].astype(int))
    in_sets = labelled[labelled["split"].isin(LABELLED_SETS)]
    oot = in_sets[in_sets["split"] == "oot"]
    development = frame[frame["split"].isin(DEVELOPMENT_SETS)]

    discrimination = discrimination_table(in_sets, bootstrap=bootstrap, seed=seed)
    parts = {name: in_sets[in_sets["split"] == name] for name in LABELLED_SETS}
    parts = {name: part for name, part in parts.items() if not part.empty}
    roc = pd.concat(
        [roc_points(p["label"], p["score"]).assign(set=s) for s, p in parts.items()],
        ignore_index=True,
    )
    cap = pd.concat(
        [cap_points(p["label"], p["score"]).assign(set=s) for s, p in parts.items()],
        ignore_index=True,
    )
    # The same customer in several snapshots of one set: its rows are one cluster.
    cluster = "customer_id" if t.cluster_adjust else None
    calibration = calibration_by_class(
        oot,
        rating_column=column,
        classes=classes,
        alpha=t.calibration_alpha,
        amber_alpha=t.calibration_amber_alpha,
        cluster_column=cluster,
    )
    curve = pd.concat(
        [
            calibration_curve(p["label"], p["score"], bins=t.hl_groups).assign(set=s)
            for s, p in parts.items()
        ],
        ignore_index=True,
    )
    stability, distribution = _score_stability(development, frame, t)
    csi = csi_table(
        development,
        frame[frame["split"] == "oot"],
        features=[f for f in features if f in frame.columns],
        categorical=categorical,
        bins=t.psi_bins,
        bands=t.psi_bands,
    )
    matrix = migration_matrix(frame, rating_column=column, classes=classes)
    result = ValidationResult(
        rating_column=column,
        classes=classes,
        ci_method=f"bootstrap ({bootstrap} resamples, percentile)" if bootstrap else "DeLong",
        discrimination=discrimination,
        roc=roc,
        cap=cap,
        challenger=challenger_table(in_sets),
        calibration=calibration,
        calibration_summary=calibration_summary_table(in_sets, groups=t.hl_groups, cluster_column=cluster),
        calibration_curve=curve,
        score_stability=stability,
        score_distribution=distribution,
        csi=csi,
        backtest=backtest_table(
            labelled,
            auc_bands=t.auc_bands,
            alpha=t.calibration_alpha,
            amber_alpha=t.calibration_amber_alpha,
            min_events=t.min_segment_events,
        ),
        migration=matrix,
        migration_summary=migration_summary(matrix),
        concentration=concentration_by_snapshot(frame, rating_column=column, classes=classes),
        overfit=overfit_table(discrimination, bands=t.overfit_gap_bands),
        segments=segment_table(
            oot,
            auc_bands=t.auc_bands,
            alpha=t.calibration_alpha,
            amber_alpha=t.calibration_amber_alpha,
            min_events=t.min_segment_events,
            cluster_column=cluster,
        ),
        checks=pd.DataFrame(),
        notes=notes,
    )
    hhi_oot = herfindahl(
        frame.loc[frame["split"] == "oot", column].value_counts().reindex(classes, fill_value=0)
    )
    return dataclasses.replace(result, checks=checks_table(result, t, oot_hhi=hhi_oot))


def _score_stability(
    development: pd.DataFrame, frame: pd.DataFrame, t: Thresholds
) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def _check(
    area: str, check: str, subject: object, value: float, threshold: str, light: str, reason: str
) -> dict:
    return {
        "area": area,
        "check": check,
        "subject": str(subject),
        "value": value,
        "threshold": threshold,
        "light": light,
        "reason": reason,
    }


def _effective_phrase(row: Any, before: str, after: str) -> str:
    """``effective n = … of …, design effect …`` between ``before`` and ``after``; empty when unadjusted."""
    if not row.design_effect > 1:
        return ""
    return f"{before}effective n = {row.n_effective} of {row.n}, design effect {row.design_effect:.2f}{after}"


def _p_reason(p_adjusted: float, light: str, what: str, *, alpha: float, amber_alpha: float) -> str:
    if light == "grey":
        return f"{what}: not judged"
    low, high = _bound(alpha), _bound(amber_alpha)
    relation = {"green": f"≥ {high}", "amber": f"in [{low}, {high})", "red": f"< {low}"}[light]
    return f"{what}: p = {p_adjusted:.3g} {relation}"


def checks_table(
    result: ValidationResult, t: Thresholds, *, oot_hhi: float = math.nan
) -> pd.DataFrame:
    """One row per judged figure: area, check, subject, value, threshold, light and reason."""
    rows: list[dict] = []
    auc_threshold = band_threshold(t.auc_bands, higher_is_better=True)
    pv = {"alpha": t.calibration_alpha, "amber_alpha": t.calibration_amber_alpha}
    for r in result.discrimination.itertuples():
        reason = _band_reason("AUC", r.auc, t.auc_bands, higher_is_better=True)
        rows.append(
            _check(
                "discrimination",
                "AUC",
                r.set,
                r.auc,
                auc_threshold,
                band_light(r.auc, t.auc_bands, higher_is_better=True),
                f"{reason} (95% CI {r.auc_ci_low:.3f}–{r.auc_ci_high:.3f}, {result.ci_method})",
            )
        )
    oot_challenger = result.challenger[result.challenger["set"] == "oot"]
    for r in oot_challenger.itertuples():
        if not np.isfinite(r.auc_diff):
            light, reason = "grey", "challenger AUC could not be computed"
        elif r.auc_diff >= 0:
            light, reason = (
                "green",
                f"model AUC ≥ challenger's by {r.auc_diff:.3f} (DeLong p = {r.p_value:.3g})",
            )
        elif r.p_value < t.challenger_alpha:
            light, reason = (
                "red",
                f"challenger better by {-r.auc_diff:.3f}, significant (DeLong p = {r.p_value:.3g} < {t.challenger_alpha:g})",
            )
        else:
            light, reason = (
                "amber",
                f"challenger better by {-r.auc_diff:.3f}, not significant (DeLong p = {r.p_value:.3g})",
            )
        rows.append(
            _check(
                "discrimination",
                "AUC − challenger AUC",
                "oot",
                r.auc_diff,
                f"red when negative with DeLong p < {_bound(t.challenger_alpha)}",
                light,
                reason,
            )
        )
    for r in result.calibration.itertuples():
        if r.n == 0:
            rows.append(
                _check(
                    "calibration",
                    f"observed vs predicted per {result.rating_column}",
                    r[1],
                    math.nan,
                    p_value_threshold(tests=r.tests, **pv),
                    "grey",
                    "no out-of-time rows in this class",
                )
            )
            continue
        reason = (
            f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%} (n = {r.n}, {r.events} events"
            + _effective_phrase(r, "; ", "")
            + "); "
            + _p_reason(r.binomial_p_adj, r.binomial_light, "binomial", **pv)
            + "; "
            + _p_reason(r.jeffreys_p_adj, r.jeffreys_light, "Jeffreys", **pv)
        )
        rows.append(
            _check(
                "calibration",
                f"observed vs predicted per {result.rating_column}",
                r[1],
                min(r.binomial_p_adj, r.jeffreys_p_adj),
                p_value_threshold(tests=r.tests, **pv),
                r.light,
                reason,
            )
        )
    for r in result.calibration_summary[result.calibration_summary["set"] == "oot"].itertuples():
        light = p_value_light(r.hl_p, **pv)
        rows.append(
            _check(
                "calibration",
                "Hosmer-Lemeshow",
                "oot",
                r.hl_p,
                p_value_threshold(**pv),
                light,
                _p_reason(r.hl_p, light, f"χ² = {r.hl_statistic:.1f} on {r.hl_df:.0f} df", **pv),
            )
        )
        light = p_value_light(r.central_p, **pv)
        rows.append(
            _check(
                "calibration",
                "portfolio rate (binomial)",
                "oot",
                r.central_p,
                p_value_threshold(**pv),
                light,
                _p_reason(
                    r.central_p,
                    light,
                    f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%}"
                    + _effective_phrase(r, " (", ")"),
                    **pv,
                ),
            )
        )
    psi_threshold = band_threshold(t.psi_bands, higher_is_better=False)
    for r in result.score_stability.itertuples():
        rows.append(
            _check(
                "stability",
                "score PSI",
                f"development → {r.population}",
                r.psi,
                psi_threshold,
                r.light,
                _band_reason("PSI", r.psi, t.psi_bands, higher_is_better=False),
            )
        )
    for r in result.csi.itertuples():
        rows.append(
            _check(
                "stability",
                "CSI",
                r.feature,
                r.csi,
                psi_threshold,
                r.light,
                _band_reason("CSI (development → oot)", r.csi, t.psi_bands, higher_is_better=False),
            )
        )
    for r in result.backtest[result.backtest["judged"]].itertuples():
        date = pd.Timestamp(r.snapshot_date).date()
        rows.append(
            _check(
                "backtest",
                "AUC per snapshot",
                date,
                r.auc,
                auc_threshold,
                r.auc_light,
                _band_reason("AUC", r.auc, t.auc_bands, higher_is_better=True),
            )
        )
        rows.append(
            _check(
                "backtest",
                "rate per snapshot (binomial)",
                date,
                r.binomial_p_adj,
                p_value_threshold(tests=r.tests, **pv),
                r.calibration_light,
                _p_reason(
                    r.binomial_p_adj,
                    r.calibration_light,
                    f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%}",
                    **pv,
                ),
            )
        )
    for r in result.overfit[result.overfit["light"] != "grey"].itertuples():
        rows.append(
            _check(
                "overfitting",
                "AUC gap",
                r.comparison,
                r.auc_gap,
                band_threshold(t.overfit_gap_bands, higher_is_better=False),
                r.light,
                _band_reason(
                    "train − oot AUC gap", r.auc_gap, t.overfit_gap_bands, higher_is_better=False
                ),
            )
        )
    for r in result.segments.itertuples():
        if not r.judged:
            rows.append(
                _check("segments", "AUC and rate", r.segment, r.auc, auc_threshold, "grey", r.note)
            )
            continue
        rows.append(
            _check(
                "segments",
                "AUC",
                r.segment,
                r.auc,
                auc_threshold,
                r.auc_light,
                _band_reason("AUC", r.auc, t.auc_bands, higher_is_better=True)
                + f" (n = {r.n}, {r.events} events)",
            )
        )
        rows.append(
            _check(
                "segments",
                "rate (binomial)",
                r.segment,
                r.binomial_p_adj,
                p_value_threshold(tests=r.tests, **pv),
                r.calibration_light,
                _p_reason(
                    r.binomial_p_adj,
                    r.calibration_light,
                    f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%}"
                    + _effective_phrase(r, " (", ")"),
                    **pv,
                ),
            )
        )
    if np.isfinite(oot_hhi):
        rows.append(
            _check(
                "concentration",
                f"HHI over {result.rating_column}s",
                "oot",
                oot_hhi,
                band_threshold(t.hhi_bands, higher_is_better=False),
                band_light(oot_hhi, t.hhi_bands, higher_is_better=False),
                _band_reason("HHI", oot_hhi, t.hhi_bands, higher_is_better=False),
            )
        )
    columns = ["area", "check", "subject", "value", "threshold", "light", "reason"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------
# The machine-readable summary (DVC metrics)
# ---------------------------------------------------------------------------------------


def _number(value: object) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def summary_metrics(result: ValidationResult) -> dict[str, dict]:
    """The figures DVC diffs: numbers only at the leaves, lights as counts."""
    summary: dict[str, dict] = {"discrimination": {}}
    for r in result.discrimination.itertuples():
        summary["discrimination"][r.set] = {
            k: _number(getattr(r, k))
            for k in ("auc", "auc_ci_low", "auc_ci_high", "gini", "ks", "n", "events")
        }
    oot_challenger = result.challenger[result.challenger["set"] == "oot"]
    if not oot_challenger.empty:
        r = oot_challenger.iloc[0]
        summary["challenger"] = {
            k: _number(r[k]) for k in ("challenger_auc", "auc_diff", "p_value")
        }
    oot_cal = result.calibration_summary[result.calibration_summary["set"] == "oot"]
    calibration: dict[str, float | int | None] = {}
    if not oot_cal.empty:
        r = oot_cal.iloc[0]
        calibration = {
            k: _number(r[k])
            for k in (
                "observed_rate",
                "predicted_rate",
                "brier",
                "hl_statistic",
                "hl_p",
                "central_p",
            )
        }
    judged = result.calibration[result.calibration["n"] > 0]
    calibration["min_class_p_adj"] = (
        _number(judged[["binomial_p_adj", "jeffreys_p_adj"]].min().min()) if len(judged) else None
    )
    calibration["classes_red"] = int((result.calibration["light"] == "red").sum())
    summary["calibration"] = calibration
    by_population = result.score_stability.set_index("population")["psi"]
    summary["stability"] = {
        "score_psi": _number(by_population.get("oot", math.nan)),
        "score_psi_latest": _number(by_population.get("latest", math.nan)),
        "max_csi": _number(result.csi["csi"].max()) if len(result.csi) else None,
        "features_red": int((result.csi["light"] == "red").sum()),
        "features_amber": int((result.csi["light"] == "amber").sum()),
    }
    judged_bt = result.backtest[result.backtest["judged"]]
    summary["backtest"] = {
        "min_auc": _number(judged_bt["auc"].min()) if len(judged_bt) else None,
        "max_rate_gap": _number(
            (judged_bt["observed_rate"] - judged_bt["predicted_rate"]).abs().max()
        )
        if len(judged_bt)
        else None,
        "snapshots": len(result.backtest),
    }
    overfit = result.overfit.set_index("comparison")["auc_gap"]
    summary["overfit"] = {
        "auc_gap": _number(overfit.iloc[0]),
        "auc_gap_valid": _number(overfit.iloc[1]),
    }
    judged_seg = result.segments[result.segments["judged"]]
    summary["segments"] = {
        "min_auc": _number(judged_seg["auc"].min()) if len(judged_seg) else None,
        "judged": len(judged_seg),
        "too_small": int((~result.segments["judged"]).sum()),
    }
    hhi = result.checks.loc[result.checks["area"] == "concentration", "value"]
    summary["concentration"] = {"hhi_oot": _number(hhi.iloc[0]) if len(hhi) else None}
    summary["lights"] = result.lights
    return summary


def flat_metrics(summary: dict, prefix: str = "validation") -> dict[str, float]:
    """The summary as ``validation.a.b`` numbers (MLflow metrics are flat; missing values dropped)."""
    flat: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, name))
        elif value is not None:
            flat[name] = float(value)
    return flat
