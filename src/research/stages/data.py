"""The data stage: the raw tables (synthetic or a folder of the bank's own), checked, then written.

Checks run before anything is written, so bad input leaves no output behind: open-ended
placeholder dates (9999-12-31) read as empty, the contract's rules, then the as-of date of
the data (``params.yaml`` → ``data.as_of``, the end of the synthetic history, or derived
from the dates) and the refusal of every record dated after it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from research import evaluation
from research.data import profile
from research.data.asof import AsOf, check_after_as_of, clear_placeholders
from research.data.io import read_tables, write_tables
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
    notes: list[str]  # what was read differently (open-ended placeholder dates read as empty)


def source_tables(ctx: StageContext) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The raw tables and the ground truth (empty for the bank's own data) that ``data.source`` names."""
    data, labels = ctx.settings.data, ctx.settings.labels
    if data.source == "synthetic":
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
        return portfolio.tables, portfolio.truth
    source = Path(data.source)
    return read_tables(source if source.is_absolute() else ctx.root / source), {}


def run(ctx: StageContext) -> DataResult:
    """Build or read the tables, check them (raising before any write), write ``data/raw`` and ``data/truth``."""
    raw, truth = source_tables(ctx)
    raw, notes = clear_placeholders(raw)
    # Validation raises (naming table, column, rule and example rows) before anything is written.
    tables = validate_tables(raw)
    as_of = _inputs.as_of(ctx, tables)
    check_after_as_of(tables, as_of)  # every column with records after it, before any write
    if ctx.write:
        write_tables(tables, raw_dir(ctx.root))
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
    )
