"""The value stage: segments, lifetime value, the value-risk matrix and the early-warning watch list.

It takes its PD from the enabled panel model whose task is ``pd`` and its attrition
probability from the one whose task is ``attrition`` (``params.yaml`` → ``models``).
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pyarrow as pa

from research import value as rv
from research._params import ParamsError
from research.config import Settings
from research.data.contract import TABLES
from research.data.io import read_validated
from research.models.params import disabled_note
from research.paths import (
    metrics_path,
    raw_dir,
    reason_codes_path,
    scores_path,
    source_info_path,
    value_dir,
    value_report_path,
)
from research.reporting import html
from research.reporting.value_report import value_report
from research.stages import _io
from research.stages._context import StageContext

# What the value step needs from the models, by task.
TASKS = ("pd", "attrition")
# Raw tables the value step does not read (not read here: the data stage checks them), and the
# columns it reads of the largest ones (the rest is dropped once the table is checked: a large
# book's transactions and interactions are most of the stage's memory).
UNUSED_TABLES = frozenset({"applications", "account_balances"})
USED_COLUMNS = {
    "transactions": ["customer_id", "timestamp", "amount"],
    "interactions": [
        "customer_id",
        "timestamp",
        "interaction_type",
        "response_hours",
        "satisfaction_score",
    ],
}


@dataclasses.dataclass(frozen=True)
class ValueStageResult:
    """The value result and the models it was built from."""

    pd_model: str
    attrition_model: str
    result: rv.ValueResult


@dataclasses.dataclass(frozen=True)
class ValueNotComputed:
    """The value step skipped: a model it needs is disabled or on a flat table (``missing``: task -> model)."""

    missing: dict[str, str]
    note: str


def disabled_sources(ctx: StageContext) -> dict[str, str]:
    """Task -> the model with that task that cannot feed the value step, for the tasks no enabled panel model serves.

    A disabled panel model, else an enabled model trained on its own flat table (its rows
    are not the portfolio's customers). A task no model has at all is left to
    ``source_models`` (a params error).
    """
    settings = ctx.settings
    found: dict[str, str] = {}
    for task in TASKS:
        if settings.model_for_task(task) is not None:
            continue
        name = next(
            (n for n, s in settings.models.items() if s.task == task and s.uses_panel), None
        ) or next((n for n, s in settings.models.items() if s.task == task and s.enabled), None)
        if name is not None:
            found[task] = name
    return found


def source_models(ctx: StageContext) -> dict[str, str]:
    """The model feeding each task the value step needs (an error names what is missing)."""
    found = {task: ctx.settings.model_for_task(task) for task in TASKS}
    missing = [task for task, name in found.items() if name is None]
    if missing:
        raise ParamsError(
            f"params.yaml: the value stage needs an enabled panel model with task {' and '.join(missing)} "
            f"(models.<name>.task); models: {', '.join(f'{n} ({s.task})' for n, s in ctx.settings.models.items())}"
        )
    return {task: name for task, name in found.items() if name is not None}


def not_computed_note(missing: dict[str, str], settings: Settings | None = None) -> str:
    """Why the value step did not run: the models it needs, by task, disabled or on a flat table."""
    models = settings.models if settings is not None else {}
    flat = {n for n in missing.values() if n in models and models[n].enabled}
    named = ", ".join(f"{name} (task {task})" for task, name in missing.items())
    why = (
        "is trained on a flat table, not on the portfolio's panel"
        if flat and len(flat) == len(missing)
        else "is disabled in params.yaml"
        if not flat
        else "is disabled in params.yaml or trained on a flat table"
    )
    return (
        f"Customer value was not computed: it needs an enabled PD model and an enabled attrition "
        f"model trained on the panel (models.<name>.source: panel), and {named} {why}. No "
        f"lifetime value, value-risk matrix or watch list is shown rather than one built without "
        f"{' and '.join('default risk' if t == 'pd' else 'attrition' for t in missing)}. "
        + " ".join(
            f"Model {name!r} reads its own table {models[name].source} (models.{name}.source)."
            if name in flat
            else disabled_note(name)
            for name in missing.values()
        )
    )


def _write_not_computed(ctx: StageContext, missing: dict[str, str]) -> ValueNotComputed:
    """The outputs DVC declares for the value stage, saying which model is missing."""
    note = not_computed_note(missing, ctx.settings)
    if ctx.write:
        root = ctx.root
        record = {"computed": False, "missing_models": missing, "note": note}
        _io.write_json(value_dir(root) / "not_computed.json", record)
        _io.write_json(metrics_path(root, "value"), {"computed": False})
        _io.write_text(
            value_report_path(root),
            html.page(
                "Customer value (not computed)",
                [html.Section("Not computed", html.paragraph(note))],
            ),
        )
    return ValueNotComputed(missing=missing, note=note)


def run(ctx: StageContext) -> ValueStageResult | ValueNotComputed:
    """Compute customer value and the watch list; write the tables, the page and the metrics.

    When a model it needs is disabled in params.yaml or trained on a flat table, the stage writes a page and a record
    naming it instead of a value computed without it.
    """
    missing = disabled_sources(ctx)
    if missing:
        return _write_not_computed(ctx, missing)
    models = source_models(ctx)
    pd_model, attrition_model = models["pd"], models["attrition"]
    settings = ctx.settings
    tables = _value_tables(ctx)
    result = rv.evaluate_value(
        tables,
        pd.read_parquet(scores_path(ctx.root, pd_model)),
        pd.read_parquet(scores_path(ctx.root, attrition_model)),
        pd.read_parquet(reason_codes_path(ctx.root, pd_model)),
        params=settings.value,
        default_horizon_months=ctx.spec(pd_model).horizon_months,
        churn_horizon_months=ctx.spec(attrition_model).horizon_months,
    )
    if ctx.write:
        _write(ctx, result)
    return ValueStageResult(pd_model=pd_model, attrition_model=attrition_model, result=result)


def _value_tables(ctx: StageContext) -> dict[str, pd.DataFrame]:
    """The validated raw tables the value step reads, with only the columns it uses of the largest.

    Read and checked one table at a time (``read_validated``), each trimmed to what the value
    step reads once checked: a 100,000-firm book peaked at 7.9 GiB with every raw table held
    for validation at once, 6.1 GiB this way (issue 18).
    """
    drop = {
        name: [c.name for c in TABLES[name].columns if c.name not in columns]
        for name, columns in USED_COLUMNS.items()
    }
    tables = read_validated(raw_dir(ctx.root), drop=drop, skip=UNUSED_TABLES)
    pa.default_memory_pool().release_unused()  # what reading freed, back to the system
    return tables


def _write(ctx: StageContext, result: rv.ValueResult) -> None:
    out = value_dir(ctx.root)
    flags = result.flags
    _io.write_parquet(out / "customer_value.parquet", result.customers)
    _io.write_parquet(out / "watch_list.parquet", flags.loc[flags["on_watch"]])
    _io.write_parquet(out / "early_warning.parquet", flags)
    _io.write_parquet(out / "value_risk_matrix.parquet", result.matrix)
    _io.write_parquet(out / "slices.parquet", result.slices)
    _io.write_parquet(out / "watch_backtest.parquet", result.backtest_by_snapshot)
    # headline figures for DVC; the whole summary (slices, CLV split, backtest) beside the tables
    _io.write_json(metrics_path(ctx.root, "value"), rv.metrics_file(result.metrics))
    _io.write_json(out / "summary.json", result.metrics)
    info = source_info_path(ctx.root)  # the data stage's: the currency of every amount
    currency = (
        json.loads(info.read_text(encoding="utf-8")).get("currency") if info.is_file() else None
    )
    _io.write_text(
        value_report_path(ctx.root),
        value_report(
            result, ctx.settings.value, currency=currency, models=list(ctx.settings.enabled_models)
        ),
    )
