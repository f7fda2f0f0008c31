"""The explain stage: SHAP values, checks, reason codes and the validator's SHAP report of one model."""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from research import tracking
from research.explain import (
    ExplainResult,
    explain_metrics,
    explain_model,
    explain_population,
    previous_scores,
)
from research.explain.pipeline import ScoreWording, explain_timings
from research.explain.reasons import REASON_COLUMNS
from research.features.catalog import catalog_for
from research.models.io import load_scoring_model
from research.models.params import disabled_note
from research.models.reasons import OUTCOME_BY_TASK
from research.models.train import model_matrix
from research.paths import (
    diagnostics_path,
    model_dir,
    reason_codes_path,
    run_file,
    scores_path,
    shap_report_path,
)
from research.reporting import html
from research.reporting.shap_report import shap_report
from research.stages import _io
from research.stages._context import StageContext
from research.stages._engine import engine_for
from research.stages._model_rows import model_rows, preparation_notes, table_preparation

# How the reports speak of each task's score.
WORDING = {
    "pd": ScoreWording(outcome=OUTCOME_BY_TASK["pd"], score_label="PD"),
    "attrition": ScoreWording(
        outcome=OUTCOME_BY_TASK["attrition"], score_label="churn probability"
    ),
    "propensity": ScoreWording(outcome=OUTCOME_BY_TASK["propensity"], score_label="probability"),
}


@dataclasses.dataclass(frozen=True)
class ExplainStageResult:
    """The explanation, the population it covers and the stage's summary figures."""

    model: str
    result: ExplainResult
    population: pd.DataFrame
    summary: dict
    report: str | None = None  # the SHAP report page, when the stage wrote one


def population_for(
    ctx: StageContext, model: str, features: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores of every split and the explained population (out-of-time rows plus the latest snapshot).

    The rows are the model's own: the panel's, or its flat table's as training prepared it
    (an undated table's test split stands in for out-of-time and the latest snapshot).
    """
    scores = pd.read_parquet(scores_path(ctx.root, model))
    return scores, explain_population(scores, model_rows(ctx, model, features))


@dataclasses.dataclass(frozen=True)
class DisabledExplainResult:
    """A model switched off in params.yaml: nothing explained, only the disabled record written."""

    model: str
    note: str


def _write_disabled(ctx: StageContext, model: str) -> DisabledExplainResult:
    """The outputs DVC declares for the explain stage, saying the model is disabled."""
    note = disabled_note(model)
    if ctx.write:
        root = ctx.root
        title = f"SHAP report: {model} (disabled)"
        _io.write_text(
            shap_report_path(root, model),
            html.page(title, [html.Section("Disabled", html.paragraph(note))]),
        )
        _io.write_parquet(
            reason_codes_path(root, model),
            pd.DataFrame({c: pd.Series(dtype=object) for c in REASON_COLUMNS}),
        )
        _io.write_json(
            diagnostics_path(root, model, "explain.json"),
            {"model": model, "enabled": False, "note": note},
        )
    return DisabledExplainResult(model=model, note=note)


def run(ctx: StageContext, model: str) -> ExplainStageResult | DisabledExplainResult:
    """Explain ``model`` on its population; write the report, reason codes and summary; log them to its run.

    The summary (``metrics/diagnostics/<model>/explain.json``: SHAP checks, per-feature
    monotonicity) is a diagnostic, no DVC metric: the headline figures are the train and
    validate stages'.

    A model disabled in params.yaml writes a one-paragraph report and empty files instead.
    """
    stage_start = time.perf_counter()
    settings, spec = ctx.settings, ctx.spec(model)
    if not spec.enabled:
        return _write_disabled(ctx, model)
    scoring = load_scoring_model(model_dir(ctx.root, model))
    scores, population = population_for(ctx, model, scoring.layout.features)
    # Features outside the catalog (family "other") get a generic sentence naming the feature.
    catalog = {
        s.name: s
        for s in catalog_for(
            scoring.layout.features, trend_recent_months=settings.features.trend_recent_months
        )
        if s.family != "other"
    }
    engine = engine_for(settings.compute)
    frame = model_matrix(population, scoring.layout)
    precomputed = engine.shap(scoring.booster, frame)
    result = explain_model(
        scoring.booster,
        scoring.layout,
        population,
        model=model,
        params=settings.explain,
        catalog=catalog,
        wording=WORDING[spec.task],
        previous=previous_scores(scores),
        challenger=dict(zip(scoring.challenger.columns, scoring.challenger.coef, strict=True)),
        nthread=settings.compute.nthread,
        precomputed=precomputed,
        frame=frame,
    )
    summary = explain_metrics(result)
    # Wall times change on every run: they go to the MLflow run, never to the DVC metrics file.
    timings = explain_timings(result)
    timings["stage_seconds"] = round(time.perf_counter() - stage_start, 3)
    report = _write_and_log(ctx, model, result, summary, timings) if ctx.write else None
    return ExplainStageResult(
        model=model, result=result, population=population, summary=summary, report=report
    )


def _write_and_log(
    ctx: StageContext, model: str, result: ExplainResult, summary: dict, timings: dict[str, float]
) -> str:
    """Write the report, reason codes and summary, log them to the model's run; return the report."""
    import mlflow

    root = ctx.root
    run_info = tracking.read_run_file(run_file(root, model))
    tracking.configure(root)
    run_tags = mlflow.get_run(run_info["run_id"]).data.tags
    # the training run's tag; the data outputs are hashed again only when the run lacks it
    fingerprint = run_tags.get("data_fingerprint")
    if fingerprint is None:
        fingerprint = tracking.data_fingerprint(root)
    identity = {
        "model": f"{model} ({run_info.get('model_name', '')})",
        "model_version": str(run_info.get("model_version", "")),
        "run_id": run_info["run_id"],
        "experiment_id": str(run_info.get("experiment_id", "")),
        "tracking_uri": str(run_info.get("tracking_uri", "")),
        "data_fingerprint": fingerprint,
        "git_commit": tracking.git_commit(root),
        "training_git_commit": run_tags.get("git_commit", "unknown"),
    }
    report_path, codes_path, summary_path = (
        shap_report_path(root, model),
        reason_codes_path(root, model),
        diagnostics_path(root, model, "explain.json"),
    )
    preparation = table_preparation(ctx, model) or {}
    report = shap_report(
        result,
        identity,
        original_names=preparation.get("renamed") or {},
        notes=preparation_notes(preparation),
    )
    _io.write_text(report_path, report)
    _io.write_parquet(codes_path, result.reason_codes)
    _io.write_json(summary_path, summary)
    # the training run gets the figures and files; it stays as training ended it (never reopened)
    tracking.log_to_finished_run(
        root,
        run_info["run_id"],
        metrics={"explain": summary | {"timing": timings}},
        artifacts=[("explain", path) for path in (report_path, codes_path, summary_path)],
    )
    return report
