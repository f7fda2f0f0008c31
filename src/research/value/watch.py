"""The early-warning watch list, built at every snapshot, and its backtest.

A customer-snapshot is on the watch list when at least one trigger fires. Every
input is computed point in time from the raw tables (records strictly before the
snapshot), so the list of an earlier snapshot is exactly what the bank would have
seen then. The edges (``>`` or ``>=``) are part of the definitions:

* ``pd_rise``: PD minus the PD at the customer's previous snapshot ``> pd_rise``;
* ``grade_downgrade``: grades fallen since the previous snapshot ``>= grade_notches``;
* ``days_past_due``: days since the oldest instalment due before the snapshot and not
  paid before it ``>= dpd_days``;
* ``inflow_drop``: ``1 - inflows(last w months) / inflows(the w months before) > inflow_drop``
  (only when there were inflows before);
* ``dscr_breach``: DSCR ``< dscr_covenant``; DSCR is CFADS / debt service of the latest
  reported statement where the statement has them (project finance), else its EBITDA
  over the instalments due to the bank in the 12 months before the snapshot (no DSCR,
  and no breach, without debt service);
* ``statement_overdue``: days since the latest statement was reported
  ``> statement_overdue_days`` (a customer that never reported is not flagged: small
  firms often do not have to);
* ``complaint_spike``: complaints in the last ``w`` months ``>= complaints``.

A value within ``1e-9`` of its threshold counts as equal to it, so that floating-point
rounding (0.05 - 0.03 is not exactly 0.02) never moves a customer across an edge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from research.value.params import WatchParams
from research.value.relationship import table_or_empty, window

TRIGGERS: dict[str, str] = {
    "pd_rise": "PD rose by more than {pd_rise:.1%} (absolute) since the previous snapshot",
    "grade_downgrade": "rating fell by {grade_notches} or more grades since the previous snapshot",
    "days_past_due": "an instalment {dpd_days} or more days past due",
    "inflow_drop": "inflows of the last {window_months} months down more than {inflow_drop:.0%} on the {window_months} months before",
    "dscr_breach": "DSCR below the {dscr_covenant} covenant",
    "statement_overdue": "latest financial statement reported more than {statement_overdue_days} days ago",
    "complaint_spike": "{complaints} or more complaints in the last {window_months} months",
}
EDGE_TOLERANCE = 1e-9
INPUT_COLUMNS = (
    "days_past_due",
    "inflow_recent",
    "inflow_previous",
    "dscr",
    "days_since_statement",
    "complaints",
)


def describe_triggers(params: WatchParams) -> dict[str, str]:
    """Each trigger's definition with the thresholds of ``params`` filled in (for reports)."""
    values = dataclasses.asdict(params)
    return {name: text.format(**values) for name, text in TRIGGERS.items()}


def _days_past_due(repayments: pd.DataFrame, snapshot: pd.Timestamp) -> pd.Series:
    """Days since the oldest instalment due before the snapshot and unpaid at it, per customer."""
    due = repayments["due_date"] < snapshot
    paid = repayments["paid_date"].notna() & (repayments["paid_date"] < snapshot)
    unpaid = repayments.loc[due & ~paid, ["customer_id", "due_date"]]
    oldest = unpaid.groupby("customer_id")["due_date"].min()
    return (snapshot - oldest).dt.days.astype(float)


def _unpaid_at_some(repayments: pd.DataFrame, snapshots: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """The instalments unpaid at one of the (sorted) snapshots at least: due before it, not paid before it.

    ``_days_past_due`` at any of the snapshots gives the same on them as on all instalments
    (most are paid before the next snapshot comes), so each snapshot scans a small table.
    """
    times = np.array([np.datetime64(s, "ns") for s in snapshots], dtype="datetime64[ns]")
    due = repayments["due_date"].to_numpy(dtype="datetime64[ns]")
    paid = repayments["paid_date"].to_numpy(dtype="datetime64[ns]")
    following = np.searchsorted(times, due, side="right")  # the first snapshot after the due date
    has_next = following < len(times)
    next_snapshot = times[np.minimum(following, len(times) - 1)] if len(times) else due
    keep = has_next & (np.isnat(paid) | (paid >= next_snapshot))
    return repayments.loc[keep, ["customer_id", "due_date", "paid_date"]]


def _dscr(
    financials: pd.DataFrame, repayments: pd.DataFrame, snapshot: pd.Timestamp
) -> pd.DataFrame:
    """DSCR and days since the latest statement reported before the snapshot, per customer.

    ``financials`` is sorted by ``reported_date`` (stable).
    """
    times = financials["reported_date"].to_numpy(dtype="datetime64[ns]")
    known = financials.iloc[: np.searchsorted(times, np.datetime64(snapshot, "ns"))]
    latest = known.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    bank_service = (
        window(repayments, "due_date", snapshot, 12, columns=["customer_id", "amount_due"])
        .groupby("customer_id")["amount_due"]
        .sum()
    )
    bank_service = bank_service.reindex(latest.index)
    reported = latest["cfads"].notna() & (latest["debt_service"] > 0)
    dscr = np.where(
        reported,
        latest["cfads"] / latest["debt_service"].where(latest["debt_service"] > 0),
        latest["ebitda"] / bank_service.where(bank_service > 0),
    )
    return pd.DataFrame(
        {
            "dscr": dscr,
            "days_since_statement": (snapshot - latest["reported_date"]).dt.days.astype(float),
        },
        index=latest.index,
    )


def _sum_between(
    frame: pd.DataFrame, column: str, start: pd.Timestamp, end: pd.Timestamp, value: str
) -> pd.Series:
    """Per-customer sum of ``value`` over rows with ``start <= column < end`` (``frame`` sorted by ``column``)."""
    times = frame[column].to_numpy(dtype="datetime64[ns]")
    lo, hi = (
        np.searchsorted(times, np.datetime64(start, "ns")),
        np.searchsorted(times, np.datetime64(end, "ns")),
    )
    rows = frame.iloc[lo:hi]
    return rows.groupby("customer_id")[value].sum()


def early_warning_inputs(
    tables: Mapping[str, pd.DataFrame], snapshots: Sequence[pd.Timestamp], *, window_months: int
) -> pd.DataFrame:
    """Trigger inputs per (customer, snapshot) with any data: see the module docstring.

    Columns: ``customer_id``, ``snapshot_date`` and ``INPUT_COLUMNS``; missing inputs
    of a customer stay missing (the caller decides the neutral value).
    """
    transactions = table_or_empty(tables, "transactions")
    # Only the columns used: a copy of every column of the inflows is a large table's half.
    inflows = transactions.loc[
        transactions["amount"] > 0, ["customer_id", "timestamp", "amount"]
    ].sort_values("timestamp", kind="stable")
    interactions = table_or_empty(tables, "interactions")
    complaints = interactions.loc[
        interactions["interaction_type"] == "complaint", ["customer_id", "timestamp"]
    ].sort_values("timestamp", kind="stable")
    complaints = complaints.assign(count=1.0)
    repayments = table_or_empty(tables, "repayments")
    financials = table_or_empty(tables, "financials")
    # statements in the order of their reported date (stable): each snapshot's are a prefix
    financials = financials.loc[
        financials["reported_date"].notna(),
        ["customer_id", "reported_date", "ebitda", "cfads", "debt_service"],
    ].sort_values("reported_date", kind="stable")
    snapshots = sorted(pd.Timestamp(s) for s in set(snapshots))
    unpaid = _unpaid_at_some(repayments, snapshots)
    frames = []
    for snapshot in snapshots:
        start = snapshot - pd.DateOffset(months=window_months)
        earlier = snapshot - pd.DateOffset(months=2 * window_months)
        parts = [
            _days_past_due(unpaid, snapshot).rename("days_past_due"),
            _sum_between(inflows, "timestamp", start, snapshot, "amount").rename("inflow_recent"),
            _sum_between(inflows, "timestamp", earlier, start, "amount").rename("inflow_previous"),
            _dscr(financials, repayments, snapshot),
            _sum_between(complaints, "timestamp", start, snapshot, "count").rename("complaints"),
        ]
        frame = pd.concat(parts, axis=1)
        frame.index.name = "customer_id"
        frames.append(frame.reset_index().assign(snapshot_date=snapshot))
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["customer_id", "snapshot_date"])
    )
    out = out.reindex(columns=["customer_id", "snapshot_date", *INPUT_COLUMNS])
    return out.astype({c: "float64" for c in INPUT_COLUMNS}).astype({"customer_id": "str"})


def score_changes(credit_scores: pd.DataFrame, grades: Sequence[str]) -> pd.DataFrame:
    """Credit scores with the change of PD and grade since each customer's previous snapshot.

    Adds ``grade_rank`` (0 = best), ``previous_score``, ``previous_grade``,
    ``pd_change`` and ``grade_change`` (grades fallen; negative for upgrades), missing at
    a customer's first snapshot.
    """
    ranks = {g: i for i, g in enumerate(grades)}
    frame = credit_scores.sort_values(["customer_id", "snapshot_date"], kind="stable").reset_index(
        drop=True
    )
    frame["grade_rank"] = frame["grade"].astype(str).map(ranks).astype(float)
    previous = frame.groupby("customer_id", sort=False)[["score", "grade", "grade_rank"]].shift(1)
    frame["previous_score"] = previous["score"]
    frame["previous_grade"] = previous["grade"]
    frame["pd_change"] = frame["score"] - previous["score"]
    frame["grade_change"] = frame["grade_rank"] - previous["grade_rank"]
    return frame


def watch_triggers(frame: pd.DataFrame, params: WatchParams) -> pd.DataFrame:
    """Which triggers fire for each row (``pd_change``, ``grade_change`` and ``INPUT_COLUMNS`` needed).

    The thresholds are those of ``params`` (its ``window_months`` and ``reason_codes``
    play no part here). Adds one boolean column per trigger (``TRIGGERS``),
    ``triggers`` (the names that fired, comma-separated) and ``on_watch``. A missing
    input never fires.
    """
    eps = EDGE_TOLERANCE
    previous_inflow = frame["inflow_previous"]
    drop = 1.0 - frame["inflow_recent"].fillna(0.0) / previous_inflow.where(previous_inflow > 0)
    fired = (
        pd.DataFrame(
            {
                "pd_rise": frame["pd_change"] > params.pd_rise + eps,
                "grade_downgrade": frame["grade_change"] >= params.grade_notches - eps,
                "days_past_due": frame["days_past_due"] >= params.dpd_days - eps,
                "inflow_drop": drop > params.inflow_drop + eps,
                "dscr_breach": frame["dscr"] < params.dscr_covenant - eps,
                "statement_overdue": frame["days_since_statement"]
                > params.statement_overdue_days + eps,
                "complaint_spike": frame["complaints"] >= params.complaints - eps,
            },
            index=frame.index,
        )
        .fillna(False)
        .astype(bool)
    )
    return frame.assign(
        **{f"trigger_{k}": fired[k] for k in TRIGGERS},
        triggers=_fired_names(fired.to_numpy()),
        on_watch=fired.any(axis=1),
    )


def _fired_names(fired: np.ndarray) -> list[str]:
    """The names of the triggers fired in each row of ``fired`` (one boolean column per trigger), comma-separated.

    Each distinct combination is joined once (at most ``2 ** len(TRIGGERS)``), not once per row.
    """
    names = np.array(list(TRIGGERS))
    codes = fired.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    combos, inverse = np.unique(codes, return_inverse=True)
    texts = np.array(
        [", ".join(names[(combo >> np.arange(len(names))) & 1 == 1]) for combo in combos],
        dtype=object,
    )
    return texts[inverse.reshape(-1)].tolist()


def reason_summary(reason_codes: pd.DataFrame, *, top: int) -> pd.DataFrame:
    """The top ``top`` reason codes per (customer, snapshot): ``reasons`` (sentences) and ``reason_features``."""
    keys = ["customer_id", "snapshot_date"]
    if top <= 0 or reason_codes.empty:
        dtypes = {
            "customer_id": "str",
            "snapshot_date": "datetime64[ns]",
            "reasons": "str",
            "reason_features": "str",
        }
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    chosen = reason_codes.loc[reason_codes["rank"] <= top, [*keys, "rank", "sentence", "feature"]]
    chosen = chosen.sort_values([*keys, "rank"], kind="stable").reset_index(drop=True)
    # dropna=False: a flat table without a date scores rows with no snapshot date (NaT)
    grouped = chosen.groupby(keys, sort=True, dropna=False)
    group = grouped.ngroup().to_numpy()
    position = grouped.cumcount().to_numpy()
    # the texts are joined a position at a time over all groups (rows sorted by rank in each
    # group), not group by group: the same strings as "; ".join(map(str, group's sentences))
    first = position == 0
    order = np.argsort(group[first], kind="stable")
    out = chosen.loc[first, keys].iloc[order].reset_index(drop=True)
    return out.assign(
        reasons=_join_by_group(chosen["sentence"], group, position, len(out), "; "),
        reason_features=_join_by_group(chosen["feature"], group, position, len(out), ", "),
    )


def _join_by_group(
    values: pd.Series, group: np.ndarray, position: np.ndarray, groups: int, sep: str
) -> list[str]:
    """Per group (0..groups-1), ``sep.join`` of ``str`` of its values in order of ``position``."""
    text = np.array([str(v) for v in values.to_numpy(dtype=object)], dtype=object)
    joined = np.empty(groups, dtype=object)
    at = position == 0
    joined[group[at]] = text[at]
    for step in range(1, int(position.max()) + 1 if len(position) else 0):
        at = position == step
        rows = group[at]
        joined[rows] = joined[rows] + sep + text[at]
    return joined.tolist()


def build_watch_flags(
    credit_scores: pd.DataFrame,
    inputs: pd.DataFrame,
    reason_codes: pd.DataFrame,
    *,
    grades: Sequence[str],
    params: WatchParams,
) -> pd.DataFrame:
    """Every customer-snapshot of the credit scores with its trigger inputs, triggers and reasons.

    Inputs a customer has no record for are neutral: no days past due, no inflows, no
    complaints; DSCR and statement age stay missing. The triggers fire at the
    thresholds of ``params`` (``watch_triggers``); each row carries its top
    ``params.reason_codes`` reason codes.
    """
    frame = score_changes(credit_scores, grades)
    frame = frame.merge(
        inputs, on=["customer_id", "snapshot_date"], how="left", validate="one_to_one"
    )
    frame = frame.fillna(
        {"days_past_due": 0.0, "inflow_recent": 0.0, "inflow_previous": 0.0, "complaints": 0.0}
    )
    frame = watch_triggers(frame, params)
    reasons = reason_summary(reason_codes, top=params.reason_codes)
    return frame.merge(reasons, on=["customer_id", "snapshot_date"], how="left")


def watch_backtest(
    flags: pd.DataFrame, *, split: str = "oot"
) -> tuple[dict[str, float], pd.DataFrame]:
    """Default rate in the following window of watch-listed customers against the rest.

    Uses rows of ``split`` with a known ``label`` (1 default, 0 none). Returns the
    pooled figures (rows, defaults and default rate of each group, their ratio and the
    share of all defaults the watch list caught) and the same per snapshot.
    """
    known = flags.loc[(flags["split"] == split) & flags["label"].notna()]

    def figures(rows: pd.DataFrame) -> dict[str, float]:
        watch, rest = rows.loc[rows["on_watch"], "label"], rows.loc[~rows["on_watch"], "label"]
        watch_rate = float(watch.mean()) if len(watch) else float("nan")
        rest_rate = float(rest.mean()) if len(rest) else float("nan")
        defaults = float(rows["label"].sum())
        return {
            "watch_rows": int(len(watch)),
            "watch_defaults": int(watch.sum()),
            "watch_default_rate": watch_rate,
            "rest_rows": int(len(rest)),
            "rest_defaults": int(rest.sum()),
            "rest_default_rate": rest_rate,
            "ratio": watch_rate / rest_rate if rest_rate > 0 else float("nan"),
            "defaults_caught": float(watch.sum()) / defaults if defaults else float("nan"),
        }

    by_snapshot = pd.DataFrame(
        [{"snapshot_date": s, **figures(g)} for s, g in known.groupby("snapshot_date", sort=True)]
    )
    return figures(known), by_snapshot


def trigger_summary(flags: pd.DataFrame, *, split: str = "oot") -> pd.DataFrame:
    """For each trigger on ``split`` rows with a known label: how often it fired and the default rate when it did."""
    known = flags.loc[(flags["split"] == split) & flags["label"].notna()]
    base = float(known["label"].mean()) if len(known) else float("nan")
    rows = []
    for name in [*TRIGGERS, "on_watch"]:
        column = "on_watch" if name == "on_watch" else f"trigger_{name}"
        fired = known.loc[known[column], "label"]
        rate = float(fired.mean()) if len(fired) else float("nan")
        rows.append(
            {
                "trigger": "any (watch list)" if name == "on_watch" else name,
                "fired": int(len(fired)),
                "fired_share": len(fired) / len(known) if len(known) else float("nan"),
                "default_rate": rate,
                "lift": rate / base if base else float("nan"),
            }
        )
    return pd.DataFrame(rows)
