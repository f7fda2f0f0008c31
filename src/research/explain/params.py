"""Settings of the explain step (``params.yaml`` → ``explain``), checked on construction."""

from __future__ import annotations

import dataclasses
from typing import Literal

from research._params import check as _check


@dataclasses.dataclass(frozen=True)
class ExplainParams:
    method: Literal["woodelf", "native", "shap"]
    reason_codes: int
    dependence_top: int
    interaction_sample: int
    agreement_sample: int
    report_sample: int

    def __post_init__(self) -> None:
        for key in (
            "reason_codes",
            "dependence_top",
            "interaction_sample",
            "agreement_sample",
            "report_sample",
        ):
            _check(getattr(self, key) >= 1, f"explain.{key}", "must be at least 1")
