"""The input contract (DESIGN.md) as data: tables, columns, types, categories, ranges.

Every table is keyed by pseudonymous ids; no personal data. Only ``customers`` is
mandatory. ``research.data.schema`` enforces this contract; the synthetic generator
writes tables that satisfy it.

Dates are calendar dates (``datetime64``, midnight); ``timestamp`` columns carry a
time of day. The event time of each record (point-in-time rules) is listed in
``EVENT_TIME``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEGMENTS = ("micro", "small", "medium", "large", "multinational", "project_spv")
INDUSTRIES = (
    "agriculture",
    "manufacturing",
    "construction",
    "wholesale_retail",
    "transport_logistics",
    "energy_renewables",
    "real_estate",
    "technology",
    "healthcare",
    "hospitality",
)
REGIONS = ("north", "south", "east", "west", "capital", "international")
PRODUCTS = ("term_loan", "revolver", "project_finance", "trade_finance", "working_capital")
REPAYMENT_TYPES = ("amortising", "bullet", "revolving", "sculpted")
COLLATERAL_TYPES = ("unsecured", "real_estate", "receivables", "equipment", "project_assets", "guarantee")
TRANSACTION_CHANNELS = ("branch", "online_banking", "mobile_app", "host_to_host", "swift")
DIGITAL_TRANSACTION_CHANNELS = ("online_banking", "mobile_app", "host_to_host")
TRANSACTION_CATEGORIES = (
    "sales_receipt",
    "other_inflow",
    "supplier_payment",
    "payroll",
    "tax",
    "loan_service",
    "other_outflow",
)
INTERACTION_CHANNELS = ("rm_visit", "phone", "email", "mobile_app", "web_portal", "social_media")
DIGITAL_INTERACTION_CHANNELS = ("mobile_app", "web_portal", "social_media")
INTERACTION_TYPES = (
    "inquiry",
    "complaint",
    "service_request",
    "application",
    "document_submission",
    "survey",
)
DECISIONS = ("approved", "declined", "withdrawn")


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind, whether it may be empty, and its allowed values."""

    name: str
    kind: str  # "id", "category", "date", "timestamp", "float", "int", "bool"
    nullable: bool = False
    categories: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""


@dataclass(frozen=True)
class Table:
    """A table of the contract: columns, primary key and the parent it references."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = False
    description: str = ""
    date_order: tuple[tuple[str, str], ...] = field(default=())  # (earlier, later) pairs within a row

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, kind: str, **kw) -> Column:
    return Column(name, kind, **kw)


CUSTOMERS = Table(
    "customers",
    (
        _c("customer_id", "id"),
        _c("segment", "category", categories=SEGMENTS),
        _c("industry", "category", categories=INDUSTRIES),
        _c("region", "category", categories=REGIONS),
        _c("onboarding_date", "date"),
        _c("relationship_end_date", "date", nullable=True, description="empty while active (churn event)"),
        _c("green_flag", "bool", description="green-finance client"),
        _c("inclusive_flag", "bool", description="inclusive-finance (micro/small) programme client"),
        _c("rm_id", "id", description="relationship manager (pseudonymous)"),
    ),
    key=("customer_id",),
    required=True,
    date_order=(("onboarding_date", "relationship_end_date"),),
)

FACILITIES = Table(
    "facilities",
    (
        _c("facility_id", "id"),
        _c("customer_id", "id"),
        _c("product", "category", categories=PRODUCTS),
        _c("origination_date", "date"),
        _c("maturity_date", "date"),
        _c("close_date", "date", nullable=True),
        _c("limit_amount", "float", min_value=0.0),
        _c("interest_rate", "float", min_value=0.0, max_value=1.0),
        _c("fee_rate", "float", min_value=0.0, max_value=1.0),
        _c("repayment_type", "category", categories=REPAYMENT_TYPES),
        _c("collateral_type", "category", categories=COLLATERAL_TYPES),
        _c("green_loan", "bool"),
    ),
    key=("facility_id",),
    date_order=(("origination_date", "maturity_date"), ("origination_date", "close_date")),
)

FACILITY_BALANCES = Table(
    "facility_balances",
    (
        _c("facility_id", "id"),
        _c("customer_id", "id"),
        _c("month_end", "date"),
        _c("drawn_amount", "float", min_value=0.0),
        _c("limit_amount", "float", min_value=0.0),
    ),
    key=("facility_id", "month_end"),
)

REPAYMENTS = Table(
    "repayments",
    (
        _c("facility_id", "id"),
        _c("customer_id", "id"),
        _c("due_date", "date"),
        _c("amount_due", "float", min_value=0.0),
        _c("paid_date", "date", nullable=True, description="empty while unpaid"),
        _c("amount_paid", "float", nullable=True, min_value=0.0),
    ),
    key=("facility_id", "due_date"),
)

TRANSACTIONS = Table(
    "transactions",
    (
        _c("customer_id", "id"),
        _c("timestamp", "timestamp"),
        _c("amount", "float", description="signed: inflows positive, outflows negative"),
        _c("channel", "category", categories=TRANSACTION_CHANNELS),
        _c("category", "category", categories=TRANSACTION_CATEGORIES),
    ),
    key=(),
)

INTERACTIONS = Table(
    "interactions",
    (
        _c("customer_id", "id"),
        _c("timestamp", "timestamp"),
        _c("channel", "category", categories=INTERACTION_CHANNELS),
        _c("interaction_type", "category", categories=INTERACTION_TYPES),
        _c("response_hours", "float", nullable=True, min_value=0.0),
        _c("satisfaction_score", "float", nullable=True, min_value=1.0, max_value=5.0),
    ),
    key=(),
)

FINANCIALS = Table(
    "financials",
    (
        _c("customer_id", "id"),
        _c("period_end", "date"),
        _c("reported_date", "date"),
        _c("revenue", "float", min_value=0.0),
        _c("ebitda", "float"),
        _c("total_debt", "float", min_value=0.0),
        _c("interest_expense", "float", min_value=0.0),
        _c("current_assets", "float", min_value=0.0),
        _c("current_liabilities", "float", min_value=0.0),
        _c("cash", "float", min_value=0.0),
        _c("cfads", "float", nullable=True, description="cash flow available for debt service (project finance)"),
        _c("debt_service", "float", nullable=True, min_value=0.0),
    ),
    key=("customer_id", "period_end"),
    date_order=(("period_end", "reported_date"),),
)

APPLICATIONS = Table(
    "applications",
    (
        _c("application_id", "id"),
        _c("customer_id", "id"),
        _c("submitted_date", "date"),
        _c("product", "category", categories=PRODUCTS),
        _c("amount", "float", min_value=0.0),
        _c("decision", "category", nullable=True, categories=DECISIONS, description="empty while pending"),
        _c("decided_date", "date", nullable=True),
    ),
    key=("application_id",),
    date_order=(("submitted_date", "decided_date"),),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CUSTOMERS,
        FACILITIES,
        FACILITY_BALANCES,
        REPAYMENTS,
        TRANSACTIONS,
        INTERACTIONS,
        FINANCIALS,
        APPLICATIONS,
    )
}

# Point-in-time rules: the column(s) whose value is the record's event time.
# A record is visible at a snapshot only when its event time is strictly before it.
EVENT_TIME: dict[str, dict[str, str]] = {
    "customers": {"record": "onboarding_date", "end": "relationship_end_date"},
    "facilities": {"record": "origination_date", "close": "close_date"},
    "facility_balances": {"record": "month_end"},
    "repayments": {"record": "due_date", "payment": "paid_date"},
    "transactions": {"record": "timestamp"},
    "interactions": {"record": "timestamp"},
    "financials": {"record": "reported_date"},
    "applications": {"record": "submitted_date", "decision": "decided_date"},
}


def contract_markdown() -> str:
    """The contract as a Markdown document (``docs/input_contract.md`` is generated from it)."""
    lines = [
        "# Input contract",
        "",
        "Generated from `src/research/data/contract.py` (`research contract-doc`); do not edit by hand.",
        "Every table is keyed by pseudonymous ids: no personal data. Only `customers` is mandatory.",
        "A record is visible to a feature at a snapshot only when its event time is strictly before",
        "the snapshot date (midnight).",
        "",
    ]
    for table in TABLES.values():
        events = ", ".join(f"{k}: `{v}`" for k, v in EVENT_TIME[table.name].items())
        lines += [
            f"## {table.name}{' (mandatory)' if table.required else ''}",
            "",
            f"Key: {', '.join(f'`{k}`' for k in table.key) or 'none'}. Event time: {events}.",
            "",
            "| column | type | empty allowed | allowed values | notes |",
            "|---|---|---|---|---|",
        ]
        for col in table.columns:
            allowed = ", ".join(col.categories) if col.categories else ""
            bounds = [f">= {col.min_value:g}" if col.min_value is not None else "",
                      f"<= {col.max_value:g}" if col.max_value is not None else ""]
            allowed = allowed or " and ".join(b for b in bounds if b)
            lines.append(f"| `{col.name}` | {col.kind} | {'yes' if col.nullable else 'no'} | {allowed} | {col.description} |")
        if table.date_order:
            lines += ["", "Date order: " + "; ".join(f"`{a}` <= `{b}`" for a, b in table.date_order) + "."]
        lines.append("")
    return "\n".join(lines)
