"""A source mapping: one YAML file that says how a bank's export maps onto the contract.

``params.yaml`` → ``data.source`` names the embedded generator (``synthetic``), a folder of
tables named as the contract (``research.data.io``), or such a file (``.yaml``/``.yml``)::

    folder: export/            # the export's folder, relative to this file (or absolute)
    as_of: 2024-12-31          # the extract date (optional; else params data.as_of / derived)
    currency: CZK              # every amount is in this currency (ISO 4217 code)
    amount_scale: 1000         # multiplies every money column (1000: the export is in thousands)
    default_definition: 90 days past due or unlikely to pay  # the events table's defaults
    csv: {delimiter: ";", decimal: ",", thousands: "", date_format: "%d.%m.%Y",
          timestamp_format: "%d.%m.%Y %H:%M:%S", true_values: [Y], false_values: [N],
          encoding: cp1250}
    drop: [EXPORT_DATE]        # source columns never read, in any table
    tables:
      customers:
        file: CLIENTS.csv      # a file, or a folder of part files, in the export folder
        columns: {customer_id: CLIENT_ID, segment: SIZE}   # contract column: source column
        values:
          segment: {S: small, M: medium, "*": other}       # source value: contract value
        drop: [CLIENT_NAME]    # this table's source columns never read
        currency_column: CCY   # optional: every value must equal `currency`
        amount_scale: 1        # optional: this table's money columns (overrides the above)
        scale: {interest_rate: 0.01}  # optional: any numeric column (rates in percent)
        csv: {thousands: " "}  # optional: this file's dialect (over the one above)

A contract column the mapping does not name is read from a source column of the same
name when there is one. Columns a table's entry neither names nor drops are **not read**:
a mapping is an allow-list, so personal data (names, registration numbers, e-mail) never
enters the workbench whatever the export calls it, and a wide core-banking extract costs
only the columns used; a note lists them (``drop:`` silences it). Values a map does not
name stay as they are, so the contract's ``allowed categories`` rule reports them with the
closest allowed value; ``"*"`` maps every other value.

Reading is in two steps, each reporting every problem at once as
:class:`~research.data.schema.SchemaError` (so ``research validate`` and its ``--json``
list them with the rest): ``check_mapping`` checks the file itself (unknown keys with the
closest known one, tables and columns the contract does not have, files that do not
exist, values the contract does not allow, a dialect that cannot parse what it describes),
naming the file and key; ``read_mapped`` reads the tables whose entries are sound: the
dialect, renames, value maps, true/false spellings, the amount scale and the currency
check. It returns raw frames keyed by contract table (``attrs["source"]``: the file read)
and the read failures, as ``io.read_folder`` does, so ``schema.check_tables`` applies
unchanged. A value the dialect cannot parse (a date not in ``date_format``) stays as it
was, so the contract's ``type`` rule reports it with its rows; ``SourceRead.explain``
then words the fix for the mapping.

``read_source`` reads either kind of source; ``source_fingerprint`` (in
``research.data.fingerprint``, re-exported here) lists the files a source reads (size and
md5) for the ``source`` stage of ``dvc.yaml``, so that a changed export reruns the data stage.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from research.data import io as _io
from research.data.contract import TABLES, Column, Table
from research.data.fingerprint import source_fingerprint as source_fingerprint  # re-exported
from research.data.params import as_of_text, source_kind, source_path
from research.data.schema import (
    SOURCE_ATTR,
    SchemaError,
    SchemaErrors,
    check_tables,
    file_error,
    raise_failures,
    validate_tables,
)
from research.paths import SOURCE_INFO as SOURCE_INFO  # data/raw/_source.json

RULE = "source mapping"  # the rule of a problem of the mapping file itself
CURRENCY_RULE = "one currency"
WILDCARD = "*"  # a value map's key for every value it does not name
GLOBAL = "mapping"  # the table of a problem outside the tables' entries

_TEXT = pd.StringDtype(na_value=np.nan)
_CURRENCY = re.compile(r"[A-Z]{3}")
_SAMPLE = dt.datetime(
    2024, 11, 28, 13, 45, 30
)  # a dialect's formats must read back what they write
_T = TypeVar("_T")

_TOP_KEYS = {
    "folder": "the export's folder, relative to the mapping file (or absolute)",
    "as_of": "the extract date",
    "currency": "the currency of every amount (ISO 4217 code)",
    "amount_scale": "the factor of every money column",
    "default_definition": "what the events table's defaults are",
    "description": "free text",
    "csv": "the CSV dialect",
    "drop": "source columns never read",
    "tables": "one entry per contract table",
}
_REQUIRED_TOP = ("folder", "currency", "tables")
_TABLE_KEYS = (
    "file",
    "columns",
    "values",
    "drop",
    "currency_column",
    "amount_scale",
    "scale",
    "csv",
)
_ONE_CHAR = ("delimiter", "decimal", "quotechar")
_WORD_LISTS = ("true_values", "false_values", "na_values")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How the export's text files are written (``csv:`` of the mapping)."""

    delimiter: str = ","
    decimal: str = "."
    thousands: str = ""
    quotechar: str = '"'
    date_format: str = ""  # strftime codes; "" reads ISO dates (YYYY-MM-DD) as the contract does
    timestamp_format: str = ""  # "" reads ISO timestamps
    true_values: tuple[str, ...] = ()  # besides true/false/1/0, which the contract reads
    false_values: tuple[str, ...] = ()
    encoding: str = "utf-8"
    na_values: tuple[str, ...] | None = None  # None: pandas' defaults ("", NA, NULL, ...)


_DIALECT_KEYS = tuple(f.name for f in dataclasses.fields(Dialect))


@dataclasses.dataclass(frozen=True)
class TableMapping:
    """How one contract table is read from the export."""

    table: str
    file: str  # relative to the export folder
    columns: Mapping[str, str]  # contract column -> source column (as the mapping names them)
    values: Mapping[str, Mapping[str, str]]  # contract column -> source value -> contract value
    drop: frozenset[str]  # source columns never read (the mapping's and the table's)
    currency_column: str
    amount_scale: float
    scale: Mapping[str, float]  # contract column -> factor (over amount_scale)
    dialect: Dialect

    def factor(self, column: Column) -> float:
        """What the mapping multiplies ``column`` by (1 for a column it does not scale)."""
        if column.name in self.scale:
            return self.scale[column.name]
        return self.amount_scale if column.amount else 1.0


@dataclasses.dataclass(frozen=True)
class SourceMapping:
    """A checked source mapping file."""

    path: Path
    folder: Path
    as_of: str  # ISO date, or "" when the mapping states none
    currency: str
    amount_scale: float
    default_definition: str
    dialect: Dialect
    tables: Mapping[str, TableMapping]

    def explain(self, errors: Iterable[SchemaError]) -> list[SchemaError]:
        """The errors, with the fix of those the mapping's reading explains worded for it.

        A ``type`` failure of a column the dialect parses (a date not in ``date_format``, a
        number not in the decimal mark) and an ``allowed categories`` failure of a column
        with a value map name the mapping's setting to correct.
        """
        return [self._explained(err) for err in errors]

    def _explained(self, err: SchemaError) -> SchemaError:
        entry = self.tables.get(err.table)
        if entry is None or err.column is None or err.column not in TABLES[err.table].column_names:
            return err
        column = TABLES[err.table].column(err.column)
        source = entry.columns.get(column.name, column.name)
        where = f"tables.{err.table}"
        fix = None
        if err.rule == "type":
            read_as = _read_as(column, entry.dialect)
            if read_as:
                fix = (
                    f"{self.path.name} reads {err.table}.{column.name} from column {source!r} "
                    f"as {read_as}: correct these values in the export, or the mapping's csv "
                    f"settings ({where}.csv or csv)"
                )
        elif err.rule == "allowed categories":
            fix = (
                f"map these source values in {where}.values.{column.name} of {self.path.name} "
                f"(a '{WILDCARD}' key maps every other value), or correct them in the export"
            )
        if fix is None:
            return err
        text = str(err)
        head = text.rsplit("\nFix: ", 1)[0] if "\nFix: " in text else text
        return err.replaced(f"{head}\nFix: {fix}", fix=fix)

    def describe(self, root: Path) -> dict[str, Any]:
        """What ``_source.json`` and the reports say of the mapping (no machine paths)."""
        scales = {
            name: entry.amount_scale
            for name, entry in self.tables.items()
            if entry.amount_scale != self.amount_scale
        }
        return {
            "mapping": _shown_path(self.path, root),
            "folder": _shown_path(self.folder, root),
            "currency": self.currency,
            "amount_scale": self.amount_scale,
            **({"table_amount_scales": scales} if scales else {}),
            "default_definition": self.default_definition,
            "tables": {name: entry.file for name, entry in self.tables.items()},
        }


def _read_as(column: Column, dialect: Dialect) -> str:
    """How the dialect parses a column ("" when it leaves it to the contract's own rule)."""
    if column.kind == "date" and dialect.date_format:
        return f"dates in the format {dialect.date_format!r} (csv.date_format)"
    if column.kind == "timestamp" and dialect.timestamp_format:
        return f"timestamps in the format {dialect.timestamp_format!r} (csv.timestamp_format)"
    if column.kind in ("float", "int") and (dialect.decimal != "." or dialect.thousands):
        thousands = f" and thousands separator {dialect.thousands!r}" if dialect.thousands else ""
        return f"numbers with the decimal mark {dialect.decimal!r}{thousands} (csv)"
    if column.kind == "bool" and (dialect.true_values or dialect.false_values):
        spelled = "/".join([*dialect.true_values, *dialect.false_values])
        return f"true/false spelled {spelled} (csv.true_values, csv.false_values)"
    return ""


def _shown_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else its name (never a machine path)."""
    try:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive
        return path.name


# --------------------------------------------------------------------------- the file itself


class _Problems:
    """The problems of a mapping file, as schema errors naming the file and key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[SchemaError] = []

    def add(
        self,
        key: str,
        problem: str,
        fix: str,
        table: str = GLOBAL,
        column: str | None = None,
    ) -> None:
        self.errors.append(file_error(self.path, table, RULE, f"{key}: {problem}", fix, column))

    def unknown_keys(
        self, given: Mapping[Any, Any], known: Sequence[str], where: str, table: str = GLOBAL
    ) -> None:
        for key in given:
            if key not in known:
                self.add(
                    f"{where}{key}",
                    f"unknown key{_did_you_mean(key, known)}",
                    f"use one of {', '.join(known)}",
                    table,
                )


def _did_you_mean(name: object, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_mapping(path: str | Path) -> tuple[SourceMapping | None, list[SchemaError]]:
    """Check a mapping file in full and collect every problem.

    Returns:
        The mapping of the tables whose entries are sound (None when a problem outside
        the tables' entries, such as an unknown key or a missing folder, leaves nothing
        to read) and the problems: one :class:`~research.data.schema.TableFileError` each,
        rule ``source mapping``, naming the file and the key; its table is the table
        whose entry it concerns (``mapping`` for the rest).

    Raises:
        FileNotFoundError: If ``path`` is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"source mapping {path} does not exist or is not a file; Fix: pass the path of "
            "the mapping YAML file (examples/foreign_bank/mapping.yaml shows one)"
        )
    problems = _Problems(path)
    doc = _load_yaml(path, problems)
    if doc is None:
        return None, problems.errors
    problems.unknown_keys(doc, list(_TOP_KEYS), "")
    for key in _REQUIRED_TOP:
        if doc.get(key) in (None, ""):
            problems.add(key, "missing", f"state {key} ({_TOP_KEYS[key]})")
    folder = _folder(doc.get("folder"), path, problems)
    as_of = _as_of(doc.get("as_of"), problems)
    currency = _currency(doc.get("currency"), problems)
    amount_scale = _factor(doc.get("amount_scale", 1), "amount_scale", problems)
    default_definition = doc.get("default_definition") or ""
    if not isinstance(default_definition, str):
        problems.add("default_definition", "must be text", "write the definition as text")
    dialect = _dialect(doc.get("csv"), "csv.", Dialect(), problems, GLOBAL)
    drop = _names(doc.get("drop"), "drop", problems, GLOBAL)
    raw_tables = doc.get("tables")
    if raw_tables is not None and not isinstance(raw_tables, dict):
        problems.add("tables", "must map contract tables to their entries", "see the example")
        raw_tables = {}
    tables: dict[str, TableMapping] = {}
    for name, entry in (raw_tables or {}).items():
        if name not in TABLES:
            problems.add(
                f"tables.{name}",
                f"not a table of the contract{_did_you_mean(name, TABLES)}",
                f"use one of {', '.join(TABLES)}",
            )
            continue
        mapped = _table(name, entry, folder, dialect, drop, amount_scale, currency, problems)
        if mapped is not None:
            tables[name] = mapped
    if "events" in (raw_tables or {}) and not default_definition:
        problems.add(
            "default_definition",
            "missing, though the events table is mapped",
            "state what the events table's defaults are (e.g. '90 days past due or unlikely "
            "to pay'): the reports show it beside every default rate",
            table="events",
        )
        tables.pop("events", None)
    if any(e.table == GLOBAL for e in problems.errors):
        return None, problems.errors
    assert folder is not None and dialect is not None and amount_scale is not None
    mapping = SourceMapping(
        path=path,
        folder=folder,
        as_of=as_of,
        currency=currency,
        amount_scale=amount_scale,
        default_definition=str(default_definition).strip(),
        dialect=dialect,
        tables=tables,
    )
    return mapping, problems.errors


def load_mapping(path: str | Path) -> SourceMapping:
    """The checked mapping; raises every problem (a ``SchemaErrors`` when several)."""
    mapping, errors = check_mapping(path)
    raise_failures(errors)
    assert mapping is not None
    return mapping


def _load_yaml(path: Path, problems: _Problems) -> dict[str, Any] | None:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problems.add("(file)", "is not UTF-8 text", "save the mapping file as UTF-8")
        return None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        problems.add(
            "(file)",
            f"not valid YAML{at} ({what})",
            "correct the YAML (quote values holding ':', '#', '*' or leading zeros)",
        )
        return None
    if not isinstance(doc, dict):
        problems.add(
            "(file)",
            "is not a mapping of keys to values",
            f"start from the keys {', '.join(_TOP_KEYS)}",
        )
        return None
    return doc


def _folder(value: object, path: Path, problems: _Problems) -> Path | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        problems.add("folder", "must be a path", "write the export's folder as text")
        return None
    folder = Path(value).expanduser()
    folder = Path(os.path.normpath(folder if folder.is_absolute() else path.parent / folder))
    if not folder.is_dir():
        problems.add(
            "folder",
            f"{value!r} ({folder}) does not exist or is not a folder",
            "give the export's folder, relative to the mapping file or absolute",
        )
        return None
    return folder


def _as_of(value: object, problems: _Problems) -> str:
    text = as_of_text(value)
    if text:
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            problems.add(
                "as_of", f"must be an ISO date (YYYY-MM-DD), got {text!r}", "e.g. 2024-12-31"
            )
            return ""
    return text


def _currency(value: object, problems: _Problems) -> str:
    text = str(value).strip() if value is not None else ""
    if value is not None and not _CURRENCY.fullmatch(text):
        problems.add(
            "currency",
            f"must be an ISO 4217 code such as EUR or CZK, got {value!r}",
            "state the currency every amount of the export is in",
        )
    return text


def _factor(value: object, key: str, problems: _Problems, table: str = GLOBAL) -> float | None:
    try:
        factor = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        factor = float("nan")
    if isinstance(value, bool) or not np.isfinite(factor) or factor <= 0:
        problems.add(
            key, f"must be a positive number, got {value!r}", "e.g. 1, 1000 or 0.01", table
        )
        return None
    return factor


def _names(value: object, key: str, problems: _Problems, table: str) -> frozenset[str]:
    """A list of names (a single name counts as a list of one)."""
    if value is None:
        return frozenset()
    items = value if isinstance(value, list) else [value]
    bad = [v for v in items if not isinstance(v, (str, int)) or isinstance(v, bool)]
    if bad:
        problems.add(
            key, f"must be a list of column names, got {bad[0]!r}", "quote the names", table
        )
    return frozenset(str(v) for v in items if isinstance(v, (str, int)) and not isinstance(v, bool))


def _dialect(
    value: object, where: str, base: Dialect | None, problems: _Problems, table: str
) -> Dialect | None:
    if base is None:
        return None
    if value is None:
        return base
    if not isinstance(value, dict):
        problems.add(
            where.rstrip("."), "must map dialect keys to values", "e.g. {delimiter: ';'}", table
        )
        return None
    problems.unknown_keys(value, _DIALECT_KEYS, where, table)
    before = len(problems.errors)
    changes: dict[str, Any] = {}
    for key, given in value.items():
        if key not in _DIALECT_KEYS:
            continue
        name = f"{where}{key}"
        if key in _ONE_CHAR or key == "thousands":
            text = given if isinstance(given, str) else None
            empty_ok = key == "thousands"
            if text is None or len(text) > 1 or (not text and not empty_ok):
                problems.add(
                    name, f"must be one character, got {given!r}", "quote it, e.g. ';'", table
                )
            else:
                changes[key] = text
        elif key in ("date_format", "timestamp_format"):
            if given is not None and not isinstance(given, str):
                problems.add(
                    name, f"must be strftime codes, got {given!r}", "e.g. '%d.%m.%Y'", table
                )
            else:
                changes[key] = _checked_format(given or "", key, name, problems, table)
        elif key == "encoding":
            try:
                codecs.lookup(str(given))
                changes[key] = str(given)
            except LookupError:
                problems.add(
                    name,
                    f"unknown encoding {given!r}",
                    "use a Python codec name such as utf-8, cp1250, latin-1",
                    table,
                )
        else:  # word lists
            words = given if isinstance(given, list) else [given]
            if given is None:
                words = []
            bad = [w for w in words if not isinstance(w, (str, int)) or isinstance(w, bool)]
            if bad:
                problems.add(
                    name,
                    f"must be a list of spellings, got {bad[0]!r} (YAML reads yes/no/on/off/"
                    "true/false unquoted as true/false, not as text)",
                    "quote the spellings, e.g. ['yes', 'no']",
                    table,
                )
            else:
                changes[key] = tuple(str(w) for w in words)
    if len(problems.errors) > before:
        return None
    dialect = dataclasses.replace(base, **changes)
    overlap = set(dialect.true_values) & set(dialect.false_values)
    if overlap:
        problems.add(
            f"{where}true_values",
            f"{sorted(overlap)} also in false_values",
            "keep each spelling in one list",
            table,
        )
        return None
    if dialect.thousands and dialect.thousands == dialect.delimiter:
        problems.add(
            f"{where}thousands",
            f"{dialect.thousands!r} is also the delimiter",
            "the two must differ",
            table,
        )
        return None
    if dialect.decimal in (dialect.delimiter, dialect.thousands):
        problems.add(
            f"{where}decimal",
            f"{dialect.decimal!r} is also the delimiter or the thousands separator",
            "the three must differ",
            table,
        )
        return None
    return dialect


def _checked_format(fmt: str, key: str, name: str, problems: _Problems, table: str) -> str:
    """A strftime format that reads back the date it writes (the way ``_parse_dates`` reads)."""
    if not fmt:
        return ""
    try:
        text = _SAMPLE.strftime(fmt)
        parsed = pc.strptime(pa.array([text]), format=fmt, unit="us", error_is_null=True)[0].as_py()
    except (ValueError, pa.ArrowInvalid):
        parsed = None
    if parsed is None or parsed.date() != _SAMPLE.date():
        problems.add(
            name,
            f"{fmt!r} does not read back the date it writes (28 Nov 2024 13:45:30 -> "
            f"{_SAMPLE.strftime(fmt) if parsed is not None else '?'!r})",
            "use strftime codes with day, month and year, e.g. '%d.%m.%Y'"
            + (" and '%H:%M:%S' for the time" if key == "timestamp_format" else ""),
            table,
        )
        return ""
    return fmt


def _table(
    name: str,
    entry: object,
    folder: Path | None,
    dialect: Dialect | None,
    drop: frozenset[str],
    amount_scale: float | None,
    currency: str,
    problems: _Problems,
) -> TableMapping | None:
    """The entry of one table, checked (None when it has a problem: the table is not read)."""
    spec = TABLES[name]
    where = f"tables.{name}."
    before = len(problems.errors)
    if not isinstance(entry, dict):
        problems.add(
            where.rstrip("."),
            "must map keys (file, columns, ...) to values",
            "see the example",
            name,
        )
        return None
    problems.unknown_keys(entry, _TABLE_KEYS, where, name)
    file = entry.get("file")
    if not isinstance(file, str) or not file.strip():
        problems.add(
            f"{where}file", "missing", f"name the file (or folder of parts) holding {name}", name
        )
    elif folder is not None and not (folder / file).exists():
        present = sorted(p.name for p in folder.iterdir() if not p.name.startswith((".", "_")))
        problems.add(
            f"{where}file",
            f"{file!r} is not in the export folder {folder}{_did_you_mean(file, present)}",
            "name a file or folder of the export",
            name,
        )
    columns = _column_map(entry.get("columns"), spec, where, problems)
    values = _value_maps(entry.get("values"), spec, where, problems)
    table_drop = _names(entry.get("drop"), f"{where}drop", problems, name)
    both = sorted((drop | table_drop) & set(columns.values()))
    if both:
        problems.add(
            f"{where}drop",
            f"{both} are both mapped and dropped",
            "remove them from one of the two",
            name,
        )
    currency_column = entry.get("currency_column") or ""
    if not isinstance(currency_column, str):
        problems.add(f"{where}currency_column", "must be a source column name", "quote it", name)
    elif currency_column and not currency:
        problems.add(
            f"{where}currency_column",
            "given, but the mapping states no currency",
            "state currency",
            name,
        )
    factor = _factor(
        entry.get("amount_scale", amount_scale or 1.0), f"{where}amount_scale", problems, name
    )
    scale = _scales(entry.get("scale"), spec, where, problems)
    table_dialect = _dialect(entry.get("csv"), f"{where}csv.", dialect, problems, name)
    if len(problems.errors) > before or folder is None or table_dialect is None or factor is None:
        return None
    return TableMapping(
        table=name,
        file=str(file),
        columns=columns,
        values=values,
        drop=drop | table_drop,
        currency_column=str(currency_column),
        amount_scale=factor,
        scale=scale,
        dialect=table_dialect,
    )


def _column_map(value: object, spec: Table, where: str, problems: _Problems) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(
            f"{where}columns",
            "must map contract columns to source columns",
            "e.g. {customer_id: CLIENT_ID}",
            spec.name,
        )
        return {}
    out: dict[str, str] = {}
    for column, source in value.items():
        if column not in spec.column_names:
            problems.add(
                f"{where}columns.{column}",
                f"not a column of {spec.name}{_did_you_mean(column, spec.column_names)}",
                f"the keys are contract columns: {', '.join(spec.column_names)}",
                spec.name,
            )
        elif not isinstance(source, (str, int)) or isinstance(source, bool) or not str(source):
            problems.add(
                f"{where}columns.{column}",
                f"must name a source column, got {source!r}",
                "quote it",
                spec.name,
                column,
            )
        else:
            out[column] = str(source)
    return out


def _value_maps(
    value: object, spec: Table, where: str, problems: _Problems
) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    categories = [c.name for c in spec.columns if c.categories]
    if not isinstance(value, dict):
        problems.add(
            f"{where}values",
            "must map category columns to value maps",
            "e.g. {segment: {S: small}}",
            spec.name,
        )
        return {}
    out: dict[str, dict[str, str]] = {}
    for column, pairs in value.items():
        key = f"{where}values.{column}"
        if column not in categories:
            problems.add(
                key,
                f"not a category column of {spec.name}{_did_you_mean(column, categories)}"
                + (
                    "; true/false spellings go in csv.true_values and csv.false_values"
                    if column in spec.column_names and spec.column(column).kind == "bool"
                    else ""
                ),
                f"value maps are for {', '.join(categories) or 'no column of this table'}",
                spec.name,
            )
            continue
        if not isinstance(pairs, dict):
            problems.add(
                key,
                "must map source values to contract values",
                "e.g. {S: small}",
                spec.name,
                column,
            )
            continue
        allowed = spec.column(column).categories or ()
        mapped: dict[str, str] = {}
        for source, target in pairs.items():
            if not isinstance(source, (str, int)) or isinstance(source, bool):
                problems.add(
                    f"{key}.{source}",
                    f"the source value {source!r} is not text (YAML reads yes/no/on/off/true/"
                    "false, dates and decimals unquoted as other types)",
                    "quote it",
                    spec.name,
                    column,
                )
                continue
            if target not in allowed:
                problems.add(
                    f"{key}.{source}",
                    f"{target!r} is not allowed in {spec.name}.{column}"
                    f"{_did_you_mean(target, allowed)}",
                    f"map to one of {', '.join(allowed)}",
                    spec.name,
                    column,
                )
                continue
            mapped[str(source)] = str(target)
        out[column] = mapped
    return out


def _scales(value: object, spec: Table, where: str, problems: _Problems) -> dict[str, float]:
    if value is None:
        return {}
    numeric = [c.name for c in spec.columns if c.kind in ("float", "int")]
    if not isinstance(value, dict):
        problems.add(
            f"{where}scale",
            "must map numeric columns to factors",
            "e.g. {interest_rate: 0.01}",
            spec.name,
        )
        return {}
    out: dict[str, float] = {}
    for column, factor in value.items():
        if column not in numeric:
            problems.add(
                f"{where}scale.{column}",
                f"not a numeric column of {spec.name}{_did_you_mean(column, numeric)}",
                f"scale one of {', '.join(numeric) or 'no column of this table'}",
                spec.name,
            )
            continue
        checked = _factor(factor, f"{where}scale.{column}", problems, spec.name)
        if checked is not None:
            out[column] = checked
    return out


# --------------------------------------------------------------------------- reading


def read_mapped(
    mapping: SourceMapping,
) -> tuple[dict[str, pd.DataFrame], list[SchemaError], list[str]]:
    """Read every table of a checked mapping that can be read, and collect the failures.

    Returns:
        Raw frames keyed by contract table (in the mapping's order; ``attrs["source"]`` is
        the file or part folder read), the failures (a table with one is left out), and
        notes (source columns not read).
    """
    frames: dict[str, pd.DataFrame] = {}
    errors: list[SchemaError] = []
    notes: list[str] = []
    for name, entry in mapping.tables.items():
        try:
            frame, found, said = _read_table(mapping, entry)
        except SchemaError as err:
            errors.append(err)
            continue
        errors += found
        notes += said
        if frame is not None:
            frames[name] = frame
    return frames, errors, notes


def _read_table(
    mapping: SourceMapping, entry: TableMapping
) -> tuple[pd.DataFrame | None, list[SchemaError], list[str]]:
    path = mapping.folder / entry.file
    parts = _parts(path, entry.table) if path.is_dir() else [path]
    parquet = [p for p in parts if p.name.lower().endswith(".parquet")]
    if parquet and len(parquet) != len(parts):
        raise file_error(
            path,
            entry.table,
            "readable file",
            "the part files mix Parquet and text files",
            "store all parts of a table in one format",
        )
    errors: list[SchemaError] = []
    frames: list[pd.DataFrame] = []
    first: list[str] | None = None
    unread: set[str] = set()
    for part in parts:
        in_file = _parquet_header(part, entry.table) if parquet else _text_header(part, entry)
        partition = _partition_values(path, part)
        header = [*in_file, *(k for k in partition if k not in in_file)]
        if first is None:
            first = header
        elif set(header) != set(first):
            missing, extra = sorted(set(first) - set(header)), sorted(set(header) - set(first))
            raise file_error(
                part,
                entry.table,
                "readable file",
                f"its columns differ from those of {parts[0].name} (missing {missing}, "
                f"extra {extra})",
                "export all parts of the table with the same columns",
            )
        sources, missing_errors = _sources(entry, header, part, mapping)
        if missing_errors:
            return None, missing_errors, []
        currency = [entry.currency_column] if entry.currency_column else []
        wanted = list(dict.fromkeys([*sources.values(), *currency]))
        unread |= set(header) - set(wanted) - entry.drop
        read = [c for c in wanted if c in in_file]
        raw = (
            _read_parquet(part, read, entry.table)
            if parquet
            else _read_text(part, read, entry, sources)
        )
        for key, value in partition.items():
            if key in wanted and key not in in_file:
                raw[key] = pd.Series(value, index=raw.index, dtype=_TEXT)
        frames.append(raw)
    raw = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    spec = TABLES[entry.table]
    sources, _ = _sources(entry, list(raw.columns), path, mapping)
    frame = pd.DataFrame(
        {name: _convert(spec.column(name), raw[source], entry) for name, source in sources.items()},
        index=raw.index,
    )
    if entry.currency_column:
        error = _currency_error(frame, raw[entry.currency_column], entry, mapping, path)
        if error is not None:
            errors.append(error)
    frame.attrs[SOURCE_ATTR] = str(path)
    notes = []
    if unread:
        notes.append(
            f"{entry.table}: source column(s) of {entry.file} not read (not mapped): "
            f"{', '.join(sorted(unread))}; list them under drop: in {mapping.path.name} to "
            "silence this note"
        )
    return frame, errors, notes


def _parts(folder: Path, table: str) -> list[Path]:
    """The part files of a table folder (names starting with '.' or '_' skipped), sorted."""
    parts: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        parts += [Path(dirpath, f) for f in sorted(filenames) if not f.startswith((".", "_"))]
    parts = [p for p in parts if p.stat().st_size > 0]
    if not parts:
        raise file_error(
            folder,
            table,
            "readable file",
            "the table folder holds no (non-empty) part files",
            "remove the table from the mapping if you have no such records; otherwise export it again",
        )
    return parts


def _partition_values(folder: Path, part: Path) -> dict[str, str | None]:
    if part == folder:
        return {}
    return _io._partition_values(_io._Source("", folder, ""), part)


def _sources(
    entry: TableMapping, header: Sequence[str], path: Path, mapping: SourceMapping
) -> tuple[dict[str, str], list[SchemaError]]:
    """Contract column -> source column read; errors for mapped source columns the file lacks."""
    spec = TABLES[entry.table]
    present = set(header)
    sources: dict[str, str] = {}
    errors: list[SchemaError] = []
    for column in spec.columns:
        source = entry.columns.get(column.name)
        if source is None:
            if column.name in present and column.name not in entry.drop:
                sources[column.name] = column.name  # named as the contract names it
            continue
        if source in present:
            sources[column.name] = source
            continue
        errors.append(
            file_error(
                path,
                entry.table,
                "required column",
                f"the mapping reads {entry.table}.{column.name} from column {source!r}, which "
                f"the file does not have{_did_you_mean(source, header)}",
                f"correct tables.{entry.table}.columns.{column.name} in {mapping.path.name}, "
                "or export the column",
                column=column.name,
            )
        )
    if entry.currency_column and entry.currency_column not in present:
        errors.append(
            file_error(
                path,
                entry.table,
                "required column",
                f"the currency column {entry.currency_column!r} is not in the file"
                f"{_did_you_mean(entry.currency_column, header)}",
                f"correct tables.{entry.table}.currency_column in {mapping.path.name}",
            )
        )
    return sources, errors


def _parquet_header(path: Path, table: str) -> list[str]:
    names = _io._parquet_call(path, table, lambda: pq.read_schema(path).names)
    _io._check_unique_names(path, table, names, "Parquet schema")
    return [str(n) for n in names]


def _read_parquet(path: Path, columns: list[str], table: str) -> pd.DataFrame:
    return _io._parquet_call(
        path,
        table,
        lambda: pd.read_parquet(path, columns=columns, to_pandas_kwargs={"date_as_object": False}),
    )


def _csv_options(dialect: Dialect) -> dict[str, Any]:
    utf8 = codecs.lookup(dialect.encoding).name == "utf-8"
    return {
        "sep": dialect.delimiter,
        "quotechar": dialect.quotechar,
        "encoding": "utf-8-sig" if utf8 else dialect.encoding,  # a byte-order mark is no name
    }


def _text_header(path: Path, entry: TableMapping) -> list[str]:
    dialect = entry.dialect

    def read() -> list[str]:
        first = pd.read_csv(
            path, header=None, nrows=1, dtype=str, keep_default_na=False, **_csv_options(dialect)
        )
        return [str(v) for v in first.iloc[0].tolist()] if len(first) else []

    header = _text_call(path, entry, read)
    _io._check_unique_names(path, entry.table, header, "CSV header")
    if len(header) == 1:
        for sep, word in ((";", "semicolon"), (",", "comma"), ("\t", "tab"), ("|", "pipe")):
            if sep != dialect.delimiter and sep in header[0]:
                raise file_error(
                    path,
                    entry.table,
                    "readable file",
                    f"the header is one column ({header[0][:60]!r}); the file looks {word}-separated",
                    f"set csv.delimiter to {sep!r} in the mapping (or tables.{entry.table}.csv)",
                )
    return header


def _read_text(
    path: Path, columns: list[str], entry: TableMapping, sources: Mapping[str, str]
) -> pd.DataFrame:
    """The wanted columns; text but for numbers, which pandas reads with the decimal mark."""
    spec = TABLES[entry.table]
    numeric = {
        sources[c.name] for c in spec.columns if c.name in sources and c.kind in ("float", "int")
    }
    dialect = entry.dialect
    options = _csv_options(dialect)
    if dialect.na_values is not None:
        options.update(na_values=list(dialect.na_values), keep_default_na=False)
    return _text_call(
        path,
        entry,
        lambda: pd.read_csv(
            path,
            usecols=columns,
            # ids as text (kept so, leading zeros too); codes, dates and flags as Python
            # strings, parsed or mapped here without a round trip through Arrow strings
            dtype={
                name: kind
                for name in columns
                if (kind := _dtype_of(name, spec, sources, numeric)) is not None
            },
            decimal=dialect.decimal,
            thousands=dialect.thousands or None,
            **options,
        ),
    )


def _dtype_of(name: str, spec: Table, sources: Mapping[str, str], numeric: set[str]) -> Any:
    if name in numeric:
        return None  # pandas parses the numbers, with the dialect's decimal mark
    ids = {sources[c.name] for c in spec.columns if c.name in sources and c.kind == "id"}
    return _TEXT if name in ids else object


def _text_call(path: Path, entry: TableMapping, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except MemoryError:
        raise
    except UnicodeDecodeError as err:
        raise file_error(
            path,
            entry.table,
            "readable file",
            f"cannot read as {entry.dialect.encoding} text ({err.reason} at byte {err.start:,})",
            f"set csv.encoding in the mapping (or tables.{entry.table}.csv.encoding) to the "
            "export's encoding, e.g. cp1250, latin-1 or utf-16",
        ) from err
    except Exception as err:  # any other failure of the reader is the file's
        raise _io._csv_error(path, entry.table, err) from err


# --------------------------------------------------------------------------- values


def _convert(column: Column, values: pd.Series, entry: TableMapping) -> pd.Series:
    """One source column as the contract reads it: parsed, mapped and scaled.

    A value the dialect cannot parse is kept as it was written (in an object column), so
    the contract's ``type`` rule reports it with its row.
    """
    dialect = entry.dialect
    textual = _is_text(values)
    if column.categories is not None and (textual or _is_integral(values)):
        return _map_values(values, entry.values.get(column.name, {}))
    if column.kind == "date" and textual and dialect.date_format:
        return _parse_dates(values, dialect.date_format)
    if column.kind == "timestamp" and textual and dialect.timestamp_format:
        return _parse_dates(values, dialect.timestamp_format)
    if column.kind == "bool" and textual and (dialect.true_values or dialect.false_values):
        return _parse_flags(values, dialect)
    if column.kind in ("float", "int"):
        return _scaled(values, dialect, entry.factor(column))
    return values


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values.dtype) or values.dtype == object


def _is_integral(values: pd.Series) -> bool:
    """Whole numbers (codes such as 1, 2, 3), possibly with gaps read as float NaN."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return True
    if not pd.api.types.is_float_dtype(values.dtype):
        return False
    present = values.dropna()
    return bool((present % 1 == 0).all())


def _map_values(values: pd.Series, pairs: Mapping[str, str]) -> pd.Series:
    """Source codes to contract values; codes not in the map stay (``"*"`` takes them all)."""
    if _is_integral(values):
        values = values.astype("Int64").astype(object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # code by code, not row by row
    other = pairs.get(WILDCARD)
    targets = []
    for value in uniques:
        code = str(value).strip()
        targets.append(pairs.get(code, other if other is not None else code))
    mapped = np.array([*targets, np.nan], dtype=object)[codes]
    return pd.Series(mapped, index=values.index, dtype=_TEXT)


# Fixed-width strftime codes: where a zero-padded value puts its day and month.
_WIDTHS = {"%d": 2, "%m": 2, "%Y": 4, "%y": 2, "%H": 2, "%M": 2, "%S": 2}


def _layout(fmt: str) -> tuple[int, dict[str, int]] | None:
    """The width of a zero-padded value of ``fmt`` and where each code starts (None: not fixed)."""
    position, starts, i = 0, {}, 0
    while i < len(fmt):
        if fmt[i] != "%":
            position, i = position + 1, i + 1
            continue
        code = fmt[i : i + 2]
        if code == "%%":
            position, i = position + 1, i + 2
            continue
        if code not in _WIDTHS:
            return None
        starts[code] = position
        position, i = position + _WIDTHS[code], i + 2
    return position, starts


def _parse_dates(values: pd.Series, fmt: str) -> pd.Series:
    """Dates or timestamps in ``fmt`` (microseconds: 9999-12-31 placeholders fit).

    Arrow parses fast but rolls impossible days over (31.02. reads as 2 March): a parsed
    value whose day or month is not the one written, and a value not zero-padded as the
    format writes it, is parsed again, value by distinct value, by Python's strict
    ``strptime``.
    """
    array = pc.utf8_trim_whitespace(
        pa.array(values.to_numpy(dtype=object, na_value=None), pa.string(), from_pandas=True)
    )
    fast = pc.strptime(array, format=fmt, unit="us", error_is_null=True)
    present = array.is_valid().to_numpy(zero_copy_only=False)
    checked = _as_written(array, fast, fmt)
    parsed = pd.Series(fast.to_numpy(zero_copy_only=False), index=values.index).astype(
        "datetime64[us]"
    )
    again = present & ~checked
    if again.any():
        texts = pd.Series(array.filter(pa.array(again)).to_numpy(zero_copy_only=False))
        strict = {text: _strptime(text, fmt) for text in texts.unique()}
        parsed[again] = texts.map(strict).astype("datetime64[us]").to_numpy()
    bad = present & parsed.isna().to_numpy()
    if not bad.any():
        return parsed
    mixed = parsed.astype(object)
    mixed[bad] = values[bad].astype(object)
    return mixed


def _as_written(array: pa.Array, parsed: pa.Array, fmt: str) -> np.ndarray:
    """Where Arrow's value has the day and month the text has (zero-padded text only)."""
    ok = np.zeros(len(array), dtype=bool)
    layout = _layout(fmt)
    if layout is None:
        return ok
    width, starts = layout
    fits = pc.and_(pc.equal(pc.utf8_length(array), width), parsed.is_valid())
    rows = np.flatnonzero(pc.fill_null(fits, False).to_numpy(zero_copy_only=False))
    text, value = array.take(rows), parsed.take(rows)
    same = np.ones(len(rows), dtype=bool)
    for code, part in (("%d", pc.day), ("%m", pc.month)):
        if code in starts:
            digits = pc.utf8_slice_codeunits(text, starts[code], starts[code] + 2)
            written = pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False)
            same &= written == part(value).to_numpy(zero_copy_only=False)
    ok[rows] = same
    return ok


def _strptime(text: str, fmt: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        return None


def _parse_flags(values: pd.Series, dialect: Dialect) -> pd.Series:
    words = {w.upper(): True for w in dialect.true_values} | {
        w.upper(): False for w in dialect.false_values
    }
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    found = [words.get(str(u).strip().upper()) for u in uniques]
    flags = pd.Series(np.array([*found, None], dtype=object)[codes], index=values.index)
    known = (flags.notna() | values.isna()).to_numpy()
    if known.all():
        return flags.astype("boolean")
    mixed = flags.astype(object)
    mixed[~known] = values[~known].astype(object)  # true/false/1/0 and errors: the contract's
    return mixed


def _scaled(values: pd.Series, dialect: Dialect, factor: float) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.astype("float64")
        return numbers * factor if factor != 1 else numbers
    if not _is_text(values):
        return values
    text = values.astype(_TEXT).str.strip()
    if dialect.thousands:
        text = text.str.replace(dialect.thousands, "", regex=False)
    if dialect.decimal != ".":
        text = text.str.replace(dialect.decimal, ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (values.notna() & numbers.isna()).to_numpy()
    numbers = numbers * factor if factor != 1 else numbers
    if not bad.any():
        return numbers
    mixed = numbers.astype(object)
    mixed[bad] = values[bad].astype(object)
    return mixed


def _currency_error(
    frame: pd.DataFrame,
    currency: pd.Series,
    entry: TableMapping,
    mapping: SourceMapping,
    path: Path,
) -> SchemaError | None:
    stated = mapping.currency.upper()
    text = currency.astype(_TEXT).str.strip().str.upper()
    bad = (text.notna() & (text != stated)).to_numpy()
    if not bad.any():
        return None
    others = text[bad].value_counts()
    shown = ", ".join(f"{code} ({n:,})" for code, n in others.head(5).items())
    spec = TABLES[entry.table]
    identity = [c for c in (spec.key or ("customer_id",)) if c in frame.columns]
    examples = frame.loc[bad, identity].head(5).copy()
    examples[entry.currency_column] = currency[bad].head(5).to_numpy()
    amounts = [c.name for c in spec.columns if c.amount and c.name in frame.columns]
    for name in amounts:
        examples[name] = frame.loc[bad, name].head(5).to_numpy()
    fix = (
        f"the workbench takes one currency: convert these amounts to {stated} in the export "
        f"(or leave the rows out); {mapping.path.name} states currency {stated}"
    )
    message = (
        f"{entry.table} (file {path}): rule '{CURRENCY_RULE}' failed for {int(bad.sum()):,} of "
        f"{len(frame):,} rows (currency column {entry.currency_column!r} holds {shown} besides "
        f"{stated}); e.g.:\n{examples.to_string()}\nFix: {fix}"
    )
    return SchemaError(
        message,
        entry.table,
        entry.currency_column,
        CURRENCY_RULE,
        examples,
        count=int(bad.sum()),
        total=len(frame),
        fix=fix,
        file=str(path),
    )


# --------------------------------------------------------------------------- either source


@dataclasses.dataclass
class SourceRead:
    """What reading a source (a folder or a mapping) gave, before validation."""

    kind: str  # "folder" or "mapping"
    frames: dict[str, pd.DataFrame]
    errors: list[SchemaError]
    unreadable: set[str]  # tables given but not read (their failures are in errors)
    notes: list[str]
    mapping: SourceMapping | None = None

    def explain(self, errors: Iterable[SchemaError]) -> list[SchemaError]:
        """The errors, worded for the mapping where its reading explains them."""
        return self.mapping.explain(errors) if self.mapping is not None else list(errors)

    def validated(self, raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """``raw`` (these frames, after any cleaning) validated; raises every failure at once."""
        if not self.errors:
            try:
                return validate_tables(raw)
            except SchemaErrors as err:
                raise_failures(self.explain(err.errors))
            except SchemaError as err:
                raise_failures(self.explain([err]))
        _, found = check_tables(raw, unreadable=self.unreadable)
        raise_failures(self.explain([*self.errors, *found]))
        raise AssertionError("unreachable")  # raise_failures raised


def read_source(source: str | Path) -> SourceRead:
    """Read a folder of tables or the export a mapping file names, unvalidated.

    Args:
        source: A folder (``research.data.io``) or a mapping file (``.yaml``/``.yml``).

    Raises:
        FileNotFoundError: If the folder or the mapping file does not exist.
    """
    path = Path(source)
    if source_kind(str(source)) != "mapping":
        frames, errors = _io.read_folder(path)
        return SourceRead("folder", frames, errors, {e.table for e in errors}, [])
    mapping, problems = check_mapping(path)
    if mapping is None:  # nothing to read: every table counts as given, none is checked
        return SourceRead("mapping", {}, problems, set(TABLES), [])
    frames, errors, notes = read_mapped(mapping)
    blocked = {e.table for e in problems if e.table in TABLES}
    unreadable = blocked | {e.table for e in errors if e.table not in frames}
    return SourceRead("mapping", frames, [*problems, *errors], unreadable, notes, mapping)


# --------------------------------------------------------------------------- the source, described


def describe_source(
    source: str,
    root: Path,
    *,
    mapping: SourceMapping | None,
    tables: Mapping[str, pd.DataFrame],
    default_dpd: int,
    as_of: str,
    as_of_how: str,
) -> dict[str, Any]:
    """Where the tables came from, for ``data/raw/_source.json`` and the reports.

    The kind of source, the mapping and export folder (relative to the project, never a
    machine path), the currency and amount scale, the default definition and the as-of
    date. Without a mapping the currency is not stated and the default definition is the
    one the workbench derives (``labels.default_dpd`` days past due on the repayments) or,
    with an events table, the bank's own (not stated).
    """
    kind = source_kind(source)
    info: dict[str, Any] = {"kind": kind}
    if mapping is not None:
        info |= mapping.describe(root)
    else:
        if kind == "folder":
            info["folder"] = _shown_path(source_path(source, root), root)
        info["currency"] = None
        info["amount_scale"] = 1.0
        info["default_definition"] = (
            "the bank's events table (definition not stated: a source mapping states it)"
            if "events" in tables
            else f"a facility {default_dpd} or more days past due (derived from the repayments; "
            "labels.default_dpd)"
        )
    if mapping is not None and "events" not in tables:
        info["default_definition"] = (
            f"a facility {default_dpd} or more days past due (derived from the repayments; "
            "labels.default_dpd)"
        )
    info["as_of"] = as_of
    info["as_of_how"] = as_of_how
    return info
