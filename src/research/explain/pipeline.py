"""One call that computes everything the explain stage shows, writes and logs.

``explain_model`` runs the SHAP values of the whole population by the configured
method, the checks, the summaries, the interaction sample and the reason codes;
``explain_metrics`` turns the result into the ``metrics/diagnostics/<model>/explain.json`` mapping
(deterministic: the same inputs give the same file), ``explain_timings`` gives the seconds
each step took, which go to the MLflow run only. The notebook does the I/O and the tracking
around it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.explain import checks, reasons, summaries
from research.explain.params import ExplainParams
from research.explain.population import KEYS
from research.explain.values import (
    SCALE,
    ShapValues,
    compute_shap,
    interaction_values,
    model_margin,
    native_shap,
    shap_tree_explainer,
)
from research.models.train import FeatureLayout, model_matrix


@dataclass(frozen=True)
class ScoreWording:
    """How the reports speak of the score: what a positive SHAP value raises, and the score's name."""

    outcome: str = "risk"
    score_label: str = "PD"


@dataclass
class ExplainResult:
    """Everything the SHAP report and the explain metrics are built from (SHAP in log-odds)."""

    model: str
    method: str
    population: pd.DataFrame
    frame: pd.DataFrame
    shap: ShapValues
    margin: np.ndarray
    additivity: dict
    agreement: dict
    margin_vs_scores: dict
    monotone: pd.DataFrame
    importance: pd.DataFrame
    segments: pd.DataFrame
    segment_rows: pd.Series
    interactions: pd.DataFrame
    interaction_rows: int
    dependence: list[tuple[str, str | None]]
    chosen: pd.DataFrame
    challenger: pd.DataFrame | None
    challenger_rank_correlation: float
    reason_codes: pd.DataFrame
    report_rows: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    outcome: str = "risk"
    score_label: str = "PD"
    scale: str = SCALE


def sample_rows(n_rows: int, size: int, *, seed: int = 0) -> np.ndarray:
    """Sorted positions of a seeded random sample of at most ``size`` rows."""
    if size >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))


def explain_model(
    booster,
    layout: FeatureLayout,
    population: pd.DataFrame,
    *,
    model: str,
    params: ExplainParams,
    catalog: Mapping[str, reasons.ReasonSpec],
    wording: ScoreWording = ScoreWording(),
    previous: pd.DataFrame | None = None,
    challenger: Mapping[str, float] | None = None,
    nthread: int = 2,
    seed: int = 0,
    precomputed: ShapValues | None = None,
    frame: pd.DataFrame | None = None,
) -> ExplainResult:
    """SHAP values, checks, summaries and reason codes of ``population`` (see ``explain_population``).

    Args:
        booster: The trained XGBoost booster.
        layout: Its feature layout (``features.json``: order, categorical levels, monotone signs).
        population: Rows to explain with keys, scores and panel features.
        model: The model's name (shown in the report).
        params: ``explain`` settings: the SHAP method for the whole population (``woodelf``,
            ``native`` or ``shap``), reasons per customer, dependence plots, and the sizes of
            the interaction, agreement (``shap`` and the method against native) and report samples.
        catalog: Feature catalog entries by name (reason sentences).
        wording: What a positive SHAP value raises in reason sentences ("raises risk") and the
            calibrated score's name in the chosen-customer table (``PD``).
        previous: Scores at the preceding snapshot (``previous_scores``) for the PD-rise picks.
        challenger: The challenger's coefficients by design column (standardized inputs), or None.
        nthread: XGBoost threads.
        seed: Seed of the samples.
        precomputed: SHAP values of the whole population computed elsewhere (the Dask
            engine's per-partition native path); ``method`` then applies to the samples only.
        frame: ``model_matrix(population, layout)`` when the caller has built it already.
    """
    method, outcome, score_label = params.method, wording.outcome, wording.score_label
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if frame is None:
        frame = model_matrix(population, layout)
    names = list(frame.columns)
    values = (
        precomputed
        if precomputed is not None
        else compute_shap(booster, frame, method=method, nthread=nthread)
    )
    timings["shap_seconds"] = values.seconds
    margin = model_margin(booster, frame, nthread=nthread)

    tick = time.perf_counter()
    agreement = _agreement(
        booster, frame, values, sample_rows(len(frame), params.agreement_sample, seed=seed), nthread
    )
    timings["agreement_seconds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    interaction_rows = sample_rows(len(frame), params.interaction_sample, seed=seed + 1)
    cube = interaction_values(
        booster,
        frame.iloc[interaction_rows],
        method=method,
        nthread=nthread,
        # woodelf's own values of the sampled rows: the cube's diagonal without a second pass
        main=values.values[interaction_rows] if values.method == method == "woodelf" else None,
    )
    timings["interaction_seconds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    codes = reasons.reason_codes(
        population[KEYS], frame, values.values, catalog, n=params.reason_codes, outcome=outcome
    )
    timings["reason_code_seconds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    monotone = checks.monotone_signs(frame, values.values, layout.monotone)
    timings["monotone_seconds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    importance = summaries.global_importance(values.values, names)
    groups = summaries.segment_groups(population)
    comparison = (
        summaries.challenger_comparison(
            importance,
            frame,
            values.values,
            challenger,
            # the monotone check's Spearman correlations: those features are not ranked again
            directions=dict(zip(monotone["feature"], monotone["spearman"], strict=True)),
        )
        if challenger
        else None
    )
    grade_column = next((c for c in ("grade", "decile") if c in population.columns), None)
    chosen = summaries.chosen_customers(
        population, previous, grade_column=grade_column, score_label=score_label
    )
    timings["summary_seconds"] = time.perf_counter() - tick
    timings["explain_seconds"] = time.perf_counter() - start
    return ExplainResult(
        model=model,
        method=method,
        population=population,
        frame=frame,
        shap=values,
        margin=margin,
        additivity=checks.additivity(values.values, values.base_value, margin),
        agreement=agreement,
        margin_vs_scores=_margin_vs_scores(population, margin),
        monotone=monotone,
        importance=importance,
        segments=summaries.segment_importance(values.values, names, groups),
        segment_rows=summaries.group_sizes(groups),
        interactions=summaries.strongest_interactions(cube, names),
        interaction_rows=len(interaction_rows),
        dependence=[
            (f, summaries.interaction_partner(cube, names, f))
            for f in importance["feature"][: params.dependence_top]
        ],
        chosen=chosen,
        challenger=comparison,
        challenger_rank_correlation=(
            summaries.importance_rank_correlation(comparison)
            if comparison is not None
            else float("nan")
        ),
        reason_codes=codes,
        report_rows=sample_rows(len(frame), params.report_sample, seed=seed + 2),
        timings=timings,
        outcome=outcome,
        score_label=score_label,
    )


def _agreement(
    booster, frame: pd.DataFrame, values: ShapValues, rows: np.ndarray, nthread: int
) -> dict:
    """``shap`` and the stage's method against XGBoost's native values on the sampled ``rows``."""
    native = native_shap(booster, frame.iloc[rows], nthread=nthread)
    by_shap = shap_tree_explainer(booster, frame.iloc[rows], nthread=nthread)
    agreement = {"shap_vs_native": checks.agreement(by_shap.values, native.values)}
    if values.method != "native":
        agreement[f"{values.method}_vs_native"] = checks.agreement(
            values.values[rows], native.values
        )
    return agreement


def _margin_vs_scores(population: pd.DataFrame, margin: np.ndarray) -> dict:
    """Does the loaded model reproduce the margins of the scores table (same model, same rows)?"""
    stored = pd.to_numeric(population["margin"], errors="coerce").to_numpy(dtype=np.float64)
    diff = np.abs(stored - margin)
    worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan")
    return {"max_abs_difference": worst, "passed": bool(worst <= 1e-4)}


def explain_metrics(result: ExplainResult) -> dict:
    """The ``metrics/diagnostics/<model>/explain.json`` mapping (SHAP figures in log-odds; no timings)."""
    monotone = result.monotone
    return {
        "method": result.method,
        "scale": result.scale,
        "rows": int(len(result.frame)),
        "features": int(result.frame.shape[1]),
        "base_value": result.shap.base_value,
        "additivity_max_residual": result.additivity["max_residual"],
        "additivity_passed": result.additivity["passed"],
        "margin_vs_scores_max_abs_difference": result.margin_vs_scores["max_abs_difference"],
        "agreement": {
            name: {"p99": a["p99"], "max": a["max"], "rows": a["rows"], "passed": a["passed"]}
            for name, a in result.agreement.items()
        },
        "monotone": {
            "checked": int(len(monotone)),
            "failed": int((~monotone["passed"]).sum()) if len(monotone) else 0,
            "features": {
                row.feature: {
                    "declared": int(row.declared),
                    "spearman": float(row.spearman),
                    "passed": bool(row.passed),
                }
                for row in monotone.itertuples()
            },
        },
        "interaction_rows": result.interaction_rows,
        "reason_codes": int(len(result.reason_codes)),
        "customers_with_reasons": int(result.reason_codes[KEYS].drop_duplicates().shape[0]),
    }


def explain_timings(result: ExplainResult) -> dict[str, float]:
    """Seconds per step of ``explain_model``, rounded to milliseconds.

    Kept out of ``explain_metrics``: wall times differ on every run, and the summary file is
    a DVC output that must not change when nothing it depends on did. Log them to MLflow.
    """
    return {key: round(float(value), 3) for key, value in result.timings.items()}
