"""Settings of the customer-value step (``params.yaml`` → ``value``), checked on construction."""

from __future__ import annotations

import dataclasses

from research._params import check as _check
from research._params import check_weights as _check_weights


@dataclasses.dataclass(frozen=True)
class WatchParams:
    pd_rise: float
    grade_notches: int
    dpd_days: int
    window_months: int
    inflow_drop: float
    dscr_covenant: float
    statement_overdue_days: int
    complaints: int
    reason_codes: int

    def __post_init__(self) -> None:
        _check(0 < self.pd_rise < 1, "value.watch.pd_rise", "must lie in (0, 1)")
        _check(self.grade_notches >= 1, "value.watch.grade_notches", "must be >= 1")
        _check(self.dpd_days >= 1, "value.watch.dpd_days", "must be >= 1")
        _check(self.window_months >= 1, "value.watch.window_months", "must be >= 1")
        _check(0 < self.inflow_drop < 1, "value.watch.inflow_drop", "must lie in (0, 1)")
        _check(self.dscr_covenant > 0, "value.watch.dscr_covenant", "must be > 0")
        _check(
            self.statement_overdue_days >= 1, "value.watch.statement_overdue_days", "must be >= 1"
        )
        _check(self.complaints >= 1, "value.watch.complaints", "must be >= 1")
        _check(self.reason_codes >= 0, "value.watch.reason_codes", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class LGDParams:
    collateral: dict[str, float]
    product_adjustment: dict[str, float]

    def __post_init__(self) -> None:
        for name, lgd in self.collateral.items():
            _check(0 <= lgd <= 1, f"value.lgd.collateral.{name}", "must lie in [0, 1]")
        for name, shift in self.product_adjustment.items():
            _check(-1 <= shift <= 1, f"value.lgd.product_adjustment.{name}", "must lie in [-1, 1]")


@dataclasses.dataclass(frozen=True)
class SatisfactionParams:
    response_target_hours: float
    weights: dict[str, float]

    def __post_init__(self) -> None:
        _check(
            self.response_target_hours > 0,
            "value.satisfaction.response_target_hours",
            "must be > 0",
        )
        _check_weights(
            self.weights,
            ("survey", "complaint_free", "responsiveness"),
            "value.satisfaction.weights",
        )


@dataclasses.dataclass(frozen=True)
class LoyaltyParams:
    tenure_cap_years: float
    product_breadth_cap: int
    weights: dict[str, float]

    def __post_init__(self) -> None:
        _check(self.tenure_cap_years > 0, "value.loyalty.tenure_cap_years", "must be > 0")
        _check(self.product_breadth_cap >= 1, "value.loyalty.product_breadth_cap", "must be >= 1")
        _check_weights(
            self.weights,
            ("tenure", "contact_regularity", "account_regularity", "product_breadth"),
            "value.loyalty.weights",
        )


@dataclasses.dataclass(frozen=True)
class ValueParams:
    activity_window_months: int
    rfm_quantiles: int
    horizon_years: int
    discount_rate: float
    funding_cost: float
    payments_margin: float
    ccf: float
    lgd: LGDParams
    value_tiers: list[float]
    tier_names: list[str]
    high_value_tiers: list[str]
    risk_bands: dict[str, list[str]]
    treatments: dict[str, dict[str, str]]
    satisfaction: SatisfactionParams
    loyalty: LoyaltyParams
    watch: WatchParams

    def __post_init__(self) -> None:
        _check(self.activity_window_months >= 1, "value.activity_window_months", "must be >= 1")
        _check(self.rfm_quantiles >= 2, "value.rfm_quantiles", "must be >= 2")
        _check(self.horizon_years >= 1, "value.horizon_years", "must be >= 1")
        _check(self.discount_rate > -1, "value.discount_rate", "must be > -1")
        _check(0 <= self.ccf <= 1, "value.ccf", "must lie in [0, 1]")
        _check(self.payments_margin >= 0, "value.payments_margin", "must be >= 0")
        cuts = self.value_tiers
        _check(
            all(0 < c < 1 for c in cuts)
            and all(a < b for a, b in zip(cuts, cuts[1:], strict=False)),
            "value.value_tiers",
            "must be quantiles in (0, 1), increasing strictly",
        )
        _check(
            len(self.tier_names) == len(cuts) + 1,
            "value.tier_names",
            "needs one more name than value_tiers cut points (lowest tier first)",
        )
        unknown = [t for t in self.high_value_tiers if t not in self.tier_names]
        _check(not unknown, "value.high_value_tiers", f"names tiers not in tier_names: {unknown}")
        grades = [g for band in self.risk_bands.values() for g in band]
        _check(
            len(grades) == len(set(grades)),
            "value.risk_bands",
            "lists a grade in more than one band",
        )
        for tier in self.tier_names:
            _check(tier in self.treatments, "value.treatments", f"needs an entry for tier {tier!r}")
            missing = [b for b in self.risk_bands if b not in self.treatments[tier]]
            _check(
                not missing,
                f"value.treatments.{tier}",
                f"needs a treatment for risk bands {missing}",
            )
