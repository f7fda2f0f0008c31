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
    numeric = np.full(len(row_index), np.nan)
    levels = np.full(len(row_index), None, dtype=object)
    sentences = np.empty(len(row_index), dtype=object)
    for position in np.unique(positions):
        take = positions == position
        column = frame.iloc[row_index[take], position]
        feature = str(frame.columns[position])
        if isinstance(column.dtype, pd.CategoricalDtype):
            raw = column.astype(object).where(column.notna(), None).to_numpy()
            levels[take] = raw
        else:
            raw = column.to_numpy(dtype=np.float64)
            numeric[take] = raw
        sentences[take] = _sentences(catalog.get(feature), feature, raw, outcome)
    table = pd.DataFrame(
        {
            "customer_id": keys["customer_id"].to_numpy()[row_index],
            "snapshot_date": keys["snapshot_date"].to_numpy()[row_index],
            "rank": (slot + 1).astype(np.int64),
            "feature": names.astype(str),
            "value": numeric,
            "level": pd.array(levels, dtype="string"),
            "shap": shap,
            "sentence": sentences.tolist(),
        }
    )
    return table.sort_values(["snapshot_date", "customer_id", "rank"], kind="stable").reset_index(
        drop=True
    )


def _sentences(spec: ReasonSpec | None, feature: str, raw: np.ndarray, outcome: str) -> np.ndarray:
    """``reason_sentence`` of each of one feature's values, each distinct value worded once.

    Numbers are told apart by their bits (0.0 and -0.0 read differently) and worded as the
    Python floats a row-by-row loop would pass; levels (text or None) as they are.
    """
    if raw.dtype == object:
        by_level = {
            value: reason_sentence(spec, feature, value, outcome=outcome)
            for value in dict.fromkeys(raw.tolist())
        }
        return np.array([by_level[value] for value in raw.tolist()], dtype=object)
    _, first, inverse = np.unique(
        np.ascontiguousarray(raw, dtype=np.float64).view(np.int64),
        return_index=True,
        return_inverse=True,
    )
    words = np.empty(len(first), dtype=object)
    words[:] = _number_sentences(spec, feature, raw[first].tolist(), outcome)
    return words[inverse.reshape(-1)]


def _number_sentences(
    spec: ReasonSpec | None, feature: str, numbers: list[float], outcome: str
) -> list[str]:
    """``reason_sentence`` of each number, the catalog template's bound ``format`` called directly.

    The same words as ``reason_sentence`` (template, a space, "(raises ...)"; a missing
    value in its own words); a template that rejects a value is left to
    ``reason_sentence``, which raises the catalog's error.
    """
    if spec is None:
        return [reason_sentence(spec, feature, v, outcome=outcome) for v in numbers]
    fill, effect = spec.reason.format, f" (raises {outcome})"
    try:
        return [
            fill(value=v) + effect if v == v else reason_sentence(spec, feature, v, outcome=outcome)
            for v in numbers
        ]
    except (ValueError, TypeError, KeyError, IndexError):
        return [reason_sentence(spec, feature, v, outcome=outcome) for v in numbers]


def reason_frequency(codes: pd.DataFrame, *, top: int = 15) -> pd.DataFrame:
    """How often each feature is a customer's first reason and any reason, most frequent first."""
    first = codes[codes["rank"] == 1]["feature"].value_counts()
    anywhere = codes["feature"].value_counts()
    table = pd.DataFrame({"first_reason": first, "any_reason": anywhere}).fillna(0).astype(int)
    table = table.rename_axis("feature").reset_index()
    return table.sort_values(
        ["first_reason", "any_reason", "feature"], ascending=[False, False, True]
    ).head(top)
