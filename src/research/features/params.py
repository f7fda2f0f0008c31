"""Settings of the feature panel (``params.yaml`` → ``features``), checked on construction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from research._params import check as _check
from research._params import check_date as _check_date
from research._params import increasing as _increasing


@dataclasses.dataclass(frozen=True)
class SnapshotParams:
    first: str
    last: str
    every_months: int

    def __post_init__(self) -> None:
        _check_date(self.first, "features.snapshots.first")
        _check_date(self.last, "features.snapshots.last")
        _check(
            dt.date.fromisoformat(self.first) <= dt.date.fromisoformat(self.last),
            "features.snapshots.first",
            f"must not be after features.snapshots.last ({self.first} > {self.last})",
        )
        _check(self.every_months >= 1, "features.snapshots.every_months", "must be at least 1")


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
