"""The input contract (DESIGN.md) as data: tables, columns, types, categories, ranges.

Every table is keyed by pseudonymous ids; no personal data. Only ``customers`` is
mandatory. ``research.data.schema`` enforces this contract; the synthetic generator
writes tables that satisfy it.

Every controlled vocabulary (a column with ``categories``) admits the specific levels
named by its constant here (``SEGMENTS``, ``PRODUCTS``, ...) followed by
``OPEN_LEVELS``: ``other`` (known, but none of the specific levels) and ``unknown``
(not known). Feature code builds one feature per specific level only, and counts the
open levels in its totals. An ``optional`` column may be absent from a table (the
checked frame then holds it empty); every other column must be present, though a
``nullable`` one may hold empty values.

Dates are calendar dates (``datetime64``, midnight); ``timestamp`` columns carry a
time of day in the bank's local time, without a time zone. The event time of each
record (point-in-time rules) is listed in ``EVENT_TIME``. Money columns (``amount``)
are finite and within ``MAX_AMOUNT`` of zero. A table that is given has at least one
row. ``FILE_FORMATS`` lists how a table may be stored in a folder.
"""

from __future__ import annotations

from collections.abc import Callable
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
COLLATERAL_TYPES = (
    "unsecured",
    "real_estate",
    "receivables",
    "equipment",
    "project_assets",
    "guarantee",
)
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
# Events a bank's own events table may record (``events.event_type``): a default (by the
# bank's definition, stated in the source mapping) or the end of the relationship.
EVENT_TYPES = ("default", "churn")  # label events (research.labels), not model names
# Appended to every controlled vocabulary: a value the bank knows but the contract does not
# name ("other"), and a value the bank does not know ("unknown"). A source mapping maps its
# codes onto them; features count them in totals but never build a feature of their own.
OPEN_LEVELS = ("other", "unknown")

# Money columns are in the currency's units. Ten trillion is beyond any one firm's figure,
# so a larger magnitude is a unit or scale error, an overflow or a sentinel (9.99e99):
# refused before it turns into inf in a feature.
MAX_AMOUNT = 1e13
MAX_RESPONSE_HOURS = 24 * 365 * 10  # ten years: longer is a data error, not a slow reply

# How a table may be stored in a folder (``research.data.io`` reads these; anything else
# in the folder is refused by name). Names starting with "." or "_" are ignored.
CSV_COMPRESSIONS = ("gz", "bz2", "xz", "zip")
FILE_FORMATS = (
    "`<table>.parquet`",
    "`<table>.csv` (UTF-8, comma-separated, one header row; also `.csv.gz`, `.csv.bz2`, "
    "`.csv.xz`, `.csv.zip`)",
    "a folder `<table>.parquet/`, `<table>.csv/` or `<table>/` of part files of one format "
    "(as Spark writes them; hive `key=value` subfolders become columns)",
)


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
    amount: bool = False  # money in the currency's units, within MAX_AMOUNT of zero
    optional: bool = False  # may be absent from the table (then read as empty): implies nullable

    def __post_init__(self) -> None:
        if self.optional and not self.nullable:
            raise ValueError(
                f"contract column {self.name!r} is optional but not nullable: an absent "
                "optional column reads as empty, so it must allow empty values"
            )


@dataclass(frozen=True)
class Table:
    """A table of the contract: columns, primary key and the parent it references."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = False
    description: str = ""
    date_order: tuple[tuple[str, str], ...] = field(
        default=()
    )  # (earlier, later) pairs within a row

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, kind: str, **kw) -> Column:
    return Column(name, kind, **kw)


def _category(name: str, levels: tuple[str, ...], **kw) -> Column:
    """A controlled vocabulary: the specific ``levels``, then ``OPEN_LEVELS``."""
    return Column(name, "category", categories=(*levels, *OPEN_LEVELS), **kw)


def _optional(name: str, kind: str, **kw) -> Column:
    """A column a real export often lacks and no key or rule needs: may be absent or empty."""
    return Column(name, kind, nullable=True, optional=True, **kw)


def _money(name: str, *, signed: bool = False, **kw) -> Column:
    """A money column: finite, ``|x| <= MAX_AMOUNT``, and ``>= 0`` unless ``signed``."""
    low = -MAX_AMOUNT if signed else 0.0
    return Column(name, "float", min_value=low, max_value=MAX_AMOUNT, amount=True, **kw)


CUSTOMERS = Table(
    "customers",
    (
        _c("customer_id", "id"),
        _category("segment", SEGMENTS),
        _category("industry", INDUSTRIES),
        _category("region", REGIONS),
        _c("onboarding_date", "date"),
        _optional(
            "relationship_end_date",
            "date",
            description="empty while active (churn event)",
        ),
        _optional("green_flag", "bool", description="green-finance client"),
        _optional(
            "inclusive_flag", "bool", description="inclusive-finance (micro/small) programme client"
        ),
        _optional("rm_id", "id", description="relationship manager (pseudonymous)"),
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
        _category("product", PRODUCTS),
        _c("origination_date", "date"),
        _c("maturity_date", "date"),
        _optional("close_date", "date", description="empty while open"),
        _money("limit_amount"),
        _c(
            "interest_rate",
            "float",
            nullable=True,
            min_value=0.0,
            max_value=1.0,
            description="yearly, as a fraction (0.045 for 4.5%); empty when not known",
        ),
        _optional(
            "fee_rate",
            "float",
            min_value=0.0,
            max_value=1.0,
            description="yearly fee on the limit, as a fraction; empty when not known",
        ),
        _category("repayment_type", REPAYMENT_TYPES),
        _category("collateral_type", COLLATERAL_TYPES),
        _optional("green_loan", "bool"),
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
        _money("drawn_amount"),
        _money("limit_amount"),
    ),
    key=("facility_id", "month_end"),
)

REPAYMENTS = Table(
    "repayments",
    (
        _c("facility_id", "id"),
        _c("customer_id", "id"),
        _c("due_date", "date"),
        _money("amount_due"),
        _c("paid_date", "date", nullable=True, description="empty while unpaid"),
        _money("amount_paid", nullable=True),
    ),
    key=("facility_id", "due_date"),
)

TRANSACTIONS = Table(
    "transactions",
    (
        _c("customer_id", "id"),
        _c("timestamp", "timestamp"),
        _money("amount", signed=True, description="signed: inflows positive, outflows negative"),
        _category("channel", TRANSACTION_CHANNELS, nullable=True, optional=True),
        _category("category", TRANSACTION_CATEGORIES, nullable=True, optional=True),
    ),
    key=(),
)

INTERACTIONS = Table(
    "interactions",
    (
        _c("customer_id", "id"),
        _c("timestamp", "timestamp"),
        _category("channel", INTERACTION_CHANNELS),
        _category("interaction_type", INTERACTION_TYPES),
        _optional("response_hours", "float", min_value=0.0, max_value=MAX_RESPONSE_HOURS),
        _optional("satisfaction_score", "float", min_value=1.0, max_value=5.0),
    ),
    key=(),
)

FINANCIALS = Table(
    "financials",
    (
        _c("customer_id", "id"),
        _c("period_end", "date"),
        _c("reported_date", "date"),
        _money("revenue"),
        _money("ebitda", signed=True),
        _money("total_debt"),
        _money("interest_expense"),
        _money("current_assets"),
        _money("current_liabilities"),
        _money("cash"),
        _money(
            "cfads",
            signed=True,
            nullable=True,
            optional=True,
            description="cash flow available for debt service (project finance)",
        ),
        _money(
            "debt_service",
            nullable=True,
            optional=True,
            description="debt service due in the period (project finance)",
        ),
    ),
    key=("customer_id", "period_end"),
    date_order=(("period_end", "reported_date"),),
)

ACCOUNT_BALANCES = Table(
    "account_balances",
    (
        _c("customer_id", "id"),
        _c("balance_date", "date"),
        _money(
            "balance",
            signed=True,
            description=(
                "end-of-day balance of the customer's current accounts together (negative: "
                "overdrawn); daily, on days with movements, or at month ends"
            ),
        ),
    ),
    key=("customer_id", "balance_date"),
    description="current-account balances (optional; account-conduct features)",
)

EVENTS = Table(
    "events",
    (
        _c("customer_id", "id"),
        _category("event_type", EVENT_TYPES),
        _c("event_date", "date"),
    ),
    key=("customer_id", "event_type", "event_date"),
    description=(
        "the bank's own default and churn events (optional): when given, labels come from "
        "here instead of repayments (defaults) and relationship end dates (churn)"
    ),
)

APPLICATIONS = Table(
    "applications",
    (
        _c("application_id", "id"),
        _c("customer_id", "id"),
        _c("submitted_date", "date"),
        _category("product", PRODUCTS),
        _money("amount"),
        _category("decision", DECISIONS, nullable=True, description="empty while pending"),
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
        ACCOUNT_BALANCES,
        EVENTS,
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
    "account_balances": {"record": "balance_date"},
    "events": {"record": "event_date"},
}


def _allowed(col: Column) -> str:
    """The allowed values of a column as the contract document shows them."""
    if col.categories:
        return ", ".join(col.categories)
    if col.amount and col.min_value is not None and col.min_value < 0:
        return f"finite, between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}"
    bounds = [
        f">= {col.min_value:g}" if col.min_value is not None else "",
        f"<= {col.max_value:g}" if col.max_value is not None else "",
    ]
    finite = "finite, " if col.kind == "float" else ""
    shown = " and ".join(b for b in bounds if b)
    return f"{finite}{shown}" if shown else finite.rstrip(", ")


LostFeatures = Callable[[str, str | None], str]
"""``(table, column) -> Markdown`` naming the features lost without the column (``None``: the
table). The data layer knows no features: the caller passes ``research.features.inputs.lost_text``."""


def contract_markdown(lost: LostFeatures | None = None) -> str:
    """The contract as a Markdown document (``docs/input_contract.md`` is generated from it).

    Args:
        lost: Names the features lost without a table or column (see ``LostFeatures``);
            without it the document has no such column.
    """
    lines = [
        "# Input contract",
        "",
        "Generated from `src/research/data/contract.py` (`research contract-doc`); do not edit by hand.",
        "Every table is keyed by pseudonymous ids: no personal data. Only `customers` is mandatory.",
        "A record is visible to a feature at a snapshot only when its event time is strictly before",
        "the snapshot date (midnight).",
        "",
        "## Files and general rules",
        "",
        "A folder holds one entry per table, in one of these forms:",
        "",
        *[f"- {form}" for form in FILE_FORMATS],
        "",
        "Names starting with `.` or `_` are ignored; any other file, and any table name outside",
        "the contract, is refused by name. A table given with no rows is refused: leave its file",
        "out if you have no such records (its feature family is then skipped); `customers` needs",
        "at least one row. Column names appear once per table (in a CSV header too).",
        "",
        "- Dates are calendar dates (`YYYY-MM-DD`); timestamps are the bank's local time",
        "  (`YYYY-MM-DD HH:MM:SS`). Neither carries a time zone or UTC offset: convert zoned",
        "  values to local time and drop the zone (a silent shift to UTC would move events near",
        "  midnight to another day).",
        "- Numbers are finite (no `inf`, no `NaN` other than an empty value). Money columns",
        f"  (`amount` in the notes) are in the currency's units with magnitude at most {MAX_AMOUNT:g};",
        "  larger values are unit errors, overflows or sentinels.",
        "- Every controlled vocabulary ends with the levels "
        + " and ".join(f"`{level}`" for level in OPEN_LEVELS)
        + ": `other` for a value",
        "  the bank knows but the contract does not name, `unknown` for a value it does not know.",
        "  Map the bank's codes onto the levels in the source mapping (its `values:` section).",
        "  Features count the two levels in their totals but build no feature of their own for them.",
        "- A column marked *optional* may be absent from the table: it then reads as empty in every",
        "  row and the features named in its row are lost. Every other column must be present;",
        "  one whose *empty allowed* says yes may still be empty in some or all rows.",
        "- No personal data in any table: a column beyond the contract's named like a name, tax,",
        "  national or registration number, e-mail, phone, address, birth date, IBAN or account",
        "  number, or a text column holding e-mail addresses or phone numbers, is refused (drop",
        "  it from the export or list it under `drop:` in the source mapping).",
        "- Amounts are in one currency: a `currency` (`ccy`, `currency_code`) column with more than",
        "  one value is refused; convert the amounts first and state the currency in the mapping.",
        "",
    ]
    header = ["column", "type", "required", "empty allowed", "allowed values"]
    if lost is not None:
        header.append("features lost without it")
    header.append("notes")
    for table in TABLES.values():
        events = ", ".join(f"{k}: `{v}`" for k, v in EVENT_TIME[table.name].items())
        lines += [
            f"## {table.name}{' (mandatory)' if table.required else ''}",
            "",
        ]
        if table.description:
            lines += [f"{table.description[0].upper()}{table.description[1:]}.", ""]
        lines += [
            f"Key: {', '.join(f'`{k}`' for k in table.key) or 'none'}. Event time: {events}.",
        ]
        if lost is not None:
            lines.append(f"Features lost without the table: {lost(table.name, None)}.")
        lines += [
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for col in table.columns:
            notes = "; ".join(n for n in ("amount" if col.amount else "", col.description) if n)
            cells = [
                f"`{col.name}`",
                col.kind,
                "optional" if col.optional else "yes",
                "yes" if col.nullable else "no",
                _allowed(col),
            ]
            if lost is not None:
                cells.append(lost(table.name, col.name))
            cells.append(notes)
            lines.append("| " + " | ".join(cells) + " |")
        if table.date_order:
            order = "; ".join(f"`{a}` <= `{b}`" for a, b in table.date_order)
            lines += ["", f"Date order: {order}."]
        lines.append("")
    return "\n".join(lines)
