"""The synthetic portfolio as another bank would export it: the worked example of a source mapping.

A fictitious Czech bank's core-banking extract of the same portfolio: Czech file and column
names, its own codes (NACE letters for industries, Czech words with diacritics for
segments and regions, abbreviations for products), semicolon-separated text in cp1250
with decimal commas, ``dd.mm.yyyy`` dates, ``Y``/``N`` flags, loan and statement amounts in
thousands (statements with a space as thousands separator), rates in percent, the
transactions as one file per year in a folder, an open-ended relationship written as
``31.12.9999``, a currency column, an export-date column in every file, and columns that
must never be read (the firm's name and e-mail). Labels come only from its events table
(the native default dates and relationship ends): the repayment table is not exported, and
neither are the interactions. ``examples/foreign_bank/mapping.yaml`` maps it back onto
the contract; ``research generate --foreign DIR`` writes it (``tests/test_foreign_export.py``
reads it back and finds the native tables).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.data.contract import EVENT_TYPES, TABLES

ENCODING = "cp1250"
DELIMITER = ";"
DATE_FORMAT = "%d.%m.%Y"
TIMESTAMP_FORMAT = "%d.%m.%Y %H:%M:%S"
OPEN_END = "31.12.9999"  # how this bank writes "no end date yet"
CURRENCY = "CZK"
MARKER = ".foreign-export"  # marks a folder this module wrote, so that it may be replaced
DEFAULT_EVENT = "default"  # label events: the events table's two types
CHURN_EVENT = "churn"  # label events
assert {DEFAULT_EVENT, CHURN_EVENT} <= set(EVENT_TYPES)

# Codes of this bank: contract value -> export value, per (table, column).
SEGMENT_CODES = {
    "micro": "MIKRO",
    "small": "MALÝ",
    "medium": "STŘEDNÍ",
    "large": "VELKÝ",
    "multinational": "NADNÁRODNÍ",
    "project_spv": "SPV",
}
INDUSTRY_CODES = {  # NACE sections
    "agriculture": "A",
    "manufacturing": "C",
    "energy_renewables": "D",
    "construction": "F",
    "wholesale_retail": "G",
    "transport_logistics": "H",
    "hospitality": "I",
    "technology": "J",
    "real_estate": "L",
    "healthcare": "Q",
}
REGION_CODES = {
    "north": "SEVER",
    "south": "JIH",
    "east": "VÝCHOD",
    "west": "ZÁPAD",
    "capital": "PRAHA",
    "international": "ZAHRANIČÍ",
}
PRODUCT_CODES = {
    "term_loan": "TERM",
    "revolver": "KTK",  # kontokorent
    "project_finance": "PF",
    "trade_finance": "TF",
    "working_capital": "PROVOZ",
}
CODES: dict[tuple[str, str], dict[str, str]] = {
    ("customers", "segment"): SEGMENT_CODES,
    ("customers", "industry"): INDUSTRY_CODES,
    ("customers", "region"): REGION_CODES,
    ("facilities", "product"): PRODUCT_CODES,
    ("facilities", "repayment_type"): {
        "amortising": "SPLÁTKY",
        "bullet": "JEDNORÁZ",
        "revolving": "REVOLV",
        "sculpted": "INDIV",
    },
    ("facilities", "collateral_type"): {
        "unsecured": "BEZ",
        "real_estate": "NEMOVITOST",
        "receivables": "POHLEDÁVKY",
        "equipment": "STROJE",
        "project_assets": "PROJEKT",
        "guarantee": "ZÁRUKA",
    },
    ("transactions", "channel"): {
        "branch": "POBOCKA",
        "online_banking": "IB",
        "mobile_app": "MB",
        "host_to_host": "H2H",
        "swift": "SWIFT",
    },
    ("transactions", "category"): {
        "sales_receipt": "TRZBA",
        "other_inflow": "OSTATNI_PRIJEM",
        "supplier_payment": "DODAVATEL",
        "payroll": "MZDY",
        "tax": "DANE",
        "loan_service": "SPLATKA_UVERU",
        "other_outflow": "OSTATNI_VYDAJ",
    },
    ("applications", "product"): PRODUCT_CODES,
    ("applications", "decision"): {
        "approved": "SCHVALENO",
        "declined": "ZAMITNUTO",
        "withdrawn": "STAZENO",
    },
    ("events", "event_type"): {DEFAULT_EVENT: "SELHANI", CHURN_EVENT: "UKONCENI"},
}


@dataclasses.dataclass(frozen=True)
class ExportFile:
    """One file (or folder of yearly parts) of the export: its name and columns."""

    table: str
    name: str
    columns: Mapping[str, str]  # contract column -> export column, in export order
    unit: Mapping[str, float] = dataclasses.field(default_factory=dict)  # column -> export unit
    thousands: str = ""  # thousands separator of this file's amounts
    currency: bool = False  # a currency column (MENA) holding CURRENCY
    yearly: str = ""  # split into <name>/<name>_<year>.csv by the year of this column


_THOUSAND = 1000.0
_PERCENT = 0.01
FILES: tuple[ExportFile, ...] = (
    ExportFile(
        "customers",
        "KLIENTI.csv",
        {
            "customer_id": "KLIENT_ID",
            "segment": "VELIKOST",
            "industry": "NACE",
            "region": "REGION",
            "onboarding_date": "KLIENTEM_OD",
            "relationship_end_date": "KLIENTEM_DO",
            "green_flag": "ZELENY_KLIENT",
            "inclusive_flag": "PROGRAM_INKLUZE",
            "rm_id": "PORADCE",
        },
    ),
    ExportFile(
        "facilities",
        "UVERY.csv",
        {
            "facility_id": "UVER_ID",
            "customer_id": "KLIENT_ID",
            "product": "PRODUKT",
            "origination_date": "DATUM_POSKYTNUTI",
            "maturity_date": "DATUM_SPLATNOSTI",
            "close_date": "DATUM_UKONCENI",
            "limit_amount": "LIMIT_TIS",
            "interest_rate": "SAZBA_PCT",
            "fee_rate": "POPLATEK_PCT",
            "repayment_type": "SPLACENI",
            "collateral_type": "ZAJISTENI",
            "green_loan": "ZELENY_UVER",
        },
        unit={"limit_amount": _THOUSAND, "interest_rate": _PERCENT, "fee_rate": _PERCENT},
        currency=True,
    ),
    ExportFile(
        "facility_balances",
        "ZUSTATKY_UVERU.csv",
        {
            "facility_id": "UVER_ID",
            "customer_id": "KLIENT_ID",
            "month_end": "KONEC_MESICE",
            "drawn_amount": "CERPANO_TIS",
            "limit_amount": "LIMIT_TIS",
        },
        unit={"drawn_amount": _THOUSAND, "limit_amount": _THOUSAND},
    ),
    ExportFile(
        "transactions",
        "POHYBY",
        {
            "customer_id": "KLIENT_ID",
            "timestamp": "CAS",
            "amount": "ČÁSTKA",
            "channel": "KANÁL",
            "category": "DRUH",
        },
        currency=True,
        yearly="timestamp",
    ),
    ExportFile(
        "financials",
        "VYKAZY.csv",
        {
            "customer_id": "KLIENT_ID",
            "period_end": "OBDOBI_DO",
            "reported_date": "PREDANO",
            "revenue": "TRZBY",
            "ebitda": "EBITDA",
            "total_debt": "DLUH_CELKEM",
            "interest_expense": "NAKLADOVE_UROKY",
            "current_assets": "OBEZNA_AKTIVA",
            "current_liabilities": "KRATKODOBE_ZAVAZKY",
            "cash": "HOTOVOST",
            "cfads": "CFADS",
            "debt_service": "DLUHOVA_SLUZBA",
        },
        unit={c.name: _THOUSAND for c in TABLES["financials"].columns if c.amount},
        thousands=" ",
    ),
    ExportFile(
        "applications",
        "ZADOSTI.csv",
        {
            "application_id": "ZADOST_ID",
            "customer_id": "KLIENT_ID",
            "submitted_date": "PODANO",
            "product": "PRODUKT",
            "amount": "CASTKA_TIS",
            "decision": "ROZHODNUTI",
            "decided_date": "ROZHODNUTO",
        },
        unit={"amount": _THOUSAND},
    ),
    ExportFile(
        "account_balances",
        "ZUSTATKY_UCTU.csv",
        {"customer_id": "KLIENT_ID", "balance_date": "DATUM", "balance": "ZŮSTATEK"},
    ),
    ExportFile(
        "events",
        "UDALOSTI.csv",
        {"customer_id": "KLIENT_ID", "event_type": "UDALOST", "event_date": "DATUM_UDALOSTI"},
    ),
)
NOT_EXPORTED = ("repayments", "interactions")  # labels come from the events table instead
PERSONAL = {"customers": ("NAZEV_FIRMY", "EMAIL")}  # never to be read: the mapping drops them
EXPORT_DATE = "DATUM_EXPORTU"  # in every file; the mapping drops it


def events_table(default_dates: pd.Series, churn_dates: pd.Series, as_of: dt.date) -> pd.DataFrame:
    """The contract's events table: each customer's default and relationship end up to ``as_of``.

    Args:
        default_dates: First default date per customer (index ``customer_id``), as
            ``research.labels.default_dates`` derives it from the repayments.
        churn_dates: Relationship end date per customer (``research.labels.churn_dates``).
        as_of: The extract date: a default the repayments date after it (an instalment
            still unpaid at the end) is not yet an event.
    """
    end = pd.Timestamp(as_of)
    parts = []
    for event, dates in ((DEFAULT_EVENT, default_dates), (CHURN_EVENT, churn_dates)):
        dates = dates[dates.notna() & (dates <= end)]
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": pd.Series(dates.index.astype(str), dtype="str"),
                    "event_type": event,
                    "event_date": dates.to_numpy(dtype="datetime64[ns]"),
                }
            )
        )
    events = pd.concat(parts, ignore_index=True)
    events["event_type"] = events["event_type"].astype("str")
    return events.sort_values(["customer_id", "event_type", "event_date"], ignore_index=True)


def export_frames(
    tables: Mapping[str, pd.DataFrame], events: pd.DataFrame, as_of: dt.date
) -> dict[str, pd.DataFrame]:
    """The export's files as text frames, by path relative to the export folder.

    Tables the portfolio lacks (``account_balances`` from an older generator) are left out.
    """
    given = {**tables, "events": events}
    out: dict[str, pd.DataFrame] = {}
    exported = (as_of + dt.timedelta(days=1)).strftime(DATE_FORMAT)
    for spec in FILES:
        if spec.table not in given:
            continue
        frame = _export_frame(spec, given[spec.table])
        if spec.table in PERSONAL:
            ids = given[spec.table]["customer_id"].astype(str)
            name, email = PERSONAL[spec.table]
            frame.insert(1, name, ("Firma " + ids + " s.r.o.").to_numpy())
            frame[email] = ("info@" + ids.str.lower() + ".example.cz").to_numpy()
        if spec.currency:
            frame["MENA"] = CURRENCY
        frame[EXPORT_DATE] = exported
        if not spec.yearly:
            out[spec.name] = frame
            continue
        years = pd.DatetimeIndex(given[spec.table][spec.yearly]).year
        for year in sorted(set(years)):
            part = frame[np.asarray(years == year)].reset_index(drop=True)
            out[f"{spec.name}/{spec.name}_{year}.csv"] = part
    return out


def _export_frame(spec: ExportFile, table: pd.DataFrame) -> pd.DataFrame:
    contract = TABLES[spec.table]
    columns: dict[str, object] = {}
    for name, export in spec.columns.items():
        column = contract.column(name)
        values = table[name]
        if column.categories is not None:
            codes = CODES.get((spec.table, name), {})
            index, levels = pd.factorize(values, use_na_sentinel=True)
            exported = [codes.get(level, level) for level in levels]
            columns[export] = np.array([*exported, np.nan], dtype=object)[index]
        elif column.kind in ("date", "timestamp"):
            fmt = DATE_FORMAT if column.kind == "date" else TIMESTAMP_FORMAT
            open_end = OPEN_END if name == "relationship_end_date" else ""
            columns[export] = _dates(values, fmt, open_end)
        elif column.kind == "bool":
            flags = values.astype("boolean")
            columns[export] = np.where(flags.isna(), "", np.where(flags.fillna(False), "Y", "N"))
        elif column.kind == "float":
            unit = spec.unit.get(name, 1.0)
            # amounts hold cents: in thousands five decimals say them exactly; rates in percent
            numbers = np.round(values.to_numpy(dtype="float64") / unit, 7 if unit < 1 else 5)
            columns[export] = _grouped(numbers) if spec.thousands else _numbers(numbers)
        else:
            columns[export] = values.to_numpy()
    return pd.DataFrame(columns)


_PARTS = {
    "%d": (pc.day, 2),
    "%m": (pc.month, 2),
    "%Y": (pc.year, 4),
    "%H": (pc.hour, 2),
    "%M": (pc.minute, 2),
    "%S": (pc.second, 2),
}


def _dates(values: pd.Series, fmt: str, missing: str) -> np.ndarray:
    """Dates as ``fmt`` writes them, built from their fields (Arrow's strftime is slow)."""
    array = pa.Array.from_pandas(values.astype("datetime64[ns]"))
    pieces: list[object] = []
    for token in re.findall(r"%.|[^%]+", fmt):
        if token not in _PARTS:
            pieces.append(token)  # a literal: the separators
            continue
        field, width = _PARTS[token]
        pieces.append(pc.utf8_lpad(pc.cast(field(array), pa.string()), width, "0"))
    text = pc.binary_join_element_wise(*pieces, "").to_numpy(zero_copy_only=False)
    return np.where(pd.isna(text), missing, text).astype(object)


def _numbers(numbers: np.ndarray) -> np.ndarray:
    """Shortest round-trip text with a decimal comma; empty for NaN (pandas' writer is slow)."""
    text = pc.cast(pa.array(numbers, from_pandas=True), pa.string())
    return pc.replace_substring(text, ".", ",").to_numpy(zero_copy_only=False)


def _grouped(numbers: np.ndarray) -> np.ndarray:
    """``1 234 567,89012``: a space between thousands, a decimal comma (the bank's statements)."""
    return np.array(
        [
            ""
            if np.isnan(x)
            else f"{x:,.5f}".rstrip("0").rstrip(".").replace(",", " ").replace(".", ",")
            for x in numbers
        ],
        dtype=object,
    )


def write_foreign_export(
    tables: Mapping[str, pd.DataFrame],
    events: pd.DataFrame,
    folder: str | Path,
    *,
    as_of: dt.date,
) -> list[Path]:
    """Write the export (``export_frames``) into ``folder``, replacing an export written before.

    Raises:
        ValueError: If ``folder`` exists, is not empty and was not written by this function.
    """
    target = Path(folder)
    if target.exists() and any(target.iterdir()) and not (target / MARKER).exists():
        raise ValueError(
            f"{target} is not empty and holds no export written by `research generate "
            "--foreign`; Fix: write the export to a new folder (or empty this one)"
        )
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    written = []
    try:
        for relative, frame in export_frames(tables, events, as_of).items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(
                path,
                sep=DELIMITER,
                decimal=",",
                index=False,
                encoding=ENCODING,
                lineterminator="\r\n",
            )
            written.append(target / relative)
        (staging / MARKER).write_text("written by research generate --foreign\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written
