"""The point-in-time panel: one row per (customer, snapshot date), features of every family, labels.

A row exists for a customer onboarded before the snapshot whose relationship had not
ended before it and who had not defaulted before it. Features use only records whose
event time is strictly before the snapshot (midnight); labels use the performance
window from the snapshot on. A missing input table drops its family with a note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from research import labels
from research.features._grid import SnapshotGrid, as_snapshot_index, make_grid
from research.features.applications import application_features
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
    repayments = present.get("repayments")
    first_default = None if repayments is None else labels.default_dates(repayments, default_dpd)
    grid = make_grid(
        present["customers"],
        as_snapshot_index(snapshots),
        months_back=months_back_needed(windows_months, long_window_months, trend_recent_months),
        default_dates=first_default,
    )
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
    )
    panel = pd.concat([keys, features[ordered], label_frame], axis=1)
    return (add_peer_relative(panel) if peer_relative else panel), notes


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
        ", no exclusion of customers in default, and the default label is missing (NaN) throughout",
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
