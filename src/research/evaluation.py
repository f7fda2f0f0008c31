"""How informative the data is and how close a model comes to the oracle; never used to fit anything.

Event rates by year and the best single observables describe the portfolio (the data
stage shows them); they sit here rather than in ``research.data`` because they need the
labels and the feature panel, which build on the data layer. The oracle score of a customer-snapshot is the event probability given the customer's
latent state at the snapshot. Its AUC on the same customer-snapshots as the model's is
the ceiling any model can reach from the data; the gap says how much the features miss.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from research.labels import LABEL_EVENTS, label_names, observation_end, parse_label_name
from research.models.metrics import auc

KEYS = ["customer_id", "snapshot_date"]


def oracle_comparison(
    scores: pd.DataFrame,
    oracle: pd.DataFrame,
    *,
    label: str,
    oracle_column: str,
    split: str = "oot",
    score: str = "score",
) -> dict[str, Any]:
    """Model and oracle AUC on the ``split`` rows of ``scores`` that the oracle covers.

    Args:
        scores: Scored rows with ``customer_id, snapshot_date, split``, the outcome column
            ``label`` and the model's ``score``.
        oracle: ``customer_id, snapshot_date`` and ``oracle_column``.
        label: Outcome column of ``scores`` (1/0).
        oracle_column: The oracle probability to compare (``oracle_<label>``, e.g. ``oracle_default_12m``).
        split: Which rows to compare.
        score: The model's score column.

    Returns:
        ``auc`` (model), ``oracle_auc``, ``gap`` (oracle minus model), ``n``, ``events``,
        and ``unmatched`` (rows of the split the oracle lacks; excluded).
    """
    missing = [c for c in (*KEYS, oracle_column) if c not in oracle.columns]
    if missing:
        raise KeyError(f"oracle table lacks columns {missing}; it has {list(oracle.columns)}")
    rows = scores.loc[(scores["split"] == split) & scores[label].notna(), [*KEYS, label, score]]
    truth = oracle[[*KEYS, oracle_column]].drop_duplicates(KEYS)
    truth = truth.assign(
        snapshot_date=pd.to_datetime(truth["snapshot_date"]).astype("datetime64[ns]")
    )
    rows = rows.assign(snapshot_date=pd.to_datetime(rows["snapshot_date"]).astype("datetime64[ns]"))
    joined = rows.merge(truth, on=KEYS, how="inner", validate="one_to_one")
    if joined.empty:
        raise ValueError(f"no {split!r} customer-snapshot of the scores is in the oracle table")
    model_auc, oracle_auc = (
        auc(joined[label], joined[score]),
        auc(joined[label], joined[oracle_column]),
    )
    return {
        "auc": model_auc,
        "oracle_auc": oracle_auc,
        "gap": None if model_auc is None or oracle_auc is None else oracle_auc - model_auc,
        "n": len(joined),
        "events": int(joined[label].sum()),
        "unmatched": len(rows) - len(joined),
    }


def oracle_column(label: str) -> str:
    """The truth table's column holding the oracle probability of a panel label."""
    return f"oracle_{label}"


def event_rates_by_year(
    tables: Mapping[str, pd.DataFrame], *, default_dpd: int, as_of: dt.date
) -> pd.DataFrame:
    """Annual rate of every label event per segment among customers active on 1 January.

    A customer counts for year Y when onboarded before Y, and no event (default, the
    relationship's end) happened before Y; the ``<event>_rate`` is the share whose first
    event date falls in Y. Events after the as-of date of the data (``research.data.asof``)
    are not observed, and years not complete by then are left out.
    """
    customers = tables["customers"].set_index("customer_id")
    data_end = observation_end(tables, as_of)  # the day after the as-of date
    firsts = {}
    for event, dates_of in LABEL_EVENTS.items():
        dates = dates_of(tables, default_dpd)
        dates = pd.Series(dtype="datetime64[ns]") if dates is None else dates
        firsts[event] = dates.reindex(customers.index).where(lambda d: d < data_end)
    # Years from the first one with repayment history (records before it are not in the data).
    history_start = (
        (
            tables["repayments"]["due_date"].min()
            if "repayments" in tables
            else customers["onboarding_date"].min()
        )
        .to_period("M")
        .start_time
    )
    first_year = (
        history_start.year
        if history_start == pd.Timestamp(history_start.year, 1, 1)
        else history_start.year + 1
    )
    rows = []
    for year in range(first_year, data_end.year + 1):
        start, stop = pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1)
        if stop > data_end:
            continue
        active = customers["onboarding_date"] < start
        for first in firsts.values():
            active &= ~(first < start)
        frame = pd.DataFrame(
            {"segment": customers["segment"]}
            | {
                event: first.between(start, stop, inclusive="left")
                for event, first in firsts.items()
            }
        )[active]
        grouped = frame.groupby("segment").agg(
            customers=("segment", "size"), **{f"{event}_rate": (event, "mean") for event in firsts}
        )
        grouped.loc["all"] = [len(frame), *(frame[event].mean() for event in firsts)]
        rows.append(grouped.reset_index().assign(year=year))
    return pd.concat(rows, ignore_index=True)[
        ["year", "segment", "customers", *(f"{e}_rate" for e in firsts)]
    ]


def rank_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """``research.models.metrics.auc`` in numpy alone, bit for bit: no sklearn to import.

    The area under the ROC curve (ties count one half) computed exactly as
    ``sklearn.metrics.roc_auc_score`` does: scores in descending order, true and false
    positives at each distinct score, the collinear points dropped, the trapezoids summed
    (``scipy.integrate.trapezoid``). ``y`` holds 1/0 (no missing values), ``score`` finite
    numbers; ``None`` when one class only.
    """
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"outcome and score differ in length: {y.shape} vs {s.shape}")
    positive = y == 1.0
    if not (positive | (y == 0.0)).all():
        raise ValueError("outcome must hold only 0 and 1 (drop censored rows first)")
    events = int(positive.sum())
    if events == 0 or events == len(y):
        return None
    if not np.isfinite(s).all():
        raise ValueError("score holds infinite or missing values")
    # At each distinct score, from the highest: the events and the rows scoring at least
    # as much. sklearn reads them off a cumulative sum in descending order of an argsort;
    # the same whole numbers come from two plain sorts (all scores, the events' scores),
    # several times faster on the many ties of count-like features.
    ascending = np.sort(s)
    starts = np.flatnonzero(np.concatenate(([True], ascending[1:] != ascending[:-1])))
    distinct = ascending[starts]
    at_least = (len(s) - starts)[::-1].astype(np.float64)
    scored_events = np.sort(s[positive])
    tps = (events - np.searchsorted(scored_events, distinct, side="left"))[::-1].astype(np.float64)
    fps = at_least - tps
    if len(fps) > 2:  # drop the points collinear with their neighbours (roc_curve's default)
        corner = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.concatenate(([True], corner, [True]))
        fps, tps = fps[keep], tps[keep]
    tps = np.concatenate(([0.0], tps))
    fps = np.concatenate(([0.0], fps))
    fpr, tpr = fps / fps[-1], tps / tps[-1]
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0, dtype=np.float64))


def oriented_auc(label: pd.Series, values: pd.Series) -> float:
    """AUC of a single quantity in its better direction (missing values ranked lowest)."""
    mask = label.notna()
    return _oriented_auc(label[mask].to_numpy(dtype=float), values[mask])


def _oriented_auc(y: np.ndarray, values: pd.Series) -> float:
    """``oriented_auc`` of the rows with an outcome: ``y`` (1/0) and the quantity's ``values``."""
    x = values.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(x)
    if missing.any():
        # the fill value of pandas' ``fillna(values.min() - 1)``: one below the smallest value
        fill = values.min() - 1 if not missing.all() else 0.0
        x = np.where(missing, float(fill), x)
    if len(np.unique(y)) < 2 or x.size == 0 or x.min() == x.max():
        return 0.5
    area = rank_auc(y, x)
    return 0.5 if area is None else float(max(area, 1.0 - area))


def informativeness(
    tables: Mapping[str, pd.DataFrame],
    truth: Mapping[str, pd.DataFrame],
    *,
    default_dpd: int,
    horizons_months: Sequence[int],
    as_of: dt.date,
    n_snapshots: int = 4,
    top: int = 5,
) -> pd.DataFrame:
    """Oracle AUC against the best single observables, per label, on the latest full windows.

    The snapshots are the last ``n_snapshots`` quarter starts whose label windows end by
    the as-of date of the data (the out-of-time period of the default settings). Every
    feature the panel builds counts as an observable; the table lists the oracle and the
    ``top`` best single features by oriented AUC, with their gap to the oracle.
    """
    from research.features.snapshot import STANDARD_FEATURE_SETTINGS, build_panel

    end = observation_end(tables, as_of)
    last = (end - pd.DateOffset(months=max(horizons_months))).to_period("Q").start_time
    snapshots = [last - pd.DateOffset(months=3 * k) for k in reversed(range(n_snapshots))]
    panel, _ = build_panel(
        tables,
        snapshots,
        default_dpd=default_dpd,
        horizons_months=horizons_months,
        observation_end=end,
        **STANDARD_FEATURE_SETTINGS,  # independent of the feature stage's parameters
    )
    oracle = truth["oracle"]
    panel = panel.merge(
        oracle, on=["customer_id", "snapshot_date"], how="left", validate="one_to_one"
    )
    labels = [name for name in label_names(horizons_months) if oracle_column(name) in panel.columns]
    skip = {"customer_id", "snapshot_date", *label_names(horizons_months), *oracle.columns}
    features = [
        c for c in panel.columns if c not in skip and pd.api.types.is_numeric_dtype(panel[c])
    ]
    rows = []
    for label in labels:
        event = parse_label_name(label)[0]  # type: ignore[index]
        subset = panel[panel[label].notna() & panel[oracle_column(label)].notna()]
        y = subset[label].to_numpy(dtype=float)
        oracle_auc = rank_auc(y, subset[oracle_column(label)].to_numpy(dtype=float))
        if oracle_auc is None:  # one outcome class only (a tiny portfolio): nothing to rank
            continue
        rows.append(
            {
                "event": event,
                "quantity": "oracle (latent state)",
                "auc": oracle_auc,
                "gap_to_oracle": 0.0,
                "rows": len(subset),
                "events": int(subset[label].sum()),
            }
        )
        single = sorted(((_oriented_auc(y, subset[f]), f) for f in features), reverse=True)[:top]
        rows.extend(
            {
                "event": event,
                "quantity": name,
                "auc": area,
                "gap_to_oracle": oracle_auc - area,
                "rows": len(subset),
                "events": int(subset[label].sum()),
            }
            for area, name in single
        )
    return pd.DataFrame(rows)
