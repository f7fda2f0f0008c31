"""The data stage: the raw tables (synthetic, a folder or a bank's export through a source mapping), checked, then written.

Checks run before anything is written, so bad input leaves no output behind: the source
mapping itself (``research.data.mapping``), open-ended placeholder dates (9999-12-31) read
as empty, the contract's rules, then the as-of date of the data (``params.yaml`` →
``data.as_of`` or the mapping's ``as_of``, the end of the synthetic history, or derived
from the dates) and the refusal of every record dated after it. Beside the tables,
``data/raw/_source.json`` says where they came from: the kind of source, the mapping,
the currency, the amount scale, the default definition and the as-of date (the reports
show them; ``research.data.mapping.describe_source``).

The synthetic portfolio, when the stage writes, never lives in memory as a whole: the
generator writes it block by block of firms into staging folders, in up to
``compute.nthread`` processes (``research.data.synthetic.write_portfolio``); the files
are checked there table by table (``research.data.check.check_folder``) and replace
``data/raw`` and ``data/truth`` only once they pass. The profile reads what it needs of
the written files, and the oracle's informativeness is measured on up to
``PROFILE_BLOCKS`` blocks of firms spread over the book (the whole book by default).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
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

    tables: Mapping[str, pd.DataFrame]  # of a written synthetic book: read on access
    truth: Mapping[str, pd.DataFrame]
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


# data/truth without ground truth (a bank's own data, or no panel) holds this note: DVC warns
# "'data/truth' is empty" at every stage when a folder output is empty. Readers skip `_` names.
NO_TRUTH_NOTE = {
    "_no_truth.txt": "No ground truth: the tables are not the synthetic portfolio (or no model "
    "needs the panel), so there is no oracle to compare the models with.\n"
}


def _write_not_built(ctx: StageContext) -> DataNotBuilt:
    """No model needs the panel: ``data/raw`` holds only ``_source.json``, ``data/truth`` nothing."""
    info = flat_source_info(ctx)
    if ctx.write:
        text = json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_tables({}, raw_dir(ctx.root), notes={SOURCE_INFO: text})
        write_tables({}, truth_dir(ctx.root), notes=NO_TRUTH_NOTE)
    return DataNotBuilt(note=info["note"], source_info=info)


def source_tables(
    ctx: StageContext,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], SourceRead | None]:
    """The raw tables, the ground truth (empty for a bank's own data) and how they were read.

    ``data.source`` names the generator (``synthetic``: no read), a folder of tables or a
    source mapping file (relative to the project root, or absolute).
    """
    data = ctx.settings.data
    if source_kind(data.source) == "synthetic":
        portfolio = generate_portfolio(**_generator_args(ctx))
        return portfolio.tables, portfolio.truth, None
    read = read_source(source_path(data.source, ctx.root))
    return read.frames, {}, read


def _generator_args(ctx: StageContext) -> dict:
    """The synthetic portfolio's arguments from params.yaml (``data.synthetic``, ``seed``, ``labels``)."""
    syn, labels = ctx.settings.data.synthetic, ctx.settings.labels
    return {
        "n_customers": syn.n_customers,
        "start": syn.start,
        "months": syn.months,
        "scenario": syn.scenario,
        "transactions_per_month": syn.transactions_per_month,
        "seed": ctx.settings.seed,
        "default_dpd": labels.default_dpd,
        "horizons_months": labels.horizons_months,
    }


def run(ctx: StageContext) -> DataResult | DataNotBuilt:
    """Build or read the tables, check them (raising before any write), write ``data/raw`` and ``data/truth``.

    When no enabled model is trained on the panel, nothing is generated or read: the stage
    writes its placeholder (``DataNotBuilt``) instead.
    """
    if not ctx.settings.needs_panel:
        return _write_not_built(ctx)
    if ctx.write and source_kind(ctx.settings.data.source) == "synthetic":
        return _write_synthetic(ctx)
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
        write_tables(truth, truth_dir(ctx.root), notes=None if truth else NO_TRUTH_NOTE)
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


# Blocks of generated firms (research.data.synthetic.BLOCK_FIRMS each) the informativeness
# profile is measured on, spread evenly over the book: 16,384 firms, the whole default book.
PROFILE_BLOCKS = 4


def generator_workers(ctx: StageContext) -> int:
    """Processes generating the synthetic book: ``compute.nthread``, at most the cores."""
    import os

    return max(1, min(ctx.settings.compute.nthread, os.cpu_count() or 1))


def _write_synthetic(ctx: StageContext) -> DataResult:
    """The synthetic book written block by block, checked, then moved into place; its profile."""
    import shutil

    from research.data import io as data_io
    from research.data.asof import resolve_as_of, synthetic_as_of
    from research.data.check import check_folder
    from research.data.params import configured_as_of
    from research.data.schema import raise_failures
    from research.data.synthetic import write_portfolio

    data, labels = ctx.settings.data, ctx.settings.labels
    syn = data.synthetic
    targets = raw_dir(ctx.root), truth_dir(ctx.root)
    for target in targets:
        data_io._check_replaceable(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        data_io.remove_stale_siblings(target)
    raw, truth = (data_io._sibling(target, "tmp") for target in targets)
    try:
        written = write_portfolio(
            raw,
            truth,
            **_generator_args(ctx),
            workers=generator_workers(ctx),
            keep_blocks=PROFILE_BLOCKS,
        )
        # The contract's rules and the as-of date, on the files, before they replace data/raw.
        checked = check_folder(raw)
        raise_failures(checked.errors)
        configured, configured_as = configured_as_of(data.source, ctx.root, data.as_of)
        as_of = resolve_as_of(
            configured,
            None,
            synthetic_as_of(syn.start, syn.months),
            counts=checked.counts,
            configured_as=configured_as,
        )
        raise_failures(checked.after_as_of_errors(as_of))
        tables = _FolderTables(targets[0], tuple(checked.tables))  # read once moved there
        info = describe_source(
            data.source,
            ctx.root,
            mapping=None,
            tables=tables,
            default_dpd=labels.default_dpd,
            as_of=f"{as_of.date:%Y-%m-%d}",
            as_of_how=as_of.how,
        )
        text = json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (raw / SOURCE_INFO).write_text(text, encoding="utf-8")
        counts = profile.folder_counts(raw)
        data_io._replace_folder(raw, targets[0])
        data_io._replace_folder(truth, targets[1])
    except BaseException:
        for staging in (raw, truth):
            shutil.rmtree(staging, ignore_errors=True)
        raise
    notes = [*checked.notes, _source_note(info)]
    sample = written.sample
    assert sample is not None  # PROFILE_BLOCKS > 0
    if written.sample_firms < written.firms:
        notes.append(
            f"informativeness: measured on {written.sample_firms:,} of the {written.firms:,} "
            f"firms ({PROFILE_BLOCKS} blocks spread over the book)"
        )
    profiled = {name: tables[name] for name in ("customers", "repayments") if name in tables}
    return DataResult(
        tables=tables,
        truth=_FolderTables(targets[1], tuple(sample.truth)),
        source=data.source,
        counts=counts,
        segments=profile.segment_profile(
            {name: tables[name] for name in ("customers", "facilities") if name in tables}
        ),
        event_rates=evaluation.event_rates_by_year(
            profiled, default_dpd=labels.default_dpd, as_of=as_of.date
        ),
        informativeness=evaluation.informativeness(
            sample.tables,
            sample.truth,
            default_dpd=labels.default_dpd,
            horizons_months=labels.horizons_months,
            as_of=as_of.date,
        ),
        as_of=as_of,
        notes=notes,
        source_info=info,
    )


class _FolderTables(Mapping[str, pd.DataFrame]):
    """The tables of a written folder, each read from its Parquet file when asked for."""

    def __init__(self, folder: Path, names: tuple[str, ...]) -> None:
        self._folder, self._names = folder, names

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._names:
            raise KeyError(name)
        return pd.read_parquet(self._folder / f"{name}.parquet")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
