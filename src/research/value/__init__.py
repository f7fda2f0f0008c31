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
* ``customer``: one value row per customer at a snapshot and the headline metrics.

Everything at a snapshot is point in time (``relationship``): records strictly before it.
"""

from research.value.clv import CLV_PARTS, annual_probability, clv_split, lifetime_value
from research.value.customer import customer_value, headline_metrics, scored_population
from research.value.indices import loyalty_index, satisfaction_index, weighted_index
from research.value.portfolio import (
    grade_order,
    high_value_share,
    portfolio_slices,
    risk_band,
    tier_summary,
    treatment,
    value_risk_matrix,
    value_tiers,
)
from research.value.relationship import relationship_business
from research.value.rfm import RFM_SEGMENTS, quantile_score, rfm_scores, rfm_segment
from research.value.watch import (
    TRIGGERS,
    build_watch_flags,
    describe_triggers,
    early_warning_inputs,
    score_changes,
    trigger_summary,
    watch_backtest,
    watch_triggers,
)

__all__ = [
    "CLV_PARTS",
    "RFM_SEGMENTS",
    "TRIGGERS",
    "annual_probability",
    "build_watch_flags",
    "clv_split",
    "customer_value",
    "describe_triggers",
    "early_warning_inputs",
    "grade_order",
    "headline_metrics",
    "high_value_share",
    "lifetime_value",
    "loyalty_index",
    "portfolio_slices",
    "quantile_score",
    "relationship_business",
    "rfm_scores",
    "rfm_segment",
    "risk_band",
    "satisfaction_index",
    "score_changes",
    "scored_population",
    "tier_summary",
    "treatment",
    "trigger_summary",
    "value_risk_matrix",
    "value_tiers",
    "watch_backtest",
    "watch_triggers",
    "weighted_index",
]
