"""The feature catalog: name, family, meaning, unit and expected effect of every panel feature.

The credit model reads ``risk_direction`` for monotone constraints (+1: default risk
rises as the feature grows, -1: it falls, 0: no constraint); the SHAP report fills
``reason`` with a value to write a plain-language reason code. Window-dependent names
are generated from the same params the panel is built with, so the catalog and the
panel cannot drift apart; ``catalog_for`` recognises the names of any window lengths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from research.data.contract import INTERACTION_CHANNELS

FAMILIES = (
    "repayment",
    "cashflow",
    "balances",
    "facilities",
    "engagement",
    "financials",
    "applications",
    "relationship",
)
FAMILY_PREFIX = {
    "repayment": "rep_",
    "cashflow": "cf_",
    "balances": "bal_",
    "facilities": "fac_",
    "engagement": "eng_",
    "financials": "fin_",
    "applications": "app_",
    "relationship": "rel_",
}
RELATIONSHIP_COLUMNS = ("segment", "industry", "region", "green_flag", "inclusive_flag")
CATEGORICAL_FEATURES = ("segment", "industry", "region")
ID_COLUMNS = ("customer_id", "snapshot_date", "application_id", "anchor_id")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the panel."""

    name: str
    family: str
    description: str
    unit: str
    risk_direction: int  # +1 raises default risk as it grows, -1 lowers it, 0 unknown or none
    reason: str  # format string with ``{value}``, e.g. "Arrears stand at {value:,.0f}"


@dataclass(frozen=True)
class _Template:
    """A feature with placeholders: {w} each window, {W} longest window, {L} long window, {t} DPD threshold,
    {r} trend months, {D} overdue days (the last two in descriptions only)."""

    name: str
    family: str
    description: str
    unit: str
    risk_direction: int
    reason: str


def _t(name, family, description, unit, direction, reason) -> _Template:
    return _Template(name, family, description, unit, direction, reason)


_R, _C, _B, _F, _E, _FI, _A, _REL = FAMILIES

TEMPLATES: tuple[_Template, ...] = (
    # repayment
    _t(
        "rep_instalments_due_{w}m",
        _R,
        "Instalments that fell due in the last {w} months",
        "count",
        0,
        "{value:.0f} instalments fell due in the last {w} months",
    ),
    _t(
        "rep_on_time_share_{w}m",
        _R,
        "Share of the instalments due in the last {w} months that were paid on or before their due date",
        "share",
        -1,
        "{value:.0%} of the instalments due in the last {w} months were paid on time",
    ),
    _t(
        "rep_mean_dpd_{w}m",
        _R,
        "Mean days past due of the instalments due in the last {w} months (an instalment still unpaid counts its days past due at the snapshot)",
        "days",
        1,
        "Instalments due in the last {w} months were on average {value:.1f} days late",
    ),
    _t(
        "rep_max_dpd_{w}m",
        _R,
        "Maximum days past due of the instalments due in the last {w} months",
        "days",
        1,
        "Maximum days past due over the last {w} months is {value:.0f}",
    ),
    _t(
        "rep_dpd{t}_count_{W}m",
        _R,
        "Instalments due in the last {W} months that reached {t} or more days past due",
        "count",
        1,
        "{value:.0f} instalments reached {t} days past due in the last {W} months",
    ),
    _t(
        "rep_months_since_late",
        _R,
        "Months since the due date of the latest instalment not paid on time (missing if none in the longest window)",
        "months",
        -1,
        "The latest late payment fell due {value:.1f} months ago",
    ),
    _t(
        "rep_arrears_amount",
        _R,
        "Amount overdue at the snapshot: instalments due and unpaid plus shortfalls of partial payments",
        "currency",
        1,
        "Arrears stand at {value:,.0f}",
    ),
    _t(
        "rep_overdue_instalments",
        _R,
        "Instalments due before the snapshot and still unpaid at it",
        "count",
        1,
        "{value:.0f} instalments are overdue",
    ),
    _t(
        "rep_current_dpd",
        _R,
        "Days past due of the oldest instalment unpaid at the snapshot (0 when none)",
        "days",
        1,
        "The oldest unpaid instalment is {value:.0f} days past due",
    ),
    _t(
        "rep_dpd_trend",
        _R,
        "Mean days past due of instalments due in the last {r} months minus that of the {r} months before",
        "days",
        1,
        "Lateness changed by {value:+.1f} days against the previous {r} months",
    ),
    # cash flow
    _t(
        "cf_inflow_amount_{w}m",
        _C,
        "Sum of account inflows in the last {w} months",
        "currency",
        -1,
        "Inflows over the last {w} months total {value:,.0f}",
    ),
    _t(
        "cf_outflow_amount_{w}m",
        _C,
        "Sum of account outflows (as a positive amount) in the last {w} months",
        "currency",
        0,
        "Outflows over the last {w} months total {value:,.0f}",
    ),
    _t(
        "cf_inflow_count_{w}m",
        _C,
        "Number of account inflows in the last {w} months",
        "count",
        -1,
        "{value:.0f} inflows in the last {w} months",
    ),
    _t(
        "cf_outflow_count_{w}m",
        _C,
        "Number of account outflows in the last {w} months",
        "count",
        0,
        "{value:.0f} outflows in the last {w} months",
    ),
    _t(
        "cf_inflow_outflow_ratio_{w}m",
        _C,
        "Inflows divided by outflows over the last {w} months",
        "ratio",
        -1,
        "Inflows cover outflows {value:.2f} times over the last {w} months",
    ),
    _t(
        "cf_days_since_inflow",
        _C,
        "Days since the latest inflow (missing if none)",
        "days",
        1,
        "The latest inflow was {value:.0f} days ago",
    ),
    _t(
        "cf_days_since_outflow",
        _C,
        "Days since the latest outflow (missing if none)",
        "days",
        0,
        "The latest outflow was {value:.0f} days ago",
    ),
    _t(
        "cf_net_flow_std_{W}m",
        _C,
        "Standard deviation of monthly net flow over the last {W} months (months since onboarding; a month without movements counts as zero)",
        "currency",
        0,
        "Monthly net flow varies by {value:,.0f}",
    ),
    _t(
        "cf_net_flow_volatility_{W}m",
        _C,
        "Standard deviation of monthly net flow divided by mean monthly inflow over the last {W} months",
        "ratio",
        1,
        "Monthly net flow varies by {value:.2f} times the mean monthly inflow",
    ),
    _t(
        "cf_inflow_trend",
        _C,
        "Inflows in the last {r} months relative to the {r} months before, minus one",
        "ratio",
        -1,
        "Inflows changed by {value:+.0%} against the previous {r} months",
    ),
    _t(
        "cf_digital_share_book_rank_{W}m",
        _C,
        "Percentile rank, among the book at the snapshot, of the share of the last {W} months' account movements made through digital channels (adoption rises year by year)",
        "rank",
        0,
        "Digital share of account movements ranks at {value:.0%} of the book",
    ),
    _t(
        "cf_active_months_{W}m",
        _C,
        "Months with at least one account movement among the last {W}",
        "months",
        -1,
        "The account moved in {value:.0f} of the last {W} months",
    ),
    # current-account balances (account conduct)
    _t(
        "bal_mean_{w}m",
        _B,
        "Mean of the current-account balances dated in the last {w} months (end of day; negative when overdrawn)",
        "currency",
        -1,
        "The account balance averaged {value:,.0f} over the last {w} months",
    ),
    _t(
        "bal_min_{w}m",
        _B,
        "Lowest current-account balance dated in the last {w} months",
        "currency",
        -1,
        "The lowest account balance in the last {w} months was {value:,.0f}",
    ),
    _t(
        "bal_overdraft_months_{w}m",
        _B,
        "Months among the last {w} with at least one overdrawn (negative) balance",
        "months",
        1,
        "The account was overdrawn in {value:.0f} of the last {w} months",
    ),
    _t(
        "bal_overdrawn_share_{w}m",
        _B,
        "Share of the balances dated in the last {w} months that were overdrawn (with daily balances, the share of days in overdraft)",
        "share",
        1,
        "{value:.0%} of the account balances in the last {w} months were overdrawn",
    ),
    _t(
        "bal_std_{W}m",
        _B,
        "Standard deviation of the balances dated in the last {W} months (missing with fewer than two)",
        "currency",
        0,
        "The account balance varied by {value:,.0f} over the last {W} months",
    ),
    _t(
        "bal_closing",
        _B,
        "Latest current-account balance before the snapshot (missing if none in the longest window)",
        "currency",
        -1,
        "The latest account balance is {value:,.0f}",
    ),
    _t(
        "bal_trend",
        _B,
        "Mean balance of the last {r} months minus that of the {r} months before, relative to the mean absolute balance of the {r} months before",
        "ratio",
        -1,
        "The account balance changed by {value:+.0%} of its earlier level against the previous {r} months",
    ),
    _t(
        "bal_cash_cover_{w}m",
        _B,
        "Mean balance over the last {w} months divided by the mean monthly account outflows of those months on the books: the months of outflows the balance covers (missing without outflows)",
        "months",
        -1,
        "The account balance covers {value:.2f} months of outflows",
    ),
    # facilities
    _t(
        "fac_active_count",
        _F,
        "Facilities originated before the snapshot and not closed before it",
        "count",
        0,
        "{value:.0f} active facilities",
    ),
    _t(
        "fac_product_count",
        _F,
        "Distinct products among the active facilities",
        "count",
        0,
        "{value:.0f} distinct credit products",
    ),
    _t(
        "fac_opened_{L}m",
        _F,
        "Facilities originated in the last {L} months",
        "count",
        0,
        "{value:.0f} facilities opened in the last {L} months",
    ),
    _t(
        "fac_closed_{L}m",
        _F,
        "Facilities closed in the last {L} months",
        "count",
        0,
        "{value:.0f} facilities closed in the last {L} months",
    ),
    _t(
        "fac_total_limit",
        _F,
        "Sum of the limits of the active facilities",
        "currency",
        0,
        "Total committed limit is {value:,.0f}",
    ),
    _t(
        "fac_exposure",
        _F,
        "Drawn amount over all facilities at the latest month end in the month before the snapshot",
        "currency",
        0,
        "Drawn exposure is {value:,.0f}",
    ),
    _t(
        "fac_utilisation",
        _F,
        "Drawn amount divided by limit over all facilities at the latest month end",
        "share",
        1,
        "Facilities are {value:.0%} drawn",
    ),
    _t(
        "fac_revolver_utilisation",
        _F,
        "Drawn amount divided by limit of the revolving facilities at the latest month end",
        "share",
        1,
        "Revolving lines are {value:.0%} drawn",
    ),
    _t(
        "fac_revolver_utilisation_{w}m",
        _F,
        "Drawn amount divided by limit of the revolving facilities, summed over the month ends of the last {w} months",
        "share",
        1,
        "Revolving lines were {value:.0%} drawn on average over the last {w} months",
    ),
    _t(
        "fac_revolver_utilisation_trend",
        _F,
        "Revolving utilisation over the month ends of the last {r} months minus that of the {r} months before",
        "share",
        1,
        "Revolving utilisation changed by {value:+.0%} against the previous {r} months",
    ),
    _t(
        "fac_months_to_maturity",
        _F,
        "Months from the snapshot to the nearest maturity among the active facilities (negative when past)",
        "months",
        0,
        "The nearest facility matures in {value:.1f} months",
    ),
    _t(
        "fac_rate_vs_book",
        _F,
        "Limit-weighted mean interest rate of the active facilities minus the median of that rate over the book at the snapshot (the level follows the policy rate at origination)",
        "rate",
        1,
        "Pays {value:+.2%} against the book's median interest rate",
    ),
    _t(
        "fac_secured_share",
        _F,
        "Share of the active limit backed by collateral",
        "share",
        0,
        "{value:.0%} of the limit is secured",
    ),
    # engagement
    _t(
        "eng_touchpoints_book_rank_{w}m",
        _E,
        "Percentile rank, among the book at the snapshot, of the interactions of any kind in the last {w} months (digital channels add touchpoints year by year)",
        "rank",
        0,
        "Interactions over the last {w} months rank at {value:.0%} of the book",
    ),
    *(
        _t(
            f"eng_{channel}_{{W}}m",
            _E,
            f"Interactions through the {channel.replace('_', ' ')} channel in the last {{W}} months",
            "count",
            0,
            f"{{value:.0f}} {channel.replace('_', ' ')} interactions in the last {{W}} months",
        )
        for channel in INTERACTION_CHANNELS
    ),
    _t(
        "eng_digital_share_vs_book_{W}m",
        _E,
        "Share of the last {W} months' interactions through digital channels (mobile app, web portal, social media) minus the median share over the book at the snapshot (adoption rises year by year)",
        "share",
        0,
        "Digital share of interactions is {value:+.0%} against the book's median",
    ),
    _t(
        "eng_complaints_{w}m",
        _E,
        "Complaints in the last {w} months",
        "count",
        0,
        "{value:.0f} complaints in the last {w} months",
    ),
    _t(
        "eng_days_since_rm_contact",
        _E,
        "Days since the latest relationship-manager visit (missing if none)",
        "days",
        0,
        "The relationship manager last visited {value:.0f} days ago",
    ),
    _t(
        "eng_days_since_touchpoint",
        _E,
        "Days since the latest interaction of any kind (missing if none)",
        "days",
        0,
        "The latest interaction was {value:.0f} days ago",
    ),
    _t(
        "eng_mean_response_hours_{W}m",
        _E,
        "Mean hours the bank took to respond over the last {W} months",
        "hours",
        0,
        "The bank took {value:.1f} hours on average to respond",
    ),
    _t(
        "eng_satisfaction_{W}m",
        _E,
        "Satisfaction index: mean satisfaction score (1-5) over the last {W} months",
        "score",
        0,
        "Satisfaction index is {value:.2f} out of 5",
    ),
    _t(
        "eng_satisfaction_change_{W}m",
        _E,
        "Satisfaction index of the last {W} months minus that of the {W} months before",
        "score",
        0,
        "Satisfaction changed by {value:+.2f} points",
    ),
    # financials
    _t(
        "fin_leverage",
        _FI,
        "Total debt divided by EBITDA of the latest reported statement (missing when EBITDA is not positive)",
        "ratio",
        1,
        "Debt is {value:.1f} times EBITDA",
    ),
    _t(
        "fin_interest_cover",
        _FI,
        "EBITDA divided by interest expense of the latest reported statement",
        "ratio",
        -1,
        "EBITDA covers interest {value:.1f} times",
    ),
    _t(
        "fin_current_ratio",
        _FI,
        "Current assets divided by current liabilities of the latest reported statement",
        "ratio",
        -1,
        "Current ratio is {value:.2f}",
    ),
    _t(
        "fin_cash_ratio",
        _FI,
        "Cash divided by current liabilities of the latest reported statement",
        "ratio",
        -1,
        "Cash covers {value:.2f} times current liabilities",
    ),
    _t(
        "fin_dscr",
        _FI,
        "Debt service coverage ratio (CFADS over debt service) of the latest reported statement, project finance",
        "ratio",
        -1,
        "Debt service coverage ratio is {value:.2f}",
    ),
    _t(
        "fin_ebitda_margin",
        _FI,
        "EBITDA divided by revenue of the latest reported statement",
        "share",
        -1,
        "EBITDA margin is {value:.1%}",
    ),
    _t(
        "fin_revenue_growth",
        _FI,
        "Revenue of the latest reported statement against the reported statement of about a year earlier, minus one",
        "ratio",
        -1,
        "Revenue changed by {value:+.0%} year on year",
    ),
    _t(
        "fin_margin_change_vs_industry",
        _FI,
        "EBITDA margin of the latest reported statement minus that of about a year earlier, less the median of that change over the same industry at the snapshot (the industry cycle moves all margins)",
        "share",
        -1,
        "EBITDA margin changed by {value:+.1%} year on year against its industry",
    ),
    _t(
        "fin_log_revenue",
        _FI,
        "Natural log of one plus the revenue of the latest reported statement (firm size)",
        "log currency",
        -1,
        "Log revenue is {value:.1f}",
    ),
    _t(
        "fin_reporting_lag_days",
        _FI,
        "Days from period end to reporting of the latest statement (financial transparency)",
        "days",
        1,
        "The latest statement was reported {value:.0f} days after its period ended",
    ),
    _t(
        "fin_months_since_statement",
        _FI,
        "Months since the latest statement was reported (missing if none)",
        "months",
        1,
        "The latest statement was reported {value:.1f} months ago",
    ),
    _t(
        "fin_statements_{L}m",
        _FI,
        "Statements reported in the last {L} months",
        "count",
        0,
        "{value:.0f} statements reported in the last {L} months",
    ),
    _t(
        "fin_statement_overdue",
        _FI,
        "1 when no statement was reported for more than {D} days (counted from onboarding when none ever was)",
        "flag",
        1,
        "Financial statement overdue: {value:.0f}",
    ),
    # applications
    _t(
        "app_requests_{L}m",
        _A,
        "Credit requests submitted in the last {L} months",
        "count",
        0,
        "{value:.0f} credit requests in the last {L} months",
    ),
    _t(
        "app_requested_amount_{L}m",
        _A,
        "Amount requested in the last {L} months",
        "currency",
        0,
        "{value:,.0f} requested in the last {L} months",
    ),
    _t(
        "app_decline_share_{L}m",
        _A,
        "Share of the decisions made in the last {L} months that were declines",
        "share",
        1,
        "{value:.0%} of recent credit decisions were declines",
    ),
    _t(
        "app_withdrawn_{L}m",
        _A,
        "Requests withdrawn by the customer in the last {L} months (a sign of a competing offer)",
        "count",
        0,
        "{value:.0f} requests withdrawn in the last {L} months",
    ),
    _t(
        "app_pending",
        _A,
        "Requests submitted before the snapshot and not decided before it",
        "count",
        0,
        "{value:.0f} requests pending",
    ),
    _t(
        "app_mean_turnaround_days_{L}m",
        _A,
        "Mean days from submission to decision over the decisions made in the last {L} months",
        "days",
        0,
        "Decisions took {value:.0f} days on average",
    ),
    _t(
        "app_days_since_request",
        _A,
        "Days since the latest credit request (missing if none in the long window)",
        "days",
        0,
        "The latest credit request was {value:.0f} days ago",
    ),
    # relationship
    _t(
        "rel_tenure_months",
        _REL,
        "Months since onboarding",
        "months",
        -1,
        "Client for {value:.0f} months",
    ),
    _t(
        "segment",
        _REL,
        "Client segment (micro to multinational, project SPV)",
        "category",
        0,
        "Segment is {value}",
    ),
    _t("industry", _REL, "Industry", "category", 0, "Industry is {value}"),
    _t("region", _REL, "Region", "category", 0, "Region is {value}"),
    _t(
        "green_flag",
        _REL,
        "1 for a green-finance client",
        "flag",
        0,
        "Green-finance client: {value:.0f}",
    ),
    _t(
        "inclusive_flag",
        _REL,
        "1 for an inclusive-finance programme client",
        "flag",
        0,
        "Inclusive-finance client: {value:.0f}",
    ),
)


def _fill(text: str, values: Mapping[str, object]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def _expansions(template: _Template, windows, longest, long_window, thresholds, recent, overdue):
    base = {"W": longest, "L": long_window, "r": recent, "D": overdue}
    if "{w}" in template.name:
        return [{**base, "w": w} for w in windows]
    if "{t}" in template.name:
        return [{**base, "t": t} for t in thresholds]
    return [base]


def feature_catalog(
    windows_months: Sequence[int],
    long_window_months: int,
    dpd_thresholds: Sequence[int],
    trend_recent_months: int,
    financials_overdue_days: int | None = None,
) -> dict[str, FeatureSpec]:
    """Every feature the panel builds with these params, in panel column order.

    ``financials_overdue_days`` only enters a description (the names do not depend on it).
    """
    windows = sorted(set(windows_months))
    thresholds = sorted(set(dpd_thresholds))
    out: dict[str, FeatureSpec] = {}
    for template in TEMPLATES:
        overdue = (
            "the configured number of"
            if financials_overdue_days is None
            else financials_overdue_days
        )
        expansions = _expansions(
            template,
            windows,
            max(windows),
            long_window_months,
            thresholds,
            trend_recent_months,
            overdue,
        )
        for values in expansions:
            spec = FeatureSpec(
                name=_fill(template.name, values),
                family=template.family,
                description=_fill(template.description, values),
                unit=template.unit,
                risk_direction=template.risk_direction,
                reason=_fill(template.reason, values),
            )
            out[spec.name] = spec
    return out


def _pattern(template: _Template) -> re.Pattern[str]:
    regex = re.escape(template.name)
    for key in ("w", "W", "L", "t"):
        regex = regex.replace(re.escape("{" + key + "}"), f"(?P<{key}>[0-9]+)")
    return re.compile(f"^{regex}$")


_PATTERNS = tuple((_pattern(t), t) for t in TEMPLATES)


def catalog_for(
    columns: Iterable[str], *, trend_recent_months: int | None = None, strict: bool = False
) -> list[FeatureSpec]:
    """Catalog entries of the feature ``columns`` (ids and label columns are skipped).

    Window lengths are read from the names. A column not in the catalog raises a
    ``KeyError`` when ``strict``, else gets a neutral entry (family ``other``).
    """
    recent = "few" if trend_recent_months is None else trend_recent_months
    out = []
    for column in columns:
        if column in ID_COLUMNS or is_label_column(column):
            continue
        spec = _match(column, recent)
        if spec is None:
            if strict:
                raise KeyError(
                    f"feature {column!r} is not in the feature catalog (research.features.catalog)"
                )
            spec = FeatureSpec(
                column, "other", "Not in the feature catalog", "", 0, f"{column} is {{value}}"
            )
        out.append(spec)
    return out


def _match(column: str, recent) -> FeatureSpec | None:
    for pattern, template in _PATTERNS:
        found = pattern.match(column)
        if found:
            values = {"r": recent, "D": "the configured number of", **found.groupdict()}
            values.setdefault("W", values.get("w", "?"))
            return FeatureSpec(
                column,
                template.family,
                _fill(template.description, values),
                template.unit,
                template.risk_direction,
                _fill(template.reason, values),
            )
    return None


def is_label_column(column: str) -> bool:
    """True for a label column name such as ``default_12m`` or ``churn_6m``."""
    return re.fullmatch(r"(default|churn)_[0-9]+m", column) is not None


def family_of(column: str) -> str | None:
    """The family a panel column belongs to (None for ids and labels)."""
    if column in RELATIONSHIP_COLUMNS:
        return "relationship"
    for family, prefix in FAMILY_PREFIX.items():
        if column.startswith(prefix):
            return family
    return None


def catalog_table(specs: Mapping[str, FeatureSpec] | Iterable[FeatureSpec]) -> pd.DataFrame:
    """The catalog as a table for the notebook and the docs (one row per feature)."""
    items = specs.values() if isinstance(specs, Mapping) else specs
    table = pd.DataFrame(
        [asdict(spec) for spec in items], columns=list(FeatureSpec.__dataclass_fields__)
    )
    direction = {1: "raises risk", -1: "lowers risk", 0: ""}
    table["effect_on_default_risk"] = table["risk_direction"].map(direction)
    return table
