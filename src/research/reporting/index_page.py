"""The front page ``reports/index.html``: a verdict per model, its reasons, reports, runs and lights.

Per model the page opens with a verdict box: the overall light (red if any check is red,
amber if any is amber, else green), the light counts, the three most important reasons
(the red and amber checks with their figure and threshold, from the validate stage's
checks table), the sign-off, the build date, commit and data hash, the MLflow run (a link
into the MLflow UI), the registry version and links to every report and executed notebook.

``collect_index`` reads what the stages left behind (the run files, the metrics files, the
checks tables, the sign-offs, which reports exist, and where the data came from:
``data/raw/_source.json`` with its currency and default definition); ``index_page_html``
is the pure rendering; ``write_index_page`` does both. Every figure comes from one place:
the validate stage's ``summary_metrics`` as recorded (``metrics/diagnostics/<model>/validation.json``,
whose headline subset is ``metrics/<model>_validation.json``), the same values, rounded
from the same 6 decimals, that the validation report shows.
Links are relative to ``reports/`` so the folder can be copied or zipped as a whole; a
report that has not been built is named without a link. While a stage's last run has
failed, a banner at the top names it and the stages whose reports no longer match their
inputs (the stage runner records that and passes it in; this module reads no stage state).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from research.paths import report_dir, run_file, source_info_path
from research.reporting.html import (
    Section,
    SignOffView,
    escape,
    light,
    note,
    page,
    paragraph,
    table,
    worst_light,
)
from research.reporting.model_card import Reason, read_reasons, stage_record

MLFLOW_PORT = "5000"  # make mlflow-ui's default (MLFLOW_PORT in the Makefile and the environment)
REASONS_SHOWN = 3

HEADLINE = (
    ("oot AUC", ("discrimination", "oot", "auc")),
    ("oot AUC 95% low", ("discrimination", "oot", "auc_ci_low")),
    ("oot AUC 95% high", ("discrimination", "oot", "auc_ci_high")),
    ("oot Gini", ("discrimination", "oot", "gini")),
    ("oot KS", ("discrimination", "oot", "ks")),
    ("AUC − challenger", ("challenger", "auc_diff")),
    ("Brier", ("calibration", "brier")),
    ("Hosmer-Lemeshow p", ("calibration", "hl_p")),
    ("score PSI", ("stability", "score_psi")),
    ("max CSI", ("stability", "max_csi")),
    ("train − oot AUC gap", ("overfit", "auc_gap")),
)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """What the front page shows of one model."""

    model: str
    run: Mapping[str, Any]
    metrics: Mapping[str, Any]
    validation: Mapping[str, Any]
    reports: Mapping[str, str | None]
    notebooks: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    reasons: Sequence[Reason] = ()
    signoff: SignOffView | None = None

    @property
    def lights(self) -> Mapping[str, int]:
        return self.validation.get("lights") or {}

    @property
    def verdict(self) -> str:
        """red if any check is red, amber if any is amber, else green; grey before validation."""
        return worst_light(self.lights) if self.lights else "grey"


@dataclasses.dataclass(frozen=True)
class StageFailure:
    """A stage whose last run failed, and the stages downstream whose reports are stale."""

    stage: str
    time: str
    error: str
    stale: Sequence[str] = ()
    removed: Sequence[str] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StageFailure:
        """From a record of the stage runner's marker (``stage``, ``time``, ``error``, ``stale``, ``removed``)."""
        return cls(
            stage=str(record.get("stage", "")),
            time=str(record.get("time", "")),
            error=str(record.get("error", "")),
            stale=tuple(record.get("stale", ())),
            removed=tuple(record.get("removed", ())),
        )


@dataclasses.dataclass(frozen=True)
class IndexContent:
    """Everything the front page shows."""

    models: Sequence[ModelEntry]
    value_report: str | None
    notebooks: Sequence[tuple[str, str]]
    failures: Sequence[StageFailure] = ()
    disabled: Sequence[str] = ()
    source: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # data/raw/_source.json
    # the build: date, git commit, data hash (research.tracking), MLflow UI port
    build: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def source_info(root: Path) -> dict[str, Any]:
    """Where the data came from (``data/raw/_source.json``, written by the data stage); {} before it."""
    try:
        return _read_json(source_info_path(root))
    except (OSError, ValueError):
        return {}


def _link_if_built(reports: Path, relative: str) -> str | None:
    return relative if (reports / relative).exists() else None


def collect_index(
    root: Path,
    models: Sequence[str],
    notebook_names: Sequence[str],
    failures: Sequence[StageFailure] = (),
    disabled: Sequence[str] = (),
    *,
    build: Mapping[str, str] | None = None,
    signoffs: Mapping[str, SignOffView | None] | None = None,
) -> IndexContent:
    """Read run ids, metrics, checks, sign-offs and which reports exist under ``root`` (the project folder).

    Args:
        root: The project folder.
        models: Model names in ``params.yaml`` order.
        notebook_names: Executed notebook names in pipeline order (``train-<model>``, ...).
        failures: Stages whose last run failed (the page shows a banner while there are any).
        disabled: Models of ``params.yaml`` switched off (``enabled: false``): listed as disabled.
        build: ``date``, ``commit``, ``data_hash`` and ``mlflow_port`` of this build (the
            report stage fills them; the port defaults to ``$MLFLOW_PORT`` or 5000).
        signoffs: Each model's latest sign-off against its current version and validation
            pack (``research.signoff.status``; the report stage reads them); a model
            missing here shows "no sign-off status".
    """
    reports = report_dir(root)
    entries = []
    for model in models:
        entries.append(
            ModelEntry(
                model=model,
                run=_read_json(run_file(root, model)),
                metrics=stage_record(root, model, "train"),
                validation=stage_record(root, model, "validation"),
                reports={
                    "validation report": _link_if_built(reports, f"{model}/validation.html"),
                    "SHAP report": _link_if_built(reports, f"{model}/shap.html"),
                    "model card": _link_if_built(reports, f"{model}/model_card.html"),
                    "training notebook": _link_if_built(reports, f"notebooks/train-{model}.html"),
                },
                notebooks={
                    stage: _link_if_built(reports, f"notebooks/{stage}-{model}.html")
                    for stage in ("train", "explain", "validate")
                },
                reasons=read_reasons(root, model),
                signoff=(signoffs or {}).get(model),
            )
        )
    notebooks = [
        (name, f"notebooks/{name}.html")
        for name in notebook_names
        # the report notebook is this stage: its HTML is written right after the page
        if name == "report" or (reports / "notebooks" / f"{name}.html").exists()
    ]
    facts = {"mlflow_port": os.environ.get("MLFLOW_PORT") or MLFLOW_PORT, **(build or {})}
    return IndexContent(
        models=entries,
        value_report=_link_if_built(reports, "value.html"),
        notebooks=notebooks,
        failures=tuple(failures),
        disabled=tuple(disabled),
        source=source_info(root),
        build=facts,
    )


def _dig(mapping: Mapping[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _link(text: str, href: str | None) -> str:
    return (
        f'<a href="{escape(href)}">{escape(text)}</a>'
        if href
        else f"{escape(text)} (not built yet)"
    )


def _lights(validation: Mapping[str, Any]) -> str:
    counts = validation.get("lights") or {}
    if not counts:
        return "not validated yet"
    return " ".join(
        f"{light(c)} {int(counts.get(c, 0))}" for c in ("green", "amber", "red", "grey")
    )


def mlflow_run_url(run: Mapping[str, Any], port: str | int = MLFLOW_PORT) -> str | None:
    """The run's page in the MLflow UI (``make mlflow-ui``): ``http://127.0.0.1:<port>/#/experiments/<exp>/runs/<run>``."""
    run_id, experiment = run.get("run_id"), run.get("experiment_id")
    if not run_id or not experiment:
        return None
    return f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs/{run_id}"


def _short(text: str, width: int = 12) -> str:
    """A commit or hash cut to ``width`` characters (``-dirty`` kept)."""
    dirty = text.endswith("-dirty")
    core = text.removesuffix("-dirty")
    return (core[:width] if len(core) > width else core) + ("-dirty" if dirty else "")


def _reasons_html(entry: ModelEntry) -> str:
    if not entry.lights:
        return "<p>Not validated yet: no verdict.</p>"
    if not entry.reasons:
        if entry.verdict == "green":
            return "<p>No red or amber check: every judged check is green.</p>"
        return (
            f"<p>{int(entry.lights.get('red', 0))} red and {int(entry.lights.get('amber', 0))} amber "
            "checks: the validation report lists them with their figures and thresholds.</p>"
        )
    shown = entry.reasons[:REASONS_SHOWN]
    items = "".join(
        f"<li>{light(r.light)} <strong>{escape(r.area)}: {escape(r.check)}</strong>"
        + (f" of <code>{escape(r.subject)}</code>" if r.subject and r.subject != "nan" else "")
        + f" = {escape(r.value)}"
        + (f" (threshold {escape(r.threshold)})" if r.threshold else "")
        + "</li>"
        for r in shown
    )
    more = len(entry.reasons) - len(shown)
    tail = (
        f'<p class="meta">{more} more red or amber checks in the validation report.</p>'
        if more > 0
        else ""
    )
    return f"<ol>{items}</ol>{tail}"


def _signoff_html(status: SignOffView | None) -> str:
    if status is None:
        return '<span class="warn">no sign-off status (signoffs/&lt;model&gt;.jsonl unread)</span>'
    css = "ok" if status.approved else "warn"
    return f'<span class="{css}">{escape(status.line())}</span>'


def verdict_box(entry: ModelEntry, build: Mapping[str, str]) -> str:
    """One model's verdict: light, counts, reasons, sign-off, build facts and every link."""
    run = entry.run
    colour = entry.verdict
    counts = (
        " ".join(
            f"{light(c)} {int(entry.lights.get(c, 0))}" for c in ("green", "amber", "red", "grey")
        )
        if entry.lights
        else "not validated yet"
    )
    url = mlflow_run_url(run, build.get("mlflow_port", MLFLOW_PORT))
    run_html = (
        f'<a href="{escape(url)}"><code>{escape(run["run_id"])}</code></a> '
        f"(experiment {escape(run.get('experiment_id', ''))}, in the MLflow UI: <code>make mlflow-ui</code>)"
        if url
        else escape(run.get("run_id", "not trained yet"))
    )
    version = run.get("model_version")
    registry = (
        f"{escape(run.get('model_name', ''))} version {escape(version)}"
        if version
        else "no registered version"
    )
    reports = " · ".join(
        _link(text, href) for text, href in entry.reports.items() if text != "training notebook"
    )
    notebooks = " · ".join(_link(stage, href) for stage, href in entry.notebooks.items())
    rows = [
        ("Verdict", f"{light(colour)} {counts}"),
        ("Sign-off", _signoff_html(entry.signoff)),
        ("Reports", reports),
        ("Executed notebooks", notebooks),
        ("MLflow run", run_html),
        ("Registry", registry),
        ("Built", escape(build.get("date", "unknown"))),
        ("Commit", f"<code>{escape(_short(build.get('commit', 'unknown')))}</code>"),
        ("Data hash", f"<code>{escape(build.get('data_hash', 'unknown'))}</code>"),
    ]
    facts = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    title = f"{entry.model}: {colour if entry.lights else 'not validated'}"
    return (
        f'<div class="verdict {escape(colour)}" id="verdict-{escape(entry.model)}">'
        f"<h2>{escape(title)}</h2>"
        f"<p><strong>Why:</strong></p>{_reasons_html(entry)}"
        f"<table>{facts}</table></div>"
    )


def _model_section(entry: ModelEntry) -> Section:
    run = entry.run
    facts = pd.DataFrame(
        {
            "": ["MLflow run id", "model name", "model version", "checks"],
            "value": [
                escape(run.get("run_id", "not trained yet")),
                escape(run.get("model_name", "")),
                escape(run.get("model_version", "")),
                _lights(entry.validation),
            ],
        }
    )
    figures = {name: _dig(entry.validation, path) for name, path in HEADLINE}
    oracle = _dig(entry.metrics, ("oracle", "oracle_auc")) or _dig(entry.metrics, ("oracle", "auc"))
    if oracle is not None:
        figures["oracle AUC (ceiling)"] = oracle
    headline = pd.DataFrame(
        {
            "figure": list(figures),
            "value": [
                float(v) if isinstance(v, (int, float)) else float("nan") for v in figures.values()
            ],
        }
    )
    links = " · ".join(_link(text, href) for text, href in entry.reports.items())
    body = (
        f"<p>{links}</p>"
        + table(facts, raw_html_columns=["value"])
        + "<h3>Headline figures</h3>"
        + paragraph(
            f"From the validate stage's record (metrics/diagnostics/{entry.model}/validation.json; "
            f"its headline is metrics/{entry.model}_validation.json): the figures the validation "
            "report shows; the oracle AUC from the train stage's."
        )
        + table(headline)
    )
    return Section(f"Model: {entry.model}", body, anchor=f"model-{entry.model}")


_BANNER_STYLE = (
    "background:#fff5f5;border:2px solid #c53030;border-left-width:8px;"
    "padding:10px 14px;margin:12px 0;color:#742a2a"
)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"<code>{escape(n)}</code>" for n in names) if names else "none"


def stale_banner(failures: Sequence[StageFailure]) -> str:
    """The banner naming each failed stage, its error and the stages whose reports are stale ('' when none)."""
    if not failures:
        return ""
    items = "".join(
        f"<li><strong>Stage <code>{escape(f.stage)}</code> failed</strong> at {escape(f.time)}: "
        f"<code>{escape(f.error)}</code>. Downstream, no longer matching their inputs: "
        f"{_names(f.stale)}." + (f" Removed: {_names(f.removed)}." if f.removed else "") + "</li>"
        for f in failures
    )
    return (
        f'<div class="stale-banner" role="alert" style="{_BANNER_STYLE}">'
        "<p><strong>Stale: the last pipeline run failed.</strong> The reports of the stages "
        "below were built from earlier inputs; they have been taken down, and the figures "
        "on this page may describe the previous run. Fix the failure and run "
        "<code>dvc repro</code>: this banner goes when the failed stage runs through.</p>"
        f"<ul>{items}</ul></div>"
    )


def disabled_section(disabled: Sequence[str]) -> str:
    """The paragraph naming the models switched off in params.yaml ('' when none)."""
    if not disabled:
        return ""
    items = "".join(
        f"<li><code>{escape(name)}</code>: disabled (models.{escape(name)}.enabled: false in "
        "params.yaml); not trained, explained or validated.</li>"
        for name in disabled
    )
    return f"<h3>Disabled models</h3><ul>{items}</ul>"


_SOURCE_KINDS = {
    "synthetic": "the embedded synthetic portfolio",
    "folder": "a folder of tables named as the contract",
    "mapping": "a bank's export read through a source mapping",
    "flat": "flat modelling tables only (no portfolio read, no panel built)",
}


def source_section(source: Mapping[str, Any]) -> str:
    """The data the reports describe: its source, as-of date, currency and default definition."""
    if not source:
        return note("The data stage has not run yet: no data/raw/_source.json.")
    kind = str(source.get("kind", ""))
    where = [("source", escape(_SOURCE_KINDS.get(kind, kind)))]
    if source.get("mapping"):
        where.append(("mapping", f"<code>{escape(source['mapping'])}</code>"))
    if source.get("folder"):
        where.append(("folder", f"<code>{escape(source['folder'])}</code>"))
    currency = source.get("currency")
    scale = source.get("amount_scale", 1.0)
    if currency:
        amounts = escape(currency)
    elif kind == "synthetic":
        amounts = "the synthetic portfolio's units (no currency)"
    else:
        amounts = "not stated (a source mapping states it)"
    if currency and scale not in (1, 1.0, None):
        amounts += escape(f" (the export's amounts multiplied by {scale:g})")
    where += [
        ("amounts in", amounts),
        ("default definition", escape(source.get("default_definition", ""))),
        (
            "as-of date",
            escape(f"{source.get('as_of', '')} ({source.get('as_of_how', '')})"),
        ),
    ]
    rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in where)
    return f'<table class="source">{rows}</table>'


def _holdout(metrics: Mapping[str, Any]) -> str:
    """What the model's out-of-time figures were measured on, in words."""
    if metrics.get("holdout") == "test":  # an undated flat table
        return "test split (stands in for out-of-time: the table has no dates)"
    return "out-of-time" if metrics else ""


def _subtitle(content: IndexContent) -> str:
    build = content.build
    verdicts = ", ".join(
        f"{e.model} {e.verdict if e.lights else 'not validated'}" for e in content.models
    )
    parts = [
        f"Verdicts: {verdicts}" if verdicts else "No model enabled",
        f"built {build['date']}" if build.get("date") else "",
        f"commit {_short(build['commit'])}" if build.get("commit") else "",
        f"data {build['data_hash']}" if build.get("data_hash") else "",
    ]
    return " · ".join(p for p in parts if p)


def index_page_html(content: IndexContent) -> str:
    """The front page as a self-contained HTML document (only relative links to sibling reports)."""
    overview = pd.DataFrame(
        {
            "model": [e.model for e in content.models],
            "verdict": [light(e.verdict) if e.lights else "" for e in content.models],
            "MLflow run id": [escape(e.run.get("run_id", "")) for e in content.models],
            "version": [escape(e.run.get("model_version", "")) for e in content.models],
            "holdout": [_holdout(e.metrics) for e in content.models],
            "oot AUC": [
                _dig(e.validation, ("discrimination", "oot", "auc")) for e in content.models
            ],
            "checks": [_lights(e.validation) for e in content.models],
            "validation": [
                _link("validation report", e.reports.get("validation report"))
                for e in content.models
            ],
            "SHAP": [_link("SHAP report", e.reports.get("SHAP report")) for e in content.models],
            "card": [_link("model card", e.reports.get("model card")) for e in content.models],
        }
    )
    overview["oot AUC"] = overview["oot AUC"].astype(float)
    intro = (
        paragraph(
            "Reports of the corporate-lending workbench, rebuilt by dvc repro from params.yaml. Each model's "
            "validation report holds the checks a model validator reviews (discrimination, calibration, stability, "
            "backtesting, overfitting, segments) with traffic lights; the SHAP report explains the model; the model "
            "card sums it up. Runs are in the MLflow store under mlruns/ (make mlflow-ui opens them). The oot AUC "
            "is metrics/<model>_validation.json's, the figure the validation report shows."
        )
        + table(
            overview,
            raw_html_columns=[
                "verdict",
                "MLflow run id",
                "version",
                "checks",
                "validation",
                "SHAP",
                "card",
            ],
        )
        + disabled_section(content.disabled)
        + f"<p>{_link('Customer value report (segments, CLV, watch list)', content.value_report)}</p>"
    )
    notebooks = (
        "<ul>"
        + "".join(f"<li>{_link(name, href)}</li>" for name, href in content.notebooks)
        + "</ul>"
        if content.notebooks
        else note("No executed notebooks yet.")
    )
    banner = stale_banner(content.failures)
    verdicts = "".join(verdict_box(e, content.build) for e in content.models)
    sections = [
        *([Section("Stale reports", banner, anchor="stale")] if banner else []),
        Section("Overview", intro),
        Section(
            "Data",
            paragraph(
                "What every model and report here was built from (data/raw/_source.json, "
                "written by the data stage). Default rates and PDs count defaults by the "
                "definition below."
            )
            + source_section(content.source),
            anchor="data",
        ),
        *(_model_section(e) for e in content.models),
        Section(
            "Executed notebooks",
            paragraph("Each stage's notebook as it ran, outputs included.") + notebooks,
        ),
    ]
    return page(
        "Corporate-lending research: reports",
        sections,
        subtitle=_subtitle(content),
        lead=verdicts,
    )


def write_index_page(root: Path, content: IndexContent) -> Path:
    """Write ``reports/index.html`` under ``root`` and return its path."""
    path = report_dir(root) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(index_page_html(content), encoding="utf-8")
    return path
