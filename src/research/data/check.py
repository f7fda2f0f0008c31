"""``research validate`` on a folder: every failure, without holding the tables in memory.

``check_folder`` reads and checks a folder of tables one table at a time and keeps none of
them. It gives the failures that ``io.read_folder``, ``asof.clear_placeholders`` and
``schema.check_tables`` give, in the same order and words: a Parquet file is read in
batches, ids and categories dictionary-encoded as Parquet stores them, and cleared of every
rule with Arrow (``schema.ArrowTableCheck``); a table it cannot clear, a CSV table, a folder
of parts, and the parent tables other tables' rules look up (customers and facilities, kept
checked) are read into pandas and checked by ``schema.check_table``, so every failure is
worded by the pandas rules. What the rest of the command needs of the tables, their rows,
daily record counts (the as-of date), records after the as-of date and which columns are
empty, comes with the result (``FolderCheck``).

The pipeline's stages, which need the tables themselves, read them with ``io`` and
validate them with ``schema.validate_tables``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from research.data.asof import (
    OPEN_ENDED_COLUMNS,
    AsOf,
    add_counts,
    after_as_of_errors,
    clear_placeholders,
    daily_counts,
)
from research.data.contract import EVENT_TIME, TABLES, Table
from research.data.io import _discover, _read_source, _Source, _table_folder
from research.data.schema import (
    PARENT_TABLES,
    SOURCE_ATTR,
    ArrowTableCheck,
    ParentKeys,
    SchemaError,
    check_table,
    pandas_index_columns,
    table_name_errors,
)

BATCH_ROWS = 1 << 20  # rows of a Parquet file read at a time by check_folder
_DAY_NS = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class TableSummary:
    """What ``check_folder`` keeps of a checked table once its rows are dropped.

    Attributes:
        rows: Its rows.
        columns: The columns of the checked frame, in order (the contract's, then others).
        empty: The contract columns empty in every row (absent optional ones included).
        counts: Records per day of each event-time column (``asof.daily_counts``).
        latest: The latest value of each event-time column holding any.
    """

    rows: int
    columns: tuple[str, ...]
    empty: frozenset[str]
    counts: dict[str, pd.Series]
    latest: dict[str, np.datetime64]


@dataclass
class FolderCheck:
    """What ``check_folder`` found: every failure of reading and of the rules, and what the
    checked tables leave behind for the rest of ``research validate``.

    Attributes:
        errors: The failures, as ``read_folder`` then ``check_tables`` list them.
        notes: One per column with open-end placeholders read as empty
            (``asof.clear_placeholders``).
        unreadable: Tables given whose entry could not be read (their failure is listed).
        tables: The tables checked (given, readable and not empty), in contract order.
    """

    errors: list[SchemaError]
    notes: list[str]
    unreadable: set[str]
    tables: dict[str, TableSummary]
    _sources: dict[str, _Source]
    _given: set[str]
    _parents: dict[str, pd.DataFrame]

    @property
    def counts(self) -> pd.Series:
        """Records per day over every event-time column (``asof.event_time_counts``)."""
        return add_counts(
            summary.counts[column]
            for name, summary in self.tables.items()
            for column in EVENT_TIME[name].values()
            if column in summary.counts
        )

    def outlines(self) -> dict[str, pd.DataFrame]:
        """One row per checked table standing in for it where only its columns and which of
        them are empty in every row matter (``features.inputs.missing_input_notes``): the
        columns of the checked frame, each empty exactly where the table's column is."""
        return {
            name: pd.DataFrame(
                [[np.nan if c in summary.empty else 0.0 for c in summary.columns]],
                columns=list(summary.columns),
            )
            for name, summary in self.tables.items()
        }

    def after_as_of_errors(self, as_of: AsOf | dt.date) -> list[SchemaError]:
        """``asof.after_as_of_errors`` of the checked tables (a table with records after the
        as-of date is read and checked again, to show them); each names its file."""
        date = as_of.date if isinstance(as_of, AsOf) else as_of
        end = (pd.Timestamp(date) + pd.Timedelta(days=1)).as_unit("ns").to_datetime64()
        errors: list[SchemaError] = []
        for name, summary in self.tables.items():
            if not any(latest >= end for latest in summary.latest.values()):
                continue
            frame = self._parents.get(name)
            if frame is None:
                frame = self._checked_again(name)
            found = after_as_of_errors({name: frame}, as_of)
            for error in found:
                error.file = str(self._sources[name].path)
            errors += found
        return errors

    def _checked_again(self, name: str) -> pd.DataFrame:
        frame, _ = _pandas_check(TABLES[name], self._sources[name], self._parents, self._given)
        assert frame is not None  # it was checked before
        return frame


def check_folder(folder: str | Path, *, batch_rows: int = BATCH_ROWS) -> FolderCheck:
    """Read and check a folder of tables one table at a time, keeping none of them.

    Gives the failures that ``read_folder``, ``asof.clear_placeholders`` and
    ``check_tables`` give, in the same order and words, without holding the tables: a
    Parquet file is read in batches of ``batch_rows`` rows, ids and categories
    dictionary-encoded, and cleared of every rule with Arrow (``schema.ArrowTableCheck``);
    a table it cannot clear, a CSV table, a folder of parts and the parent tables other
    rules look up (customers, facilities: kept, checked) are read into pandas and checked
    by ``check_table``, so failures are worded by the pandas rules.

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        TableFileError: If the folder itself cannot be listed.
    """
    root = _table_folder(folder)
    found: list[SchemaError] = []
    sources = _discover(root, found)
    given = {*sources, *(err.table for err in found)}
    failed: dict[str, SchemaError] = {}
    parents: dict[str, pd.DataFrame] = {}
    keys = ParentKeys(parents)  # what the Arrow rules derive from the parents, once
    reported: set[str] = set()
    tables: dict[str, TableSummary] = {}
    errors: list[SchemaError] = []
    notes: list[str] = []
    for name, spec in TABLES.items():
        source = sources.get(name)
        if source is None:
            continue
        summary = _arrow_summary(spec, source, keys, given, reported, batch_rows)
        if summary is None:
            try:
                frame, checked = _pandas_check(spec, source, parents, given, reported, notes)
            except SchemaError as err:  # the file cannot be read
                failed[name] = err
                continue
            errors += checked
            if frame is None:  # no rows
                continue
            if name in PARENT_TABLES:
                parents[name] = frame
            summary = _frame_summary(spec, frame)
        tables[name] = summary
    read_errors = [*found, *(failed[name] for name in sources if name in failed)]
    read = [name for name in sources if name not in failed]
    unreadable = {err.table for err in read_errors}
    errors = [
        *read_errors,
        *table_name_errors(read, given, {name: str(sources[name].path) for name in read}),
        *errors,
    ]
    return FolderCheck(errors, notes, unreadable, tables, sources, given, parents)


def _pandas_check(
    spec: Table,
    source: _Source,
    parents: dict[str, pd.DataFrame],
    given: set[str],
    reported: set[str] | None = None,
    notes: list[str] | None = None,
) -> tuple[pd.DataFrame | None, list[SchemaError]]:
    """Read a table into pandas and check it; raises the reading's ``TableFileError``."""
    frame = _read_source(source)
    frame.attrs[SOURCE_ATTR] = str(source.path)
    cleared, found = clear_placeholders({spec.name: frame})
    if notes is not None:
        notes += found
    return check_table(
        spec, cleared[spec.name], parents, given, set() if reported is None else reported
    )


def _frame_summary(spec: Table, frame: pd.DataFrame) -> TableSummary:
    columns = [c for c in dict.fromkeys(EVENT_TIME[spec.name].values()) if c in frame.columns]
    latest: dict[str, np.datetime64] = {}
    for column in columns:
        stamps = frame[column].to_numpy(dtype="datetime64[ns]")
        stamps = stamps[~np.isnat(stamps)]
        if len(stamps):
            latest[column] = stamps.max()
    return TableSummary(
        rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        empty=frozenset(c for c in spec.column_names if c in frame and frame[c].isna().all()),
        counts={column: daily_counts(frame[column]) for column in columns},
        latest=latest,
    )


class _Dates:
    """Daily counts (as ``asof.daily_counts`` gives them) and the latest value of the
    event-time columns, batch by batch."""

    def __init__(self) -> None:
        self.counts: dict[str, list[pd.Series]] = {}
        self.latest: dict[str, np.datetime64] = {}

    def __call__(self, column: str, values: np.ndarray) -> None:
        stamps = values.view("i8")
        filled = stamps != _NAT
        if not filled.all():
            stamps = stamps[filled]
        parts = self.counts.setdefault(column, [])
        if not len(stamps):
            return
        days = stamps // _DAY_NS
        first = int(days.min())
        counts = np.bincount(days - first)
        seen = np.flatnonzero(counts)
        index = pd.DatetimeIndex(((seen + first) * _DAY_NS).view("datetime64[ns]"))
        parts.append(pd.Series(counts[seen].astype(np.int64), index=index, name="records"))
        top = np.int64(stamps.max()).view("datetime64[ns]")
        before = self.latest.get(column)
        self.latest[column] = top if before is None else max(top, before)


def _arrow_summary(
    spec: Table,
    source: _Source,
    parents: ParentKeys,
    given: set[str],
    reported: set[str],
    batch_rows: int,
) -> TableSummary | None:
    """The table cleared of every rule by ``ArrowTableCheck``, or ``None`` (read it into
    pandas then: a table that may fail a rule, cannot be read, or is not one Parquet file).
    """
    if source.parts or source.format != "parquet" or spec.name in PARENT_TABLES:
        return None
    if spec.name in OPEN_ENDED_COLUMNS:  # placeholders are cleared in pandas
        return None
    dates = _Dates()
    try:
        schema = pq.read_schema(source.path)
        if len(set(schema.names)) != len(schema.names):
            return None  # the pandas reader refuses it
        text = [
            f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ]
        file = pq.ParquetFile(source.path, read_dictionary=text)
    except (OSError, pa.ArrowException):  # the pandas reader words what is wrong
        return None
    with file:
        schema = file.schema_arrow
        check = ArrowTableCheck(
            spec,
            schema,
            parents,
            given,
            reported,
            watch=dates,
            watched=EVENT_TIME[spec.name].values(),
        )
        index = set(pandas_index_columns(schema))
        batches = file.iter_batches(
            batch_size=batch_rows, columns=[name for name in schema.names if name not in index]
        )
        while check.cleared:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (OSError, pa.ArrowException):
                return None
            check.add(batch)
    if not check.finish():
        return None
    return TableSummary(
        rows=check.rows,
        columns=check.columns,
        empty=frozenset(name for name, filled in check.filled.items() if not filled),
        counts={column: add_counts(parts) for column, parts in dates.counts.items()},
        latest=dates.latest,
    )
