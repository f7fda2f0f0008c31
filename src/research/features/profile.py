"""Profiles of the panel's features: quality flags, univariate power against the labels, segment summaries.

Pure functions on the panel for the features notebook. Univariate power is measured
on the rows whose label is known (censored rows left out): AUC on the rows where the
feature is present (``coverage`` says how many), oriented AUC (the better of the AUC
and one minus it), and the information value over quantile bins with missing values
as a bin of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from research.features.catalog import ID_COLUMNS, family_of, is_label_column


def feature_columns(panel: pd.DataFrame, label_cols: Sequence[str] = ()) -> list[str]:
    """The feature columns of a panel (not the ids, not the labels)."""
    skip = set(ID_COLUMNS) | set(label_cols)
    return [c for c in panel.columns if c not in skip and not is_label_column(c)]


def _is_categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def feature_quality(panel: pd.DataFrame, max_missing_share: float) -> pd.DataFrame:
    """Per feature: missing share, distinct values, the most common value's share, and flags.

    ``flag_no_variance`` marks a feature with at most one distinct value among its present
    values; ``flag_missing`` one missing in more than ``max_missing_share`` of the rows.
    """
    rows = []
    for name in feature_columns(panel):
        values = panel[name]
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiu":
            n_unique, top_share = _distinct_and_top_share(values.to_numpy())
        else:
            present = values.dropna()
            n_unique = int(present.nunique())
            top_share = present.value_counts(normalize=True).iloc[0] if len(present) else np.nan
        rows.append(
            {
                "feature": name,
                "family": family_of(name),
                "missing_share": float(values.isna().mean()) if len(values) else np.nan,
                "n_unique": n_unique,
                "top_value_share": float(top_share),
            }
        )
    out = pd.DataFrame(
        rows, columns=["feature", "family", "missing_share", "n_unique", "top_value_share"]
    )
    out["flag_no_variance"] = out["n_unique"] <= 1
    out["flag_missing"] = out["missing_share"] > max_missing_share
    return out


def _distinct_and_top_share(x: np.ndarray) -> tuple[int, float]:
    """Distinct present values of numbers ``x`` and the most common one's share (NaN if none).

    The figures ``nunique`` and ``value_counts(normalize=True).iloc[0]`` give, from one sort
    instead of two hash tables (which grow out of the cache on a large panel): equal values
    (``0.0`` and ``-0.0`` among them) are adjacent once sorted, and a share is the same
    ``count / present`` division.
    """
    present = np.sort(x[~np.isnan(x)] if x.dtype.kind == "f" else x)
    if not len(present):
        return 0, np.nan
    starts = np.flatnonzero(np.r_[True, present[1:] != present[:-1]])
    counts = np.diff(np.r_[starts, len(present)])
    return len(starts), float(counts.max() / counts.sum())


def auc(label: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the 0/1 ``label`` (ties count half); NaN if one class."""
    positives = label == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = rankdata(score)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def information_value(label: np.ndarray, values: pd.Series, *, bins: int = 10) -> float:
    """Information value of ``values`` for the 0/1 ``label`` over quantile bins (categories as is).

    Missing values form a bin of their own; each bin's event and non-event counts get 0.5
    added so that an empty side does not make the value infinite.
    """
    if _is_categorical(values):
        groups = values.astype("str").fillna("<missing>").to_numpy()
    else:
        x = values.to_numpy(dtype=np.float64)
        present = ~np.isnan(x)
        edges: ArrayLike = (
            np.unique(np.quantile(x[present], np.linspace(0, 1, bins + 1)[1:-1]))
            if present.any()
            else []
        )
        groups = np.where(
            present, np.searchsorted(edges, np.where(present, x, 0.0), side="right"), -1
        )
    if isinstance(groups, np.ndarray) and groups.dtype.kind == "i" and np.isin(label, (0, 1)).all():
        # The crosstab's counts (bins in sorted order) by bincount: a numeric feature's bins
        # are small integers, so this is one pass instead of a groupby.
        code, is_event = groups + 1, np.asarray(label) == 1  # the missing bin (-1) first
        size = int(code.max()) + 1 if len(code) else 0
        event_count = np.bincount(code[is_event], minlength=size)
        other_count = np.bincount(code[~is_event], minlength=size)
        seen = (event_count + other_count) > 0
        events, others = event_count[seen] + 0.5, other_count[seen] + 0.5
    else:
        table = pd.crosstab(groups, label)
        events = table.get(1, pd.Series(0, index=table.index)).to_numpy(dtype=float) + 0.5
        others = table.get(0, pd.Series(0, index=table.index)).to_numpy(dtype=float) + 0.5
    events, others = events / events.sum(), others / others.sum()
    return float(np.sum((events - others) * np.log(events / others)))


def univariate_power(
    panel: pd.DataFrame, label_cols: Sequence[str], *, bins: int = 10
) -> pd.DataFrame:
    """AUC, oriented AUC and information value of every feature against every label.

    One row per (feature, label), sorted by label then oriented AUC (strongest first).
    Categorical features (segment, industry, region) have an IV but no AUC (NaN).
    """
    rows = []
    for label_col in label_cols:
        # The labelled rows of one column at a time, not a copy of the whole panel.
        labelled = panel[label_col].notna().to_numpy()
        y = panel[label_col].to_numpy(dtype=np.float64)[labelled]
        for name in feature_columns(panel, label_cols):
            values = panel[name][labelled]
            row: dict[str, Any] = {
                "feature": name,
                "family": family_of(name),
                "label": label_col,
                "rows": len(y),
                "events": int(np.nansum(y)),
            }
            if _is_categorical(values):
                row.update(
                    coverage=float(values.notna().mean()) if len(values) else np.nan, auc=np.nan
                )
            else:
                x = values.to_numpy(dtype=np.float64)
                present = ~np.isnan(x)
                row.update(
                    coverage=float(present.mean()) if len(x) else np.nan,
                    auc=auc(y[present], x[present]),
                )
            row["auc_oriented"] = (
                max(row["auc"], 1 - row["auc"]) if not np.isnan(row["auc"]) else np.nan
            )
            row["iv"] = (
                information_value(y, values, bins=bins)
                if len(y) and np.isin(y, (0, 1)).all()
                else np.nan
            )
            rows.append(row)
    columns = [
        "feature",
        "family",
        "label",
        "rows",
        "events",
        "coverage",
        "auc_oriented",
        "auc",
        "iv",
    ]
    out = pd.DataFrame(rows, columns=columns)
    order = {name: i for i, name in enumerate(label_cols)}
    out["_label_order"] = out["label"].map(order)
    out = out.sort_values(
        ["_label_order", "auc_oriented", "iv"], ascending=[True, False, False], na_position="last"
    )
    return out.drop(columns="_label_order").reset_index(drop=True)


def segment_summary(
    panel: pd.DataFrame, features: Sequence[str] | None = None, *, by: str = "segment"
) -> pd.DataFrame:
    """Distribution of numeric features by segment: rows, missing share, mean and quantiles."""
    names = [
        c for c in (features or feature_columns(panel)) if c != by and not _is_categorical(panel[c])
    ]
    rows = []
    for group, frame in panel.groupby(by, sort=True, observed=True):
        for name in names:
            values = frame[name].dropna()
            q = values.quantile([0.1, 0.5, 0.9]).to_numpy() if len(values) else np.full(3, np.nan)
            rows.append(
                {
                    "feature": name,
                    by: group,
                    "rows": len(frame),
                    "missing_share": float(frame[name].isna().mean()),
                    "mean": float(values.mean()) if len(values) else np.nan,
                    "p10": q[0],
                    "median": q[1],
                    "p90": q[2],
                }
            )
    return pd.DataFrame(
        rows, columns=["feature", by, "rows", "missing_share", "mean", "p10", "median", "p90"]
    )
