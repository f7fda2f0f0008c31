"""Settings of the validation pack (``params.yaml`` → ``validation``), checked on construction."""

from __future__ import annotations

import dataclasses

from research._params import check as _check
from research.validation._base import Thresholds


@dataclasses.dataclass(frozen=True)
class ValidationParams:
    psi_bands: list[float]
    auc_bands: list[float]
    overfit_gap_bands: list[float]
    calibration_alpha: float
    calibration_amber_alpha: float
    challenger_alpha: float
    hl_groups: int
    psi_bins: int
    hhi_bands: list[float]
    min_segment_events: int
    bootstrap: int
    cluster_adjust: bool

    def __post_init__(self) -> None:
        for key in ("psi_bands", "overfit_gap_bands", "hhi_bands"):
            bands = getattr(self, key)
            _check(
                len(bands) == 2 and 0 <= bands[0] < bands[1],
                f"validation.{key}",
                "must be two increasing non-negative bounds [amber_from, red_from]",
            )
        _check(
            self.hhi_bands[1] <= 1,
            "validation.hhi_bands",
            "must be shares of at most 1 (a Herfindahl index lies in (0, 1])",
        )
        _check(
            len(self.auc_bands) == 2 and 0.5 <= self.auc_bands[1] < self.auc_bands[0] <= 1,
            "validation.auc_bands",
            "must be two decreasing AUCs in [0.5, 1]: [green_from, red_below]",
        )
        _check(0 < self.calibration_alpha < 1, "validation.calibration_alpha", "must lie in (0, 1)")
        _check(
            self.calibration_alpha < self.calibration_amber_alpha < 1,
            "validation.calibration_amber_alpha",
            "must lie between calibration_alpha and 1",
        )
        _check(0 < self.challenger_alpha < 1, "validation.challenger_alpha", "must lie in (0, 1)")
        _check(self.hl_groups >= 3, "validation.hl_groups", "must be at least 3")
        _check(self.psi_bins >= 2, "validation.psi_bins", "must be at least 2")
        _check(self.min_segment_events >= 1, "validation.min_segment_events", "must be at least 1")
        _check(
            self.bootstrap == 0 or self.bootstrap >= 100,
            "validation.bootstrap",
            "must be 0 (DeLong) or at least 100 resamples",
        )

    def thresholds(self) -> Thresholds:
        """The bands and levels every check is judged against."""
        return Thresholds.from_mapping(dataclasses.asdict(self))
