"""One row per customer at a snapshot: business, RFM, indices, CLV, tier, treatment and watch status."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from research.value.clv import annual_probability, lifetime_value
from research.value.indices import loyalty_index, satisfaction_index
from research.value.params import ValueParams
from research.value.portfolio import high_value_share, risk_band, treatment, value_tiers
from research.value.relationship import relationship_business, table_or_empty
from research.value.rfm import rfm_scores


def scored_population(
    credit_scores: pd.DataFrame, churn_scores: pd.DataFrame, snapshot: pd.Timestamp
) -> pd.DataFrame:
    """Customers scored by both models at the snapshot: ``pd``, ``grade`` and ``churn_12m_probability``.

    Raises:
        ValueError: If no customer has both scores at the snapshot.
    """
    credit = credit_scores.loc[
        credit_scores["snapshot_date"] == snapshot,
        ["customer_id", "snapshot_date", "score", "grade"],
    ]
    churn = churn_scores.loc[churn_scores["snapshot_date"] == snapshot, ["customer_id", "score"]]
    both = credit.rename(columns={"score": "pd_12m"}).merge(
        churn.rename(columns={"score": "churn_12m"}),
        on="customer_id",
        how="inner",
        validate="one_to_one",
    )
    if both.empty:
        raise ValueError(
            f"no customer has both a credit and a churn score at {snapshot.date()}; "
            "Fix: rerun the train stages (dvc repro train@credit train@churn)"
        )
    return both.sort_values("customer_id", kind="stable").reset_index(drop=True)


def customer_value(
    tables: Mapping[str, pd.DataFrame],
    credit_scores: pd.DataFrame,
    churn_scores: pd.DataFrame,
    watch_flags: pd.DataFrame,
    *,
    snapshot: pd.Timestamp | str,
    params: ValueParams,
    default_horizon_months: int,
    churn_horizon_months: int,
) -> pd.DataFrame:
    """The value table at ``snapshot`` for every customer scored by both models.

    ``default_horizon_months`` and ``churn_horizon_months`` are the windows of the two
    models' labels (``labels`` in params.yaml); everything else comes from ``params``.
    The 12-month (label-horizon) probabilities become yearly ones, the yearly PD and
    churn keep the margin alive in the CLV (``research.value.clv``), and
    ``expected_loss_1y`` is PD x LGD x EAD over the next year.
    """
    snapshot = pd.Timestamp(snapshot)
    frame = scored_population(credit_scores, churn_scores, snapshot)
    ids = frame["customer_id"]
    customers = table_or_empty(tables, "customers")[
        ["customer_id", "segment", "green_flag", "inclusive_flag"]
    ]
    frame = frame.merge(customers, on="customer_id", how="left")
    window_months = params.activity_window_months
    business = relationship_business(
        tables,
        ids,
        snapshot,
        window_months=window_months,
        funding_cost=params.funding_cost,
        payments_margin=params.payments_margin,
        ccf=params.ccf,
        lgd=params.lgd,
    )
    frame = frame.merge(business, on="customer_id", how="left")
    frame = pd.concat([frame, rfm_scores(frame, quantiles=params.rfm_quantiles)], axis=1)
    satisfaction = satisfaction_index(
        table_or_empty(tables, "interactions"),
        ids,
        snapshot,
        window_months=window_months,
        params=params.satisfaction,
    )
    loyalty = loyalty_index(
        tables, ids, snapshot, window_months=window_months, params=params.loyalty
    )
    frame = frame.merge(satisfaction, on="customer_id", how="left").merge(
        loyalty, on="customer_id", how="left"
    )
    frame["pd"] = annual_probability(frame["pd_12m"], default_horizon_months)
    frame["churn_probability"] = annual_probability(frame["churn_12m"], churn_horizon_months)
    clv = lifetime_value(
        frame["yearly_margin"],
        frame["churn_probability"],
        frame["pd"],
        frame["loss_exposure"],
        horizon_years=params.horizon_years,
        discount_rate=params.discount_rate,
    )
    frame = pd.concat([frame, clv], axis=1)
    frame["expected_loss_1y"] = frame["pd"] * frame["loss_exposure"]
    frame["value_tier"] = value_tiers(
        frame["clv"], cuts=params.value_tiers, names=params.tier_names
    )
    frame["risk_band"] = risk_band(frame["grade"], params.risk_bands)
    frame["treatment"] = treatment(frame["value_tier"], frame["risk_band"], params.treatments)
    return _with_watch_status(frame, watch_flags, snapshot)


def _with_watch_status(
    frame: pd.DataFrame, watch_flags: pd.DataFrame, snapshot: pd.Timestamp
) -> pd.DataFrame:
    columns = ["customer_id", "on_watch", "triggers", "reasons"]
    at_snapshot = watch_flags.loc[watch_flags["snapshot_date"] == snapshot].reindex(columns=columns)
    frame = frame.merge(at_snapshot, on="customer_id", how="left")
    frame["on_watch"] = frame["on_watch"].astype("boolean").fillna(False).astype(bool)
    frame["green_flag"] = frame["green_flag"].astype("boolean").fillna(False).astype(bool)
    frame["inclusive_flag"] = frame["inclusive_flag"].astype("boolean").fillna(False).astype(bool)
    return frame


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def headline_metrics(
    customer_value: pd.DataFrame,
    *,
    backtest: Mapping[str, float],
    slices: pd.DataFrame,
    high_value_tiers: Sequence[str],
) -> dict[str, Any]:
    """The value stage's summary: value, its split, the watch list and its backtest, the slices.

    The value report shows it and ``data/value/summary.json`` holds it; ``metrics/value.json``
    holds its headline (``metrics_file``). ``high_value_share`` is the high tiers' share of
    the total CLV (negative values included); ``high_value_share_of_positive`` their share of
    the value of the customers whose CLV is positive.
    """
    snapshot = customer_value["snapshot_date"].max()
    positive = customer_value.loc[customer_value["clv"] > 0]
    split = customer_value[
        ["gross_margin", "churn_attrition", "default_attrition", "expected_credit_loss"]
    ].sum()
    slice_shares = {}
    for name, group in slices.loc[slices["group"] != "rest"].groupby("slice", sort=True):
        flagged = group.iloc[0]
        slice_shares[name] = {
            k: float(flagged[k])
            for k in (
                "customer_share",
                "exposure_share",
                "clv_share",
                "exposure_weighted_pd",
                "loss_rate",
            )
        }
    return _clean(
        {
            "snapshot_date": str(pd.Timestamp(snapshot).date()),
            "customers": int(len(customer_value)),
            "total_exposure": float(customer_value["exposure"].sum()),
            "total_clv": float(customer_value["clv"].sum()),
            "high_value_share": high_value_share(customer_value, high_value_tiers),
            "high_value_share_of_positive": high_value_share(positive, high_value_tiers),
            "negative_clv": {
                "customers": int((customer_value["clv"] < 0).sum()),
                "total": float(customer_value.loc[customer_value["clv"] < 0, "clv"].sum()),
            },
            "clv_split": {k: float(v) for k, v in split.items()},
            "expected_loss_1y": float(customer_value["expected_loss_1y"].sum()),
            "satisfaction_index_mean": float(customer_value["satisfaction_index"].mean()),
            "loyalty_index_mean": float(customer_value["loyalty_index"].mean()),
            "watch_list": {
                "size": int(customer_value["on_watch"].sum()),
                "share": float(customer_value["on_watch"].mean()),
            },
            "watch_backtest_oot": dict(backtest),
            **slice_shares,
        }
    )


# The figures of ``metrics/value.json`` (what ``dvc exp show`` and ``dvc metrics diff`` compare),
# by their path in the summary, with the decimals kept: the book, its value and loss (amounts, to
# the cent), the high tiers' share and the watch list with its out-of-time backtest.
METRICS_FILE_FIGURES: dict[tuple[str, ...], int] = {
    ("customers",): 0,
    ("total_exposure",): 2,
    ("total_clv",): 2,
    ("expected_loss_1y",): 2,
    ("high_value_share",): 6,
    ("watch_list", "size"): 0,
    ("watch_backtest_oot", "ratio"): 6,
    ("watch_backtest_oot", "defaults_caught"): 6,
}


def metrics_file(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The headline of ``headline_metrics``'s summary: the content of ``metrics/value.json``.

    Eight numbers (``METRICS_FILE_FIGURES``) in the summary's nesting, amounts rounded to the
    cent and shares to six decimals; one the summary lacks is left out. The slices, the CLV
    split, the indices and the rest of the backtest stay in ``data/value/summary.json`` and
    the value report.
    """
    figures: dict[str, Any] = {}
    for path, digits in METRICS_FILE_FIGURES.items():
        value: Any = summary
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            continue
        target = figures
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = round(value, digits) if isinstance(value, float) else value
    return figures
