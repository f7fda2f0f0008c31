"""The train stage: one model of ``params.yaml`` → ``models``, fitted, scored, measured and logged.

It reads the modeling table (the feature panel, or the model's own flat table), splits it
the way a validator accepts, fits the booster with early stopping, the calibrator, the
grading and the challenger, scores every row, and logs one MLflow run that registers the
model (a run outside the pipeline is tagged interactive and registers nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from research import registry as model_registry
from research import tracking
from research.evaluation import oracle_column, oracle_comparison
from research.features.catalog import catalog_for
from research.models import calibration, checks, flat, scoring, splits, train
from research.models import metrics as measures
from research.models.io import content_hash, save_scoring_model
from research.models.params import ModelSpec, disabled_note
from research.models.reasons import OUTCOME_BY_TASK
from research.models.scoring import FitReport, ScoringModel
from research.paths import (
    diagnostics_path,
    metrics_path,
    model_dir,
    plots_dir,
    run_file,
    scores_path,
    truth_dir,
)
from research.stages import _io
from research.stages._context import StageContext
from research.stages._engine import engine_for
from research.stages._model_rows import model_table, oot_first_snapshot
from research.stages._model_rows import modeling_table as modeling_table  # re-exported
from research.stages._model_rows import other_labels as _other_labels  # noqa: F401 (cli.py)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The fitted model and every table and figure the train notebook shows."""

    model: str
    spec: ModelSpec
    source_name: str
    table: pd.DataFrame
    columns: pd.DataFrame
    holdout: str
    split_summary: pd.DataFrame
    scoring_model: ScoringModel
    fit_report: FitReport
    scores: pd.DataFrame
    results: dict[str, Any]
    calibration_table: pd.DataFrame
    importance: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    run: dict[str, str]


@dataclasses.dataclass(frozen=True)
class DisabledResult:
    """A model switched off in params.yaml: nothing trained, only the disabled record written."""

    model: str
    spec: ModelSpec
    note: str


# The score columns a trained model writes (``research.models.scoring.score_table``).
SCORE_COLUMNS = (
    "customer_id",
    "snapshot_date",
    "split",
    "label",
    "raw_score",
    "margin",
    "score",
    "challenger_score",
)
PLOT_COLUMNS = {
    "roc": ("fpr", "tpr"),
    "precision_recall": ("recall", "precision"),
    "calibration": ("predicted", "observed"),
}
# The headline measures of each set in ``metrics/<model>.json`` (what ``dvc exp show`` compares).
HEADLINE_MEASURES = ("auc", "gini", "ks", "brier", "logloss")


def headline_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The figures of ``metrics/<model>.json``, from the train stage's full record (``results``).

    Sections ``train``, ``valid``, the holdout (``oot``; ``test`` for an undated table) and
    ``challenger`` (its holdout figures), each with ``auc, gini, ks, brier, logloss``, and
    ``oracle`` (the synthetic ground truth's ``auc`` and its ``gap`` above the model) where
    there is one: numbers only, 22 at most. Everything else the stage measured (sizes, the
    uncalibrated AUC, the challenger's valid figures, fitting facts, the calibration verdict,
    a flat table's preparation) is in ``metrics/diagnostics/<model>/train.json``, which holds
    the whole record, and on the MLflow run.
    """
    holdout = str(results["holdout"])
    headline: dict[str, Any] = {
        name: {k: results[name].get(k) for k in HEADLINE_MEASURES}
        for name in (splits.TRAIN, splits.VALID, holdout)
    }
    headline["challenger"] = {k: results["challenger"].get(k) for k in HEADLINE_MEASURES}
    oracle = results.get("oracle")
    if oracle:
        headline["oracle"] = {"auc": oracle.get("oracle_auc"), "gap": oracle.get("gap")}
    return headline


def metrics_file_content(model: str, results: dict[str, Any]) -> dict[str, Any]:
    """``metrics/<model>.json``: the headline (``headline_metrics``) under the model's name.

    DVC names a metric by its path in the file, and prefixes the file's path only when two
    files share a name (``metrics/credit.json:oot.auc``, 27 characters). Under the model's
    name every model's figures have their own short names (``credit.oot.auc``), so the
    columns of ``dvc exp show`` stay narrow enough for a screen (the validate stage's file
    does the same).
    """
    return {model: headline_metrics(results)}


def rounded(value: Any, digits: int = 6) -> Any:
    """``value`` with every float rounded to ``digits`` decimals (the validation summary's rounding).

    One figure, one value: the train record's out-of-time AUC is then the validation pack's
    to the last digit, whichever page or file shows it.
    """
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, float):
        return round(value, digits)
    return value


def _write_disabled(ctx: StageContext, model: str, spec: ModelSpec) -> DisabledResult:
    """The outputs DVC declares for the train stage, as an honest "disabled" record."""
    note = disabled_note(model)
    if ctx.write:
        root = ctx.root
        folder = model_dir(root, model)
        _io.write_json(folder / "disabled.json", {"model": model, "enabled": False, "note": note})
        scores = pd.DataFrame({c: pd.Series(dtype=float) for c in SCORE_COLUMNS})
        scores["customer_id"] = pd.Series(dtype=object)
        scores["snapshot_date"] = pd.Series(dtype="datetime64[ns]")
        scores["split"] = pd.Series(dtype=object)
        scores["grade" if spec.graded else "decile"] = pd.Series(
            dtype=object if spec.graded else "Int64"
        )
        _io.write_parquet(scores_path(root, model), scores)
        for name, columns in PLOT_COLUMNS.items():
            _io.write_csv(
                plots_dir(root, model) / f"{name}.csv", pd.DataFrame(columns=list(columns))
            )
        _io.write_json(metrics_path(root, model), {"enabled": False}, indent=1)
        _io.write_json(
            diagnostics_path(root, model, "train.json"),
            {"model": model, "enabled": False, "note": note},
            indent=1,
        )
    return DisabledResult(model=model, spec=spec, note=note)


def monotone_directions(
    model: str, spec: ModelSpec, features: Sequence[str], preparation: Any = None
) -> dict[str, int]:
    """The monotone constraints ``models.<model>.monotone`` asks for, by modelled feature name.

    ``true``: the feature catalog's risk directions; ``false``: none; a mapping: the given
    columns (a flat table's own names, before any renaming) with 1 (risk rises), -1 or 0.

    Raises:
        ValueError: A column of the mapping that is not among the model's features.
    """
    if isinstance(spec.monotone, bool):
        return train.risk_directions(catalog_for(list(features))) if spec.monotone else {}
    renamed = dict(getattr(preparation, "renamed", None) or {})
    modelled = {str(renamed.get(f, f)): f for f in features}
    unknown = sorted(set(spec.monotone) - set(modelled))
    if unknown:
        raise ValueError(
            f"models.{model}.monotone names {', '.join(map(repr, unknown))}, not among the "
            f"model's features ({', '.join(sorted(modelled)[:20])}"
            f"{', ...' if len(modelled) > 20 else ''}); fix the column names in params.yaml"
        )
    return {modelled[c]: int(d) for c, d in spec.monotone.items() if d}


def run(ctx: StageContext, model: str) -> TrainResult | DisabledResult:
    """Fit, score, measure and (in the pipeline) write and register the model called ``model``.

    A model disabled in params.yaml writes its disabled record instead. A model whose label has
    fewer events than ``split.min_events`` in a split, whose booster grows no split or whose
    validation AUC is indistinguishable from 0.5 stops with :class:`checks.DegenerateModelError`
    before anything is written.
    """
    settings = ctx.settings
    spec = settings.model(model)
    if not spec.enabled:
        return _write_disabled(ctx, model, spec)
    seed, nthread = settings.seed, settings.compute.nthread
    prepared = model_table(ctx, spec)  # shared with the explain and validate stages
    table, source_path, date_column = prepared.table, prepared.source_path, prepared.date_column
    feature_names, preparation = prepared.features, prepared.preparation
    directions = monotone_directions(model, spec, feature_names, preparation)
    layout = train.feature_layout(table, feature_names, directions)

    split_of_row = splits.assign_splits(
        table,
        id_column=spec.id_column,
        date_column=date_column,
        label=spec.label,
        oot_first_snapshot=oot_first_snapshot(ctx, model, spec, date_column),
        horizon_months=spec.horizon_months,
        valid_fraction=settings.split.valid_fraction,
        test_fraction=settings.split.test_fraction,
        seed=seed,
    )
    splits.check_splits(table, split_of_row, id_column=spec.id_column, date_column=date_column)
    holdout = splits.holdout_name(split_of_row)
    counts = checks.event_counts(
        table[spec.label], split_of_row, (splits.TRAIN, splits.VALID, holdout)
    )
    checks.event_floor(
        model, spec.label, counts, floor=settings.split.min_events, dated=date_column is not None
    ).raise_if_failed()

    engine = engine_for(settings.compute)
    scoring_model, fit_report = engine.fit(
        table,
        split_of_row,
        settings=scoring.FitSettings.from_spec(spec, model),
        layout=layout,
        nthread=nthread,
        seed=seed,
    )
    scores = engine.score(
        scoring_model,
        table,
        split_of_row,
        id_column=spec.id_column,
        date_column=date_column,
        label=spec.label,
    )
    checks.booster_grew(
        model,
        spec.label,
        scoring_model.booster.get_dump(),
        min_child_weight=float(fit_report.xgb["min_child_weight"]),  # ``auto`` resolved
        max_depth=spec.xgb.max_depth,
    ).raise_if_failed()
    valid = scores[scores["split"] == splits.VALID]
    checks.validation_discrimination(
        model,
        spec.label,
        valid["label"],
        valid["raw_score"],
        min_child_weight=float(fit_report.xgb["min_child_weight"]),
        max_depth=spec.xgb.max_depth,
    ).raise_if_failed()
    results = scoring.model_metrics(scores)
    results.update(
        model=model,
        label=spec.label,
        best_iteration=fit_report.best_iteration,
        n_features=len(layout.features),
        xgb_auto=fit_report.resolved,  # what each ``auto`` setting stood for
        round_cap_hit=fit_report.round_cap_hit,
        fit_notes=list(fit_report.notes),
        imbalance=fit_report.imbalance,
    )
    if preparation is not None:  # flat tables only: the panel models' metrics are unchanged
        results["table_preparation"] = preparation.as_dict()
    oracle_file = truth_dir(ctx.root) / "oracle.parquet"
    # The oracle is at the calendar's month starts; event-anchored rows are not.
    calendar = settings.features.snapshots.mode == "calendar"
    if spec.uses_panel and calendar and oracle_file.exists():
        oracle = pd.read_parquet(oracle_file)
        if oracle_column(spec.label) in oracle.columns:
            results["oracle"] = oracle_comparison(
                scores,
                oracle,
                label="label",
                oracle_column=oracle_column(spec.label),
                split=holdout,
            )
    held = scores[scores["split"] == holdout]
    results["calibration"], calibration_table = calibration.calibration_verdict(
        held,
        method=spec.calibration.method,
        grade_names=spec.grades.names if spec.graded else [],
        alpha=settings.validation.calibration_alpha,
    )
    results = rounded(results)
    curves = {
        "roc": measures.roc_points(held["label"], held["score"]),
        "roc_challenger": measures.roc_points(held["label"], held["challenger_score"]),
        "precision_recall": measures.precision_recall_points(held["label"], held["score"]),
        "calibration": measures.calibration_points(held["label"], held["score"]),
    }
    run = _write_and_log(
        ctx,
        model,
        spec,
        scoring_model,
        scores,
        results,
        curves,
        table,
        layout,
        source_path,
        holdout,
        date_column,
    )
    return TrainResult(
        model=model,
        spec=spec,
        source_name=source_path.name,
        table=table,
        columns=flat.describe_columns(table, layout.features, list(layout.categories)),
        holdout=holdout,
        split_summary=splits.split_summary(
            table, split_of_row, id_column=spec.id_column, date_column=date_column, label=spec.label
        ),
        scoring_model=scoring_model,
        fit_report=fit_report,
        scores=scores,
        results=results,
        calibration_table=calibration_table,
        importance=scoring.feature_importance(scoring_model),
        curves=curves,
        run=run,
    )


def _write_and_log(
    ctx,
    model,
    spec,
    scoring_model,
    scores,
    results,
    curves,
    table,
    layout,
    source_path,
    holdout,
    date_column,
):
    """Write the model folder, scores, metrics and plot data; log and register the MLflow run."""
    if not ctx.write and not ctx.interactive:
        return {}
    root, settings = ctx.root, ctx.settings
    folder = model_dir(root, model)
    plot_folder = plots_dir(root, model)
    plot_files = {
        "roc": (curves["roc"], plot_folder / "roc.csv"),
        "precision_recall": (curves["precision_recall"], plot_folder / "precision_recall.csv"),
        "calibration": (
            curves["calibration"][["predicted", "observed"]],
            plot_folder / "calibration.csv",
        ),
    }
    metrics_file = metrics_path(root, model)
    record_file = diagnostics_path(root, model, "train.json")
    if ctx.write:
        save_scoring_model(scoring_model, folder)
        _io.write_parquet(scores_path(root, model), scores)
        for frame, path in plot_files.values():
            _io.write_csv(path, frame)
        # headline figures for DVC; the whole record (the same figures and the diagnostics) beside
        _io.write_json(metrics_file, metrics_file_content(model, results), indent=1)
        _io.write_json(record_file, results, indent=1)
    fingerprint = (
        tracking.data_fingerprint(root, "features")
        if spec.uses_panel
        else tracking.file_fingerprint(source_path)
    )
    run_tags = {
        "seed": str(settings.seed),
        "data_fingerprint": fingerprint,
        "source": spec.source,
        "holdout": holdout,
    }
    if ctx.interactive:
        run_tags["interactive"] = "true"
    raw_spec = ctx.params["models"][model]
    with tracking.model_run(root, model, tags=run_tags) as run:
        tracking.log_panel_input(
            table,
            name="panel" if spec.uses_panel else source_path.name,
            digest=fingerprint,
            source=_project_relative(root, source_path),
        )
        registry = tracking.log_training_run(
            model=model,
            registry_name=spec.registry_name,
            params={
                "model": model,
                "seed": settings.seed,
                "split": ctx.params["split"],
                "models": {model: raw_spec},
                "labels": {"horizon_months": spec.horizon_months},
                "compute": {"nthread": settings.compute.nthread},
            },
            metrics=results,
            model_folder=folder if ctx.write else _scratch_model(scoring_model),
            log_model=lambda: _log_package(ctx, spec, scoring_model, table, date_column),
            content_hash=content_hash(folder) if ctx.write else "",
            extra_artifacts=[
                ("metrics", metrics_file),
                ("diagnostics", record_file),
                *(("plots", p) for _, p in plot_files.values()),
            ]
            if ctx.write
            else [],
            register=ctx.write,
            # every pipeline run: candidate names what training made (under the registry lock)
            on_registered=lambda name, version: model_registry.mark_candidate(
                name, version, _version_description(ctx, model, spec, results, table, date_column)
            ),
        )
        if not ctx.write:
            return {"run_id": run.info.run_id, **registry}
        return tracking.write_run_file(
            run_file(root, model),
            run=run,
            model_name=registry["model_name"],
            model_version=registry["model_version"],
            model_uri=registry["model_uri"],
        ) | {"is_new": registry["is_new"]}


def _project_relative(root: Path, path: Path) -> str:
    """``path`` relative to the project; a table outside it by its file name (runs name no machine path)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _log_package(ctx, spec: ModelSpec, scoring_model: ScoringModel, table, date_column) -> Any:
    """Log the packaged scoring model (calibrated PD, grade or decile, reasons on request)."""
    from research.models.package import log_scoring_package

    features = scoring_model.layout.features
    catalog = {
        s.name: s
        for s in catalog_for(
            list(features), trend_recent_months=ctx.settings.features.trend_recent_months
        )
        if s.family != "other"
    }
    return log_scoring_package(
        scoring_model,
        table.head(5),
        name=tracking.MODEL_ARTIFACT,
        catalog=catalog,
        outcome=OUTCOME_BY_TASK[spec.task],
        id_column=spec.id_column,
        date_column=date_column or None,
        extra_metadata={"label": spec.label, "registry_name": spec.registry_name},
    )


def _version_description(ctx, model, spec, results, table, date_column) -> str:
    """The registry description of the version: target, horizon, data window, holdout figures, commit."""
    dates = pd.to_datetime(table[date_column]) if date_column else None
    return model_registry.train_description(
        model,
        spec,
        results,
        first_snapshot=dates.min().date().isoformat() if dates is not None else None,
        last_snapshot=dates.max().date().isoformat() if dates is not None else None,
        oot_first_snapshot=oot_first_snapshot(ctx, model, spec, date_column)
        if dates is not None
        else None,
        git_commit=tracking.git_commit(ctx.root),
    )


def _scratch_model(scoring_model: ScoringModel) -> Path:
    """The model folder written to a temporary place (an interactive run logs it, writes no DVC output)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="research-model-"))
    save_scoring_model(scoring_model, folder)
    return folder
