"""The data stage: the raw tables (synthetic, a folder or a bank's export through a source mapping), checked, then written.

Checks run before anything is written, so bad input leaves no output behind: the source
mapping itself (``research.data.mapping``), open-ended placeholder dates (9999-12-31) read
as empty, the contract's rules, then the as-of date of the data (``params.yaml`` →
``data.as_of`` or the mapping's ``as_of``, the end of the synthetic history, or derived
from the dates) and the refusal of every record dated after it. Beside the tables,
``data/raw/_source.json`` says where they came from: the kind of source, the mapping,
the currency, the amount scale, the default definition and the as-of date (the reports
show them; ``research.data.mapping.describe_source``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd

from research import evaluation
from research.data import profile
from research.data.asof import AsOf, check_after_as_of, clear_placeholders
from research.data.io import write_tables
from research.data.mapping import SOURCE_INFO, SourceRead, describe_source, read_source
from research.data.params import source_kind, source_path
from research.data.schema import validate_tables
from research.data.synthetic import generate_portfolio
from research.paths import raw_dir, truth_dir
from research.stages import _inputs
from research.stages._context import StageContext


@dataclasses.dataclass(frozen=True)
class DataResult:
    """What the data stage built and the profile a quant checks first."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    source: str
    counts: pd.DataFrame
    segments: pd.DataFrame
    event_rates: pd.DataFrame
    informativeness: pd.DataFrame | None  # the oracle against single observables (synthetic only)
    as_of: AsOf  # the extract date of the data and how it was found; labels censor there
    notes: list[str]  # what was read differently (placeholder dates, source columns not read)
    source_info: dict[str, Any] = dataclasses.field(default_factory=dict)  # data/raw/_source.json


@dataclasses.dataclass(frozen=True)
class DataNotBuilt:
    """The data stage's placeholder: no enabled model is trained on the panel (``Settings.needs_panel``)."""

    note: str
    source_info: dict[str, Any]


def flat_source_info(ctx: StageContext) -> dict[str, Any]:
    """``data/raw/_source.json`` when no panel is built: the flat tables the models read, each label's event."""
    settings = ctx.settings
    tables = settings.flat_tables()
    events = "; ".join(
        f"{name}: {spec.label} = {spec.event_value}"
        if spec.event_value
        else f"{name}: {spec.label} = 1"
        for name, spec in settings.models.items()
        if name in tables
    )
    return {
        "kind": "flat",
        "panel": False,
        "tables": tables,
        "currency": None,
        "amount_scale": 1.0,
        "default_definition": (
            f"each model's own label column in its flat table ({events})"
            if events
            else "no model is enabled"
        ),
        "as_of": "",
        "as_of_how": "no panel: each flat table's own dates, if any",
        "note": settings.no_panel_note(),
    }


def _write_not_built(ctx: StageContext) -> DataNotBuilt:
    """No model needs the panel: ``data/raw`` holds only ``_source.json``, ``data/truth`` nothing."""
    info = flat_source_info(ctx)
    if ctx.write:
        text = json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_tables({}, raw_dir(ctx.root), notes={SOURCE_INFO: text})
        write_tables({}, truth_dir(ctx.root))
    return DataNotBuilt(note=info["note"], source_info=info)


def source_tables(
    ctx: StageContext,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], SourceRead | None]:
    """The raw tables, the ground truth (empty for a bank's own data) and how they were read.

    ``data.source`` names the generator (``synthetic``: no read), a folder of tables or a
    source mapping file (relative to the project root, or absolute).
    """
    data, labels = ctx.settings.data, ctx.settings.labels
    if source_kind(data.source) == "synthetic":
        syn = data.synthetic
        portfolio = generate_portfolio(
            n_customers=syn.n_customers,
            start=syn.start,
            months=syn.months,
            scenario=syn.scenario,
            transactions_per_month=syn.transactions_per_month,
            seed=ctx.settings.seed,
            default_dpd=labels.default_dpd,
            horizons_months=labels.horizons_months,
        )
        return portfolio.tables, portfolio.truth, None
    read = read_source(source_path(data.source, ctx.root))
    return read.frames, {}, read


def run(ctx: StageContext) -> DataResult | DataNotBuilt:
    """Build or read the tables, check them (raising before any write), write ``data/raw`` and ``data/truth``.

    When no enabled model is trained on the panel, nothing is generated or read: the stage
    writes its placeholder (``DataNotBuilt``) instead.
    """
    if not ctx.settings.needs_panel:
        return _write_not_built(ctx)
    raw, truth, read = source_tables(ctx)
    raw, notes = clear_placeholders(raw)
    # Validation raises (naming table, column, rule and example rows) before anything is written.
    tables = read.validated(raw) if read is not None else validate_tables(raw)
    as_of = _inputs.as_of(ctx, tables)
    check_after_as_of(tables, as_of)  # every column with records after it, before any write
    data = ctx.settings.data
    info = describe_source(
        data.source,
        ctx.root,
        mapping=read.mapping if read is not None else None,
        tables=tables,
        default_dpd=ctx.settings.labels.default_dpd,
        as_of=f"{as_of.date:%Y-%m-%d}",
        as_of_how=as_of.how,
    )
    notes = [*(read.notes if read is not None else []), *notes, _source_note(info)]
    if ctx.write:
        text = json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_tables(tables, raw_dir(ctx.root), notes={SOURCE_INFO: text})
        write_tables(truth, truth_dir(ctx.root))
    labels = ctx.settings.labels
    return DataResult(
        tables=tables,
        truth=truth,
        source=ctx.settings.data.source,
        counts=profile.table_counts(tables),
        segments=profile.segment_profile(tables),
        event_rates=evaluation.event_rates_by_year(
            tables, default_dpd=labels.default_dpd, as_of=as_of.date
        ),
        informativeness=(
            evaluation.informativeness(
                tables,
                truth,
                default_dpd=labels.default_dpd,
                horizons_months=labels.horizons_months,
                as_of=as_of.date,
            )
            if truth
            else None
        ),
        as_of=as_of,
        notes=notes,
        source_info=info,
    )


def _source_note(info: dict[str, Any]) -> str:
    """One line on where the tables came from, their currency and the default definition."""
    where = {
        "synthetic": "the synthetic portfolio",
        "folder": f"the folder {info.get('folder')}",
        "mapping": f"{info.get('folder')} through the source mapping {info.get('mapping')}",
    }[info["kind"]]
    currency = info.get("currency") or "not stated"
    scale = info.get("amount_scale", 1.0)
    scaled = f" (source amounts x {scale:g})" if scale != 1 else ""
    return (
        f"source: {where}; currency: {currency}{scaled}; default definition: "
        f"{info.get('default_definition')}"
    )
