"""Corrupted input folders end in a clear error, never a library traceback or a silent result.

Each case copies a small valid portfolio (synthetic, as Parquet or as CSV), breaks one thing,
and checks that ``load_validated`` (what ``research validate`` runs) raises a ``SchemaError``
naming the file, the table, the column and the rule; a few cases run the command itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from research.data.io import load_validated
from research.data.schema import RULES, SchemaError, TableFileError, validate_tables
from research.data.synthetic import generate_portfolio

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("parquet", "csv")


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    return generate_portfolio(
        n_customers=60,
        start="2019-01-01",
        months=36,
        scenario="baseline",
        transactions_per_month=2,
        seed=1,
    ).tables


@pytest.fixture(scope="module")
def bases(portfolio: dict[str, pd.DataFrame], tmp_path_factory) -> dict[str, Path]:
    """The valid portfolio as a folder of Parquet files and as a folder of CSV files."""
    root = tmp_path_factory.mktemp("bases")
    for fmt in FORMATS:
        (root / fmt).mkdir()
        for name, frame in portfolio.items():
            if fmt == "parquet":
                frame.to_parquet(root / fmt / f"{name}.parquet", index=False)
            else:
                frame.to_csv(root / fmt / f"{name}.csv", index=False)
    return {fmt: root / fmt for fmt in FORMATS}


def _copy(bases: dict[str, Path], fmt: str, tmp_path: Path) -> Path:
    folder = tmp_path / "input"
    shutil.copytree(bases[fmt], folder)
    return folder


# --- ways to break a folder ---------------------------------------------------------------

Corrupt = Callable[[Path], None]


def parquet_edit(table: str, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Corrupt:
    def corrupt(folder: Path) -> None:
        path = folder / f"{table}.parquet"
        frame = pd.read_parquet(path)
        out = change(frame)
        (frame if out is None else out).to_parquet(path, index=False)

    return corrupt


def csv_edit(table: str, change: Callable[[pd.DataFrame], None]) -> Corrupt:
    """Edit the CSV as text cells (what a bank's export would hold)."""

    def corrupt(folder: Path) -> None:
        path = folder / f"{table}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(frame)
        frame.to_csv(path, index=False)

    return corrupt


def set_value(column: str, value: object, row: int = 0) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        if not isinstance(value, str) and frame[column].dtype.kind in "OUT":
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return change


def edit_lines(table: str, change: Callable[[list[bytes]], None]) -> Corrupt:
    def corrupt(folder: Path) -> None:
        path = folder / f"{table}.csv"
        lines = path.read_bytes().split(b"\n")
        change(lines)
        path.write_bytes(b"\n".join(lines))

    return corrupt


def write_bytes(name: str, data: bytes, remove: str | None = None) -> Corrupt:
    def corrupt(folder: Path) -> None:
        if remove:
            (folder / remove).unlink()
        (folder / name).write_bytes(data)

    return corrupt


def as_parts(
    table: str, folder_name: str, *, extra: dict[str, bytes] | None = None, **kw
) -> Corrupt:
    """Replace ``<table>.parquet`` by a folder of two Parquet parts (as Spark writes it)."""
    change_second: Callable[[pd.DataFrame], pd.DataFrame] = kw.get("second", lambda f: f)

    def corrupt(folder: Path) -> None:
        frame = pd.read_parquet(folder / f"{table}.parquet")
        (folder / f"{table}.parquet").unlink()
        parts = folder / folder_name
        parts.mkdir()
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(parts / "part-00000-1f2e-c000.snappy.parquet", index=False)
        second = change_second(frame.iloc[half:].reset_index(drop=True))
        second.to_parquet(parts / "part-00001-1f2e-c000.snappy.parquet", index=False)
        (parts / "_SUCCESS").write_bytes(b"")
        (parts / ".part-00000-1f2e-c000.snappy.parquet.crc").write_bytes(b"crc")
        for name, data in (extra or {}).items():
            (parts / name).write_bytes(data)

    return corrupt


def _duplicate_parquet_column(folder: Path) -> None:
    path = folder / "customers.parquet"
    table = pq.read_table(path)
    pq.write_table(table.append_column("segment", table.column("segment")), path)


def _truncate(folder: Path) -> None:
    path = folder / "transactions.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rename(old: str, new: str) -> Corrupt:
    return lambda folder: (folder / old).rename(folder / new)


def _semicolons(folder: Path) -> None:
    path = folder / "customers.csv"
    pd.read_csv(path, dtype=str).to_csv(path, sep=";", index=False)


def _only_header(folder: Path) -> None:
    path = folder / "customers.csv"
    path.write_bytes(path.read_bytes().split(b"\n")[0] + b"\n")


def _zoned(frame: pd.DataFrame, column: str, zone: str) -> pd.DataFrame:
    return frame.assign(**{column: frame[column].dt.tz_localize(zone)})


@dataclass(frozen=True)
class Case:
    id: str
    fmt: str  # the valid folder it starts from
    corrupt: Corrupt
    rule: str
    table: str
    column: str | None
    file: str | None  # the entry of the folder the message names (None: the table is missing)
    says: str  # a phrase of the message


CASES = [
    # 1. amounts and other numbers: finite, plausible
    Case(
        "amount 1e308",
        "parquet",
        parquet_edit("facilities", set_value("limit_amount", 1e308)),
        "range",
        "facilities",
        "limit_amount",
        "facilities.parquet",
        "values not between 0 and 1e+13",
    ),
    Case(
        "amount inf",
        "parquet",
        parquet_edit("transactions", set_value("amount", np.inf, row=5)),
        "type",
        "transactions",
        "amount",
        "transactions.parquet",
        "not a finite number",
    ),
    Case(
        "amount -inf in CSV",
        "csv",
        csv_edit("transactions", set_value("amount", "-inf", row=7)),
        "type",
        "transactions",
        "amount",
        "transactions.csv",
        "not a finite number",
    ),
    Case(
        "revenue 1e14 in CSV",
        "csv",
        csv_edit("financials", set_value("revenue", "1e14", row=3)),
        "range",
        "financials",
        "revenue",
        "financials.csv",
        "unit or scale error",
    ),
    Case(
        "drawn amount -1e15",
        "parquet",
        parquet_edit("facility_balances", set_value("drawn_amount", -1e15, row=2)),
        "range",
        "facility_balances",
        "drawn_amount",
        "facility_balances.parquet",
        "values not between 0 and 1e+13",
    ),
    Case(
        "rate in percent",
        "parquet",
        parquet_edit("facilities", set_value("interest_rate", 4.5, row=1)),
        "range",
        "facilities",
        "interest_rate",
        "facilities.parquet",
        "values not between 0 and 1",
    ),
    Case(
        "response hours 1e9",
        "parquet",
        parquet_edit("interactions", set_value("response_hours", 1e9, row=4)),
        "range",
        "interactions",
        "response_hours",
        "interactions.parquet",
        "values not between 0 and 87600",
    ),
    # 2. time zones: refused by name (no silent shift to UTC)
    Case(
        "zoned Parquet timestamps",
        "parquet",
        parquet_edit("transactions", lambda f: _zoned(f, "timestamp", "Asia/Kolkata")),
        "time zone",
        "transactions",
        "timestamp",
        "transactions.parquet",
        "time-zone-aware values; column dtype datetime64[ns, Asia/Kolkata]",
    ),
    Case(
        "zoned Parquet dates",
        "parquet",
        parquet_edit("customers", lambda f: _zoned(f, "onboarding_date", "UTC")),
        "time zone",
        "customers",
        "onboarding_date",
        "customers.parquet",
        "time-zone-aware values",
    ),
    Case(
        "one CSV timestamp with an offset",
        "csv",
        csv_edit("transactions", set_value("timestamp", "2021-03-01T10:00:00+02:00", row=3)),
        "time zone",
        "transactions",
        "timestamp",
        "transactions.csv",
        "failed for 1 of 3,131 rows (values with a time-zone offset",
    ),
    Case(
        "CSV timestamps in UTC 'Z'",
        "csv",
        csv_edit(
            "interactions",
            lambda f: f.__setitem__("timestamp", f["timestamp"].str.replace(" ", "T") + "Z"),
        ),
        "time zone",
        "interactions",
        "timestamp",
        "interactions.csv",
        "values with a time-zone offset",
    ),
    # 3. empty tables
    Case(
        "Parquet table with no rows",
        "parquet",
        parquet_edit("transactions", lambda f: f.iloc[:0]),
        "not empty",
        "transactions",
        None,
        "transactions.parquet",
        "its feature family is then skipped",
    ),
    Case(
        "customers CSV with only a header",
        "csv",
        _only_header,
        "not empty",
        "customers",
        None,
        "customers.csv",
        "customers is mandatory and needs at least one row",
    ),
    Case(
        "0-byte CSV",
        "csv",
        write_bytes("transactions.csv", b""),
        "readable file",
        "transactions",
        None,
        "transactions.csv",
        "the file is empty (no header row)",
    ),
    Case(
        "table folder without parts",
        "parquet",
        lambda folder: (
            (folder / "transactions.parquet").unlink(),
            (folder / "transactions").mkdir(),
            (folder / "transactions" / "_SUCCESS").write_bytes(b""),
        ),
        "readable file",
        "transactions",
        None,
        "transactions",
        "the table folder holds no part files",
    ),
    # 4. folders, file forms, unknown entries
    Case(
        "unknown file",
        "parquet",
        write_bytes("notes.txt", b"exported 2024-01-05"),
        "known file",
        "notes.txt",
        None,
        "notes.txt",
        "not a table file of a known form",
    ),
    Case(
        "unknown table name",
        "parquet",
        _rename("transactions.parquet", "transaction.parquet"),
        "known table",
        "transaction",
        None,
        "transaction.parquet",
        "did you mean 'transactions'?",
    ),
    Case(
        "unknown folder",
        "parquet",
        lambda folder: (
            (folder / "archive" / "2019").mkdir(parents=True),
            (folder / "archive" / "2019" / "notes.docx").write_bytes(b"PK"),
        ),
        "known table",
        "archive",
        None,
        "archive",
        "'archive' is not a table of the contract",
    ),
    Case(
        "table given twice",
        "csv",
        write_bytes("customers.parquet", b"PAR1"),
        "one file per table",
        "customers",
        None,
        "customers.parquet",
        "table 'customers' is given twice: customers.csv and customers.parquet",
    ),
    Case(
        "unknown file in a table folder",
        "parquet",
        as_parts("transactions", "transactions", extra={"README.txt": b"parts"}),
        "known file",
        "transactions",
        None,
        "transactions/README.txt",
        "not a Parquet or CSV part file of table folder transactions",
    ),
    Case(
        "parts with different columns",
        "parquet",
        as_parts(
            "interactions", "interactions.parquet", second=lambda f: f.drop(columns="channel")
        ),
        "readable file",
        "interactions",
        None,
        "interactions.parquet/part-00001-1f2e-c000.snappy.parquet",
        "its columns differ from those of part-00000-1f2e-c000.snappy.parquet (missing channel)",
    ),
    Case(
        "bad row in a Spark folder",
        "parquet",
        as_parts("transactions", "transactions.parquet", second=lambda f: f.assign(channel="fax")),
        "allowed categories",
        "transactions",
        "channel",
        "transactions.parquet",
        "unknown values: 'fax'",
    ),
    Case(
        "compressed CSV that is not",
        "csv",
        write_bytes("customers.csv.gz", b"customer_id,segment\n", remove="customers.csv"),
        "readable file",
        "customers",
        None,
        "customers.csv.gz",
        "cannot read as CSV (Not a gzipped file",
    ),
    # 5. column names given twice
    Case(
        "CSV header names a column twice",
        "csv",
        edit_lines(
            "customers",
            lambda lines: lines.__setitem__(
                slice(None),
                [
                    line + (b",segment" if i == 0 else b",small") if line else line
                    for i, line in enumerate(lines)
                ],
            ),
        ),
        "unique column names",
        "customers",
        "segment",
        "customers.csv",
        "the column 'segment' appears 2 times in the CSV header (columns 2, 10)",
    ),
    Case(
        "Parquet schema names a column twice",
        "parquet",
        _duplicate_parquet_column,
        "unique column names",
        "customers",
        "segment",
        "customers.parquet",
        "appears 2 times in the Parquet schema",
    ),
    # 6. files that cannot be read
    Case(
        "truncated Parquet",
        "parquet",
        _truncate,
        "readable file",
        "transactions",
        None,
        "transactions.parquet",
        "cannot read as Parquet (",
    ),
    Case(
        "Latin-1 CSV",
        "csv",
        edit_lines("customers", lambda lines: lines.__setitem__(4, lines[4] + b"\xfc")),
        "readable file",
        "customers",
        None,
        "customers.csv",
        "the text is not UTF-8 (byte 0xfc on line 5",
    ),
    Case(
        "ragged CSV line",
        "csv",
        edit_lines("customers", lambda lines: lines.__setitem__(5, lines[5] + b",x,y")),
        "readable file",
        "customers",
        None,
        "customers.csv",
        "cannot read as CSV (line 6 has 11 fields, the header 9)",
    ),
    Case(
        "semicolon-separated CSV",
        "csv",
        _semicolons,
        "readable file",
        "customers",
        None,
        "customers.csv",
        "the file looks semicolon-separated",
    ),
    Case(
        "quote never closed",
        "csv",
        edit_lines("interactions", lambda lines: lines.__setitem__(8, lines[8] + b',"open')),
        "readable file",
        "interactions",
        None,
        "interactions.csv",
        "cannot read as CSV (",
    ),
    # the rules that existed before (a few)
    Case(
        "missing column",
        "parquet",
        parquet_edit("facilities", lambda f: f.rename(columns={"maturity_date": "Maturity_Dt"})),
        "required column",
        "facilities",
        "maturity_date",
        "facilities.parquet",
        "'Maturity_Dt' looks like a misspelling of it",
    ),
    Case(
        "unknown category",
        "csv",
        csv_edit("customers", set_value("segment", "mega_corp", row=2)),
        "allowed categories",
        "customers",
        "segment",
        "customers.csv",
        "unknown values: 'mega_corp'",
    ),
    Case(
        "date written day-first",
        "csv",
        csv_edit("facilities", set_value("maturity_date", "31/12/2030", row=1)),
        "type",
        "facilities",
        "maturity_date",
        "facilities.csv",
        "not an ISO date/time",
    ),
    Case(
        "unknown customer",
        "parquet",
        parquet_edit("transactions", set_value("customer_id", "C999999", row=9)),
        "reference",
        "transactions",
        "customer_id",
        "transactions.parquet",
        "customer_id not in customers",
    ),
    Case(
        "duplicate key",
        "parquet",
        parquet_edit("facilities", lambda f: pd.concat([f, f.iloc[[4]]], ignore_index=True)),
        "unique key",
        "facilities",
        "facility_id",
        "facilities.parquet",
        "rows sharing a facility_id",
    ),
    # 9. a bank's own export: codes in its own spelling, personal data, several currencies
    Case(
        "code in another spelling",
        "csv",
        csv_edit("facilities", set_value("repayment_type", "Amortizing", row=1)),
        "allowed categories",
        "facilities",
        "repayment_type",
        "facilities.csv",
        "unknown values: 'Amortizing' (did you mean 'amortising'?)",
    ),
    Case(
        "personal data by name",
        "csv",
        csv_edit("customers", lambda f: f.insert(1, "Company_Name", "Alpha Ltd")),
        "no personal data",
        "customers",
        "Company_Name",
        "customers.csv",
        "looks like personal data (a person's or firm's name)",
    ),
    Case(
        "e-mail addresses in a text column",
        "parquet",
        parquet_edit("interactions", lambda f: f.assign(contact="rm.office@bank.example")),
        "no personal data",
        "interactions",
        "contact",
        "interactions.parquet",
        "values that hold e-mail addresses; not shown",
    ),
    Case(
        "two currencies",
        "parquet",
        parquet_edit(
            "transactions",
            lambda f: f.assign(ccy=np.where(np.arange(len(f)) % 10 == 3, "USD", "EUR")),
        ),
        "one currency",
        "transactions",
        "ccy",
        "transactions.parquet",
        "2 currencies: 'EUR'",
    ),
    Case(
        "customers missing",
        "parquet",
        lambda folder: (folder / "customers.parquet").unlink(),
        "required table",
        "customers",
        None,
        None,
        "the table is missing",
    ),
]


def test_the_cases_cover_new_and_old_rules():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert {case.rule for case in CASES} <= set(RULES)
    assert {"known file", "readable file", "not empty", "time zone", "range"} <= {
        case.rule for case in CASES
    }


def _raises(folder: Path) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        load_validated(folder)
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corrupted_input_is_refused_by_name(case: Case, bases: dict[str, Path], tmp_path: Path):
    folder = _copy(bases, case.fmt, tmp_path)
    case.corrupt(folder)
    error = _raises(folder)
    message = str(error)
    assert (error.rule, error.table, error.column) == (case.rule, case.table, case.column)
    assert case.says in message
    assert "Traceback" not in message
    if isinstance(error, TableFileError):
        # one line: the path, the problem, the fix
        assert "\n" not in message
        assert error.path == str(folder / case.file)
        assert message.startswith(f"{folder / case.file}: ")
        assert ". Fix: " in message
    else:
        where = case.table if case.column is None else f"{case.table}.{case.column}"
        first = message.splitlines()[0]
        source = f" (file {folder / case.file})" if case.file else ""
        assert first.startswith(f"{where}{source}: rule '{case.rule}' failed")
        assert "\nFix: " in message


# --- what must stay valid ---------------------------------------------------------------------


def _csv_compressed(suffix: str) -> Corrupt:
    def change(folder: Path) -> None:
        frame = pd.read_csv(folder / "customers.csv", dtype=str)
        (folder / "customers.csv").unlink()
        frame.to_csv(folder / f"customers.csv.{suffix}", index=False)

    return change


def _csv_parts(folder: Path) -> None:
    frame = pd.read_csv(folder / "transactions.csv", dtype=str)
    (folder / "transactions.csv").unlink()
    (folder / "transactions").mkdir()
    frame.iloc[:1000].to_csv(folder / "transactions" / "part-00000.csv", index=False)
    frame.iloc[1000:].to_csv(folder / "transactions" / "part-00001.csv.gz", index=False)
    (folder / "transactions" / "part-00002.csv").write_bytes(b"")  # an empty partition


def _hive_parts(folder: Path) -> None:
    frame = pd.read_parquet(folder / "transactions.parquet")
    (folder / "transactions.parquet").unlink()
    for channel, rows in frame.groupby("channel"):
        part = folder / "transactions" / f"channel={channel}"
        part.mkdir(parents=True)
        rows.drop(columns="channel").to_parquet(part / "part-0.parquet", index=False)


def _hidden_files(folder: Path) -> None:
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".raw.tmp-host-1-0123abcd").mkdir()


def _customers_only(folder: Path) -> None:
    for path in folder.iterdir():
        if not path.name.startswith("customers."):
            path.unlink()


VALID = [
    ("customers only", "parquet", _customers_only),
    ("Spark Parquet folder", "parquet", as_parts("transactions", "transactions.parquet")),
    ("plain folder of Parquet parts", "parquet", as_parts("transactions", "transactions")),
    ("hive-partitioned folder", "parquet", _hive_parts),
    ("folder of CSV parts", "csv", _csv_parts),
    *[(f"customers.csv.{s}", "csv", _csv_compressed(s)) for s in ("gz", "bz2", "xz", "zip")],
    ("hidden and underscore files", "parquet", _hidden_files),
]


@pytest.mark.parametrize(("label", "fmt", "change"), VALID, ids=[v[0] for v in VALID])
def test_valid_variants_read_as_the_same_tables(
    label: str,
    fmt: str,
    change: Corrupt,
    bases: dict[str, Path],
    portfolio: dict[str, pd.DataFrame],
    tmp_path: Path,
):
    folder = _copy(bases, fmt, tmp_path)
    change(folder)
    loaded = load_validated(folder)
    expected = validate_tables(portfolio)
    assert set(loaded) <= set(expected)
    for name, frame in loaded.items():
        order = [c for c in frame.columns if c in expected[name].columns]
        key = list(expected[name].columns[:3])
        got = frame[order].sort_values(key, kind="stable").reset_index(drop=True)
        want = expected[name].sort_values(key, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


# --- the command ------------------------------------------------------------------------------


def _research() -> list[str]:
    script = Path(sys.executable).parent / "research"
    return [str(script)] if script.exists() else [str(ROOT / ".venv" / "bin" / "research")]


COMMAND_CASES = ["ragged CSV line", "unknown file", "amount 1e308"]


@pytest.mark.parametrize("case_id", COMMAND_CASES)
def test_research_validate_prints_one_clear_line(
    case_id: str, bases: dict[str, Path], tmp_path: Path
):
    case = next(c for c in CASES if c.id == case_id)
    folder = _copy(bases, case.fmt, tmp_path)
    case.corrupt(folder)
    done = subprocess.run(
        [*_research(), "validate", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert re.match(r"^research: \S", first)
    assert case.says in done.stderr
    assert str(folder / case.file) in first
    if case.rule in ("readable file", "known file"):
        assert done.stderr.strip().count("\n") == 0  # one line
