"""The input contract, executable: check a set of tables and coerce them to canonical dtypes.

``validate_tables`` applies the rules of ``research.data.contract`` and reports every
failure: one as a :class:`SchemaError` that names the table, the column, the rule, a few
offending rows and how to fix it; several as a :class:`SchemaErrors` (``errors`` lists
them; its message starts with a summary line, then lists them grouped by table and rule).
``check_tables`` returns the failures instead of raising. A missing or repeated column
skips only the rules that need it; values failing the type rule are emptied so that they
fail nothing else; the rules between tables run wherever both could be checked. Checks
are vectorised, so tens of millions of rows take seconds.

Rules, in the order they are checked and listed (the ``rule`` of a ``SchemaError``):

* on a source mapping file (``research.data.mapping``): ``source mapping``;
* on the files of a folder (``research.data.io`` raises a :class:`TableFileError`):
  ``known file``, ``one file per table``, ``readable file``, ``unique column names``
  (in a CSV header or a Parquet schema);
* on the set of tables: ``known table``, ``required table``;
* then table by table, in the order of ``contract.TABLES``:
  ``not empty`` (for a table read from a file: ``attrs["source"]``), ``unique column names``,
  ``required column``, ``no personal data``, ``one currency``, ``time zone``, ``type``,
  ``not null``, ``allowed categories``, ``range``, ``date at midnight``, ``unique key``,
  ``date order``, ``payment with amount``, ``decision with date``, ``reference``,
  ``same customer``, ``not before onboarding``, ``not before origination``.

``required column`` spares the contract's optional columns: an absent one is added, empty.
``no personal data`` refuses a column outside the contract whose name looks like
personal data (a name, a tax, national or registration number, an e-mail address, a phone
number, a postal address, a birth date, an IBAN or account number), and an extra text
column whose sampled values hold e-mail addresses or are mostly phone numbers: the
contract takes pseudonymous ids only. ``one currency`` refuses a ``currency`` (``ccy``,
``currency_code``) column with more than one value: amounts must be in one currency.
``allowed categories`` proposes, for each unknown value, the closest allowed one (the
same letters in another case first, then the most similar spelling).

Parents come before children in ``contract.TABLES``, so the cross-table rules of a
table always compare against an already checked parent.

``ArrowTableCheck`` applies the same rules to a table's Arrow record batches, for a caller
that must not hold the tables (``research.data.check``, behind ``research validate``): it
clears a table of every rule or gives up, and a table it gives up on is checked again by the
rules above, which word the failures; it never words one itself.

Canonical dtypes: id and category columns ``str``; date and timestamp columns
``datetime64[ns]`` (dates at midnight); float ``float64``; int ``int64`` (``Int64`` when
nullable); bool ``bool`` (``boolean`` when nullable). Columns outside the contract are
kept unchanged after the contract's columns; the index is kept.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes
from pandas.arrays import ArrowStringArray

from research.data.contract import EVENT_TIME, TABLES, Column, Table

TEXT = pd.StringDtype(na_value=np.nan)  # pandas' default ``str`` dtype

RULES: tuple[str, ...] = (
    "source mapping",
    "known file",
    "one file per table",
    "readable file",
    "known table",
    "required table",
    "not empty",
    "unique column names",
    "required column",
    "no personal data",
    "one currency",
    "time zone",
    "type",
    "not null",
    "allowed categories",
    "range",
    "date at midnight",
    "unique key",
    "date order",
    "payment with amount",
    "decision with date",
    "reference",
    "same customer",
    "not before onboarding",
    "not before origination",
)

_MAX_EXAMPLES = 5
SOURCE_ATTR = "source"  # frame.attrs key: the file a raw frame was read from (errors name it)
_DAY_NS = 86_400 * 10**9
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False}

# (table, rule, column that when filled..., ...requires this column filled)
_FILLED_WITH: tuple[tuple[str, str, str, str], ...] = (
    ("repayments", "payment with amount", "paid_date", "amount_paid"),
    ("applications", "decision with date", "decision", "decided_date"),
    ("applications", "decision with date", "decided_date", "decision"),
)

# (column, parent table): every value of the column must exist in the parent.
_REFERENCES: tuple[tuple[str, str], ...] = (
    ("customer_id", "customers"),
    ("facility_id", "facilities"),
)
_NOUN = {"customers": "customer", "facilities": "facility"}

# table -> (column, parent table, parent key, parent column, rule): column >= parent's column.
_NOT_BEFORE: dict[str, tuple[tuple[str, str, str, str, str], ...]] = {
    "facilities": (
        (
            "origination_date",
            "customers",
            "customer_id",
            "onboarding_date",
            "not before onboarding",
        ),
    ),
    "repayments": (
        ("due_date", "facilities", "facility_id", "origination_date", "not before origination"),
        ("paid_date", "facilities", "facility_id", "origination_date", "not before origination"),
    ),
}

_TYPE_PROBLEM = {
    "id": "not text",
    "category": "not text",
    "date": "not a date",
    "timestamp": "not a timestamp",
    "float": "not a finite number",
    "int": "not a whole number",
    "bool": "not true/false",
}
_DATE_RANGE = "1677-09-22..2262-04-11"  # what datetime64[ns] holds
_TYPE_FIX = {
    "id": "ids must be text (or whole numbers); convert the column to strings",
    "category": "values must be text; convert the column to strings",
    "date": (
        f"write dates as ISO text 'YYYY-MM-DD' or datetime64 values without time zone within "
        f"{_DATE_RANGE}; leave unknown or open-ended dates empty (no 9999-12-31 sentinels)"
    ),
    "timestamp": (
        f"write timestamps as ISO text 'YYYY-MM-DD HH:MM:SS' or datetime64 values in naive "
        f"local time within {_DATE_RANGE}; leave unknown values empty (no sentinels)"
    ),
    "float": (
        "write plain numbers (dot as decimal separator, no thousands separators, units or "
        "infinities); leave unknown values empty"
    ),
    "int": "write whole numbers; leave unknown values empty",
    "bool": "write true/false (or 1/0)",
}
_ZONED = "time-zone-aware values"
_ZONED_TEXT = "values with a time-zone offset"
_ZONE_WHAT = {"date": "a calendar date", "timestamp": "a date and time"}
_ZONE_FIX = (
    "{column} is {what} in the bank's local time, without a time zone: convert the values to "
    "local time and drop the zone (pandas: s.dt.tz_convert('Europe/Vienna').dt.tz_localize(None) "
    "with your zone; Spark: cast to TIMESTAMP_NTZ; CSV: 'YYYY-MM-DD HH:MM:SS' without an "
    "offset). They are not converted to UTC here: that would move events near midnight to "
    "another day"
)


class SchemaError(ValueError):
    """A table breaks the input contract.

    Attributes:
        table: The table where the rule failed.
        column: The column (``"(a, b)"`` for a composite key); ``None`` for rules on a table.
        rule: The name of the failed rule, one of ``RULES``.
        examples: Up to five offending rows (original index kept); ``None`` when the rule
            is not about rows (a missing table or column).
        count: How many rows fail the rule (``None`` when it is not about rows).
        total: The rows of the table (``None`` when it is not about rows).
        fix: What to do, in words (``None`` when not known).
        file: The file the table was read from (``None`` when not known).
    """

    def __init__(
        self,
        message: str,
        table: str,
        column: str | None,
        rule: str,
        examples: pd.DataFrame | None = None,
        *,
        count: int | None = None,
        total: int | None = None,
        fix: str | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.column = column
        self.rule = rule
        self.examples = examples
        self.count = count
        self.total = total
        self.fix = fix
        self.file = file

    def __reduce__(self):  # keeps the attributes when pickled (e.g. across processes)
        return (
            _rebuild,
            (
                type(self),
                (str(self), self.table, self.column, self.rule, self.examples),
                self._details(),
            ),
        )

    def _details(self) -> dict[str, object]:
        return {"count": self.count, "total": self.total, "fix": self.fix, "file": self.file}

    def replaced(self, message: str, **details: object) -> SchemaError:
        """A plain :class:`SchemaError` of the same failure with another message (and details)."""
        merged = {**self._details(), **details}
        return SchemaError(
            message,
            self.table,
            self.column,
            self.rule,
            self.examples,
            **merged,  # type: ignore[arg-type]
        )

    def record(self) -> dict[str, object]:
        """The failure as a JSON-ready dict (``research validate --json``)."""
        examples = None
        if self.examples is not None:
            import json

            examples = json.loads(self.examples.to_json(orient="records", date_format="iso"))
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "total_rows": self.total,
            "examples": examples,
            "fix": self.fix,
            "file": self.file,
            "message": str(self),
        }


def _rebuild(cls: type, args: tuple, details: dict[str, object]) -> SchemaError:
    err = cls(*args)
    err.__dict__.update(details)
    return err


class TableFileError(SchemaError):
    """A file of a table folder is not a table the reader knows, or cannot be read as one.

    The message is one line, ``<path>: <problem>. Fix: <what to do>``.

    Attributes:
        path: The offending file or folder.
        table: The table it would hold (the file name for an unknown file).
        column: The column for ``unique column names``; ``None`` otherwise.
        rule: ``known file``, ``one file per table``, ``readable file`` or
            ``unique column names``.
    """

    def __init__(self, message: str, table: str, column: str | None, rule: str, path: str) -> None:
        super().__init__(message, table, column, rule, file=path)
        self.path = path

    def __reduce__(self):
        return (
            _rebuild,
            (
                type(self),
                (str(self), self.table, self.column, self.rule, self.path),
                self._details(),
            ),
        )


class SchemaErrors(SchemaError):
    """Several rules failed; ``errors`` lists them all (the attributes are the first's).

    The message starts with a summary line (``3 failures in 2 tables: customers (2),
    facilities (1)``), then lists the failures grouped by table, then rule, numbered.
    """

    def __init__(self, errors: Sequence[SchemaError]) -> None:
        ordered = sorted(errors, key=_failure_order(errors))
        first = ordered[0]
        super().__init__(
            _failures_message(ordered),
            first.table,
            first.column,
            first.rule,
            first.examples,
            **first._details(),  # type: ignore[arg-type]
        )
        self.errors = list(ordered)

    def __reduce__(self):
        return (type(self), (self.errors,))


def _failure_order(errors: Sequence[SchemaError]) -> Callable[[SchemaError], tuple[int, int, int]]:
    """Sort key: tables in contract order (others first, as met), then rule, then as met."""
    tables = list(dict.fromkeys([*(e.table for e in errors if e.table not in TABLES), *TABLES]))
    rules = {rule: i for i, rule in enumerate(RULES)}
    position = {id(e): i for i, e in enumerate(errors)}
    return lambda e: (tables.index(e.table), rules.get(e.rule, len(rules)), position[id(e)])


def _failures_message(errors: Sequence[SchemaError]) -> str:
    per_table: dict[str, int] = {}
    for err in errors:
        per_table[err.table] = per_table.get(err.table, 0) + 1
    n_tables = len(per_table)
    counts = ", ".join(f"{table} ({n})" for table, n in per_table.items())
    lines = [f"{len(errors)} failures in {n_tables} table{'s' if n_tables != 1 else ''}: {counts}"]
    table = None
    for number, err in enumerate(errors, 1):
        if err.table != table:
            table = err.table
            lines.append(f"\n{table}:")
        text = str(err).replace("\n", "\n    ")
        lines.append(f"  {number}. [{err.rule}] {text}")
    return "\n".join(lines)


def raise_failures(errors: Sequence[SchemaError]) -> None:
    """Raise nothing, the one error, or a :class:`SchemaErrors` listing several."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SchemaErrors(errors)


def file_error(
    path: object, table: str, rule: str, problem: str, fix: str, column: str | None = None
) -> TableFileError:
    """A :class:`TableFileError` with its one-line message."""
    err = TableFileError(f"{path}: {problem}. Fix: {fix}", table, column, rule, str(path))
    err.fix = fix
    return err


def validate_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Check tables against the contract and return them with canonical dtypes.

    Args:
        tables: Raw frames keyed by table name; ``customers`` is mandatory.

    Returns:
        New frames (inputs are not modified) in the order of ``contract.TABLES``.

    Raises:
        SchemaError: For the one rule that fails, or a :class:`SchemaErrors` listing every
            failure when several fail (see ``check_tables``).
        TypeError: If a value of ``tables`` is not a DataFrame.
    """
    checked, errors = check_tables(tables)
    raise_failures(errors)
    return {name: _final_dtypes(TABLES[name], frame) for name, frame in checked.items()}


def check_tables(
    tables: dict[str, pd.DataFrame], *, unreadable: Iterable[str] = ()
) -> tuple[dict[str, pd.DataFrame], list[SchemaError]]:
    """Check tables against every rule of the contract and collect all failures.

    Each table is checked on all its column rules; a missing or repeated column skips only
    the rules that need it, and values that fail the type rule are emptied (so they fail
    nothing else). Cross-table rules run wherever both tables could be checked.

    Args:
        tables: Raw frames keyed by table name.
        unreadable: Tables whose file could not be read (already reported): they do not
            count as missing, and rules against them are skipped.

    Returns:
        The frames that could be checked, coerced (not null-free: rows that failed keep
        empty values), and the failures in the order they were found.

    Raises:
        TypeError: If a value of ``tables`` is not a DataFrame.
    """
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"tables[{name!r}] is a {type(frame).__name__}, not a pandas DataFrame; "
                "pass one DataFrame per table"
            )
    given = {*tables, *unreadable}
    sources = {name: frame.attrs.get(SOURCE_ATTR) for name, frame in tables.items()}
    errors = table_name_errors(list(tables), given, sources)
    checked: dict[str, pd.DataFrame] = {}
    missing_reported: set[str] = set()  # missing parents named by a reference failure
    for name, spec in TABLES.items():
        if name in tables:
            frame, found = check_table(spec, tables[name], checked, given, missing_reported)
            errors += found
            if frame is not None:
                checked[name] = frame
    return checked, errors


def table_name_errors(
    names: Sequence[str], given: Collection[str], sources: Mapping[str, str | None]
) -> list[SchemaError]:
    """The rules on the set of tables (``known table``, ``required table``).

    Args:
        names: The tables at hand (read), in the order they were read.
        given: Those and the tables given but not readable.
        sources: The file each table was read from (errors name it), where known.
    """
    return [_with_source(err, sources.get(err.table)) for err in _check_table_names(names, given)]


def check_table(
    spec: Table,
    frame: pd.DataFrame,
    parents: Mapping[str, pd.DataFrame],
    given: Collection[str],
    reported: set[str],
) -> tuple[pd.DataFrame | None, list[SchemaError]]:
    """Check one table as ``check_tables`` does, its parents already checked.

    Args:
        spec: The table's contract.
        frame: The raw frame (``attrs["source"]``: the file errors name).
        parents: The checked frames of the tables before it in ``contract.TABLES`` (only
            its parents are read).
        given: The names of every table given, readable or not.
        reported: The missing parents already reported by the rule ``reference``
            (updated).

    Returns:
        The coerced frame (``None`` for an empty table) and the failures.
    """
    coerced, found = _check_table(spec, frame, parents, given, reported)
    source = frame.attrs.get(SOURCE_ATTR)
    return coerced, [_with_source(err, source) for err in found]


def _with_source(err: SchemaError, source: object) -> SchemaError:
    """The error, naming the file its table was read from (``attrs["source"]``) if known."""
    where = _where(err.table, err.column)
    text = str(err)
    if type(err) is not SchemaError or not source or not text.startswith(f"{where}: "):
        return err
    return err.replaced(f"{where} (file {source}){text[len(where) :]}", file=str(source))


def _check_table(
    spec: Table,
    frame: pd.DataFrame,
    parents: Mapping[str, pd.DataFrame],
    given: Collection[str],
    reported: set[str],
) -> tuple[pd.DataFrame | None, list[SchemaError]]:
    """Apply the single-table rules, then the rules against already checked parents."""
    empty = _check_not_empty(spec, frame)
    if empty is not None:
        return None, [empty]
    errors, usable = _check_columns(spec, frame)
    coerced, type_bad, type_errors = _coerce_columns(spec, frame, usable)
    errors += _check_personal_data(spec, frame, coerced)
    errors += _check_one_currency(spec, coerced)
    errors += type_errors
    present = (
        spec
        if len(usable) == len(spec.columns)
        else dataclasses.replace(spec, columns=tuple(c for c in spec.columns if c.name in usable))
    )
    errors += _check_not_null(present, coerced, type_bad)
    for check in (
        _check_categories,
        _check_ranges,
        _check_midnight,
        _check_unique_key,
        _check_date_order,
        _check_filled_with,
    ):
        errors += check(present, coerced)
    errors += _check_references(present, coerced, parents, given, reported)
    errors += _check_same_customer(present, coerced, parents)
    errors += _check_not_before(present, coerced, parents)
    return coerced, errors


# --- messages ---------------------------------------------------------------------------


def _where(table: str, column: str | None) -> str:
    return table if column is None else f"{table}.{column}"


def _table_error(table: str, column: str | None, rule: str, problem: str, fix: str) -> SchemaError:
    """An error about a table or column as a whole (no example rows)."""
    message = f"{_where(table, column)}: rule '{rule}' failed: {problem}\nFix: {fix}"
    return SchemaError(message, table, column, rule, fix=fix)


def _row_error(
    spec: Table,
    column: str,
    rule: str,
    frame: pd.DataFrame,
    bad: np.ndarray,
    fix: str,
    *,
    show: Sequence[str] = (),
    detail: str = "",
    extra: dict[str, pd.Series | np.ndarray] | None = None,
    positions: np.ndarray | None = None,
) -> SchemaError:
    """An error about rows: counts, up to five example rows and the fix."""
    if positions is None:
        positions = np.flatnonzero(bad)
    positions = positions[:_MAX_EXAMPLES]
    examples = _example_rows(spec, frame, positions, [*show, column], extra or {})
    note = f" ({detail})" if detail else ""
    message = (
        f"{_where(spec.name, column)}: rule '{rule}' failed for {int(bad.sum()):,} of "
        f"{len(frame):,} rows{note}; e.g.:\n{examples.to_string()}\nFix: {fix}"
    )
    return SchemaError(
        message, spec.name, column, rule, examples, count=int(bad.sum()), total=len(frame), fix=fix
    )


def _example_rows(
    spec: Table,
    frame: pd.DataFrame,
    positions: np.ndarray,
    columns: Iterable[str],
    extra: dict[str, pd.Series | np.ndarray],
) -> pd.DataFrame:
    """The rows at ``positions``: identifying columns, the columns involved, then ``extra``."""
    identity = spec.key or ("customer_id", EVENT_TIME[spec.name]["record"])
    wanted = [c for c in dict.fromkeys([*identity, *columns]) if c in frame.columns]
    examples = frame.iloc[positions][wanted].copy()
    for name, values in extra.items():
        picked = values.iloc[positions] if isinstance(values, pd.Series) else values[positions]
        examples[name] = np.asarray(picked)
    return examples


def _as_mask(values: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=bool, na_value=False)
    return np.asarray(values, dtype=bool)


def _number(value: float) -> str:
    return f"{value:g}"


# --- table set and columns --------------------------------------------------------------


def _check_table_names(tables: Sequence[str], given: Collection[str]) -> Iterator[SchemaError]:
    known = ", ".join(TABLES)
    for name in sorted(set(tables) - set(TABLES)):
        match = difflib.get_close_matches(str(name).lower(), list(TABLES), n=1, cutoff=0.6)
        if match:
            problem = f"'{name}' is not a table of the contract; did you mean '{match[0]}'?"
            fix = f"rename it to '{match[0]}' (e.g. the file {match[0]}.parquet) or remove it"
        else:
            problem = f"'{name}' is not a table of the contract"
            fix = "rename it to one of the known tables or remove it"
        yield _table_error(str(name), None, "known table", problem, f"{fix}; known tables: {known}")
    for name, spec in TABLES.items():
        if spec.required and name not in given:
            shown = ", ".join(tables) or "none"
            yield _table_error(
                name,
                None,
                "required table",
                f"the table is missing (tables given: {shown})",
                f"provide {name} (e.g. {name}.parquet or {name}.csv); it is mandatory",
            )


def _check_not_empty(spec: Table, frame: pd.DataFrame) -> SchemaError | None:
    """A table read from a file has rows; one built in memory may be empty (the Dask engine
    validates empty schemas and customer partitions without a table's rows)."""
    if len(frame) or not frame.attrs.get(SOURCE_ATTR):
        return None
    if spec.required:
        fix = (
            f"{spec.name} is mandatory and needs at least one row: export the records "
            "again (check the extract's filters)"
        )
    else:
        fix = (
            f"remove the table (its file) if you have no such records: its feature family "
            f"is then skipped; otherwise export the {spec.name} records again"
        )
    return _table_error(spec.name, None, "not empty", "the table has no rows", fix)


def _check_columns(spec: Table, frame: pd.DataFrame) -> tuple[list[SchemaError], set[str]]:
    """Repeated and missing columns, and the contract columns usable: present exactly once,
    or optional and absent (``_coerce_columns`` adds those empty)."""
    errors = []
    names = [str(c) for c in frame.columns]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    for name in sorted(n for n, k in counts.items() if k > 1):
        errors.append(
            _table_error(
                spec.name,
                name,
                "unique column names",
                f"the column name appears {counts[name]} times",
                "keep one column of that name (rename or drop the others)",
            )
        )
    extras = [n for n in names if n not in spec.column_names]
    lowered = {n.lower(): n for n in extras}
    for column in spec.columns:
        if column.name in counts or column.optional:
            continue
        match = difflib.get_close_matches(column.name, list(lowered), n=1, cutoff=0.6)
        if match:
            found = lowered[match[0]]
            problem = f"the column is missing; '{found}' looks like a misspelling of it"
            fix = f"rename '{found}' to '{column.name}'"
        else:
            problem = f"the column is missing (columns given: {', '.join(names) or 'none'})"
            fix = f"add '{column.name}' ({column.kind}) to {spec.name}"
        errors.append(_table_error(spec.name, column.name, "required column", problem, fix))
    usable = {
        c.name
        for c in spec.columns
        if counts.get(c.name) == 1 or (c.optional and not counts.get(c.name))
    }
    return errors, usable


# --- type: coercion to canonical dtypes -------------------------------------------------

_Coerced = tuple[pd.Series, np.ndarray, str]


def _coerce_columns(
    spec: Table, frame: pd.DataFrame, usable: set[str]
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[SchemaError]]:
    """Convert the usable contract columns to their canonical dtype.

    Values that cannot be converted are emptied and reported (one error per column); the
    masks of those values are returned too. Columns named more than once are dropped.
    """
    converted: dict[str, pd.Series] = {}
    type_bad: dict[str, np.ndarray] = {}
    errors: list[SchemaError] = []
    for column in spec.columns:
        if column.name not in usable:
            continue
        if column.name not in frame.columns:  # an optional column the table lacks
            converted[column.name] = _empty(column.kind, frame.index)
            continue
        raw = frame[column.name]
        values, bad, problem = _coerce(column, raw)
        if bad.any():
            zoned = problem in (_ZONED, _ZONED_TEXT)
            errors.append(
                _row_error(
                    spec,
                    column.name,
                    "time zone" if zoned else "type",
                    frame,
                    bad,
                    _ZONE_FIX.format(column=column.name, what=_ZONE_WHAT[column.kind])
                    if zoned
                    else _TYPE_FIX[column.kind],
                    detail=f"{problem}; column dtype {raw.dtype}",
                )
            )
            # values the coercion emptied (the bad ones, and all of a column with a time
            # zone): 'not null' leaves them to this rule
            type_bad[column.name] = bad | _as_mask(raw.notna() & values.isna())
        converted[column.name] = values
    repeated = frame.columns[frame.columns.duplicated(keep=False)]
    for name in frame.columns:
        if name not in converted and name not in spec.column_names and name not in repeated:
            converted[name] = frame[name]
    return pd.DataFrame(converted, index=frame.index), type_bad, errors


def _coerce(column: Column, raw: pd.Series) -> _Coerced:
    """Convert one column; also return the mask of values that could not be converted."""
    kind = column.kind
    if kind not in _COERCERS:
        raise ValueError(
            f"contract column {column.name!r} has unknown kind {kind!r}; "
            f"use one of {', '.join(_COERCERS)} in research.data.contract"
        )
    if raw.isna().all():  # e.g. an empty optional column read back as float NaN
        return _empty(kind, raw.index), np.zeros(len(raw), bool), ""
    return _COERCERS[kind](raw)


def _empty(kind: str, index: pd.Index) -> pd.Series:
    """An all-missing column of the canonical dtype of ``kind``."""
    if kind in ("date", "timestamp"):
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    if kind in ("int", "bool"):
        return pd.Series(pd.NA, index=index, dtype="Int64" if kind == "int" else "boolean")
    return pd.Series(np.nan, index=index, dtype=TEXT if kind in ("id", "category") else "float64")


def _is_textual(dtype: object) -> bool:
    return (
        ptypes.is_object_dtype(dtype)
        or ptypes.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _to_text(raw: pd.Series) -> _Coerced:
    problem = _TYPE_PROBLEM["id"]
    if ptypes.is_bool_dtype(raw.dtype) or not (
        _is_textual(raw.dtype) or ptypes.is_numeric_dtype(raw.dtype)
    ):
        return _empty("id", raw.index), _as_mask(raw.notna()), problem
    if ptypes.is_float_dtype(raw.dtype):  # whole numbers read as float because of NaN
        whole = raw.isna() | (raw % 1 == 0)
        text = raw.where(whole).astype("Int64").astype(TEXT)
        return text, _as_mask(~whole), "not text or a whole number"
    text = raw.astype(TEXT)
    return text.mask(text.str.strip() == ""), np.zeros(len(raw), bool), problem


def _to_datetime(raw: pd.Series) -> _Coerced:
    problem = "not a date/time"
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return _empty("date", raw.index), _as_mask(raw.notna()), _ZONED
    if ptypes.is_datetime64_dtype(raw.dtype):
        parsed = raw
    elif _is_textual(raw.dtype):
        text = _decategorise(raw)
        parsed, problem = _parse_dates(text)
        if problem == _ZONED:
            zoned = _zoned_text(text)
            if zoned.any():
                return parsed, zoned, _ZONED_TEXT
            parsed = pd.to_datetime(text.map(_parse_naive), errors="coerce")  # value by value
            problem = "not an ISO date/time"
    else:
        return _empty("date", raw.index), _as_mask(raw.notna()), problem
    unparsed = _as_mask(raw.notna() & parsed.isna())
    outside = np.zeros(len(raw), bool)
    if parsed.dtype != "datetime64[ns]":  # coarser units reach beyond the ns range
        outside = _as_mask((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max))
    if outside.any():
        beyond = f"outside {_DATE_RANGE}"
        problem = f"{problem}, or {beyond}" if unparsed.any() else beyond
    bad = unparsed | outside
    return parsed.where(~bad).astype("datetime64[ns]"), bad, problem


def _decategorise(raw: pd.Series) -> pd.Series:
    return raw.astype(object) if isinstance(raw.dtype, pd.CategoricalDtype) else raw


def _parse_dates(raw: pd.Series) -> tuple[pd.Series, str]:
    """Parse ISO text (and date/datetime objects); unparsable values become NaT.

    Returns the problem ``_ZONED`` (and all NaT) when any value carries a time-zone offset.
    """
    try:
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    except ValueError:  # mixed time-zone offsets (or zoned and naive values)
        return _empty("date", raw.index), _ZONED
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return _empty("date", raw.index), _ZONED
    return parsed, "not an ISO date/time"


def _zoned_text(raw: pd.Series) -> np.ndarray:
    """The values that carry a time-zone offset (runs only when some do)."""
    return _as_mask(raw.map(_has_zone, na_action="ignore").fillna(False))


def _parse_naive(value: object) -> pd.Timestamp | None:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return None if stamp is pd.NaT or stamp.tzinfo is not None else stamp


def _has_zone(value: object) -> bool:
    try:
        return pd.Timestamp(value).tzinfo is not None
    except (ValueError, TypeError):
        return False


def _to_float(raw: pd.Series) -> _Coerced:
    problem = _TYPE_PROBLEM["float"]
    if ptypes.is_bool_dtype(raw.dtype):
        return _empty("float", raw.index), _as_mask(raw.notna()), "true/false, not numbers"
    if ptypes.is_numeric_dtype(raw.dtype):
        numbers = pd.Series(raw.to_numpy(dtype="float64", na_value=np.nan), index=raw.index)
    elif _is_textual(raw.dtype):
        numbers = pd.to_numeric(_decategorise(raw), errors="coerce").astype("float64")
    else:
        return _empty("float", raw.index), _as_mask(raw.notna()), problem
    bad = raw.notna() & (numbers.isna() | np.isinf(numbers))
    return numbers.where(~bad), _as_mask(bad), problem


def _to_int(raw: pd.Series) -> _Coerced:
    if ptypes.is_integer_dtype(raw.dtype):
        return raw.astype("Int64"), np.zeros(len(raw), bool), ""
    numbers, bad, _ = _to_float(raw)
    bad = bad | _as_mask(numbers % 1 != 0)
    return numbers.where(~bad).astype("Int64"), bad, _TYPE_PROBLEM["int"]


def _to_bool(raw: pd.Series) -> _Coerced:
    if ptypes.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), np.zeros(len(raw), bool), ""
    if ptypes.is_numeric_dtype(raw.dtype) or _is_textual(raw.dtype):
        words = raw.astype(object).astype(TEXT).str.strip().str.lower()
        words = words.str.replace(r"\.0$", "", regex=True)  # 1.0/0.0 from float columns
        flags = words.map(_BOOL_WORDS).astype("boolean")
        return flags, _as_mask(raw.notna() & flags.isna()), _TYPE_PROBLEM["bool"]
    return _empty("bool", raw.index), _as_mask(raw.notna()), _TYPE_PROBLEM["bool"]


_COERCERS: dict[str, Callable[[pd.Series], _Coerced]] = {
    "id": _to_text,
    "category": _to_text,
    "date": _to_datetime,
    "timestamp": _to_datetime,
    "float": _to_float,
    "int": _to_int,
    "bool": _to_bool,
}


def _final_dtypes(spec: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Non-nullable int and bool columns hold no nulls by now: use the numpy dtypes."""
    numpy_dtype = {"int": "int64", "bool": "bool"}
    changes = {
        c.name: frame[c.name].astype(numpy_dtype[c.kind])
        for c in spec.columns
        if c.kind in numpy_dtype and not c.nullable
    }
    out = frame.assign(**changes) if changes else frame
    out.attrs = {}  # the source path of a raw frame stays with it, not the validated one
    return out


# --- single-table rules -----------------------------------------------------------------


def _check_not_null(
    spec: Table, frame: pd.DataFrame, type_bad: dict[str, np.ndarray] | None = None
) -> Iterator[SchemaError]:
    for column in spec.columns:
        if column.nullable:
            continue
        bad = _as_mask(frame[column.name].isna())
        if type_bad and column.name in type_bad:
            bad = bad & ~type_bad[column.name]  # emptied by coercion: reported by the type rule
        if bad.any():
            yield _row_error(
                spec,
                column.name,
                "not null",
                frame,
                bad,
                f"fill {column.name} in these rows or drop them; it may not be empty",
            )


def _check_categories(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    for column in spec.columns:
        if column.categories is None:
            continue
        values = frame[column.name]
        bad = _as_mask(values.notna() & ~values.isin(column.categories))
        if bad.any():
            unknown = sorted(values[bad].unique())
            shown = ", ".join(
                _with_suggestion(v, column.categories) for v in unknown[:_MAX_EXAMPLES]
            )
            more = (
                f" and {len(unknown) - _MAX_EXAMPLES:,} more"
                if len(unknown) > _MAX_EXAMPLES
                else ""
            )
            pairs = [(v, closest_level(v, column.categories)) for v in unknown[:_MAX_EXAMPLES]]
            mapped = ", ".join(f"{v!r}: {m!r}" for v, m in pairs if m is not None)
            example = f" (e.g. {mapped})" if mapped else ""
            yield _row_error(
                spec,
                column.name,
                "allowed categories",
                frame,
                bad,
                f"map the values to one of: {', '.join(column.categories)} (case-sensitive) in "
                f"the source mapping's values: section for {spec.name}.{column.name}{example}; "
                "map a value the contract does not name to 'other', one not known to 'unknown'",
                detail=f"unknown values: {shown}{more}",
            )


def closest_level(value: object, levels: Sequence[str]) -> str | None:
    """The allowed level ``value`` most likely means: the same text in another case (or
    with spaces and dashes for underscores), else the most similar spelling; None if none is close."""
    text = str(value).strip()
    folded = {level.lower(): level for level in levels}
    for candidate in (text.lower(), re.sub(r"[\s\-]+", "_", text.lower())):
        if candidate in folded:
            return folded[candidate]
    match = difflib.get_close_matches(
        re.sub(r"[\s\-]+", "_", text.lower()), list(folded), n=1, cutoff=0.75
    )
    return folded[match[0]] if match else None


def _with_suggestion(value: object, levels: Sequence[str]) -> str:
    match = closest_level(value, levels)
    return f"{value!r} (did you mean {match!r}?)" if match is not None else repr(value)


def _check_ranges(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    for column in spec.columns:
        low, high = column.min_value, column.max_value
        if low is None and high is None:
            continue
        values = frame[column.name]
        bad = np.zeros(len(frame), bool)
        if low is not None:
            bad |= _as_mask(values < low)
        if high is not None:
            bad |= _as_mask(values > high)
        if bad.any():
            if low is not None and high is not None:
                allowed = f"between {_number(low)} and {_number(high)}"
            elif low is not None:
                allowed = f">= {_number(low)}"
            else:
                assert high is not None  # both None was skipped above
                allowed = f"<= {_number(high)}"
            why = ""
            if column.amount and high is not None and _as_mask(values.abs() > high).any():
                why = (
                    f" (an amount beyond {_number(high)} in the currency's units is a unit "
                    "or scale error, an overflow or a sentinel such as 9.99e99)"
                )
            yield _row_error(
                spec,
                column.name,
                "range",
                frame,
                bad,
                f"{column.name} must be {allowed}; correct these values or drop the rows{why}",
                detail=f"values not {allowed}",
            )


def _check_midnight(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    for column in spec.columns:
        if column.kind != "date":
            continue
        values = frame[column.name]
        nanoseconds = values.to_numpy(dtype="datetime64[ns]").view("i8")
        bad = _as_mask(values.notna()) & (nanoseconds % _DAY_NS != 0)
        if bad.any():
            yield _row_error(
                spec,
                column.name,
                "date at midnight",
                frame,
                bad,
                f"{column.name} is a calendar date: drop the time of day "
                "(e.g. .dt.normalize()) or check that the right column was mapped",
                detail="values with a time of day",
            )


def _check_unique_key(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    if not spec.key or not set(spec.key) <= set(frame.columns):
        return
    key = list(spec.key)
    bad = _as_mask(frame.duplicated(subset=key, keep=False))
    if not bad.any():
        return
    positions = np.flatnonzero(bad)
    duplicates = frame.iloc[positions][key].reset_index(drop=True)
    positions = positions[duplicates.sort_values(key, kind="stable").index.to_numpy()]
    label = key[0] if len(key) == 1 else f"({', '.join(key)})"
    yield _row_error(
        spec,
        label,
        "unique key",
        frame,
        bad,
        f"each {label} must appear once in {spec.name}; drop or merge the duplicate rows",
        detail=f"rows sharing a {label}",
        show=key,
        positions=positions,
    )


def _check_date_order(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    for earlier, later in spec.date_order:
        if earlier not in frame.columns or later not in frame.columns:
            continue
        bad = _as_mask(frame[later] < frame[earlier])  # NaT compares False: allowed
        if bad.any():
            empty = " (or leave it empty)" if spec.column(later).nullable else ""
            yield _row_error(
                spec,
                later,
                "date order",
                frame,
                bad,
                f"{later} must be on or after {earlier}; correct the dates{empty}",
                detail=f"{later} before {earlier}",
                show=[earlier],
            )


def _check_filled_with(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    for table, rule, when, then in _FILLED_WITH:
        if table != spec.name or when not in frame.columns or then not in frame.columns:
            continue
        bad = _as_mask(frame[when].notna() & frame[then].isna())
        if bad.any():
            yield _row_error(
                spec,
                then,
                rule,
                frame,
                bad,
                f"fill {then} wherever {when} is set, or empty {when} in these rows",
                detail=f"{when} set but {then} empty",
                show=[when],
            )


# --- guards: no personal data, one currency ---------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that make a column a count, flag or measure about something, not the thing itself
# ("email_count", "has_phone", "name_length").
_METRIC_WORDS = _words(
    "count counts cnt share ratio rate flag flags sent opened clicks days amount total volume "
    "changes changed verified valid present available has is length len type channel consent "
    "optin bounced"
)
_NUMBER = _words("no nr num number numbers")
_NAME_QUALIFIERS = _words(
    "name names customer client company firm borrower contact owner director holder rm manager "
    "person legal trading business account guarantor applicant counterparty beneficiary payee "
    "payer employee first last full given family middle maiden display user debtor creditor "
    "partner spouse signatory"
)


@dataclasses.dataclass(frozen=True)
class _Personal:
    """Column names that look like one kind of personal data (lowercase word tokens)."""

    kind: str
    words: frozenset[str] = frozenset()  # any of these tokens
    pairs: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()  # a token of each, adjacent
    alone: frozenset[str] = frozenset()  # the only token

    def matches(self, tokens: list[str]) -> bool:
        return (
            bool(self.words.intersection(tokens))
            or any(
                a in first and b in then
                for first, then in self.pairs
                for a, b in zip(tokens, tokens[1:], strict=False)
            )
            or (len(tokens) == 1 and tokens[0] in self.alone)
        )


_PERSONAL: tuple[_Personal, ...] = (
    _Personal(
        "a person's or firm's name",
        words=_words(
            "surname surnames firstname lastname fullname forename forenames givenname "
            "familyname middlename maidenname customername clientname companyname firmname "
            "contactname vorname nachname prenom apellido apellidos cognome"
        ),
        alone=_words("name names"),
    ),
    _Personal(
        "a tax or national identification number",
        words=_words("tin ssn nino vatin taxid taxno taxnumber passport nif siren siret ustid"),
        pairs=(
            (_words("tax vat national personal fiscal"), _NUMBER | _words("id identifier")),
            (_words("social"), _words("security")),
            (_words("national"), _words("insurance")),
            (_words("id identity"), _NUMBER | _words("card")),
            (_words("fiscal"), _words("code")),
        ),
    ),
    _Personal(
        "a company registration number",
        words=_words("crn lei duns"),
        pairs=(
            (_words("registration reg incorporation"), _NUMBER | _words("id code")),
            (_words("company commercial trade business chamber"), _NUMBER),
        ),
    ),
    _Personal(
        "an e-mail address",
        words=_words("email emails emailaddress mailaddress"),
        pairs=((_words("e"), _words("mail")), (_words("mail"), _words("address addr"))),
        alone=_words("mail"),
    ),
    _Personal(
        "a phone number",
        words=_words("phone phones telephone telefon telefono phonenumber msisdn cellphone fax"),
        pairs=((_words("mobile cell tel"), _NUMBER),),
        alone=_words("tel"),
    ),
    _Personal(
        "a postal address",
        words=_words("address addresses addr street streetname strasse"),
        pairs=((_words("house"), _NUMBER),),
    ),
    _Personal("a birth date", words=_words("birth birthday birthdate dob geburtsdatum")),
    _Personal(
        "an IBAN or account number",
        words=_words("iban ibans bban accountnumber cardnumber"),
        pairs=((_words("account acct acc card"), _NUMBER),),
    ),
)
_PERSONAL_FIX = (
    "the input contract takes pseudonymous ids only: drop the column from the export, or list "
    "it under drop: in the source mapping"
)
_SAMPLE_ROWS = 1_000  # values of an extra text column looked at for e-mail addresses and phones
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# International (+43 ...) or national with an area code and a separator ((01) 234 5678,
# 0664-1234567); dates and decimals (01.02.2023, 0.12345678) are not phone numbers.
_PHONE = r"\+[1-9][\d ().\-/]{6,22}|\(?0\d{0,5}\)?[ .\-/][\d ().\-/]{5,20}"
_NOT_PHONE = r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}|\d+[.,]\d+"
_CURRENCY_COLUMNS = frozenset(
    {"currency", "ccy", "currency_code", "currencycode", "currency_iso", "iso_currency", "ccy_code"}
)


def _name_tokens(name: str) -> list[str]:
    """Lowercase word tokens of a column name: ``customerEmail_2`` -> customer, email, 2."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.findall(r"[a-z]+|[0-9]+", spaced.lower())


def personal_data_kind(name: str) -> str | None:
    """What personal data a column name looks like (e.g. ``"an e-mail address"``), or None."""
    tokens = _name_tokens(str(name))
    if not tokens or _METRIC_WORDS.intersection(tokens):
        return None
    if {"name", "names"}.intersection(tokens) and all(
        t in _NAME_QUALIFIERS or t.isdigit() for t in tokens
    ):  # "name", "customer_name", "first_name_2"; not "product_name"
        return _PERSONAL[0].kind
    return next((rule.kind for rule in _PERSONAL if rule.matches(tokens)), None)


def _check_personal_data(
    spec: Table, raw: pd.DataFrame, frame: pd.DataFrame
) -> Iterator[SchemaError]:
    """Columns outside the contract named like personal data, or holding e-mails or phones."""
    for name in dict.fromkeys(str(c) for c in raw.columns):
        if name in spec.column_names:
            continue
        kind = personal_data_kind(name)
        if kind is not None:
            yield _table_error(
                spec.name,
                name,
                "no personal data",
                f"the column name looks like personal data ({kind})",
                _PERSONAL_FIX,
            )
        elif name in frame.columns and _is_textual(frame[name].dtype):
            found = _personal_values(spec, frame, name)
            if found is not None:
                yield found


def _personal_values(spec: Table, frame: pd.DataFrame, name: str) -> SchemaError | None:
    """An error when sampled values hold e-mail addresses, or mostly are phone numbers."""
    picks = np.unique(
        np.linspace(0, len(frame) - 1, min(len(frame), _SAMPLE_ROWS)).astype(np.int64)
    )
    sample = frame[name].iloc[picks]
    filled = _as_mask(sample.notna())
    picks, sample = picks[filled], sample[filled].astype(object).astype(TEXT).str.strip()
    if not len(sample):
        return None
    email = _as_mask(sample.str.contains(_EMAIL, regex=True))
    digits = sample.str.count(r"\d")
    phone = _as_mask(
        sample.str.fullmatch(_PHONE)
        & ~sample.str.fullmatch(_NOT_PHONE)
        & (digits >= 8)
        & (digits <= 15)
    )
    if email.any():
        hits, kind, what = email, "<e-mail address>", "hold e-mail addresses"
    elif phone.mean() >= 0.5:
        hits, kind, what = phone, "<phone number>", "are phone numbers"
    else:
        return None
    positions = picks[hits][:_MAX_EXAMPLES]  # row positions: the index may repeat labels
    examples = _example_rows(spec, frame, positions, [], {})
    examples[name] = kind  # the values themselves are not repeated in a report
    count = int(hits.sum())
    message = (
        f"{_where(spec.name, name)}: rule 'no personal data' failed for {count:,} of "
        f"{len(sample):,} sampled rows (values that {what}; not shown); e.g.:\n"
        f"{examples.to_string()}\nFix: {_PERSONAL_FIX}"
    )
    return SchemaError(
        message,
        spec.name,
        name,
        "no personal data",
        examples,
        count=count,
        total=len(sample),
        fix=_PERSONAL_FIX,
    )


def _check_one_currency(spec: Table, frame: pd.DataFrame) -> Iterator[SchemaError]:
    """A currency column (``currency``, ``ccy``, ``currency_code``) holds one value."""
    for name in frame.columns:
        if "_".join(_name_tokens(str(name))) not in _CURRENCY_COLUMNS or name in spec.column_names:
            continue
        codes = frame[name].astype(object).astype(TEXT).str.strip().str.upper()
        counts = codes.value_counts(dropna=True)
        if len(counts) <= 1:
            continue
        main = counts.index[0]
        bad = _as_mask(codes.notna() & (codes != main))
        firsts = np.flatnonzero(~codes.duplicated().to_numpy() & codes.notna().to_numpy())
        shown = ", ".join(
            f"{code!r} ({n:,} row{'s' if n != 1 else ''})"
            for code, n in counts.head(_MAX_EXAMPLES).items()
        )
        more = f" and {len(counts) - _MAX_EXAMPLES:,} more" if len(counts) > _MAX_EXAMPLES else ""
        yield _row_error(
            spec,
            str(name),
            "one currency",
            frame,
            bad,
            "amounts must be in one currency: convert the amounts of the other currencies into "
            f"one (e.g. at each record's date) before the export, then state that currency in "
            f"the source mapping and drop the {name} column",
            detail=f"{len(counts)} currencies: {shown}{more}",
            positions=firsts,
        )


# --- rules against parent tables --------------------------------------------------------


def _check_references(
    spec: Table,
    frame: pd.DataFrame,
    parents: Mapping[str, pd.DataFrame],
    given: Iterable[str],
    reported: set[str],
) -> Iterator[SchemaError]:
    """Every value refers to a row of its parent; a missing parent is reported once."""
    for column, parent in _REFERENCES:
        if parent == spec.name or column not in spec.column_names or column not in frame.columns:
            continue
        values = frame[column]
        if parent in parents:
            if column not in parents[parent].columns:
                continue  # the parent's own failure is reported
            bad = ~_isin(values, parents[parent][column])
            detail = f"{column} not in {parent}"
            fix = f"add these {column} values to {parent}, or drop the rows that refer to them"
        elif parent in given or TABLES[parent].required or parent in reported:
            # given but unreadable or empty, or missing and reported already (the rule
            # 'required table', or for an earlier table): nothing new to compare
            continue
        else:
            reported.add(parent)
            bad = np.ones(len(frame), bool)
            detail = f"the {parent} table is missing"
            fix = f"provide the {parent} table (e.g. {parent}.parquet) or drop {spec.name}"
        if bad.any():
            yield _row_error(spec, column, "reference", frame, bad, fix, detail=detail)


def _arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow strings behind a text column (``str`` dtype), else ``None``."""
    array = values.array
    return array._pa_array if isinstance(array, ArrowStringArray) else None


def _isin(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """``values.isin(allowed)`` as a mask; on Arrow strings without pandas' per-value loop."""
    left, right = _arrow_text(values), _arrow_text(allowed)
    if left is None or right is None:
        return _as_mask(values.isin(allowed))
    return pc.is_in(left, value_set=pc.unique(right)).to_numpy(zero_copy_only=False)


def _parent_rows(child_keys: pd.Series, parent: pd.DataFrame, key: str) -> np.ndarray:
    """Row position in ``parent`` of each child key (-1 where it is not in ``parent``).

    ``parent[key]`` is unique (see ``_comparable``)."""
    left, right = _arrow_text(child_keys), _arrow_text(parent[key])
    if left is None or right is None or right.num_chunks == 0:
        return pd.Index(parent[key]).get_indexer(child_keys)
    rows = pc.fill_null(pc.index_in(left, value_set=right.combine_chunks()), -1)
    return rows.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)


def _comparable(
    frame: pd.DataFrame,
    columns: Iterable[str],
    parent: pd.DataFrame | None,
    key: str,
    parent_columns: Iterable[str],
) -> bool:
    """Whether a rule against a parent can be evaluated: columns present, parent key unique."""
    return (
        parent is not None
        and set(columns) <= set(frame.columns)
        and {key, *parent_columns} <= set(parent.columns)
        and bool(parent[key].is_unique)
    )


def _check_same_customer(
    spec: Table, frame: pd.DataFrame, parents: Mapping[str, pd.DataFrame]
) -> Iterator[SchemaError]:
    if spec.name == "facilities" or not {"facility_id", "customer_id"} <= set(spec.column_names):
        return
    facilities = parents.get("facilities")
    if facilities is None or not _comparable(
        frame, ["facility_id", "customer_id"], facilities, "facility_id", ["customer_id"]
    ):
        return
    rows = _parent_rows(frame["facility_id"], facilities, "facility_id")
    found = rows >= 0  # unknown facilities fail the reference rule
    if not found.any():
        return
    owner = facilities["customer_id"].take(np.where(found, rows, 0)).set_axis(frame.index)
    owner = owner.where(found)
    bad = found & _as_mask(frame["customer_id"] != owner)
    if bad.any():
        yield _row_error(
            spec,
            "customer_id",
            "same customer",
            frame,
            bad,
            "use the facility's customer_id (shown as facilities.customer_id) or correct facility_id",
            detail="customer_id differs from the facility's customer_id in facilities",
            show=["facility_id"],
            extra={"facilities.customer_id": owner},
        )


def _check_not_before(
    spec: Table, frame: pd.DataFrame, parents: Mapping[str, pd.DataFrame]
) -> Iterator[SchemaError]:
    for column, parent, key, parent_column, rule in _NOT_BEFORE.get(spec.name, ()):
        if not _comparable(frame, [column, key], parents.get(parent), key, [parent_column]):
            continue
        rows = _parent_rows(frame[key], parents[parent], key)
        if not len(parents[parent]):
            continue
        found = rows >= 0  # unknown keys fail the reference rule
        bound = parents[parent][parent_column].to_numpy(dtype="datetime64[ns]")
        bound = bound[np.where(found, rows, 0)]
        bound[~found] = np.datetime64("NaT")
        bad = frame[column].to_numpy(dtype="datetime64[ns]") < bound  # NaT compares False
        if bad.any():
            noun = _NOUN[parent]
            yield _row_error(
                spec,
                column,
                rule,
                frame,
                bad,
                f"correct {column}, or the {noun}'s {parent_column} in {parent}",
                detail=f"{column} before the {noun}'s {parent_column}",
                show=[key],
                extra={f"{parent}.{parent_column}": bound},
            )


# --- Arrow: clearing a table batch by batch ---------------------------------------------
#
# ``research validate`` on a folder need not hold the tables: ``ArrowTableCheck`` reads a
# table's record batches (ids and categories dictionary-encoded, as Parquet stores them)
# and either clears it of every rule, or gives up at the first sign that a rule may fail;
# the table is then checked by the rules above, which word the failures. So the messages
# are the pandas rules' own, and the Arrow path only has to be sure when it clears.

# The tables other tables' rules look up (reference, same customer, not before).
PARENT_TABLES: frozenset[str] = frozenset(
    {parent for _, parent in _REFERENCES}
    | {rule[1] for rules in _NOT_BEFORE.values() for rule in rules}
    | {"facilities"}  # same customer
)
_NS_MAX = pd.Timestamp.max.value  # datetime64[ns] holds -_NS_MAX .. _NS_MAX (NaT is below)
_NAT = np.iinfo(np.int64).min
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def _arrow_is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _arrow_type_clears(column: Column, kind: pa.DataType) -> bool:
    """Whether values of this Arrow type read as the column's kind without any conversion
    the type rule could refuse (anything else is left to the pandas rules)."""
    if pa.types.is_null(kind):  # all empty: no type to refuse
        return True
    if column.kind in ("id", "category"):
        return _arrow_is_text(kind)
    if column.kind in ("date", "timestamp"):
        return (pa.types.is_timestamp(kind) and kind.tz is None) or pa.types.is_date32(kind)
    if column.kind == "float":
        return pa.types.is_float32(kind) or pa.types.is_float64(kind) or pa.types.is_integer(kind)
    if column.kind == "bool":
        return pa.types.is_boolean(kind)
    return False  # int: left to the pandas rules


def _extra_clears(name: str, kind: pa.DataType) -> bool:
    """Whether a column outside the contract passes the guards without a look at its values:
    not named like personal data or a currency, and not text (whose values are sampled)."""
    if personal_data_kind(name) is not None or "_".join(_name_tokens(name)) in _CURRENCY_COLUMNS:
        return False
    return (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_timestamp(kind)
    )


def pandas_index_columns(schema: pa.Schema) -> list[str]:
    """The columns a Parquet file's pandas metadata makes the index (not columns of the frame)."""
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    return [name for name in index if isinstance(name, str)]


@dataclasses.dataclass
class _View:
    """One column of a batch as the coerced frame would hold it."""

    null: np.ndarray  # empty values (text: also blank; float: also NaN)
    values: np.ndarray | None = None  # dates: datetime64[ns] (NaT empty); floats: float64
    codes: np.ndarray | None = None  # text: position in ``dictionary``, -1 where empty
    dictionary: pa.Array | None = None


def _empty_view(column: Column, rows: int) -> _View:
    null = np.ones(rows, bool)
    if column.kind in ("id", "category"):
        return _View(null, codes=np.full(rows, -1, np.int32), dictionary=pa.array([], pa.string()))
    if column.kind in ("date", "timestamp"):
        return _View(null, values=np.full(rows, _NAT, np.int64).view("datetime64[ns]"))
    if column.kind == "float":
        return _View(null, values=np.full(rows, np.nan))
    return _View(null)


def _text_view(array: pa.Array) -> _View | None:
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    dictionary = array.dictionary
    if dictionary.null_count:
        return None
    indices = array.indices
    codes = (pc.fill_null(indices, -1) if indices.null_count else indices).to_numpy(
        zero_copy_only=False
    )
    blank = pc.equal(pc.utf8_trim_whitespace(dictionary), "").to_numpy(zero_copy_only=False)
    if blank.any():  # blank text reads as empty (``_to_text``)
        codes = np.where((codes >= 0) & blank[np.maximum(codes, 0)], -1, codes)
    return _View(codes < 0, codes=codes, dictionary=dictionary)


def _time_view(array: pa.Array) -> _View | None:
    if pa.types.is_date32(array.type):
        scale, ints = _DAY_NS, pc.cast(array, pa.int32()).cast(pa.int64())
    else:
        scale, ints = _UNIT_NS[array.type.unit], array.view(pa.int64())
    if scale == 1:
        filled = pc.fill_null(ints, _NAT) if ints.null_count else ints
        values = filled.to_numpy(zero_copy_only=False).view("datetime64[ns]")
        return _View(np.isnat(values), values=values)
    null = ints.is_null().to_numpy(zero_copy_only=False)
    if not null.all():
        low, high = pc.min_max(ints).values()
        if low.as_py() < -(_NS_MAX // scale) or high.as_py() > _NS_MAX // scale:
            return None  # beyond datetime64[ns]: the type rule says so
    numbers = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False) * scale
    numbers[null] = _NAT
    values = numbers.view("datetime64[ns]")
    return _View(np.isnat(values), values=values)


def _float_view(array: pa.Array) -> _View:
    values = pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    return _View(np.isnan(values), values=values)


def _column_view(column: Column, array: pa.Array | None, rows: int) -> _View | None:
    """The column as coerced, or ``None`` where the type rule could refuse a value."""
    if array is None or pa.types.is_null(array.type):
        return _empty_view(column, rows)
    if column.kind in ("id", "category"):
        return _text_view(array)
    if column.kind in ("date", "timestamp"):
        return _time_view(array)
    if column.kind == "float":
        return _float_view(array)
    return _View(array.is_null().to_numpy(zero_copy_only=False))  # bool


def _lookup(dictionary: pa.Array, keys: pa.Array) -> np.ndarray:
    """Position in ``keys`` of each dictionary value (-1 where absent)."""
    rows = pc.fill_null(pc.index_in(dictionary, value_set=keys), -1)
    return rows.to_numpy(zero_copy_only=False).astype(np.int64)


def _arrow_values(values: pd.Series) -> pa.Array:
    """A checked column as one Arrow array (text stays text)."""
    text = _arrow_text(values)
    if text is not None:
        return text.combine_chunks() if text.num_chunks else pa.array([], text.type)
    return pa.array(values.to_numpy(), from_pandas=True)


class ArrowTableCheck:
    """Clear one table of every rule of ``check_table`` from its Arrow record batches.

    Create it with the table's Arrow schema and the parents' checked frames, feed it the
    batches in order (``add``), then ``finish``. It clears only what it is sure of: a
    column of a type that needs converting, a value that may break a rule, a rule it does
    not evaluate (the type of an ``int`` column, the values of a text column outside the
    contract) make it give up (``add`` or ``finish`` returns false or ``None``, ``cleared``
    is false), and the caller checks the table with the pandas rules, which word the
    failures. ``watch`` receives, batch by batch, the values of the columns it names as
    the coerced frame holds them (dates: ``datetime64[ns]``).
    """

    def __init__(
        self,
        spec: Table,
        schema: pa.Schema,
        parents: Mapping[str, pd.DataFrame] | ParentKeys,
        given: Collection[str],
        reported: Collection[str],
        *,
        watch: Callable[[str, np.ndarray], None] | None = None,
        watched: Iterable[str] = (),
    ) -> None:
        self.spec = spec
        self.rows = 0
        self._watch = watch
        index = set(pandas_index_columns(schema))
        names = [name for name in schema.names if name not in index]
        types = {name: schema.field(name).type for name in names}
        extras = [name for name in names if name not in spec.column_names]
        self.columns: tuple[str, ...] = (*spec.column_names, *extras)
        self.filled = dict.fromkeys(spec.column_names, False)  # any value in a contract column
        self._watched = [c for c in dict.fromkeys(watched) if c in spec.column_names]
        self.cleared = (
            len(set(names)) == len(names)
            and all(c.name in types or c.optional for c in spec.columns)
            and all(_arrow_type_clears(c, types[c.name]) for c in spec.columns if c.name in types)
            and all(c.kind == "float" for c in spec.columns if _has_range(c))
            and all(_extra_clears(name, types[name]) for name in extras)
        )
        keys = parents if isinstance(parents, ParentKeys) else ParentKeys(parents)
        self._parents = keys
        self._references: list[tuple[str, str]] = []  # (column, parent)
        for column, parent in _REFERENCES:
            if parent == spec.name or column not in spec.column_names:
                continue
            frame = keys.frame(parent)
            if frame is not None:
                if column in frame.columns:
                    self._references.append((column, parent))
            elif not (parent in given or TABLES[parent].required or parent in reported):
                self.cleared = False  # the missing parent is reported (by the pandas rules)
        self._owners: pa.Array | None = None  # the customer_id of each row of facilities
        if (
            spec.name != "facilities"
            and {"facility_id", "customer_id"} <= set(spec.column_names)
            and keys.lookup_possible("facilities", "facility_id", ["customer_id"])
        ):
            self._owners = keys.values("facilities", "customer_id")
        self._bounds: list[tuple[str, str, str, np.ndarray]] = []  # column, key, parent, bound
        for column, parent, key, parent_column, _ in _NOT_BEFORE.get(spec.name, ()):
            if keys.lookup_possible(parent, key, [parent_column]):
                self._bounds.append((column, key, parent, keys.dates(parent, parent_column)))
        self._keys: list[list[pa.Array | np.ndarray]] = [[] for _ in spec.key]
        # key columns that refer to a parent: coded by the parent's row (every value is
        # found there, or the table is not cleared)
        self._key_parents = {c: p for c, p in self._references if c in spec.key}
        self._rows: dict[tuple[str, str], np.ndarray] = {}  # this batch's parent rows

    def add(self, batch: pa.RecordBatch) -> bool:
        """Check one batch; false once the table cannot be cleared."""
        if not self.cleared:
            return False
        self.rows += batch.num_rows
        views: dict[str, _View] = {}
        for column in self.spec.columns:
            present = column.name in batch.schema.names
            view = _column_view(
                column, batch.column(column.name) if present else None, batch.num_rows
            )
            if view is None or not self._clears(column, view):
                return self._give_up()
            views[column.name] = view
        if not (self._rows_clear(views) and self._parents_clear(views)):
            return self._give_up()
        for name, view in views.items():
            self.filled[name] = self.filled[name] or not view.null.all()
        for keys, name in zip(self._keys, self.spec.key, strict=True):
            view = views[name]
            parent = self._key_parents.get(name)
            if parent is not None:  # the parent's row: one code for the batches alike
                assert view.codes is not None
                keys.append(self._rows[name, parent][view.codes])
            elif view.codes is not None:
                assert view.dictionary is not None
                indices = pa.array(view.codes, mask=view.codes < 0)
                keys.append(pa.DictionaryArray.from_arrays(indices, view.dictionary))
            else:
                keys.append(view.values if view.values is not None else view.null)
        if self._watch is not None:
            for name in self._watched:
                self._watch(name, views[name].values)  # type: ignore[arg-type]
        return True

    def finish(self) -> bool:
        """Whether the table is cleared of every rule (the unique key is checked here)."""
        if not self.cleared or not self.rows:  # no rows: the rule 'not empty' words it
            return self._give_up()
        days = [self.spec.column(name).kind == "date" for name in self.spec.key]
        if self.spec.key and _any_duplicate(self._keys, days):
            return self._give_up()
        self._keys = []
        return True

    def _give_up(self) -> bool:
        self.cleared = False
        self._keys = []
        return False

    @staticmethod
    def _clears(column: Column, view: _View) -> bool:
        """The single-column rules: not null, type (finite), categories, range, midnight."""
        if not column.nullable and view.null.any():
            return False
        if column.categories is not None and view.codes is not None:
            assert view.dictionary is not None
            allowed = pa.array(column.categories, view.dictionary.type)
            unknown = ~pc.is_in(view.dictionary, value_set=allowed).to_numpy(zero_copy_only=False)
            if unknown.any() and unknown[view.codes[view.codes >= 0]].any():
                return False
        if column.kind == "float":
            assert view.values is not None
            values = view.values
            if np.isinf(values).any():
                return False
            if column.min_value is not None and (values < column.min_value).any():
                return False
            if column.max_value is not None and (values > column.max_value).any():
                return False
        if column.kind == "date":
            assert view.values is not None
            if ((view.values.view("i8") % _DAY_NS != 0) & ~view.null).any():
                return False
        return True

    def _rows_clear(self, views: dict[str, _View]) -> bool:
        """The rules between columns of a row: date order, payment with amount, decision
        with date."""
        for earlier, later in self.spec.date_order:
            if (views[later].values < views[earlier].values).any():  # type: ignore[operator]
                return False
        return not any(
            (~views[when].null & views[then].null).any()
            for table, _, when, then in _FILLED_WITH
            if table == self.spec.name
        )

    def _parents_clear(self, views: dict[str, _View]) -> bool:
        """The rules against parents: reference, same customer, not before."""
        looked_up = self._rows = {}

        def rows(column: str, parent: str) -> np.ndarray:
            """Row in the parent (-1: none) of each dictionary value of the batch's column
            (the parent holds the same column: its key)."""
            if (column, parent) not in looked_up:
                dictionary = views[column].dictionary
                assert dictionary is not None
                looked_up[column, parent] = self._parents.rows(parent, column, dictionary)
            return looked_up[column, parent]

        needed = {column for column, _ in self._references} | {key for _, key, _, _ in self._bounds}
        if self._owners is not None:
            needed |= {"facility_id", "customer_id"}
        if any(views[column].null.any() for column in needed):
            return False
        for column, parent in self._references:
            if (rows(column, parent)[views[column].codes] < 0).any():
                return False
        if self._owners is not None:
            facility, customer = views["facility_id"], views["customer_id"]
            assert facility.codes is not None and customer.codes is not None
            assert customer.dictionary is not None
            parent_rows = rows("facility_id", "facilities")
            found = parent_rows >= 0
            owner = self._owners.take(pa.array(np.maximum(parent_rows, 0)))
            owner_code = _lookup(owner, customer.dictionary)  # -1: no row of the batch's
            owner_code[~found] = -2  # unknown facilities fail 'reference', not this rule
            expected = owner_code[facility.codes]
            if ((expected != customer.codes) & (expected != -2)).any():
                return False
        for column, key, parent, bounds in self._bounds:
            parent_rows = rows(key, parent)
            bound = np.where(
                parent_rows >= 0, bounds[np.maximum(parent_rows, 0)], np.datetime64("NaT")
            )
            if (views[column].values < bound[views[key].codes]).any():
                return False
        return True


def _has_range(column: Column) -> bool:
    return column.min_value is not None or column.max_value is not None


class ParentKeys:
    """The parents' checked frames, and what ``ArrowTableCheck`` derives from them (Arrow
    arrays of their columns, whether a key is unique), derived once for all the children."""

    def __init__(self, parents: Mapping[str, pd.DataFrame]) -> None:
        self.parents = parents
        self._derived: dict[tuple[str, str, str], tuple[pd.DataFrame, Any]] = {}

    def frame(self, parent: str) -> pd.DataFrame | None:
        return self.parents.get(parent)

    def _get(self, what: str, parent: str, column: str, derive: Callable[[pd.Series], Any]) -> Any:
        frame = self.parents[parent]
        seen = self._derived.get((what, parent, column))
        if seen is None or seen[0] is not frame:  # the parent was checked again
            seen = (frame, derive(frame[column]))
            self._derived[(what, parent, column)] = seen
        return seen[1]

    def values(self, parent: str, column: str) -> pa.Array:
        return self._get("values", parent, column, _arrow_values)

    def rows(self, parent: str, column: str, values: pa.Array) -> np.ndarray:
        """The first row of the parent holding each of ``values`` in ``column`` (-1: none).

        The parent's column is hashed once (a pandas index) for all the batches of all
        the children; Arrow would hash it again at every call."""
        index = self._get(
            "index", parent, column, lambda s: pd.Index(s.to_numpy(object), dtype=object)
        )
        if not index.is_unique:
            return _lookup(values, self.values(parent, column))
        return index.get_indexer(pd.Index(values.to_numpy(zero_copy_only=False), dtype=object))

    def dates(self, parent: str, column: str) -> np.ndarray:
        return self._get("dates", parent, column, lambda s: s.to_numpy(dtype="datetime64[ns]"))

    def lookup_possible(self, parent: str, key: str, columns: Iterable[str]) -> bool:
        """``_comparable`` for a child holding every contract column, the parent not empty."""
        frame = self.frame(parent)
        return (
            frame is not None
            and len(frame) > 0
            and {key, *columns} <= set(frame.columns)
            and bool(self._get("unique", parent, key, lambda s: s.is_unique))
        )


def _any_duplicate(keys: list[list[pa.Array | np.ndarray]], days: Sequence[bool]) -> bool:
    """Whether any key (one list of batch arrays per key column) is repeated; ``days``
    says which columns hold dates at midnight.

    Each column becomes small non-negative integers (text: its position in one dictionary
    for all batches; dates: days, or nanoseconds, from the earliest), 0 for empty (empty
    values are equal, as pandas' ``duplicated`` counts them); the key is their mixed-radix
    number where it fits in 62 bits, else the columns are compared as a frame.
    """
    columns: list[np.ndarray] = []
    sizes: list[int] = []
    for parts, in_days in zip(keys, days, strict=True):
        if parts and isinstance(parts[0], pa.Array):  # text: one dictionary for all batches
            unified = pa.table({"k": pa.chunked_array(parts)}).unify_dictionaries().column("k")
            dictionary = unified.chunks[0].dictionary
            if pc.count_distinct(dictionary).as_py() != len(dictionary):
                return True  # not sure which codes are equal: let the pandas rule look
            codes = np.concatenate(
                [
                    pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False)
                    for c in unified.chunks
                ],
                dtype=np.int64,
            )
            codes += 1
            columns.append(codes)
            sizes.append(len(dictionary) + 1)
            continue
        values = np.concatenate(parts).view("i8")  # a new array: changed in place below
        filled = values != _NAT
        if filled.all():
            if in_days:  # dates at midnight (checked by then)
                values //= _DAY_NS
            low, high = int(values.min()), int(values.max())
            values -= low - 1
            columns.append(values)
            sizes.append(high - low + 2)
            continue
        if not filled.any():
            columns.append(np.zeros(len(values), np.int64))
            sizes.append(1)
            continue
        present = values[filled]
        if in_days:  # dates at midnight (checked by then)
            values, present = values // _DAY_NS, present // _DAY_NS
        low, high = int(present.min()), int(present.max())
        columns.append(np.where(filled, values - low + 1, 0))
        sizes.append(high - low + 2)
    if math.prod(sizes) < 2**62:
        key = columns[0]
        for values, size in zip(columns[1:], sizes[1:], strict=True):
            key *= size
            key += values
        if (key[1:] > key[:-1]).all():  # sorted by the key, as tables are often written
            return False
        return bool(pd.Series(key).duplicated().any())
    return bool(pd.DataFrame(dict(enumerate(columns))).duplicated().any())
