"""Folders of tables: one ``<table>.parquet`` or ``<table>.csv`` file per table.

Reading returns raw frames (``research.data.schema`` validates them); writing produces
deterministic Parquet files and replaces the target folder atomically.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from research.data.contract import TABLES
from research.data.schema import validate_tables

TABLE_SUFFIXES = (".parquet", ".csv")
_TEXT = pd.StringDtype(na_value=np.nan)


def read_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read every ``<table>.parquet`` / ``<table>.csv`` of a folder, unvalidated.

    Other files (and hidden ones) are ignored; file names that are not tables of the
    contract are kept, so that validation reports them as unknown tables.

    Args:
        folder: The folder holding the table files.

    Returns:
        Raw frames keyed by file stem, in file-name order.

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        ValueError: If one table has both a Parquet and a CSV file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"table folder {root} does not exist or is not a folder; "
            "Fix: pass the folder that holds the <table>.parquet or <table>.csv files"
        )
    files: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in TABLE_SUFFIXES:
            continue
        if not path.is_file():
            continue
        if path.stem in files:
            raise ValueError(
                f"table {path.stem!r} is given twice in {root}: {files[path.stem].name} and "
                f"{path.name}; Fix: keep only one of the two files"
            )
        files[path.stem] = path
    return {name: _read_table_file(path, name) for name, path in files.items()}


def write_tables(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    """Write each table to ``<folder>/<table>.parquet``, replacing the folder atomically.

    Files are written into a temporary sibling folder that replaces ``folder`` only once
    every file is complete, so a failure leaves ``folder`` as it was. The same frames
    give byte-identical files (zstd, no index, no run-dependent metadata). The folder
    is replaced as a whole: tables not in ``tables`` disappear from it.

    Args:
        tables: Frames keyed by table name (the file stem).
        folder: The target folder; its parent is created if needed.

    Raises:
        ValueError: If a table name is not a plain file stem, or ``folder`` holds
            anything but table files (so that it is never replaced by mistake).
    """
    target = Path(folder)
    for name in tables:
        if not isinstance(name, str) or not name or name.startswith(".") or Path(name).name != name:
            raise ValueError(
                f"table name {name!r} cannot be a file name; Fix: use a plain name such as "
                "'transactions' (no folders, not starting with '.')"
            )
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(target, "tmp")
    staging.mkdir()  # unlike mkdtemp, respects the umask: the result gets normal permissions
    try:
        for name, frame in tables.items():
            _write_parquet(frame, staging / f"{name}.parquet")
        _replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_validated(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read a folder of tables and validate it (see ``research.data.schema``)."""
    return validate_tables(read_tables(folder))


def _read_table_file(path: Path, name: str) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path, to_pandas_kwargs={"date_as_object": False})
    return _read_csv(path, name)


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    """Read ids and categories as text (keeps leading zeros) and ISO dates as datetimes."""
    spec = TABLES.get(name)
    columns = spec.columns if spec else ()
    text = {c.name: _TEXT for c in columns if c.kind in ("id", "category")}
    frame = pd.read_csv(path, dtype=text)
    for column in columns:
        if column.kind in ("date", "timestamp") and column.name in frame.columns:
            frame[column.name] = _parse_iso(frame[column.name])
    return frame


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


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", compression_level=3)


def _sibling(target: Path, role: str) -> Path:
    return target.with_name(f".{target.name}.{role}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _check_replaceable(target: Path) -> None:
    """Refuse to replace a path that is not a folder of table files."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(
            f"{target} exists and is not a folder; Fix: remove it or write to another folder"
        )
    for entry in sorted(target.iterdir()):
        if not entry.is_file() or entry.suffix.lower() not in TABLE_SUFFIXES:
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
