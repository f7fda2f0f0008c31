"""Folders of tables: one entry per table, in one of the forms of ``contract.FILE_FORMATS``.

Reading returns raw frames (``research.data.schema`` validates them). What cannot be a
table is refused by name before anything is read: a file of no known form, two entries
for one table, a folder of parts in no one format. A file that cannot be read (empty,
damaged, not UTF-8, ragged CSV lines, a column named twice) is refused with its path and
what to do. Both are a :class:`~research.data.schema.TableFileError`, a ``SchemaError``
(so a ``ValueError``) with a one-line message; ``read_folder`` collects them and reads the
other tables, ``read_tables`` raises them (several as a ``SchemaErrors``). Each frame read carries its source path in
``frame.attrs["source"]``, so that validation errors name the file too.

Writing produces deterministic Parquet files (and text notes such as ``_source.json``
beside them) and replaces the target folder atomically; it also removes the staging
folders that a killed writer left behind (``write_tables``).

A bank's export in another shape (file and column names, codes, CSV dialect) is read
through a source mapping instead: ``research.data.mapping``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import shutil
import socket
import time
import uuid
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from research.data.contract import CSV_COMPRESSIONS, TABLES
from research.data.schema import (
    PARENT_TABLES,
    SOURCE_ATTR,
    SchemaError,
    _final_dtypes,
    check_table,
    check_tables,
    file_error,
    raise_failures,
    table_name_errors,
    validate_tables,
)

CSV_SUFFIXES = (".csv", *(f".csv.{c}" for c in CSV_COMPRESSIONS))
TABLE_SUFFIXES = (".parquet", *CSV_SUFFIXES)
STALE_AFTER_S = 24 * 3600  # a staging folder this old has no live writer, whoever owns it
_TEXT = pd.StringDtype(na_value=np.nan)
_FORMS = (
    "<table>.parquet, <table>.csv (or .csv.gz/.bz2/.xz/.zip), or a folder <table>.parquet/, "
    "<table>.csv/ or <table>/ of part files"
)
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Source:
    """Where one table is stored: a file, or a folder of part files of one format."""

    table: str
    path: Path
    format: str  # "parquet" or "csv"
    parts: tuple[Path, ...] = ()  # empty for a single file


# --- reading ----------------------------------------------------------------------------


def read_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read every table of a folder, unvalidated.

    Entries whose name starts with ``.`` or ``_`` are ignored. Table names outside the
    contract are kept, so that validation reports them as unknown tables.

    Args:
        folder: The folder holding the tables (see ``contract.FILE_FORMATS``).

    Returns:
        Raw frames keyed by table name, in name order; ``attrs["source"]`` is the path.

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        TableFileError: For an entry that is not a table, a table given twice, or a file
            that cannot be read (the message names it and the fix).
    """
    frames, errors = read_folder(folder)
    raise_failures(errors)
    return frames


def read_folder(folder: str | Path) -> tuple[dict[str, pd.DataFrame], list[SchemaError]]:
    """Read every table of a folder that can be read, and collect the failures of the others.

    Like ``read_tables``, but an entry that is not a table, a second entry for a table or a
    file that cannot be read is reported and skipped: the other tables are still read.

    Returns:
        The frames read (as ``read_tables`` returns them) and the errors
        (:class:`~research.data.schema.TableFileError`), in name order.

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        TableFileError: If the folder itself cannot be listed.
    """
    root = _table_folder(folder)
    errors: list[SchemaError] = []
    frames = {}
    for name, source in _discover(root, errors).items():
        # A name outside the contract is not read: validation refuses it first, by name.
        try:
            frame = _read_source(source) if name in TABLES else pd.DataFrame()
        except SchemaError as err:
            errors.append(err)
            continue
        frame.attrs[SOURCE_ATTR] = str(source.path)
        frames[name] = frame
    return frames, errors


def load_validated(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read a folder of tables and validate it (see ``research.data.schema``).

    Raises:
        SchemaError: The one failure, or a :class:`~research.data.schema.SchemaErrors`
            listing every failure of reading and validation.
    """
    frames, errors = read_folder(folder)
    if not errors:
        return validate_tables(frames)
    _, found = check_tables(frames, unreadable={err.table for err in errors})
    raise_failures([*errors, *found])
    raise AssertionError("unreachable")  # raise_failures raised


def read_validated(
    folder: str | Path,
    *,
    drop: Mapping[str, Collection[str]] | None = None,
    categorical: Mapping[str, Collection[str]] | None = None,
    skip: Collection[str] = (),
) -> dict[str, pd.DataFrame]:
    """``validate_tables(read_tables(folder))``, read and checked one table at a time.

    The same frames (but for ``drop`` and ``categorical``) and the same failures, raised
    the same way: a file that cannot be read raises the reading failures only, else every
    failure of the rules is raised at once. Each table is read, checked against the
    contract (its parents, ``customers`` and ``facilities``, already checked) and then kept
    in less memory before the next is read, so the raw frames of all tables are never held
    at once: the peak is the kept tables and one table being checked.

    Args:
        folder: The folder holding the tables (see ``contract.FILE_FORMATS``).
        drop: Columns not kept, by table, once the table is checked (the rules see them).
        categorical: Text columns kept as pandas categoricals (the same values, missing
            ones included), by table, once the table is checked: for columns of a few
            distinct values read as codes by their consumers.
        skip: Tables neither read nor checked nor returned (a consumer that does not read
            them; the data stage checks every table). Not a parent table (``customers``,
            ``facilities``): the others are checked against them.

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        SchemaError: As ``read_tables`` then ``validate_tables`` raise.
    """
    if PARENT_TABLES & set(skip):
        raise ValueError(f"parent tables cannot be skipped: {sorted(PARENT_TABLES & set(skip))}")
    root = _table_folder(folder)
    errors: list[SchemaError] = []
    sources = _discover(root, errors)
    if errors:  # an entry that is no table: read_tables lists it with every unreadable file
        tables = validate_tables(read_tables(root))
        return {name: frame for name, frame in tables.items() if name not in skip}
    drop, categorical = drop or {}, categorical or {}
    names = list(sources)
    found = table_name_errors(names, set(names), {n: str(s.path) for n, s in sources.items()})
    checked: dict[str, pd.DataFrame] = {}
    reported: set[str] = set()
    for name, spec in TABLES.items():
        source = sources.get(name)
        if source is None or name in skip:
            continue
        try:
            frame = _read_source(source)
        except SchemaError as err:
            errors.append(err)
            continue
        if errors:  # a file could not be read: only the reading failures are raised
            continue
        frame.attrs[SOURCE_ATTR] = str(source.path)
        coerced, table_errors = check_table(spec, frame, checked, names, reported)
        del frame
        found += table_errors
        if coerced is None:
            continue
        if not found and name not in PARENT_TABLES:  # later tables look parents up as checked
            coerced = _kept(_final_dtypes(spec, coerced), drop.get(name), categorical.get(name))
        checked[name] = coerced
    if errors:
        raise_failures([errors[i] for i in _name_order(errors, names)])
    raise_failures(found)
    for name in PARENT_TABLES & checked.keys():
        frame = _final_dtypes(TABLES[name], checked[name])
        checked[name] = _kept(frame, drop.get(name), categorical.get(name))
    return checked


def _name_order(errors: list[SchemaError], names: list[str]) -> list[int]:
    """The order in which ``read_folder`` meets the failures: that of the tables' names."""
    position = {name: i for i, name in enumerate(names)}
    return sorted(range(len(errors)), key=lambda i: (position.get(errors[i].table, -1), i))


def _kept(
    frame: pd.DataFrame, drop: Collection[str] | None, categorical: Collection[str] | None
) -> pd.DataFrame:
    """A checked frame without the ``drop`` columns, the ``categorical`` ones as categoricals."""
    if drop:
        frame = frame.drop(columns=[c for c in frame.columns if c in drop])
    for column in categorical or ():
        if column in frame.columns and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("category")
    return frame


def _table_folder(folder: str | Path) -> Path:
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"table folder {root} does not exist or is not a folder; "
            "Fix: pass the folder that holds the <table>.parquet or <table>.csv files"
        )
    return root


def _ignored(name: str) -> bool:
    return name.startswith((".", "_"))


def _split_name(name: str) -> tuple[str, str] | None:
    """``(table, format)`` of a file or folder name with a table suffix, else ``None``."""
    lower = name.lower()
    for suffix in TABLE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], "parquet" if suffix == ".parquet" else "csv"
    return None


def _discover(root: Path, errors: list[SchemaError]) -> dict[str, _Source]:
    """The table entries of ``root``; unknown entries and tables given twice go to ``errors``."""
    sources: dict[str, _Source] = {}
    for path in _listing(root, root.name):
        try:
            source = _entry(path, sources)
        except SchemaError as err:
            errors.append(err)
            continue
        if source is not None:
            sources[source.table] = source
    return sources


def _entry(path: Path, sources: dict[str, _Source]) -> _Source | None:
    """The table entry ``path`` (None for an ignored one); raises for one refused."""
    if _ignored(path.name):
        return None
    split = _split_name(path.name)
    if path.is_dir() and split is None and "." not in path.name:
        split = (path.name, "")  # a plain folder of parts: the format comes from them
    if split is None or not (path.is_dir() or path.is_file()):
        kind = "folder" if path.is_dir() else "file"
        raise file_error(
            path,
            path.name,
            "known file",
            f"not a table {kind} of a known form ({_FORMS})",
            "move it out of the table folder, or store the table in one of these forms",
        )
    if path.is_dir() and split[0] in TABLES:
        source = _part_source(path, *split)
    else:  # a file, or a folder that validation refuses as an unknown table
        source = _Source(split[0], path, split[1] or "parquet")
    if source.table in sources:
        raise file_error(
            path,
            source.table,
            "one file per table",
            f"table {source.table!r} is given twice: {sources[source.table].path.name} "
            f"and {path.name}",
            "keep only one of the two",
        )
    return source


def _listing(folder: Path, table: str) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as err:
        raise file_error(
            folder,
            table,
            "readable file",
            f"cannot list the folder ({err.strerror or err})",
            "make it readable for this user",
        ) from err


def _raise(err: OSError) -> None:
    folder = Path(err.filename or "?")
    raise file_error(
        folder,
        folder.name,
        "readable file",
        f"cannot list the folder ({err.strerror or err})",
        "make it readable for this user",
    ) from err


def _part_source(folder: Path, table: str, fmt: str) -> _Source:
    """A folder of part files (as Spark writes it; ``key=value`` subfolders are columns)."""
    parts: list[Path] = []
    _listing(folder, table)  # an unreadable table folder fails here, not silently in os.walk
    for dirpath, dirnames, filenames in os.walk(folder, onerror=_raise):
        dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
        parts += [Path(dirpath, f) for f in sorted(filenames) if not _ignored(f)]
    formats: dict[str, Path] = {}
    empty = {p for p in parts if _split_name(p.name) and p.stat().st_size == 0}
    parts = [p for p in parts if p not in empty]  # a writer's empty part holds no rows
    for part in parts:
        split = _split_name(part.name)
        if split is None:
            raise file_error(
                part,
                table,
                "known file",
                f"not a Parquet or CSV part file of table folder {folder.name}",
                "remove it from the folder; parts end in .parquet or .csv (.csv.gz ...)",
            )
        formats.setdefault(split[1], part)
    if not parts:
        raise file_error(
            folder,
            table,
            "readable file",
            "the table folder holds no part files"
            + (f" but {len(empty)} empty one(s)" if empty else ""),
            "remove the folder if you have no such records: its feature family is then "
            "skipped; otherwise export the table again",
        )
    wrong = [f for f in formats if fmt and f != fmt]
    if len(formats) > 1 or wrong:
        shown = ", ".join(p.relative_to(folder).as_posix() for p in formats.values())
        raise file_error(
            folder,
            table,
            "readable file",
            f"the part files mix formats ({shown})"
            if len(formats) > 1
            else f"the folder name says {fmt} but it holds {wrong[0]} parts",
            "store all parts of a table in one format, in a folder named after it",
        )
    return _Source(table, folder, fmt or next(iter(formats)), tuple(parts))


def _read_source(source: _Source) -> pd.DataFrame:
    if not source.parts:
        if source.format == "parquet":
            return _read_parquet(source.path, source.table)
        return _read_csv(source.path, source.table)
    if source.format == "parquet":
        return _read_parquet_parts(source)
    return _read_csv_parts(source)


def _partition_values(source: _Source, part: Path) -> dict[str, str | None]:
    """The ``key=value`` folder names between the table folder and a part file."""
    values: dict[str, str | None] = {}
    for segment in part.parent.relative_to(source.path).parts:
        key, sep, value = segment.partition("=")
        if sep and key:
            text = unquote(value)
            values[key] = None if text == _HIVE_NULL else text
    return values


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)


def _unreadable(path: Path, table: str, what: str, err: BaseException) -> SchemaError:
    if isinstance(err, PermissionError):
        return file_error(
            path, table, "readable file", "cannot read (permission denied)", "make it readable"
        )
    return file_error(
        path,
        table,
        "readable file",
        f"cannot read as {what} ({_one_line(err)})",
        "the file is damaged or not in that format (a partial copy, another format "
        "renamed): export it again",
    )


# --- Parquet ----------------------------------------------------------------------------


def _read_parquet(path: Path, table: str) -> pd.DataFrame:
    names = _parquet_call(path, table, lambda: pq.read_schema(path).names)
    _check_unique_names(path, table, names, "Parquet schema")
    return _parquet_call(
        path, table, lambda: pd.read_parquet(path, to_pandas_kwargs={"date_as_object": False})
    )


def _parquet_call(path: Path, table: str, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except MemoryError:
        raise
    except Exception as err:  # any other failure of the reader is the file's
        raise _unreadable(path, table, "Parquet", err) from err


def _read_parquet_parts(source: _Source) -> pd.DataFrame:
    tables: list[pa.Table] = []
    first: pa.Table | None = None
    for part in source.parts:
        table = _parquet_call(part, source.table, partial(pq.read_table, part))
        table = table.replace_schema_metadata(None)  # a part's pandas index is not the table's
        _check_unique_names(part, source.table, table.schema.names, "Parquet schema")
        for key, value in _partition_values(source, part).items():
            if key not in table.schema.names:
                table = table.append_column(key, pa.array([value] * len(table), pa.string()))
        if first is None:
            first = table
        elif set(table.schema.names) != set(first.schema.names):
            raise _parts_differ(source, part, first.schema.names, table.schema.names)
        tables.append(table.select(first.schema.names))
    try:
        combined = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        assert first is not None
        part = next(
            p
            for p, t in zip(source.parts, tables, strict=True)
            if not t.schema.equals(first.schema)
        )
        raise file_error(
            part,
            source.table,
            "readable file",
            f"its column types differ from those of {source.parts[0].name} ({_one_line(err)})",
            "export all parts with one schema",
        ) from err
    return combined.to_pandas(date_as_object=False)


def _parts_differ(source: _Source, part: Path, first: list[str], names: list[str]) -> SchemaError:
    missing, extra = sorted(set(first) - set(names)), sorted(set(names) - set(first))
    shown = "; ".join(
        text
        for text in (
            f"missing {', '.join(missing)}" if missing else "",
            f"extra {', '.join(extra)}" if extra else "",
        )
        if text
    )
    return file_error(
        part,
        source.table,
        "readable file",
        f"its columns differ from those of {source.parts[0].name} ({shown})",
        "export all parts of the table with the same columns",
    )


def _check_unique_names(path: Path, table: str, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen and name.strip():
            positions = [str(i + 1) for i, n in enumerate(names) if n == name]
            raise file_error(
                path,
                table,
                "unique column names",
                f"the column {name!r} appears {len(positions)} times in the {where} "
                f"(columns {', '.join(positions)})",
                "keep one column of that name (rename or drop the others) and export again",
                column=name,
            )
        seen.add(name)


# --- CSV --------------------------------------------------------------------------------


def _read_csv_parts(source: _Source) -> pd.DataFrame:
    frames: list[pd.DataFrame] = []
    for part in source.parts:
        frame = _read_csv(part, source.table)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise _parts_differ(source, part, list(frames[0].columns), list(frame.columns))
        for key, value in _partition_values(source, part).items():
            if key not in frame.columns:
                frame[key] = pd.Series(value, index=frame.index, dtype=_TEXT)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    """Read ids and categories as text (keeps leading zeros) and ISO dates as datetimes."""
    header = _csv_call(path, name, lambda: _csv_header(path))
    _check_unique_names(path, name, header, "CSV header")
    spec = TABLES.get(name)
    columns = spec.columns if spec else ()
    text = {c.name: _TEXT for c in columns if c.kind in ("id", "category") and c.name in header}
    frame = _csv_call(path, name, lambda: pd.read_csv(path, dtype=text))
    if frame.shape[1] == 1:
        _check_delimiter(path, name, str(frame.columns[0]))
    for column in columns:
        if column.kind in ("date", "timestamp") and column.name in frame.columns:
            frame[column.name] = _parse_iso(frame[column.name])
    return frame


def _csv_header(path: Path) -> list[str]:
    """The names of the header row as written (pandas renames a repeated name to ``x.1``)."""
    first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(v) for v in first.iloc[0].tolist()] if len(first) else []


def _csv_call(path: Path, table: str, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except MemoryError:
        raise
    except Exception as err:  # any other failure of the reader is the file's
        raise _csv_error(path, table, err) from err


def _csv_error(path: Path, table: str, err: BaseException) -> SchemaError:
    """The read error of a CSV file, in words, with what to do."""
    if isinstance(err, pd.errors.EmptyDataError):
        fix = (
            f"{table} is mandatory: export it again with its header row and records"
            if table in TABLES and TABLES[table].required
            else "remove the file if you have no such records: its feature family is then "
            "skipped; otherwise export it again with its header row"
        )
        return file_error(path, table, "readable file", "the file is empty (no header row)", fix)
    if isinstance(err, UnicodeDecodeError):
        where = _first_bad_byte(path)
        at = f" (byte 0x{where[2]:02x} on line {where[1]:,}, offset {where[0]:,})" if where else ""
        return file_error(
            path,
            table,
            "readable file",
            f"cannot read as CSV: the text is not UTF-8{at}",
            "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`, or "
            "Excel's 'CSV UTF-8')",
        )
    if isinstance(err, pd.errors.ParserError):
        ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if ragged:
            expected, line, saw = ragged.groups()
            return file_error(
                path,
                table,
                "readable file",
                f"cannot read as CSV (line {line} has {saw} fields, the header {expected})",
                "a value on that line holds an unquoted comma (a decimal comma, a name): "
                'quote such values ("1,5") or export with proper CSV quoting',
            )
        return file_error(
            path,
            table,
            "readable file",
            f"cannot read as CSV ({_one_line(err)})",
            "check the quoting (every opened quote closed, quotes in values doubled) and "
            "export it again",
        )
    return _unreadable(path, table, "CSV", err)


def _check_delimiter(path: Path, table: str, header: str) -> None:
    for sep, word in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if sep in header:
            raise file_error(
                path,
                table,
                "readable file",
                f"cannot read as CSV: the header is one column ({header[:60]!r}); "
                f"the file looks {word}-separated",
                "export it comma-separated, with a dot as the decimal separator",
            )


def _first_bad_byte(path: Path) -> tuple[int, int, int] | None:
    """Offset, line and value of the first byte that is not UTF-8 (the failure path only)."""
    offset, line, rest = 0, 1, b""
    with _open_bytes(path) as handle:
        while True:
            chunk = handle.read(1 << 20)
            data = rest + chunk
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as err:
                if chunk and err.reason == "unexpected end of data":
                    rest = data[err.start :]  # a character cut by the chunk boundary
                    offset, line = offset + err.start, line + data.count(b"\n", 0, err.start)
                    continue
                return offset + err.start, line + data.count(b"\n", 0, err.start), data[err.start]
            if not chunk:
                return None
            offset, line, rest = offset + len(data), line + data.count(b"\n"), b""


@contextmanager
def _open_bytes(path: Path) -> Iterator[IO[bytes]]:
    """The decompressed bytes of a CSV file, by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
            yield member
        return
    openers: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    with openers.get(suffix, open)(path, "rb") as handle:
        yield handle


def _parse_iso(values: pd.Series) -> pd.Series:
    """ISO text to datetimes; left as it is unless every value parses (validation reports)."""
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return values
    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    except ValueError:  # mixed time-zone offsets
        return values
    if isinstance(parsed.dtype, pd.DatetimeTZDtype) or (values.notna() & parsed.isna()).any():
        return values
    return parsed


# --- writing ----------------------------------------------------------------------------


def write_tables(
    tables: dict[str, pd.DataFrame],
    folder: str | Path,
    *,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Write each table to ``<folder>/<table>.parquet``, replacing the folder atomically.

    Files are written into a temporary sibling folder (``.<folder>.tmp-<host>-<pid>-<hex>``)
    that replaces ``folder`` only once every file is complete, so a failure leaves ``folder``
    as it was. The same frames give byte-identical files (zstd, no index, no run-dependent
    metadata). The folder is replaced as a whole: tables not in ``tables`` disappear from it.

    Staging siblings that a killed writer left behind are removed first: those of a process
    of this host that is no longer running, and any older than ``STALE_AFTER_S`` (a writer
    on another host sharing the folder cannot be checked). A live writer's are kept, so
    concurrent writers of one folder do not break each other's staging.

    Args:
        tables: Frames keyed by table name (the file stem).
        folder: The target folder; its parent is created if needed.
        notes: Text files written beside the tables, by name; a name starts with ``_``
            so that readers ignore it (``_source.json``: where the tables came from).

    Raises:
        ValueError: If a table name is not a plain file stem, a note's name does not start
            with ``_``, or ``folder`` holds anything but table files and such notes (so
            that it is never replaced by mistake).
    """
    target = Path(folder)
    notes = dict(notes or {})
    for name in notes:
        if not name.startswith("_") or Path(name).name != name:
            raise ValueError(
                f"note name {name!r} must be a plain file name starting with '_' (readers "
                "ignore such names); Fix: rename it, e.g. '_source.json'"
            )
    for name in tables:
        if not isinstance(name, str) or not name or name.startswith(".") or Path(name).name != name:
            raise ValueError(
                f"table name {name!r} cannot be a file name; Fix: use a plain name such as "
                "'transactions' (no folders, not starting with '.')"
            )
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    staging = _sibling(target, "tmp")
    staging.mkdir()  # unlike mkdtemp, respects the umask: the result gets normal permissions
    try:
        for name, frame in tables.items():
            _write_parquet(frame, staging / f"{name}.parquet")
        for name, text in notes.items():
            (staging / name).write_text(text, encoding="utf-8")
        _replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", compression_level=3)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"


def _sibling(target: Path, role: str) -> Path:
    stem = f".{target.name}.{role}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return target.with_name(stem)


def remove_stale_siblings(target: str | Path) -> list[Path]:
    """Remove the staging siblings of ``target`` that no live writer owns; return them.

    A sibling ``.<name>.tmp-...`` or ``.<name>.old-...`` is stale when its process (pid
    and host are in its name) no longer runs on this host, or when it is older than
    ``STALE_AFTER_S``. Siblings named without a host (older versions) count as this
    host's. Failures to remove are ignored: cleaning never fails a write.
    """
    target = Path(target)
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.(?:tmp|old)-(?:(?P<host>[A-Za-z0-9]+)-)?"
        r"(?P<pid>\d+)-[0-9a-f]{8}"
    )
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    removed = []
    now, host = time.time(), _host()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            continue
        here = match["host"] in (None, host)
        dead = here and not _pid_alive(int(match["pid"]))
        if dead or age > STALE_AFTER_S:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    """Whether a process runs with this pid here (unsure counts as alive)."""
    if os.name != "posix" or pid <= 0:
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists under another user
        return True
    return True


def _check_replaceable(target: Path) -> None:
    """Refuse to replace a path that is not a folder of table files."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(
            f"{target} exists and is not a folder; Fix: remove it or write to another folder"
        )
    for entry in sorted(target.iterdir()):
        note = entry.name.startswith("_")  # a note a previous write left beside its tables
        if not entry.is_file() or (_split_name(entry.name) is None and not note):
            raise ValueError(
                f"{target} holds {entry.name!r}, which is not a table file, and would be "
                "deleted when the folder is replaced; Fix: write the tables to a dedicated "
                "folder (or move that entry away)"
            )


def _replace_folder(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``; an existing ``target`` is removed only afterwards."""
    if not target.exists():
        os.replace(staging, target)
        return
    previous = _sibling(target, "old")
    os.replace(target, previous)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(previous, target)
        raise
    shutil.rmtree(previous)
