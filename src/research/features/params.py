"""Settings of the feature panel (``params.yaml`` → ``features``), checked on construction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from research._params import check as _check
from research._params import check_date as _check_date
from research._params import increasing as _increasing

# Anchors of the event-anchored mode read from the applications table: its decision date
# (``applications`` means the same), or the date the request was submitted.
APPLICATION_ANCHORS = ("applications", "applications.decided_date", "applications.submitted_date")
# A user-given anchor table: Parquet or CSV with customer_id, anchor_date (and anchor_id).
ANCHOR_SUFFIXES = (".parquet", ".pq", ".csv", ".txt", ".csv.gz")
# The anchor id column an event-anchored panel carries when its anchors have one: the
# application, or a user table's ``anchor_id``. Ids, never features.
ANCHOR_ID_COLUMNS = ("application_id", "anchor_id")


@dataclasses.dataclass(frozen=True)
class SnapshotParams:
    """``features.snapshots``: the dates the panel's rows are taken at.

    ``calendar``: every ``every_months`` months from ``first`` to ``last``; an empty
    ``first`` or ``last`` is derived from the data (``research.features.snapshot.calendar_snapshots``).
    ``events``: one row per anchor event (``anchors``), for origination scoring; ``first``
    and ``last``, when set, bound the anchor dates.
    """

    mode: Literal["calendar", "events"]
    first: str
    last: str
    every_months: int
    anchors: str

    def __post_init__(self) -> None:
        for key in ("first", "last"):
            if getattr(self, key):
                _check_date(getattr(self, key), f"features.snapshots.{key}")
        if self.first and self.last:
            _check(
                dt.date.fromisoformat(self.first) <= dt.date.fromisoformat(self.last),
                "features.snapshots.first",
                f"must not be after features.snapshots.last ({self.first} > {self.last})",
            )
        _check(self.every_months >= 1, "features.snapshots.every_months", "must be at least 1")
        if self.mode == "events":
            _check(
                bool(self.anchors.strip()),
                "features.snapshots.anchors",
                "must name the anchor events of mode: events: "
                f"{' | '.join(APPLICATION_ANCHORS)} | the path of a Parquet or CSV table "
                "(customer_id, anchor_date and optionally anchor_id)",
            )
        if self.anchors.strip():
            anchors = self.anchors.strip()
            _check(
                anchors in APPLICATION_ANCHORS or anchors.lower().endswith(ANCHOR_SUFFIXES),
                "features.snapshots.anchors",
                f"must be one of {', '.join(APPLICATION_ANCHORS)} or the path of a table "
                f"ending in {', '.join(ANCHOR_SUFFIXES)}, got {self.anchors!r}",
            )

    @property
    def derived(self) -> bool:
        """Whether the calendar grid (or part of it) comes from the data's date range."""
        return self.mode == "calendar" and not (self.first and self.last)


# The resolved snapshots and the derived out-of-time split, written by the features stage
# beside the panel (``data/features/snapshots.json``) and read by the train stage.
SNAPSHOT_PLAN_FILE = "snapshots.json"


@dataclasses.dataclass(frozen=True)
class SnapshotPlan:
    """The snapshots the features stage used and the out-of-time start the data suggests.

    Attributes:
        mode: ``calendar`` or ``events`` (``features.snapshots.mode``).
        first, last: The first and last snapshot (anchor) date, ISO.
        every_months: The calendar grid's step (0 for event anchors).
        snapshots: The calendar grid's dates, ISO (empty for event anchors: one per row).
        oot_first_snapshot: The derived start of the out-of-time test (ISO; empty when the
            data cannot hold one, ``oot_note`` says why). The train stage uses it when
            ``split.oot_first_snapshot`` is empty.
        notes: How each derived value was found, one sentence each.
        oot_note: How ``oot_first_snapshot`` was derived, or why it could not be.
    """

    mode: str
    first: str
    last: str
    every_months: int
    snapshots: list[str]
    oot_first_snapshot: str
    notes: list[str]
    oot_note: str

    def oot_for(self, configured: str) -> str:
        """The out-of-time start the train stage uses: ``configured`` when set, else the derived one.

        Raises:
            ValueError: ``configured`` is empty and none could be derived, or a configured
                date falls after the last snapshot (the out-of-time test would be empty).
        """
        if configured:
            if self.last and dt.date.fromisoformat(configured) > dt.date.fromisoformat(self.last):
                raise ValueError(
                    f"split.oot_first_snapshot ({configured}) is after the last snapshot "
                    f"({self.last}, features.snapshots as the features stage resolved it): the "
                    "out-of-time test would be empty. Fix: move it earlier, or leave it empty "
                    "to derive it from the data"
                )
            return configured
        if not self.oot_first_snapshot:
            raise ValueError(
                f"split.oot_first_snapshot is empty and none could be derived: {self.oot_note} "
                "Fix: set split.oot_first_snapshot in params.yaml, or give the data a longer history"
            )
        return self.oot_first_snapshot

    def lines(self) -> list[str]:
        """What the features stage prints: the snapshots and the derived out-of-time start."""
        if self.mode == "calendar":
            head = (
                f"snapshots: {len(self.snapshots)} from {self.first} to {self.last} every "
                f"{self.every_months} months"
            )
        else:
            head = f"snapshots: event-anchored rows from {self.first} to {self.last}"
        oot = (
            f"derived split.oot_first_snapshot: {self.oot_first_snapshot} ({self.oot_note})"
            if self.oot_first_snapshot
            else f"no split.oot_first_snapshot could be derived: {self.oot_note}"
        )
        return [head, *self.notes, oot]

    @classmethod
    def read(cls, folder: str | Path) -> SnapshotPlan:
        """The plan the features stage wrote to ``folder`` (``data/features``).

        Raises:
            FileNotFoundError: Naming the stage to run first.
        """
        path = Path(folder) / SNAPSHOT_PLAN_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: the features stage writes it with the panel; run it first "
                "(dvc repro features)"
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class FeatureParams:
    snapshots: SnapshotParams
    windows_months: list[int]
    long_window_months: int
    trend_recent_months: int
    dpd_thresholds: list[int]
    financials_overdue_days: int
    max_missing_share: float

    def __post_init__(self) -> None:
        windows = self.windows_months
        _check(bool(windows), "features.windows_months", "must name at least one window")
        _check(all(w >= 1 for w in windows), "features.windows_months", "must be positive months")
        _check(
            _increasing(windows),
            "features.windows_months",
            f"must increase strictly (no window twice), got {windows}",
        )
        _check(self.long_window_months >= 1, "features.long_window_months", "must be at least 1")
        _check(self.trend_recent_months >= 1, "features.trend_recent_months", "must be at least 1")
        _check(
            self.trend_recent_months <= max(windows),
            "features.trend_recent_months",
            f"must not exceed the longest of features.windows_months ({max(windows)}): the trends "
            "compare this many recent months with as many before",
        )
        thresholds = self.dpd_thresholds
        _check(bool(thresholds), "features.dpd_thresholds", "must name at least one threshold")
        _check(all(t >= 1 for t in thresholds), "features.dpd_thresholds", "must be positive days")
        _check(
            _increasing(thresholds),
            "features.dpd_thresholds",
            f"must increase strictly (no threshold twice), got {thresholds}",
        )
        _check(
            self.financials_overdue_days >= 1,
            "features.financials_overdue_days",
            "must be at least 1 day",
        )
        _check(0 <= self.max_missing_share <= 1, "features.max_missing_share", "must lie in [0, 1]")

    @property
    def history_months(self) -> int:
        """Months of records before a snapshot that its window sums reach.

        The longest of ``windows_months``, the ``long_window_months`` counts and the two
        trend windows of ``trend_recent_months`` each. A snapshot with less history sums
        windows that start before the data: the counts and amounts come out too low.
        """
        return max(max(self.windows_months), self.long_window_months, 2 * self.trend_recent_months)

    def panel_settings(self) -> dict[str, Any]:
        """The keyword arguments of ``build_panel`` that these settings decide."""
        return {
            "windows_months": list(self.windows_months),
            "long_window_months": self.long_window_months,
            "trend_recent_months": self.trend_recent_months,
            "dpd_thresholds": list(self.dpd_thresholds),
            "financials_overdue_days": self.financials_overdue_days,
        }
