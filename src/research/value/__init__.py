"""Customer value, segmentation and the early-warning watch list (the ``value`` stage).

Turns the two models' scores into the decisions relationship managers and credit
officers act on:

* ``rfm``: recency, frequency and monetary scores and named corporate segments;
* ``clv``: risk-adjusted customer lifetime value and its split into margin,
  attrition and credit loss;
* ``indices``: the satisfaction index and the loyalty index (definitions there);
* ``portfolio``: value tiers, the value-risk matrix with treatments, green and
  inclusive-finance slices;
* ``watch``: the early-warning triggers, the watch list at every snapshot and its backtest;
* ``customer``: one value row per customer at a snapshot and the headline metrics;
* ``pipeline``: all of it in one call, ``evaluate_value`` (a ``ValueResult``);
* ``params``: the settings (params.yaml ``value``), checked on construction.

Everything at a snapshot is point in time (``relationship``): records strictly before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from research._lazy import lazy_exports

if TYPE_CHECKING:  # names for type checkers; at run time __getattr__ imports them on first use
    from research.value.clv import CLV_PARTS as CLV_PARTS
    from research.value.clv import annual_probability as annual_probability
    from research.value.clv import clv_split as clv_split
    from research.value.clv import lifetime_value as lifetime_value
    from research.value.customer import customer_value as customer_value
    from research.value.customer import headline_metrics as headline_metrics
    from research.value.customer import metrics_file as metrics_file
    from research.value.customer import scored_population as scored_population
    from research.value.indices import loyalty_index as loyalty_index
    from research.value.indices import satisfaction_index as satisfaction_index
    from research.value.indices import weighted_index as weighted_index
    from research.value.params import LGDParams as LGDParams
    from research.value.params import LoyaltyParams as LoyaltyParams
    from research.value.params import SatisfactionParams as SatisfactionParams
    from research.value.params import ValueParams as ValueParams
    from research.value.params import WatchParams as WatchParams
    from research.value.pipeline import ValueResult as ValueResult
    from research.value.pipeline import evaluate_value as evaluate_value
    from research.value.pipeline import latest_snapshot as latest_snapshot
    from research.value.portfolio import grade_order as grade_order
    from research.value.portfolio import high_value_share as high_value_share
    from research.value.portfolio import portfolio_slices as portfolio_slices
    from research.value.portfolio import risk_band as risk_band
    from research.value.portfolio import tier_summary as tier_summary
    from research.value.portfolio import treatment as treatment
    from research.value.portfolio import value_risk_matrix as value_risk_matrix
    from research.value.portfolio import value_tiers as value_tiers
    from research.value.relationship import relationship_business as relationship_business
    from research.value.rfm import RFM_SEGMENTS as RFM_SEGMENTS
    from research.value.rfm import quantile_score as quantile_score
    from research.value.rfm import rfm_scores as rfm_scores
    from research.value.rfm import rfm_segment as rfm_segment
    from research.value.watch import TRIGGERS as TRIGGERS
    from research.value.watch import build_watch_flags as build_watch_flags
    from research.value.watch import describe_triggers as describe_triggers
    from research.value.watch import early_warning_inputs as early_warning_inputs
    from research.value.watch import score_changes as score_changes
    from research.value.watch import trigger_summary as trigger_summary
    from research.value.watch import watch_backtest as watch_backtest
    from research.value.watch import watch_triggers as watch_triggers

_EXPORTS = {
    "CLV_PARTS": "research.value.clv",
    "LGDParams": "research.value.params",
    "LoyaltyParams": "research.value.params",
    "RFM_SEGMENTS": "research.value.rfm",
    "SatisfactionParams": "research.value.params",
    "TRIGGERS": "research.value.watch",
    "ValueParams": "research.value.params",
    "ValueResult": "research.value.pipeline",
    "WatchParams": "research.value.params",
    "annual_probability": "research.value.clv",
    "build_watch_flags": "research.value.watch",
    "clv_split": "research.value.clv",
    "customer_value": "research.value.customer",
    "describe_triggers": "research.value.watch",
    "early_warning_inputs": "research.value.watch",
    "evaluate_value": "research.value.pipeline",
    "grade_order": "research.value.portfolio",
    "headline_metrics": "research.value.customer",
    "metrics_file": "research.value.customer",
    "high_value_share": "research.value.portfolio",
    "latest_snapshot": "research.value.pipeline",
    "lifetime_value": "research.value.clv",
    "loyalty_index": "research.value.indices",
    "portfolio_slices": "research.value.portfolio",
    "quantile_score": "research.value.rfm",
    "relationship_business": "research.value.relationship",
    "rfm_scores": "research.value.rfm",
    "rfm_segment": "research.value.rfm",
    "risk_band": "research.value.portfolio",
    "satisfaction_index": "research.value.indices",
    "score_changes": "research.value.watch",
    "scored_population": "research.value.customer",
    "tier_summary": "research.value.portfolio",
    "treatment": "research.value.portfolio",
    "trigger_summary": "research.value.watch",
    "value_risk_matrix": "research.value.portfolio",
    "value_tiers": "research.value.portfolio",
    "watch_backtest": "research.value.watch",
    "watch_triggers": "research.value.watch",
    "weighted_index": "research.value.indices",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
