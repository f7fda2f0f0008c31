"""Reason codes: for each scored customer, the features pushing the predicted risk up.

A reason is a feature with a positive SHAP value (log-odds); the top ``n`` are kept,
largest first, ties broken by the feature's position in the model (deterministic).
Each gets a plain-language sentence from the feature catalog's ``reason`` template,
e.g. "Maximum days past due over the last 12 months is 45 (raises risk)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd

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


class ReasonSpec(Protocol):
    """The part of a feature catalog entry (``research.features.catalog.FeatureSpec``) used here.

    Read-only, so that frozen dataclasses such as ``FeatureSpec`` match.
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def reason(self) -> str: ...


def reason_sentence(
    spec: ReasonSpec | None, feature: str, value: object, *, outcome: str = "risk"
) -> str:
    """The sentence for one reason: the catalog template filled with ``value``, then the effect.

    Raises:
        ValueError: the catalog template does not accept the value (fix the catalog entry).
    """
    effect = f"(raises {outcome})"
    if _is_missing(value):
        subject = spec.description if spec is not None else feature
        return f"{subject} is not available {effect}"
    if spec is None:
        shown = f"{value:,.4g}" if isinstance(value, (int, float, np.number)) else str(value)
        return f"{feature} is {shown} {effect}"
    try:
        text = spec.reason.format(value=value)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise ValueError(
            f"feature catalog: reason template {spec.reason!r} of {feature!r} rejects value {value!r} ({err}); "
            "fix the template in research.features.catalog"
        ) from None
    return f"{text} {effect}"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def top_reasons(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the feature positions of the ``n`` largest positive SHAP values and a validity mask.

    Ties keep the model's feature order (a stable sort), so the result is deterministic.
    """
    if n < 1:
        raise ValueError(f"explain.reason_codes must be at least 1, got {n}")
    n = min(n, values.shape[1])
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    chosen = np.take_along_axis(values, order, axis=1)
    return order, chosen > 0


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
