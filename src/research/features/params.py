"""Settings of the feature panel (``params.yaml`` → ``features``), checked on construction."""

from __future__ import annotations

import dataclasses
from typing import Any

from research._params import check as _check
from research._params import check_date as _check_date


@dataclasses.dataclass(frozen=True)
class SnapshotParams:
    first: str
    last: str
    every_months: int

    def __post_init__(self) -> None:
        _check_date(self.first, "features.snapshots.first")
        _check_date(self.last, "features.snapshots.last")
        _check(self.first <= self.last, "features.snapshots", "first must not be after last")
        _check(self.every_months >= 1, "features.snapshots.every_months", "must be >= 1")


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
        _check(0 <= self.max_missing_share <= 1, "features.max_missing_share", "must lie in [0, 1]")

    def panel_settings(self) -> dict[str, Any]:
        """The keyword arguments of ``build_panel`` that these settings decide."""
        return {
            "windows_months": list(self.windows_months),
            "long_window_months": self.long_window_months,
            "trend_recent_months": self.trend_recent_months,
            "dpd_thresholds": list(self.dpd_thresholds),
            "financials_overdue_days": self.financials_overdue_days,
        }
