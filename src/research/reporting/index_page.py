"""The front page ``reports/index.html``: every model's reports, run ids, headline figures and lights.

``collect_index`` reads what the stages left behind (run.json, the metrics files, which
reports exist, and where the data came from: ``data/raw/_source.json`` with its currency
and default definition); ``index_page_html`` is the pure rendering; ``write_index_page`` does both.
Links are relative to ``reports/`` so the folder can be copied or zipped as a whole; a
report that has not been built is named without a link. While a stage's last run has
failed, a banner at the top names it and the stages whose reports no longer match their
inputs (the stage runner records that and passes it in; this module reads no stage state).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from research.paths import metrics_path, model_dir, report_dir, source_info_path
from research.reporting.html import Section, escape, light, note, page, paragraph, table

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
) -> IndexContent:
    """Read run ids, metrics and which reports exist under ``root`` (the project folder).

    Args:
        root: The project folder.
        models: Model names in ``params.yaml`` order.
        notebook_names: Executed notebook names in pipeline order (``train-<model>``, ...).
        failures: Stages whose last run failed (the page shows a banner while there are any).
        disabled: Models of ``params.yaml`` switched off (``enabled: false``): listed as disabled.
    """
    reports = report_dir(root)
    entries = []
    for model in models:
        entries.append(
            ModelEntry(
                model=model,
                run=_read_json(model_dir(root, model) / "run.json"),
                metrics=_read_json(metrics_path(root, model)),
                validation=_read_json(metrics_path(root, f"{model}_validation")),
                reports={
                    "validation report": _link_if_built(reports, f"{model}/validation.html"),
                    "SHAP report": _link_if_built(reports, f"{model}/shap.html"),
                    "training notebook": _link_if_built(reports, f"notebooks/train-{model}.html"),
                },
            )
        )
    notebooks = [
        (name, f"notebooks/{name}.html")
        for name in notebook_names
        # the report notebook is this stage: its HTML is written right after the page
        if name == "report" or (reports / "notebooks" / f"{name}.html").exists()
    ]
    return IndexContent(
        models=entries,
        value_report=_link_if_built(reports, "value.html"),
        notebooks=notebooks,
        failures=tuple(failures),
        disabled=tuple(disabled),
        source=source_info(root),
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
    oracle = _dig(entry.metrics, ("oracle", "auc"))
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


def index_page_html(content: IndexContent) -> str:
    """The front page as a self-contained HTML document (only relative links to sibling reports)."""
    overview = pd.DataFrame(
        {
            "model": [e.model for e in content.models],
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
        }
    )
    overview["oot AUC"] = overview["oot AUC"].astype(float)
    intro = (
        paragraph(
            "Reports of the corporate-lending workbench, rebuilt by dvc repro from params.yaml. Each model's "
            "validation report holds the checks a model validator reviews (discrimination, calibration, stability, "
            "backtesting, overfitting, segments) with traffic lights; the SHAP report explains the model. "
            "Runs are in the MLflow store under mlruns/ (open them with mlflow ui)."
        )
        + table(
            overview, raw_html_columns=["MLflow run id", "version", "checks", "validation", "SHAP"]
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
    return page("Corporate-lending research: reports", sections, subtitle="Front page of reports/")


def write_index_page(root: Path, content: IndexContent) -> Path:
    """Write ``reports/index.html`` under ``root`` and return its path."""
    path = report_dir(root) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(index_page_html(content), encoding="utf-8")
    return path
