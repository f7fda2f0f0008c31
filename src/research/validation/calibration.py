"""Calibration: Brier score, binomial and Jeffreys tests, Hosmer-Lemeshow, clustered counts.

Calibration per rating grade (credit) or score decile (churn) uses the two-sided exact
binomial test and the one-sided Jeffreys test (ECB TRIM: p-value = Beta(D + 1/2,
N - D + 1/2) cdf at the grade's PD; small means the PD underestimates), both
Bonferroni-adjusted over the grades.

The rate tests on pooled snapshots (per grade or decile, per segment, the whole set and
each Hosmer-Lemeshow group) treat a customer's rows as one cluster: with quarterly
snapshots and a 12-month horizon one default or departure is an event in up to four
rows, which a plain binomial test counts as four independent trials. The counts are
divided by the design effect (cluster-robust over naive variance of the residuals) before
testing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from research.models import metrics as shared_metrics
from research.validation import _exact
from research.validation._base import LABELLED_SETS, _as_arrays, p_value_light, worst_light


def brier(label: ArrayLike, score: ArrayLike) -> float:
    """Brier score: mean squared difference between the outcome and the predicted probability."""
    y, s = _as_arrays(label, score)
    return shared_metrics.brier(y, s) if y.size else math.nan


def _clip_probability(pd_value: float) -> float:
    return float(min(max(pd_value, 1e-12), 1 - 1e-12))


def binomial_p_value(events: int, n: int, pd_value: float) -> float:
    """Two-sided exact binomial test of ``events`` out of ``n`` against the probability ``pd_value``."""
    if n <= 0:
        return math.nan
    # scipy.stats.binomtest's p-value, bit for bit, without importing scipy.stats (_exact)
    return _exact.binomtest_p_value(int(events), int(n), _clip_probability(pd_value))


def jeffreys_p_value(events: int, n: int, pd_value: float) -> float:
    """One-sided Jeffreys test: Beta(events + 1/2, n - events + 1/2) cdf at ``pd_value``.

    Small p-values mean more events than the PD predicts (the PD underestimates).
    """
    if n <= 0:
        return math.nan
    return _exact.beta_cdf(_clip_probability(pd_value), events + 0.5, n - events + 0.5)


def design_effect(label: ArrayLike, score: ArrayLike, cluster: ArrayLike | None) -> float:
    """How much the rows of one customer inflate the variance of the mean residual (at least 1).

    With quarterly snapshots and a 12-month horizon a customer sits in up to four rows of
    the same set, and one default or departure makes up to four events: the rows are not
    independent trials. The design effect is the cluster-robust variance of the mean of
    the residuals ``r = label - score`` (centred at their mean) over the naive one,
    ``Σ_customers (Σ_rows r)² / Σ_rows r²``; 1 when every customer has one row or
    ``cluster`` is None.

    Args:
        label: 1 = event, 0 = none.
        score: The predicted probability.
        cluster: The cluster (customer) of each row, or None.

    Returns:
        The design effect, at least 1.
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
    """The design effect of ``part`` and its effective events and rows.

    Args:
        part: Rows with ``label``, ``score`` and the cluster column.
        cluster_column: The column naming each row's cluster; None for independent rows.

    Returns:
        ``(design_effect, events, n)`` with the counts divided by the design effect.
    """
    design = design_effect(
        part["label"], part["score"], part[cluster_column] if cluster_column else None
    )
    events, n = effective_counts(int(part["label"].sum()), len(part), design)
    return design, events, n


def _equal_groups(score: np.ndarray, groups: int) -> np.ndarray:
    """Group number of each row when sorted by score and cut into ``groups`` near-equal parts."""
    order = np.argsort(score, kind="mergesort")
    group = np.empty(score.size, dtype=int)
    group[order] = np.arange(score.size) * groups // max(score.size, 1)
    return group


def hosmer_lemeshow(
    label: ArrayLike,
    score: ArrayLike,
    *,
    groups: int = 10,
    fitted_on_sample: bool = False,
    cluster: ArrayLike | None = None,
) -> dict[str, float]:
    """Hosmer-Lemeshow test over score groups (deciles by default).

    The statistic sums (O - E)² / (E (1 - E/n)) over the groups. On the sample the model
    was fitted on it follows chi² with ``groups - 2`` degrees of freedom; on an independent
    sample (validation, out-of-time) with ``groups`` (Hosmer, Lemeshow and Sturdivant,
    Applied Logistic Regression, 3rd ed., section 5.2). With ``cluster`` (the customer of
    each row) every group's variance is multiplied by its design effect (``design_effect``),
    a per-group Rao-Scott correction; ``design_effect`` in the result is their mean.

    Returns:
        ``statistic``, ``df``, ``p_value`` and ``design_effect``; NaNs below three groups.
    """
    y, s = _as_arrays(label, score)
    groups = min(groups, y.size)
    if groups < 3:
        return {
            "statistic": math.nan,
            "df": math.nan,
            "p_value": math.nan,
            "design_effect": math.nan,
        }
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
        "p_value": _exact.chi2_sf(statistic, df),
        "design_effect": float(designs.mean()),
    }


def calibration_curve(label: ArrayLike, score: ArrayLike, *, bins: int = 10) -> pd.DataFrame:
    """Observed event rate against mean predicted probability per score decile (or ``bins``).

    Returns:
        Columns ``bin`` (from 1), ``predicted``, ``observed`` and ``n``.
    """
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
    clustered = {
        key: clustered_counts(part, cluster_column)
        for key, part in frame.groupby(rating_column, observed=True)
    }
    out = grouped.reindex(list(classes))
    out.index.name = "class"
    out["n"] = out["n"].fillna(0).astype(int)
    out["events"] = out["events"].fillna(0).astype(int)
    out["observed_rate"] = np.where(
        out["n"] > 0, out["events"] / out["n"].where(out["n"] > 0, 1), np.nan
    )
    design, events_eff, n_eff = zip(
        *(clustered.get(key, (1.0, 0, 0)) for key in out.index), strict=True
    )
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


def calibration_summary_table(
    labelled: pd.DataFrame, *, groups: int, cluster_column: str | None = None
) -> pd.DataFrame:
    """Brier score, Hosmer-Lemeshow test and the portfolio rate against its prediction per set.

    Args:
        labelled: Rows with ``split``, ``label`` (0/1) and ``score``.
        groups: Hosmer-Lemeshow groups.
        cluster_column: With it, the portfolio-rate test runs on counts divided by the
            design effect, and each Hosmer-Lemeshow group's variance is multiplied by its own.

    Returns:
        One row per labelled set present, in ``LABELLED_SETS`` order.
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
