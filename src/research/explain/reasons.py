"""Reason codes: for each scored customer, the features pushing the predicted risk up.

A reason is a feature with a positive SHAP value (log-odds); the top ``n`` are kept,
largest first, ties broken by the feature's position in the model (deterministic).
Each gets a plain-language sentence from the feature catalog's ``reason`` template,
e.g. "Maximum days past due over the last 12 months is 45 (raises risk)".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from research.models.reasons import ReasonSpec as ReasonSpec
from research.models.reasons import reason_sentence as reason_sentence
from research.models.reasons import top_reasons as top_reasons

REASON_COLUMNS = [
    "customer_id",
    "snapshot_date",
    "rank",
    "feature",
    "value",
    "level",
    "shap",
    "sentence",
]


def reason_codes(
    keys: pd.DataFrame,
    frame: pd.DataFrame,
    values: np.ndarray,
    catalog: Mapping[str, ReasonSpec],
    *,
    n: int = 4,
    outcome: str = "risk",
) -> pd.DataFrame:
    """The reason-code table: one row per (customer, snapshot, rank).

    Args:
        keys: ``customer_id`` and ``snapshot_date`` of each explained row.
        frame: The model input frame of the same rows (values shown in the sentences).
        values: SHAP values (log-odds), rows x features in ``frame``'s column order.
        catalog: Feature catalog entries by name; a feature without one gets a generic sentence.
        n: Most reasons per row (rows with fewer positive contributions get fewer).
        outcome: The word after "raises" ("risk" for default, "churn risk" for churn).

    Returns:
        Columns ``REASON_COLUMNS``; ``value`` is numeric (missing for categorical features,
        whose level is in ``level``) and ``shap`` is in log-odds.
    """
    if len(keys) != len(frame) or len(frame) != values.shape[0]:
        raise ValueError("keys, frame and SHAP values must describe the same rows")
    order, valid = top_reasons(values, n)
    row_index, slot = np.nonzero(valid)
    positions = order[row_index, slot]
    names = np.asarray(frame.columns)[positions]
    shap = values[row_index, positions]
    shown = np.empty(len(row_index), dtype=object)
    numeric = np.full(len(row_index), np.nan)
    levels = np.full(len(row_index), None, dtype=object)
    for position in np.unique(positions):
        take = positions == position
        column = frame.iloc[row_index[take], position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            raw = column.astype(object).where(column.notna(), None).to_numpy()
            levels[take] = raw
        else:
            raw = column.to_numpy(dtype=np.float64)
            numeric[take] = raw
        shown[take] = raw
    sentences = [
        reason_sentence(catalog.get(feature), feature, value, outcome=outcome)
        for feature, value in zip(names, shown, strict=True)
    ]
    table = pd.DataFrame(
        {
            "customer_id": keys["customer_id"].to_numpy()[row_index],
            "snapshot_date": keys["snapshot_date"].to_numpy()[row_index],
            "rank": (slot + 1).astype(np.int64),
            "feature": names.astype(str),
            "value": numeric,
            "level": pd.array(levels, dtype="string"),
            "shap": shap,
            "sentence": sentences,
        }
    )
    return table.sort_values(["snapshot_date", "customer_id", "rank"], kind="stable").reset_index(
        drop=True
    )


def reason_frequency(codes: pd.DataFrame, *, top: int = 15) -> pd.DataFrame:
    """How often each feature is a customer's first reason and any reason, most frequent first."""
    first = codes[codes["rank"] == 1]["feature"].value_counts()
    anywhere = codes["feature"].value_counts()
    table = pd.DataFrame({"first_reason": first, "any_reason": anywhere}).fillna(0).astype(int)
    table = table.rename_axis("feature").reset_index()
    return table.sort_values(
        ["first_reason", "any_reason", "feature"], ascending=[False, False, True]
    ).head(top)
