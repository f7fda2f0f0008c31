"""The whole value step in one call: ``evaluate_value`` and the ``ValueResult`` it returns.

A stage calls ``evaluate_value`` once and writes the result's fields; a notebook
displays them. The steps, in order:

1. the rating grades from best to worst (``grade_order``) and the snapshot to value
   (``latest_snapshot``);
2. the early-warning inputs, watch flags and trigger definitions at every snapshot;
3. the backtest of the watch list on the out-of-time snapshots (pooled, per snapshot
   and per trigger);
4. the value table at the snapshot, its CLV split per tier, the tiers, the value-risk
   matrix and the green and inclusive slices;
5. the summary figures (``data/value/summary.json``; their headline is ``metrics/value.json``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from research.value.clv import clv_split
from research.value.customer import customer_value, headline_metrics
from research.value.params import ValueParams
from research.value.portfolio import grade_order, portfolio_slices, tier_summary, value_risk_matrix
from research.value.watch import (
    TRIGGERS,
    build_watch_flags,
    describe_triggers,
    early_warning_inputs,
    trigger_summary,
    watch_backtest,
)

BACKTEST_SPLIT = "oot"
LATEST_SPLIT = "latest"


@dataclasses.dataclass(frozen=True, eq=False)
class ValueResult:
    """Everything the value step computes (see the module docstring for the order)."""

    grades: list[str]
    """Rating grades from best to worst, by their median PD in the scores."""
    latest: pd.Timestamp
    """The snapshot valued: the latest of the scores' ``latest`` split (else the latest snapshot)."""
    trigger_inputs: pd.DataFrame
    """``early_warning_inputs`` at every snapshot of the scores."""
    flags: pd.DataFrame
    """The watch flags: every customer-snapshot of the scores with its trigger inputs, triggers and reasons."""
    trigger_definitions: dict[str, str]
    """Each trigger's definition with the thresholds filled in."""
    backtest: dict[str, float]
    """The pooled out-of-time backtest of the watch list (``watch_backtest``)."""
    backtest_by_snapshot: pd.DataFrame
    """The same per out-of-time snapshot."""
    trigger_table: pd.DataFrame
    """Each trigger on its own on the out-of-time snapshots (``trigger_summary``)."""
    customers: pd.DataFrame
    """The value table: one row per customer scored by both models at ``latest`` (``customer_value``)."""
    clv_by_tier: pd.DataFrame
    """The CLV parts summed per value tier, top tier first."""
    tiers: pd.DataFrame
    """Customers, exposure and CLV per value tier, top tier first (``tier_summary``)."""
    matrix: pd.DataFrame
    """The value-risk matrix, one row per (tier, grade) cell (``value_risk_matrix``)."""
    slices: pd.DataFrame
    """Green and inclusive-finance customers beside the rest (``portfolio_slices``)."""
    metrics: dict[str, Any]
    """The summary figures (``headline_metrics``): ``data/value/summary.json``; ``metrics/value.json`` holds their headline (``metrics_file``)."""

    @property
    def watch_list(self) -> pd.DataFrame:
        """The watch-listed rows of ``flags`` (every snapshot)."""
        return self.flags.loc[self.flags["on_watch"]]

    @property
    def triggers_by_snapshot(self) -> pd.DataFrame:
        """Per snapshot: customers on the watch list and customers for whom each trigger fired."""
        columns = ["on_watch", *[f"trigger_{t}" for t in TRIGGERS]]
        return self.flags.groupby("snapshot_date")[columns].sum()


def latest_snapshot(scores: pd.DataFrame) -> pd.Timestamp:
    """The latest snapshot of the rows of the ``latest`` split, or of all rows when there are none."""
    latest_rows = scores.loc[scores["split"] == LATEST_SPLIT, "snapshot_date"]
    return (latest_rows if len(latest_rows) else scores["snapshot_date"]).max()


def evaluate_value(
    tables: Mapping[str, pd.DataFrame],
    credit_scores: pd.DataFrame,
    churn_scores: pd.DataFrame,
    reason_codes: pd.DataFrame,
    *,
    params: ValueParams,
    default_horizon_months: int,
    churn_horizon_months: int,
) -> ValueResult:
    """Run the whole value step on the raw tables, both models' scores and the PD model's reason codes.

    Args:
        tables: The raw tables (only ``customers`` is mandatory).
        credit_scores: The PD model's scores at every snapshot (``customer_id``,
            ``snapshot_date``, ``split``, ``score``, ``grade``, ``label``).
        churn_scores: The attrition model's scores (``customer_id``, ``snapshot_date``, ``score``).
        reason_codes: The PD model's reason codes (``customer_id``, ``snapshot_date``,
            ``rank``, ``feature``, ``sentence``).
        params: The value settings (params.yaml ``value``).
        default_horizon_months: The window of the PD model's label.
        churn_horizon_months: The window of the attrition model's label.
    """
    watch = params.watch
    grades = grade_order(credit_scores)
    latest = latest_snapshot(credit_scores)
    inputs = early_warning_inputs(
        tables, credit_scores["snapshot_date"].unique(), window_months=watch.window_months
    )
    flags = build_watch_flags(credit_scores, inputs, reason_codes, grades=grades, params=watch)
    definitions = describe_triggers(watch)
    backtest, backtest_by_snapshot = watch_backtest(flags, split=BACKTEST_SPLIT)
    trigger_table = trigger_summary(flags, split=BACKTEST_SPLIT)
    customers = customer_value(
        tables,
        credit_scores,
        churn_scores,
        flags,
        snapshot=latest,
        params=params,
        default_horizon_months=default_horizon_months,
        churn_horizon_months=churn_horizon_months,
    )
    clv_by_tier = clv_split(customers, by="value_tier").reindex(params.tier_names[::-1])
    tiers = tier_summary(customers, tier_names=params.tier_names)
    matrix = value_risk_matrix(
        customers,
        tier_names=params.tier_names,
        grades=grades,
        risk_bands=params.risk_bands,
        treatments=params.treatments,
    )
    slices = portfolio_slices(customers)
    metrics = headline_metrics(
        customers, backtest=backtest, slices=slices, high_value_tiers=params.high_value_tiers
    )
    return ValueResult(
        grades=grades,
        latest=latest,
        trigger_inputs=inputs,
        flags=flags,
        trigger_definitions=definitions,
        backtest=backtest,
        backtest_by_snapshot=backtest_by_snapshot,
        trigger_table=trigger_table,
        customers=customers,
        clv_by_tier=clv_by_tier,
        tiers=tiers,
        matrix=matrix,
        slices=slices,
        metrics=metrics,
    )
