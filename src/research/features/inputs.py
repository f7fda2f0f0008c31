"""Which features each input feeds, and so which are lost without a table or a column.

``INPUTS`` declares, for every column of the input contract, the panel features computed
from it as ``fnmatch`` name patterns (``cf_*``: every cash-flow feature), and in words
what else it feeds (labels, customer value). A test checks the declaration against the
feature catalog both ways, so it cannot rot: every catalog feature is attributed to a
column other than the customer id, and every pattern names a feature.

``features_lost`` answers for a table or a column; ``lost_text`` writes the answer for
``docs/input_contract.md`` (``contract_markdown(lost=lost_text)``: the data layer knows no
features); ``missing_input_notes`` says, for a set of tables, what their absent optional
tables and their absent or empty columns cost (``research validate`` prints it).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pandas as pd

from research.data.contract import INTERACTION_CHANNELS, TABLES


@dataclass(frozen=True)
class Feeds:
    """What one column feeds: feature name patterns, the whole panel, and more in words."""

    features: tuple[str, ...] = ()
    panel: bool = False  # no panel row without it: every feature is lost
    note: str = ""  # what else is lost or changes without it (labels, customer value)


_BALANCE_LINKED = ("fac_exposure", "fac_utilisation", "fac_revolver_utilisation*")
_CASH_COVER = "bal_cash_cover_*"

INPUTS: dict[tuple[str, str], Feeds] = {
    # customers
    ("customers", "customer_id"): Feeds(panel=True),
    ("customers", "segment"): Feeds(("segment",), note="value and validation by segment"),
    ("customers", "industry"): Feeds(
        ("industry",), note="fin_margin_change_vs_industry then compares with the whole book"
    ),
    ("customers", "region"): Feeds(("region",)),
    ("customers", "onboarding_date"): Feeds(("rel_tenure_months",), panel=True),
    ("customers", "relationship_end_date"): Feeds(
        note=(
            "the derived churn label (churn then comes only from the events table), and "
            "customers who left stay in the panel"
        )
    ),
    ("customers", "green_flag"): Feeds(("green_flag",), note="the green-finance slices"),
    ("customers", "inclusive_flag"): Feeds(
        ("inclusive_flag",), note="the inclusive-finance slices"
    ),
    ("customers", "rm_id"): Feeds(),
    # facilities
    ("facilities", "facility_id"): Feeds(_BALANCE_LINKED, note="value: exposure and income"),
    ("facilities", "customer_id"): Feeds(("fac_*",), note="value: exposure, income and LGD"),
    ("facilities", "product"): Feeds(
        ("fac_product_count",), note="value: the LGD's product adjustment, product breadth"
    ),
    ("facilities", "origination_date"): Feeds(("fac_*",), note="value: exposure and income"),
    ("facilities", "maturity_date"): Feeds(("fac_months_to_maturity",)),
    ("facilities", "close_date"): Feeds(
        ("fac_closed_*",),
        note="every facility then counts as open in the other facility features and in value",
    ),
    ("facilities", "limit_amount"): Feeds(
        ("fac_total_limit", "fac_rate_vs_book", "fac_secured_share"),
        note="value: exposure of facilities without balances",
    ),
    ("facilities", "interest_rate"): Feeds(
        ("fac_rate_vs_book",),
        note="value: interest income (an empty rate takes its product's median rate)",
    ),
    ("facilities", "fee_rate"): Feeds(
        note="value: fee income (an empty rate takes its product's median fee rate)"
    ),
    ("facilities", "repayment_type"): Feeds(("fac_revolver_utilisation*",)),
    ("facilities", "collateral_type"): Feeds(
        ("fac_secured_share",), note="value: the LGD by collateral"
    ),
    ("facilities", "green_loan"): Feeds(),
    # facility_balances
    ("facility_balances", "facility_id"): Feeds(_BALANCE_LINKED),
    ("facility_balances", "customer_id"): Feeds(
        note="checked only: a balance counts for its facility's customer"
    ),
    ("facility_balances", "month_end"): Feeds(_BALANCE_LINKED),
    ("facility_balances", "drawn_amount"): Feeds(
        _BALANCE_LINKED, note="value: drawn exposure and interest income"
    ),
    ("facility_balances", "limit_amount"): Feeds(("fac_utilisation", "fac_revolver_utilisation*")),
    # repayments
    ("repayments", "facility_id"): Feeds(),
    ("repayments", "customer_id"): Feeds(
        ("rep_*",), note="the derived default label and the exclusion of defaulted customers"
    ),
    ("repayments", "due_date"): Feeds(
        ("rep_*",), note="the derived default label and the exclusion of defaulted customers"
    ),
    ("repayments", "amount_due"): Feeds(("rep_arrears_amount",)),
    ("repayments", "paid_date"): Feeds(
        (
            "rep_on_time_share_*",
            "rep_*dpd*",
            "rep_months_since_late",
            "rep_arrears_amount",
            "rep_overdue_instalments",
        ),
        note="the derived default label",
    ),
    ("repayments", "amount_paid"): Feeds(("rep_arrears_amount",)),
    # transactions
    ("transactions", "customer_id"): Feeds(("cf_*", _CASH_COVER)),
    ("transactions", "timestamp"): Feeds(("cf_*", _CASH_COVER)),
    ("transactions", "amount"): Feeds(
        ("cf_inflow_*", "cf_outflow_*", "cf_days_since_*", "cf_net_flow_*", _CASH_COVER),
        note="value: recency, frequency and turnover",
    ),
    ("transactions", "channel"): Feeds(("cf_digital_share_*",)),
    ("transactions", "category"): Feeds(),
    # interactions
    ("interactions", "customer_id"): Feeds(("eng_*",), note="value: the satisfaction index"),
    ("interactions", "timestamp"): Feeds(("eng_*",), note="value: the satisfaction index"),
    ("interactions", "channel"): Feeds(
        (
            *(f"eng_{channel}_*" for channel in INTERACTION_CHANNELS),
            "eng_digital_share_*",
            "eng_days_since_rm_contact",
        )
    ),
    ("interactions", "interaction_type"): Feeds(
        ("eng_complaints_*",), note="value: the complaint-free part of the satisfaction index"
    ),
    ("interactions", "response_hours"): Feeds(
        ("eng_mean_response_hours_*",), note="value: the responsiveness part of satisfaction"
    ),
    ("interactions", "satisfaction_score"): Feeds(
        ("eng_satisfaction_*",), note="value: the survey part of the satisfaction index"
    ),
    # financials
    ("financials", "customer_id"): Feeds(("fin_*",)),
    ("financials", "period_end"): Feeds(("fin_*",)),
    ("financials", "reported_date"): Feeds(("fin_*",)),
    ("financials", "revenue"): Feeds(
        ("fin_ebitda_margin", "fin_revenue_growth", "fin_margin_change*", "fin_log_revenue")
    ),
    ("financials", "ebitda"): Feeds(
        ("fin_leverage", "fin_interest_cover", "fin_ebitda_margin", "fin_margin_change*")
    ),
    ("financials", "total_debt"): Feeds(("fin_leverage",)),
    ("financials", "interest_expense"): Feeds(("fin_interest_cover",)),
    ("financials", "current_assets"): Feeds(("fin_current_ratio",)),
    ("financials", "current_liabilities"): Feeds(("fin_current_ratio", "fin_cash_ratio")),
    ("financials", "cash"): Feeds(("fin_cash_ratio",)),
    ("financials", "cfads"): Feeds(("fin_dscr",), note="value: the DSCR watch trigger"),
    ("financials", "debt_service"): Feeds(("fin_dscr",), note="value: the DSCR watch trigger"),
    # applications
    ("applications", "application_id"): Feeds(),
    ("applications", "customer_id"): Feeds(("app_*",)),
    ("applications", "submitted_date"): Feeds(("app_*",)),
    ("applications", "product"): Feeds(),
    ("applications", "amount"): Feeds(("app_requested_amount_*",)),
    ("applications", "decision"): Feeds(("app_decline_share_*", "app_withdrawn_*")),
    ("applications", "decided_date"): Feeds(
        ("app_decline_share_*", "app_withdrawn_*", "app_pending", "app_mean_turnaround_days_*")
    ),
    # account_balances
    ("account_balances", "customer_id"): Feeds(("bal_*",)),
    ("account_balances", "balance_date"): Feeds(("bal_*",)),
    ("account_balances", "balance"): Feeds(("bal_*",)),
    # events
    ("events", "customer_id"): Feeds(note="the bank's labels"),
    ("events", "event_type"): Feeds(note="the bank's labels"),
    ("events", "event_date"): Feeds(note="the bank's labels"),
}

# What a table feeds beyond its columns' features, in words.
TABLE_NOTES: dict[str, str] = {
    "customers": "the table is mandatory",
    "facilities": "value: exposure, income, LGD and expected loss",
    "facility_balances": "value: drawn exposure and interest income",
    "repayments": (
        "the derived default label and the exclusion of defaulted customers (unless the "
        "events table gives default events)"
    ),
    "transactions": "value: recency, frequency and turnover",
    "interactions": "value: the satisfaction index",
    "events": (
        "labels are then derived: defaults from repayments (days past due), churn from "
        "customers' relationship end dates"
    ),
}


def standard_feature_names() -> list[str]:
    """The catalog's feature names for the default feature settings."""
    from research.features.catalog import feature_catalog
    from research.features.snapshot import STANDARD_FEATURE_SETTINGS as standard

    return list(
        feature_catalog(
            standard["windows_months"],
            standard["long_window_months"],
            standard["dpd_thresholds"],
            standard["trend_recent_months"],
        )
    )


def _feeds(table: str, column: str | None) -> list[Feeds]:
    if table not in TABLES:
        raise KeyError(f"{table!r} is not a table of the input contract ({', '.join(TABLES)})")
    spec = TABLES[table]
    if column is None:
        return [INPUTS[(table, c)] for c in spec.column_names]
    if column not in spec.column_names:
        raise KeyError(f"{column!r} is not a column of {table} ({', '.join(spec.column_names)})")
    return [INPUTS[(table, column)]]


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether the feature ``name`` matches any of the ``fnmatch`` ``patterns``."""
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def features_lost(
    table: str, column: str | None = None, catalog_names: Sequence[str] | None = None
) -> list[str]:
    """The features that cannot be computed without ``table`` (or its ``column``).

    Args:
        table: A table of the input contract.
        column: One of its columns; None for the whole table.
        catalog_names: The feature names to choose from (a panel's feature columns or the
            catalog's names); by default the catalog's for the default feature settings.

    Returns:
        The names lost, in the order of ``catalog_names``.

    Raises:
        KeyError: For a table or column outside the contract.
    """
    names = list(standard_feature_names() if catalog_names is None else catalog_names)
    feeds = _feeds(table, column)
    if any(f.panel for f in feeds):
        return names
    patterns = [p for f in feeds for p in f.features]
    return [name for name in names if matches(name, patterns)]


def _compact(patterns: Iterable[str]) -> list[str]:
    """The patterns without those another one covers (``cf_inflow_*`` under ``cf_*``)."""
    unique = list(dict.fromkeys(patterns))
    return [p for p in unique if not any(q != p and fnmatchcase(p, q) for q in unique)]


def lost_text(table: str, column: str | None = None) -> str:
    """The features lost without a table or column, as Markdown (``contract_markdown(lost=...)``)."""
    feeds = _feeds(table, column)
    if any(f.panel for f in feeds):
        what = "all (no panel without it)"
    else:
        patterns = _compact(p for f in feeds for p in f.features)
        what = ", ".join(f"`{p}`" for p in patterns) or "none"
    note = TABLE_NOTES.get(table, "") if column is None else feeds[0].note
    return f"{what}; {note}" if note else what


def _summary(table: str, column: str | None, names: Sequence[str]) -> str:
    feeds = _feeds(table, column)
    if any(f.panel for f in feeds):
        lost = "no panel can be built"
    elif not names:
        lost = "no feature is lost"
    elif len(names) <= 6:
        lost = f"{len(names)} feature{'s' if len(names) != 1 else ''} lost: {', '.join(names)}"
    else:
        patterns = _compact(p for f in feeds for p in f.features)
        lost = f"{len(names)} features lost ({', '.join(patterns)})"
    note = TABLE_NOTES.get(table, "") if column is None else feeds[0].note
    return f"{lost}; also {note}" if note else lost


def _empty(values: pd.Series | pd.DataFrame) -> bool:
    if isinstance(values, pd.DataFrame):  # a repeated name: validation reports it
        return False
    return bool(len(values)) and bool(values.isna().all())


def missing_input_notes(
    tables: Mapping[str, pd.DataFrame | None], catalog_names: Sequence[str] | None = None
) -> list[str]:
    """What the inputs lack costs: one note per absent optional table, and per optional
    column absent or any column empty in every row of a table that is given.

    Args:
        tables: Tables by name, raw or validated (a validated table holds an absent optional
            column empty).
        catalog_names: As for ``features_lost``.
    """
    names = list(standard_feature_names() if catalog_names is None else catalog_names)
    notes = []
    for table, spec in TABLES.items():
        frame = tables.get(table)
        if frame is None:
            if not spec.required:
                lost = features_lost(table, catalog_names=names)
                notes.append(f"{table}: table absent, so {_summary(table, None, lost)}")
            continue
        extras = [str(c) for c in frame.columns if c not in spec.column_names]
        for column in spec.columns:
            absent = column.name not in frame.columns
            if not (absent or _empty(frame[column.name])):
                continue
            if absent and not column.optional:
                continue  # the rule 'required column' reports it
            state = "column absent" if absent else "empty in every row"
            lost = features_lost(table, column.name, names)
            note = f"{table}.{column.name}: {state}, so {_summary(table, column.name, lost)}"
            close = difflib.get_close_matches(column.name, extras, n=1, cutoff=0.75)
            if close:
                note += f" (the table has a column {close[0]!r}: rename it if it is this one)"
            notes.append(note)
    return notes
