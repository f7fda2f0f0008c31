"""The validate stage: the evidence pack of one model, its report, metrics and plot data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pandas as pd

from research import registry as model_registry
from research import signoff, tracking
from research.labels import CHURN_EVENT, DEFAULT_EVENT, parse_label_name
from research.models.flat import preparation_table
from research.models.params import disabled_note
from research.paths import (
    diagnostics_path,
    metrics_path,
    model_dir,
    plots_dir,
    run_file,
    scores_path,
    source_info_path,
    validation_report_path,
)
from research.reporting import html
from research.reporting import validation_report as report
from research.reporting.model_card import collect_model_card, model_card_markdown
from research.stages import _io
from research.stages._context import StageContext
from research.stages._model_rows import model_rows, oot_first_snapshot, table_preparation
from research.validation import (
    Thresholds,
    flat_metrics,
    headline_metrics,
    summary_metrics,
    validate_model,
)


@dataclasses.dataclass(frozen=True)
class ValidateStageResult:
    """The validation result, its thresholds and the headline summary."""

    model: str
    result: object  # research.validation's ValidationResult
    thresholds: Thresholds
    summary: dict
    scores: pd.DataFrame
    # The report's pictures (PNG) by alt text when this run wrote it: the notebook shows
    # them instead of drawing every figure again (empty: nothing written, draw them).
    figures: dict[str, bytes] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DisabledValidateResult:
    """A model switched off in params.yaml: nothing validated, only the disabled record written."""

    model: str
    note: str


# The columns of ``plots/<model>/checks.csv`` (``research.validation.checks``): every judged
# figure, its threshold, light and reason (the model card and the sign-off read it).
CHECKS = ["area", "check", "subject", "value", "threshold", "light", "reason"]

BACKTEST_COLUMNS = [
    "snapshot_date",
    "observed_rate",
    "predicted_rate",
    "auc",
    "n",
    "events",
    "period",
]


def _write_disabled(ctx: StageContext, model: str) -> DisabledValidateResult:
    """The outputs DVC declares for the validate stage, saying the model is disabled."""
    note = disabled_note(model)
    if ctx.write:
        root = ctx.root
        title = f"Validation report: {model} (disabled)"
        _io.write_text(
            validation_report_path(root, model),
            html.page(title, [html.Section("Disabled", html.paragraph(note))]),
        )
        _io.write_json(metrics_path(root, f"{model}_validation"), {"enabled": False})
        _io.write_json(
            diagnostics_path(root, model, "validation.json"),
            {"model": model, "enabled": False, "note": note},
        )
        _io.write_csv(plots_dir(root, model) / "checks.csv", pd.DataFrame(columns=CHECKS))
        _io.write_csv(
            plots_dir(root, model) / "backtest.csv", pd.DataFrame(columns=BACKTEST_COLUMNS)
        )
        _io.write_csv(plots_dir(root, model) / "csi.csv", pd.DataFrame(columns=["feature", "csi"]))
    return DisabledValidateResult(model=model, note=note)


def run(ctx: StageContext, model: str) -> ValidateStageResult | DisabledValidateResult:
    """Validate ``model``'s scores; write the report, metrics and plot data; log them to its run.

    A model disabled in params.yaml writes a one-paragraph report and empty files instead.
    """
    settings, spec = ctx.settings, ctx.spec(model)
    if not spec.enabled:
        return _write_disabled(ctx, model)
    thresholds = settings.validation.thresholds()
    scores = pd.read_parquet(scores_path(ctx.root, model))
    feature_spec = json.loads(
        (model_dir(ctx.root, model) / "features.json").read_text(encoding="utf-8")
    )
    features = list(feature_spec["features"])
    categorical = list(feature_spec.get("categories") or {})
    rows = model_rows(ctx, model, features)  # the panel's, or the model's own flat table's
    result = validate_model(
        scores,
        rows,
        features=features,
        categorical=categorical,
        grade_names=spec.grades.names if spec.graded else [],
        thresholds=thresholds,
        bootstrap=settings.validation.bootstrap,
        seed=settings.seed,
    )
    summary = summary_metrics(result)
    figures = _write_and_log(ctx, model, result, thresholds, summary) if ctx.write else {}
    return ValidateStageResult(
        model=model,
        result=result,
        thresholds=thresholds,
        summary=summary,
        scores=scores,
        figures=figures,
    )


def target_definition(ctx: StageContext, model: str) -> str:
    """What the model's label counts, in words: the event, its window and its definition.

    A default is the bank's own definition when the source mapping states one (its events
    table), else ``labels.default_dpd`` days past due derived from the repayments.
    """
    spec = ctx.settings.model(model)
    parsed = parse_label_name(spec.label) if spec.uses_panel else None
    if parsed is None:
        return f"{spec.label} (a column of {spec.source})" if not spec.uses_panel else spec.label
    event, horizon = parsed
    info_file = source_info_path(ctx.root)  # written by the data stage
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    if event == DEFAULT_EVENT:
        definition = info.get("default_definition") or (
            f"{ctx.settings.labels.default_dpd} days past due on an instalment, from the repayments"
        )
    elif event == CHURN_EVENT:
        definition = "the relationship ends (the bank's churn events, else the end date)"
    else:
        definition = event
    return f"{spec.label}: {event} within {horizon} months; {definition}"


def _write_and_log(
    ctx: StageContext, model: str, result, thresholds: Thresholds, summary: dict
) -> dict[str, bytes]:
    """Write the pack, the report and the plot data; log them; return the report's pictures."""
    root = ctx.root
    run_info = tracking.read_run_file(run_file(root, model))
    report_path = validation_report_path(root, model)
    summary_path = metrics_path(root, f"{model}_validation")
    record_path = diagnostics_path(root, model, "validation.json")
    checks_path = plots_dir(root, model) / "checks.csv"
    backtest_path = plots_dir(root, model) / "backtest.csv"
    csi_path = plots_dir(root, model) / "csi.csv"
    spec = ctx.settings.model(model)
    preparation = table_preparation(ctx, model)
    # the pack first (the sign-off status in the report hashes it), then the report:
    # headline figures and light counts for DVC, under the model's name (short, distinct DVC
    # names: train.metrics_file_content); every summary figure and the checks beside
    _io.write_json(summary_path, {model: headline_metrics(summary)})
    _io.write_json(record_path, summary)
    _io.write_csv(checks_path, result.checks)
    html = report.validation_report(
        result,
        model=model,
        thresholds=thresholds,
        run_id=run_info.get("run_id", ""),
        model_version=str(run_info.get("model_version", "")),
        oot_first_snapshot=oot_first_snapshot(ctx, model, spec, spec.date_column or None),
        target=target_definition(ctx, model),
        related={
            "SHAP report": "shap.html",
            "executed notebook": f"../notebooks/validate-{model}.html",
            "front page": "../index.html",
        },
        original_names=(preparation or {}).get("renamed") or {},
        preparation=None
        if preparation is None
        else preparation_table(
            preparation,
            id_column=spec.id_column,
            date_column=spec.date_column or None,
            label=spec.label,
        ),
        built=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        git_commit=tracking.git_commit(root),
        signoff=signoff.status(root, model, current_version=str(run_info.get("model_version", ""))),
    )
    _io.write_text(report_path, html)
    figures = report.embedded_figures(html)
    backtest = result.backtest.assign(
        snapshot_date=pd.to_datetime(result.backtest["snapshot_date"]).dt.strftime("%Y-%m-%d")
    )
    _io.write_csv(
        backtest_path,
        backtest[BACKTEST_COLUMNS],
    )
    _io.write_csv(csi_path, result.csi[["feature", "csi"]])
    # the training run gets the figures and files; it stays as training ended it (never reopened)
    tracking.log_to_finished_run(
        root,
        run_info["run_id"],
        metrics=flat_metrics(summary),
        artifacts=[
            ("validation", path)
            for path in (
                report_path,
                summary_path,
                record_path,
                checks_path,
                backtest_path,
                csi_path,
            )
        ],
        tags={f"validation.{colour}": str(count) for colour, count in result.lights.items()},
    )
    if run_info.get("model_version"):  # the registry version's description: its model card
        status = signoff.status(root, model, current_version=str(run_info["model_version"]))
        card = collect_model_card(
            root,
            model,
            spec,
            source=json.loads(source_info_path(root).read_text(encoding="utf-8"))
            if source_info_path(root).is_file()
            else {},
            default_dpd=ctx.settings.labels.default_dpd,
            signoff=status.line() if status else "",
            model_version=str(run_info["model_version"]),
        )
        model_registry.describe(
            run_info.get("model_name") or spec.registry_name,
            run_info["model_version"],
            model_card_markdown(card),
        )
    return figures
