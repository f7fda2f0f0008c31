"""The satisfaction index and the loyalty index, both on a 0-100 scale, point in time.

**Satisfaction index** (the customer satisfaction measure, "CSI" of the seed; not the
characteristic stability index of validation). Over the interactions in the trailing
window before the snapshot, three components in [0, 1]:

* ``survey``: the mean satisfaction score rescaled from 1..5 to 0..1, ``(score - 1) / 4``;
* ``complaint_free``: ``1 - complaints / interactions``;
* ``responsiveness``: the share of answered interactions (with a response time) answered
  within ``response_target_hours``.

The index is ``100 x`` the weighted mean of the components a customer has (weights from
``value.satisfaction.weights``, renormalised over the available components); a
customer without any interaction in the window has no index (missing).

**Loyalty index**: how deep and steady the relationship is. Four components in [0, 1]:

* ``tenure``: years as a client (from the onboarding date) over ``tenure_cap_years``, capped at 1;
* ``contact_regularity``: the share of the window's months with at least one interaction;
* ``account_regularity``: the share of the window's months with at least one account movement;
* ``product_breadth``: distinct products among open facilities over
  ``product_breadth_cap``, capped at 1.

The index is ``100 x`` their weighted mean (``value.loyalty.weights``); every customer
has one (absent activity counts as 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from research.value.params import LoyaltyParams, SatisfactionParams
from research.value.relationship import SnapshotLike, open_facilities, table_or_empty, window

SATISFACTION_COMPONENTS = ("survey", "complaint_free", "responsiveness")
LOYALTY_COMPONENTS = ("tenure", "contact_regularity", "account_regularity", "product_breadth")

# The definitions above, as reports show them (index -> summary and one line per component).
INDEX_DEFINITIONS: dict[str, dict[str, str]] = {
    "satisfaction_index": {
        "summary": "100 x the weighted mean (value.satisfaction.weights) of the components a customer has, over "
        "the interactions in the trailing window; missing without any interaction.",
        "survey": "mean satisfaction score rescaled from 1..5 to 0..1: (score - 1) / 4",
        "complaint_free": "1 - complaints / interactions",
        "responsiveness": "share of answered interactions answered within value.satisfaction.response_target_hours",
    },
    "loyalty_index": {
        "summary": "100 x the weighted mean (value.loyalty.weights) of four components; absent activity counts as 0.",
        "tenure": "years as a client over value.loyalty.tenure_cap_years, capped at 1",
        "contact_regularity": "share of the window's months with at least one interaction",
        "account_regularity": "share of the window's months with at least one account movement",
        "product_breadth": "distinct products among open facilities over value.loyalty.product_breadth_cap, capped at 1",
    },
}


def weighted_index(components: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """100 x the weighted mean of the non-missing components of each row (missing when all are)."""
    names = [k for k in weights if k in components.columns]
    w = pd.Series({k: float(weights[k]) for k in names})
    values = components[names]
    present = values.notna()
    total = present.mul(w, axis=1).sum(axis=1)
    weighted = values.fillna(0.0).mul(w, axis=1).sum(axis=1)
    return 100.0 * weighted / total.where(total > 0)


def satisfaction_index(
    interactions: pd.DataFrame,
    customer_ids: pd.Series | list[str],
    snapshot: SnapshotLike,
    *,
    window_months: int,
    params: SatisfactionParams,
) -> pd.DataFrame:
    """The satisfaction index and its components per customer (see the module docstring).

    ``params`` gives the response target and the component weights.
    """
    ids = pd.Index(pd.unique(pd.Series(customer_ids, dtype="str")), name="customer_id")
    rows = window(
        interactions,
        "timestamp",
        snapshot,
        window_months,
        columns=["customer_id", "satisfaction_score", "interaction_type", "response_hours"],
    )
    answered = rows["response_hours"].notna()
    grouped = rows.assign(
        survey=(rows["satisfaction_score"] - 1.0) / 4.0,
        complaint=(rows["interaction_type"] == "complaint").astype(float),
        on_time=(rows["response_hours"] <= params.response_target_hours)
        .astype(float)
        .where(answered),
    ).groupby("customer_id", sort=True)
    components = pd.DataFrame(
        {
            "survey": grouped["survey"].mean(),
            "complaint_free": 1.0 - grouped["complaint"].mean(),
            "responsiveness": grouped["on_time"].mean(),
        }
    ).reindex(ids)
    components["satisfaction_index"] = weighted_index(components, params.weights)
    return components.rename(columns={c: f"sat_{c}" for c in SATISFACTION_COMPONENTS}).reset_index()


def months_back(timestamps: pd.Series, snapshot: SnapshotLike) -> pd.Series:
    """Which month before the snapshot each time falls in: 1 for ``[snapshot - 1 month, snapshot)``, 2 for the one before, ..."""
    snapshot = pd.Timestamp(snapshot)
    month_gap = (snapshot.year - timestamps.dt.year) * 12 + (snapshot.month - timestamps.dt.month)
    into_month = timestamps - timestamps.dt.to_period("M").dt.start_time
    snapshot_into_month = snapshot - snapshot.to_period("M").start_time
    return month_gap + (into_month < snapshot_into_month).astype("int64")


def _active_month_share(frame: pd.DataFrame, snapshot: SnapshotLike, months: int) -> pd.Series:
    rows = window(frame, "timestamp", snapshot, months, columns=["customer_id", "timestamp"])
    back = months_back(rows["timestamp"], snapshot).clip(1, months)
    return back.groupby(rows["customer_id"]).nunique() / months


def loyalty_index(
    tables: Mapping[str, pd.DataFrame],
    customer_ids: pd.Series | list[str],
    snapshot: SnapshotLike,
    *,
    window_months: int,
    params: LoyaltyParams,
) -> pd.DataFrame:
    """The loyalty index and its components per customer (see the module docstring).

    ``params`` gives the tenure and product-breadth caps and the component weights.
    """
    snapshot = pd.Timestamp(snapshot)
    ids = pd.Index(pd.unique(pd.Series(customer_ids, dtype="str")), name="customer_id")
    customers = table_or_empty(tables, "customers").set_index("customer_id")
    tenure_years = (snapshot - customers["onboarding_date"]).dt.days / 365.25
    products = (
        open_facilities(table_or_empty(tables, "facilities"), snapshot)
        .groupby("customer_id")["product"]
        .nunique()
    )
    components = (
        pd.DataFrame(
            {
                "tenure": np.clip(tenure_years / params.tenure_cap_years, 0.0, 1.0),
                "contact_regularity": _active_month_share(
                    table_or_empty(tables, "interactions"), snapshot, window_months
                ),
                "account_regularity": _active_month_share(
                    table_or_empty(tables, "transactions"), snapshot, window_months
                ),
                "product_breadth": np.minimum(products / params.product_breadth_cap, 1.0),
            }
        )
        .reindex(ids)
        .fillna(0.0)
    )
    components["loyalty_index"] = weighted_index(components, params.weights)
    return components.rename(columns={c: f"loy_{c}" for c in LOYALTY_COMPONENTS}).reset_index()
