"""Settings of the customer-value step (``params.yaml`` → ``value``), checked on construction."""

from __future__ import annotations

import dataclasses

from research._params import check as _check
from research._params import check_known as _check_known
from research._params import check_weights as _check_weights
from research._params import increasing as _increasing
from research.data.contract import COLLATERAL_TYPES, OPEN_LEVELS, PRODUCTS


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
        _check_known(
            self.collateral,
            [*COLLATERAL_TYPES, *OPEN_LEVELS],
            "value.lgd.collateral",
            "names collateral types not in the input contract:",
        )
        _check_known(
            self.product_adjustment,
            [*PRODUCTS, *OPEN_LEVELS],
            "value.lgd.product_adjustment",
            "names products not in the input contract:",
        )
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
        for key in ("discount_rate", "funding_cost"):
            _check(
                -1 < getattr(self, key) < 1,
                f"value.{key}",
                "must lie in (-1, 1): a yearly rate as a fraction (0.10 for 10%)",
            )
        _check(0 <= self.ccf <= 1, "value.ccf", "must lie in [0, 1]")
        _check(
            0 <= self.payments_margin < 1,
            "value.payments_margin",
            "must lie in [0, 1): income per unit of turnover as a fraction",
        )
        cuts = self.value_tiers
        _check(
            all(0 < c < 1 for c in cuts) and _increasing(cuts),
            "value.value_tiers",
            "must be quantiles in (0, 1), increasing strictly",
        )
        _check(
            len(self.tier_names) == len(cuts) + 1,
            "value.tier_names",
            "needs one more name than value_tiers cut points (lowest tier first)",
        )
        _check(
            len(set(self.tier_names)) == len(self.tier_names),
            "value.tier_names",
            f"must not repeat a tier, got {self.tier_names}",
        )
        _check_known(
            self.high_value_tiers,
            self.tier_names,
            "value.high_value_tiers",
            "names tiers not in tier_names:",
        )
        _check(bool(self.risk_bands), "value.risk_bands", "must hold at least one band")
        for band, members in self.risk_bands.items():
            _check(bool(members), f"value.risk_bands.{band}", "must list at least one grade")
        grades = [g for band in self.risk_bands.values() for g in band]
        _check(
            len(grades) == len(set(grades)),
            "value.risk_bands",
            "lists a grade in more than one band",
        )
        _check_known(
            self.treatments, self.tier_names, "value.treatments", "names tiers not in tier_names:"
        )
        for tier, by_band in self.treatments.items():
            _check_known(
                by_band,
                list(self.risk_bands),
                f"value.treatments.{tier}",
                "names bands not in risk_bands:",
            )
            for band, action in by_band.items():
                _check(
                    bool(action.strip()), f"value.treatments.{tier}.{band}", "must name a treatment"
                )
        for tier in self.tier_names:
            _check(tier in self.treatments, "value.treatments", f"needs an entry for tier {tier!r}")
            missing = [b for b in self.risk_bands if b not in self.treatments[tier]]
            _check(
                not missing,
                f"value.treatments.{tier}",
                f"needs a treatment for risk bands {missing}",
            )
