"""The point-in-time panel: one row per (customer, snapshot date), features of every family, labels.

A row exists for a customer onboarded before the snapshot whose relationship had not
ended before it and who had not defaulted before it. Features use only records whose
event time is strictly before the snapshot (midnight); labels use the performance
window from the snapshot on. A missing input table drops its family with a note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from research import labels
from research.features._grid import SnapshotGrid, as_snapshot_index, make_grid
from research.features.applications import application_features
from research.features.balances import balance_features, cash_cover_columns, cash_cover_names
from research.features.cashflow import cashflow_features
from research.features.catalog import feature_catalog
from research.features.engagement import engagement_features
from research.features.facilities import BALANCE_FEATURES, facility_features
from research.features.financials import financial_features
from research.features.peers import add_peer_relative, relative_name
from research.features.relationship import relationship_features
from research.features.repayment import repayment_features

__all__ = [
    "STANDARD_FEATURE_SETTINGS",
    "SnapshotGrid",
    "build_panel",
    "calendar_snapshots",
    "make_grid",
    "months_back_needed",
    "snapshot_dates",
]

# The feature settings of the default params.yaml, for code that must not depend on the
# feature stage's parameters (the data profile) and for benchmarks and test fixtures.
STANDARD_FEATURE_SETTINGS: Mapping[str, Any] = {
    "windows_months": [3, 6, 12],
    "long_window_months": 12,
    "trend_recent_months": 3,
    "dpd_thresholds": [30, 60, 90],
    "financials_overdue_days": 180,
}


def snapshot_dates(first: str, last: str, every_months: int) -> list[pd.Timestamp]:
    """Snapshot dates from ``first`` to ``last`` (inclusive) every ``every_months`` months."""
    if every_months < 1:
        raise ValueError(f"snapshot_dates: every_months must be >= 1, got {every_months}")
    start, stop = pd.Timestamp(first).as_unit("ns"), pd.Timestamp(last).as_unit("ns")
    out, k = [], 0
    while (date := start + pd.DateOffset(months=k * every_months)) <= stop:
        out.append(date.as_unit("ns"))
        k += 1
    return out


class SnapshotRangeError(ValueError):
    """The snapshots of ``features.snapshots`` do not fit the data's range or its labels."""


def _month_start_on_or_after(date: pd.Timestamp) -> pd.Timestamp:
    start = date.to_period("M").start_time
    return (start if start == date else start + pd.DateOffset(months=1)).as_unit("ns")


def calendar_snapshots(
    first: str,
    last: str,
    every_months: int,
    *,
    data_from: dt.date | None,
    observation_end: pd.Timestamp,
    history_months: int,
) -> tuple[list[pd.Timestamp], list[str]]:
    """The calendar grid of ``features.snapshots``, with an empty ``first`` or ``last`` derived from the data.

    Derived ends (a bank's source without a configured grid):

    - ``last``: the last month start on or before ``observation_end`` (the day after the
      as-of date). A snapshot sees the records strictly before it, so an as-of date at a
      month's end gives the following month start, which sees every record; a later
      snapshot would sum days without records.
    - ``first``: the first month start at least ``history_months`` (the longest feature
      window) after the first record date ``data_from``, so no window starts before the data.

    The grid steps ``every_months`` from the configured end (forward from ``first`` when
    only it is set), else backward from ``last``, so the latest snapshot is as recent as the
    data allows.

    Returns:
        The snapshot dates and one note per derived end, saying how it was found.

    Raises:
        SnapshotRangeError: When the data's range holds no snapshot with that much history.
    """
    if every_months < 1:
        raise ValueError(f"calendar_snapshots: every_months must be >= 1, got {every_months}")
    if first and last:
        return snapshot_dates(first, last, every_months), []
    end = pd.Timestamp(observation_end).as_unit("ns")
    latest = end.to_period("M").start_time.as_unit("ns")
    earliest = None
    if data_from is not None:
        earliest = _month_start_on_or_after(
            pd.Timestamp(data_from) + pd.DateOffset(months=history_months)
        )
    if not first and earliest is None:
        raise SnapshotRangeError(
            "features.snapshots.first is empty and the data has no record dates to derive it "
            "from; Fix: set features.snapshots.first in params.yaml"
        )
    step = pd.DateOffset(months=every_months)
    if first:  # forward from the configured first snapshot up to the data's end
        out = snapshot_dates(first, f"{latest:%Y-%m-%d}", every_months)
    else:
        stop = pd.Timestamp(last).as_unit("ns") if last else latest
        out, k = [], 0
        while (date := (stop - k * step).as_unit("ns")) >= earliest:
            out.append(date)
            k += 1
        out.reverse()
    if not out:
        raise SnapshotRangeError(
            "features.snapshots: the data's range holds no snapshot with "
            f"{history_months} months of history (the longest feature window): the first "
            f"possible snapshot is {earliest:%Y-%m-%d} ({history_months} months after the first "
            f"record date {data_from}) and the last {latest:%Y-%m-%d} (the month start on or "
            f"before the day after the as-of date, {end:%Y-%m-%d}). Fix: set "
            "features.snapshots.first and last in params.yaml, or shorten "
            "features.windows_months / long_window_months"
        )
    notes = []
    if not first:
        notes.append(
            f"features.snapshots.first derived: {out[0]:%Y-%m-%d}, the first snapshot at least "
            f"{history_months} months (the longest feature window) after the first record "
            f"date {data_from}"
        )
    if not last:
        sees = "; it sees every record" if out[-1] == end else ""
        notes.append(
            f"features.snapshots.last derived: {out[-1]:%Y-%m-%d}, the last snapshot on or "
            f"before {end:%Y-%m-%d} (the day after the as-of date{sees})"
        )
    return out, notes


def months_back_needed(
    windows_months: Sequence[int], long_window_months: int, trend_recent_months: int
) -> int:
    """How many whole months before a snapshot the longest window (or pair of trend windows) reaches."""
    longest = max(windows_months)
    return max(2 * longest, long_window_months, 2 * trend_recent_months)


def build_panel(
    tables: Mapping[str, pd.DataFrame],
    snapshots: Sequence[pd.Timestamp],
    *,
    windows_months: Sequence[int],
    long_window_months: int,
    trend_recent_months: int,
    dpd_thresholds: Sequence[int],
    financials_overdue_days: int,
    default_dpd: int,
    horizons_months: Sequence[int],
    observation_end: pd.Timestamp | None = None,
    n_threads: int = 2,
    peer_relative: bool = True,
    label_sources: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The point-in-time panel and notes on what could not be built.

    Args:
        tables: Input tables by name (``customers`` required; any other may be absent).
        snapshots: Snapshot dates (midnight); features use records strictly before each.
        windows_months: Look-back windows of the cash-flow, engagement and repayment features.
        long_window_months: Look-back of the facility, financial and application counts.
        trend_recent_months: Trends compare this many recent months with as many before.
        dpd_thresholds: Days past due counted by ``rep_dpd{t}_count_*``.
        financials_overdue_days: Days without a statement after which one is overdue.
        default_dpd: Days past due that make a default (label and exclusion).
        horizons_months: Label windows; every event of ``research.labels.LABEL_EVENTS`` gets a
            column per window.
        observation_end: First day after the data (default: ``research.labels.observation_end``).
        n_threads: Families built at once.
        peer_relative: Replace the features that move with the whole book by their distance
            from the peers' median at the snapshot (``research.features.peers``). The Dask
            engine builds customer partitions without it and adds it to the collected panel,
            because peers span partitions.
        label_sources: Where each label event's dates come from (``research.labels.label_sources``
            of the whole tables): given by callers that build on a part of the tables
            (customer partitions, batches of anchors); None decides it from ``tables``.

    Returns:
        The panel: ``customer_id``, ``snapshot_date``, the features in catalog order, then
        the labels ``<event>_<H>m`` (``research.labels.label_names``; 1.0, 0.0, NaN when censored); one row per customer
        onboarded before the snapshot, not gone and not in default before it, sorted by
        snapshot date then customer id. And one note per missing table.
    """
    _check_params(windows_months, long_window_months, trend_recent_months, dpd_thresholds)
    if "customers" not in tables or tables["customers"] is None:
        raise ValueError(
            "build_panel: the customers table is required (tables['customers'] is missing)"
        )
    present = {name: frame for name, frame in tables.items() if frame is not None}
    notes: list[str] = []
    # The same event dates as the labels (the bank's events table first, else derived).
    sources = labels.label_sources(present) if label_sources is None else dict(label_sources)
    grid = make_grid(
        present["customers"],
        as_snapshot_index(snapshots),
        months_back=months_back_needed(windows_months, long_window_months, trend_recent_months),
        default_dates=labels.event_dates(
            present, labels.DEFAULT_EVENT, default_dpd, source=sources[labels.DEFAULT_EVENT]
        ),
        churn_dates=(
            labels.event_dates(present, labels.CHURN_EVENT, default_dpd, source=labels.EVENTS_TABLE)
            if sources[labels.CHURN_EVENT] == labels.EVENTS_TABLE
            else None  # derived churn is the relationship end date, which make_grid reads
        ),
    )
    notes.extend(labels.event_source_notes(sources))
    jobs = _family_jobs(
        present,
        grid,
        notes,
        windows_months=windows_months,
        long_window_months=long_window_months,
        trend_recent_months=trend_recent_months,
        dpd_thresholds=dpd_thresholds,
        financials_overdue_days=financials_overdue_days,
    )
    # Families are independent; Arrow and most numpy loops release the GIL.
    with ThreadPoolExecutor(max_workers=max(n_threads, 1)) as pool:
        parts = list(pool.map(lambda job: job(), jobs))

    keys = grid.keys()
    catalog = feature_catalog(
        windows_months, long_window_months, dpd_thresholds, trend_recent_months
    )
    features = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=keys.index)
    if "account_balances" in present and "transactions" in present:
        features = features.assign(**cash_cover_columns(grid, features, windows_months))
    # A raw feature that a peer-relative one replaces takes that feature's place in the catalog.
    by_catalog_name = {relative_name(column) or column: column for column in features.columns}
    ordered = [by_catalog_name[name] for name in catalog if name in by_catalog_name]
    if observation_end is not None:
        end = observation_end
    else:  # an empty panel (no customers onboarded in time) needs no end of data
        end = labels.observation_end(present) if len(keys) else grid.snapshots.max()
    label_frame = labels.panel_labels(
        keys,
        present,
        default_dpd=default_dpd,
        horizons_months=horizons_months,
        observation_end=end,
        sources=sources,
    )
    panel = _side_by_side(keys, features, ordered, label_frame)
    del features, parts
    return (add_peer_relative(panel) if peer_relative else panel), notes


def _side_by_side(
    keys: pd.DataFrame, features: pd.DataFrame, ordered: Sequence[str], label_frame: pd.DataFrame
) -> pd.DataFrame:
    """``concat([keys, features[ordered], label_frame], axis=1)`` without copying the features.

    Each column stays a view of its family's block (one block per column), so ordering the
    features costs no second copy of the panel, and replacing a column later (the peer step)
    copies that column only.
    """
    columns = {name: keys[name] for name in keys.columns}
    columns |= {name: features[name] for name in ordered}
    columns |= {name: label_frame[name] for name in label_frame.columns}
    return pd.DataFrame(columns, index=keys.index, copy=False)


def _family_jobs(
    tables: Mapping[str, pd.DataFrame],
    grid: SnapshotGrid,
    notes: list[str],
    *,
    windows_months: Sequence[int],
    long_window_months: int,
    trend_recent_months: int,
    dpd_thresholds: Sequence[int],
    financials_overdue_days: int,
) -> list[Callable[[], pd.DataFrame]]:
    """One job per family whose tables are present; a note for each that is not."""
    jobs: list[Callable[[], pd.DataFrame]] = []

    def add(
        table: str, family: str, prefix: str, job: Callable[[], pd.DataFrame], more: str = ""
    ) -> None:
        if table in tables:
            jobs.append(job)
        else:
            notes.append(f"{table}: table absent, so no {family} features ({prefix}*){more}")

    # The largest tables first, so the two workers finish together.
    cover = (
        f", nor {', '.join(cash_cover_names(windows_months))} (balances against outflows)"
        if "account_balances" in tables
        else ""
    )
    add(
        "account_balances",
        "account-conduct",
        "bal_",
        # bal_cash_cover_* come after the families, from the cash-flow family's outflows.
        lambda: balance_features(
            tables["account_balances"],
            grid,
            windows_months=windows_months,
            trend_recent_months=trend_recent_months,
        ),
    )
    add(
        "transactions",
        "cash-flow",
        "cf_",
        lambda: cashflow_features(
            tables["transactions"],
            grid,
            windows_months=windows_months,
            trend_recent_months=trend_recent_months,
        ),
        cover,
    )
    add(
        "repayments",
        "repayment",
        "rep_",
        lambda: repayment_features(
            tables["repayments"],
            grid,
            windows_months=windows_months,
            trend_recent_months=trend_recent_months,
            dpd_thresholds=dpd_thresholds,
        ),
        (
            ", no exclusion of customers in default, and the default label is missing (NaN) "
            "throughout"
            if labels.label_sources(tables)[labels.DEFAULT_EVENT] != labels.EVENTS_TABLE
            else " (defaults come from the events table)"
        ),
    )
    add(
        "facilities",
        "facility",
        "fac_",
        lambda: facility_features(
            tables["facilities"],
            grid,
            long_window_months=long_window_months,
            trend_recent_months=trend_recent_months,
            windows_months=windows_months,
            facility_balances=tables.get("facility_balances"),
        ),
    )
    if "facilities" in tables and "facility_balances" not in tables:
        notes.append(f"facility_balances: table absent, so no {', '.join(BALANCE_FEATURES)}")
    if "facility_balances" in tables and "facilities" not in tables:
        notes.append("facility_balances: present but unused without the facilities table")
    add(
        "interactions",
        "engagement",
        "eng_",
        lambda: engagement_features(tables["interactions"], grid, windows_months=windows_months),
    )
    add(
        "financials",
        "financial",
        "fin_",
        lambda: financial_features(
            tables["financials"],
            grid,
            long_window_months=long_window_months,
            financials_overdue_days=financials_overdue_days,
        ),
    )
    add(
        "applications",
        "application",
        "app_",
        lambda: application_features(
            tables["applications"], grid, long_window_months=long_window_months
        ),
    )
    jobs.append(lambda: relationship_features(tables["customers"], grid))
    return jobs


def _check_params(windows_months, long_window_months, trend_recent_months, dpd_thresholds) -> None:
    if not windows_months or min(windows_months) < 1:
        raise ValueError(
            f"build_panel: windows_months must be a non-empty list of months >= 1, got {windows_months}"
        )
    if long_window_months < 1 or trend_recent_months < 1:
        raise ValueError(
            "build_panel: long_window_months and trend_recent_months must be >= 1, "
            f"got {long_window_months} and {trend_recent_months}"
        )
    if not dpd_thresholds or min(dpd_thresholds) < 1:
        raise ValueError(
            f"build_panel: dpd_thresholds must be a non-empty list of days >= 1, got {dpd_thresholds}"
        )
