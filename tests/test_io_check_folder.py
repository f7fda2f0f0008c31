"""``check_folder`` (what ``research validate`` runs on a folder) says what the pandas path says.

The folder is checked table by table without holding the tables: Parquet files are cleared
of every rule with Arrow, batch by batch, and a table that may fail a rule is checked again
by the pandas rules, which word the failures. So for any folder the failures (their words,
counts, example rows, files and order), the placeholder notes, the rows, the record counts
behind the as-of date, the records after it and the notes on missing inputs must equal what
``read_source`` + ``clear_placeholders`` + ``check_tables`` give. Every corrupted folder of
``test_corrupted_inputs`` is compared, and cases aimed at the Arrow rules, read in batches
of a few hundred rows (row groups with different dictionaries included).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import research.data.check as check
from research.data.asof import (
    after_as_of_errors,
    clear_placeholders,
    event_time_counts,
    resolve_as_of,
)
from research.data.check import check_folder
from research.data.io import read_tables, read_validated
from research.data.mapping import read_source
from research.data.schema import (
    PARENT_TABLES,
    SOURCE_ATTR,
    SchemaError,
    SchemaErrors,
    check_tables,
    validate_tables,
)
from research.data.synthetic import generate_portfolio
from research.features.inputs import missing_input_notes
from test_corrupted_inputs import CASES, VALID

BATCH = 200  # rows per batch: every table of the small portfolio but two takes several


@dataclass
class Verdict:
    errors: list[SchemaError]
    notes: list[str]
    unreadable: set[str]
    rows: dict[str, int]
    counts: pd.Series
    missing: list[str]
    late: list[SchemaError]


def _late(counts: pd.Series, of: Callable[..., list[SchemaError]]) -> list[SchemaError]:
    try:
        as_of = resolve_as_of("", None, None, counts=counts)
    except ValueError:
        return []
    return of(as_of)


def legacy(folder: Path) -> Verdict:
    """What ``research validate`` ran before: every table read into pandas, then checked."""
    read = read_source(folder)
    raw, notes = clear_placeholders(read.frames)
    checked, found = check_tables(raw, unreadable=read.unreadable)
    counts = event_time_counts(checked)

    def late_of(as_of: object) -> list[SchemaError]:
        late = after_as_of_errors(checked, as_of)  # type: ignore[arg-type]
        for error in late:
            error.file = raw[error.table].attrs.get(SOURCE_ATTR)
        return late

    return Verdict(
        [*read.errors, *found],
        notes,
        read.unreadable,
        {name: len(frame) for name, frame in checked.items()},
        counts,
        missing_input_notes(checked),
        _late(counts, late_of),
    )


def streamed(folder: Path) -> Verdict:
    found = check_folder(folder, batch_rows=BATCH)
    counts = found.counts
    return Verdict(
        found.errors,
        found.notes,
        found.unreadable,
        {name: summary.rows for name, summary in found.tables.items()},
        counts,
        missing_input_notes(found.outlines()),
        _late(counts, found.after_as_of_errors),
    )


def _described(errors: list[SchemaError]) -> list[tuple[object, ...]]:
    return [
        (type(e).__name__, e.table, e.column, e.rule, e.count, e.total, e.file, e.fix, str(e))
        for e in errors
    ]


def assert_same(folder: Path) -> Verdict:
    want, got = legacy(folder), streamed(folder)
    assert _described(got.errors) == _described(want.errors)
    for mine, theirs in zip(got.errors, want.errors, strict=True):
        if theirs.examples is None:
            assert mine.examples is None
        else:
            pd.testing.assert_frame_equal(mine.examples, theirs.examples)
    if len(want.errors) > 1:
        assert str(SchemaErrors(got.errors)) == str(SchemaErrors(want.errors))
    assert got.notes == want.notes
    assert got.unreadable == want.unreadable
    assert got.rows == want.rows
    pd.testing.assert_series_equal(got.counts, want.counts)
    assert got.missing == want.missing
    assert _described(got.late) == _described(want.late)
    return got


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    return generate_portfolio(
        n_customers=30,
        start="2019-01-01",
        months=24,
        scenario="baseline",
        transactions_per_month=2,
        seed=1,
    ).tables


@pytest.fixture(scope="module")
def bases(portfolio: dict[str, pd.DataFrame], tmp_path_factory) -> dict[str, Path]:
    """The portfolio as Parquet files (as test_corrupted_inputs writes them) and as CSV."""
    root = tmp_path_factory.mktemp("bases")
    for fmt in ("parquet", "csv"):
        (root / fmt).mkdir()
        for name, frame in portfolio.items():
            if fmt == "parquet":
                frame.to_parquet(root / fmt / f"{name}.parquet", index=False)
            else:
                frame.to_csv(root / fmt / f"{name}.csv", index=False)
    return {"parquet": root / "parquet", "csv": root / "csv"}


def _copy(bases: dict[str, Path], fmt: str, tmp_path: Path) -> Path:
    folder = tmp_path / "input"
    shutil.copytree(bases[fmt], folder)
    return folder


@pytest.fixture
def pandas_tables(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables check_folder reads into pandas (the others are cleared with Arrow)."""
    seen: list[str] = []
    original = check._pandas_check

    def spy(spec, *args, **kwargs):
        seen.append(spec.name)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(check, "_pandas_check", spy)
    return seen


# --- the corrupted folders of test_corrupted_inputs, and its valid variants -----------------


@pytest.mark.slow  # 40 folders (0.3-1 s each); the Arrow cases below run in the unit tier
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_corrupted_folder_fails_as_in_pandas(case, bases: dict[str, Path], tmp_path: Path):
    folder = _copy(bases, case.fmt, tmp_path)
    case.corrupt(folder)
    got = assert_same(folder)
    assert got.errors, "the corruption is found"


@pytest.mark.slow
@pytest.mark.parametrize(("label", "fmt", "change"), VALID, ids=[v[0] for v in VALID])
def test_a_valid_variant_passes_as_in_pandas(
    label: str, fmt: str, change, bases: dict[str, Path], tmp_path: Path
):
    folder = _copy(bases, fmt, tmp_path)
    change(folder)
    assert assert_same(folder).errors == []


def test_a_valid_parquet_folder_is_cleared_without_pandas_but_its_parents(
    bases: dict[str, Path], tmp_path: Path, pandas_tables: list[str]
):
    folder = _copy(bases, "parquet", tmp_path)
    got = assert_same(folder)
    assert got.errors == [] and len(got.rows) == 9
    assert set(pandas_tables) == PARENT_TABLES  # customers, facilities: other rules look them up


# --- cases aimed at the Arrow rules -----------------------------------------------------------


def _edit(table: str, change: Callable[[pd.DataFrame], pd.DataFrame | None], **write) -> Callable:
    """Rewrite ``<table>.parquet`` after ``change``; ``write``: pyarrow options (row groups)."""

    def corrupt(folder: Path) -> None:
        path = folder / f"{table}.parquet"
        frame = pd.read_parquet(path)
        out = change(frame)
        frame = frame if out is None else out
        options = dict(write)
        if options.pop("index", False):
            frame.to_parquet(path)
            return
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        for name, kind in options.pop("types", {}).items():
            arrow = arrow.set_column(
                arrow.schema.get_field_index(name), name, arrow.column(name).cast(kind)
            )
        pq.write_table(arrow, path, **options)

    return corrupt


def _set(column: str, value: object, row: int = 3) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        if frame[column].dtype.kind in "biuf" and (value is None or isinstance(value, str)):
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return change


def _late_rows(frame: pd.DataFrame) -> None:
    frame.loc[frame.index[-1], "timestamp"] = pd.Timestamp("2031-03-15 10:00")


def _other_customer(frame: pd.DataFrame) -> None:
    frame.loc[5, "customer_id"] = frame.loc[frame["customer_id"] != frame.loc[5, "customer_id"]][
        "customer_id"
    ].iloc[0]


def _duplicate_row(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    # the copy goes to the end: the key is no longer in order
    return lambda frame: pd.concat([frame, frame.iloc[[row]]], ignore_index=True)


def _shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _drop_facilities(folder: Path) -> None:
    (folder / "facilities.parquet").unlink()


def _index_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis([f"r{i}" for i in range(len(frame))])


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"channel": "category", "interaction_type": "category"})


SMALL_GROUPS = {"row_group_size": 300}  # several row groups, each with its own dictionary

ARROW_CASES: list[tuple[str, Callable, bool]] = [  # (id, corrupt, whether it fails)
    # clean variants the Arrow path clears
    ("small row groups", _edit("transactions", lambda f: None, **SMALL_GROUPS), False),
    ("rows out of key order", _edit("facility_balances", _shuffled, **SMALL_GROUPS), False),
    ("timestamps in microseconds", _edit("transactions", lambda f: None, types={"timestamp": pa.timestamp("us")}), False),
    ("dates as date32", _edit("facility_balances", lambda f: None, types={"month_end": pa.date32()}), False),
    ("whole-number amounts as int64", _edit("transactions", lambda f: f.assign(amount=f["amount"].round()), types={"amount": pa.int64()}), False),
    ("optional column absent", _edit("transactions", lambda f: f.drop(columns="channel")), False),
    ("optional column empty", _edit("interactions", lambda f: f.assign(satisfaction_score=np.nan)), False),
    ("optional column all null type", _edit("transactions", lambda f: f.assign(category=None)), False),
    ("a nullable Float64 column", _edit("interactions", lambda f: f.assign(response_hours=pd.array(f["response_hours"].where(f.index % 3 > 0), dtype="Float64")), index=True), False),
    ("extra numeric column", _edit("transactions", lambda f: f.assign(fx_rate=1.0)), False),
    ("extra text column", _edit("interactions", lambda f: f.assign(note="called back")), False),
    ("an index column", _edit("account_balances", _index_column, index=True), False),
    ("categories stored as categoricals", _edit("interactions", _categorical, **SMALL_GROUPS), False),
    ("nullable decision blank and undated", _edit("applications", lambda f: f.assign(decision=np.where(f["decided_date"].isna(), " ", f["decision"]))), False),
    ("facilities missing", _drop_facilities, True),
    # one failure each
    ("blank customer id", _edit("transactions", _set("customer_id", "  "), **SMALL_GROUPS), True),
    ("empty amount", _edit("transactions", _set("amount", np.nan)), True),
    ("infinite balance", _edit("account_balances", _set("balance", np.inf)), True),
    ("negative drawn amount", _edit("facility_balances", _set("drawn_amount", -1.0, row=800), **SMALL_GROUPS), True),
    ("empty category", _edit("interactions", _set("channel", None)), True),
    ("unknown category in a late row group", _edit("transactions", _set("category", "crypto", row=1500), **SMALL_GROUPS), True),
    ("time of day on a date", _edit("facility_balances", lambda f: f.assign(month_end=f["month_end"] + pd.to_timedelta(np.arange(len(f)) % 2 * 3, unit="h"))), True),
    ("reported before the period end", _edit("financials", _set("reported_date", pd.Timestamp("2001-01-01"))), True),
    ("paid without amount", _edit("repayments", lambda f: f.assign(amount_paid=np.where(f["paid_date"].notna() & (np.arange(len(f)) == f["paid_date"].notna().idxmax()), np.nan, f["amount_paid"]))), True),
    ("decision without date", _edit("applications", lambda f: f.assign(decided_date=pd.NaT)), True),
    ("another customer's facility", _edit("repayments", _other_customer), True),
    ("unknown facility", _edit("facility_balances", _set("facility_id", "F9999999")), True),
    ("due before origination", _edit("repayments", _set("due_date", pd.Timestamp("2001-01-31"))), True),
    ("duplicate monthly balance", _edit("facility_balances", _duplicate_row(10), **SMALL_GROUPS), True),
    ("duplicate daily balance", _edit("account_balances", _duplicate_row(20)), True),
    ("duplicate application", _edit("applications", _duplicate_row(2)), True),
    ("microseconds beyond 2262", _edit("transactions", _set("timestamp", pd.Timestamp("2200-01-01")), types={"timestamp": pa.timestamp("us")}), True),
    ("records after the as-of date", _edit("transactions", _late_rows), True),
    ("ids as whole numbers", _edit("account_balances", lambda f: f.assign(customer_id=f["customer_id"].str[1:].astype("int64"))), True),
    ("a text currency column", _edit("transactions", lambda f: f.assign(ccy="EUR")), False),
    ("an e-mail column", _edit("transactions", lambda f: f.assign(contact="a@b.example")), True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "corrupt", "fails"), ARROW_CASES, ids=[c[0] for c in ARROW_CASES]
)
def test_arrow_cases_say_what_pandas_says(
    label: str, corrupt: Callable, fails: bool, bases: dict[str, Path], tmp_path: Path
):
    folder = _copy(bases, "parquet", tmp_path)
    corrupt(folder)
    got = assert_same(folder)
    assert bool(got.errors or got.late) == fails


@pytest.mark.parametrize(
    "label",
    [
        "small row groups",
        "rows out of key order",
        "timestamps in microseconds",
        "dates as date32",
        "whole-number amounts as int64",
        "optional column absent",
        "optional column empty",
        "extra numeric column",
        "an index column",
        "categories stored as categoricals",
    ],
)
def test_clean_variants_are_cleared_with_arrow(
    label: str, bases: dict[str, Path], tmp_path: Path, pandas_tables: list[str]
):
    folder = _copy(bases, "parquet", tmp_path)
    next(c for c in ARROW_CASES if c[0] == label)[1](folder)
    assert check_folder(folder, batch_rows=BATCH).errors == []
    assert set(pandas_tables) == PARENT_TABLES


def test_records_after_the_as_of_date_are_shown_from_the_table_read_again(
    bases: dict[str, Path], tmp_path: Path
):
    folder = _copy(bases, "parquet", tmp_path)
    _edit("transactions", _late_rows)(folder)
    found = check_folder(folder, batch_rows=BATCH)
    assert found.errors == []
    late = found.after_as_of_errors(resolve_as_of("", None, None, counts=found.counts))
    assert [(e.table, e.column, e.count) for e in late] == [("transactions", "timestamp", 1)]
    assert late[0].file == str(folder / "transactions.parquet")
    assert "2031-03-15" in str(late[0])


def test_a_missing_folder_is_refused_as_read_folder_refuses_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist or is not a folder"):
        check_folder(tmp_path / "nowhere")


# --- read_validated: the features stage's read, one table at a time ------------------------

DROP = {"transactions": ("category",), "customers": ("rm_id",)}
CATEGORICAL = {"transactions": ("channel",), "interactions": ("channel", "interaction_type")}


def _outcome(read: Callable[[], dict[str, pd.DataFrame]]) -> tuple[object, ...]:
    try:
        return ("tables", read())
    except SchemaError as err:
        examples = None if err.examples is None else err.examples.to_dict("list")
        return ("error", type(err).__name__, str(err), err.rule, err.table, err.column, examples)


def assert_reads_as_validate_tables(folder: Path) -> dict[str, pd.DataFrame] | None:
    """``read_validated`` gives what ``validate_tables(read_tables(...))`` gives."""
    want = _outcome(lambda: validate_tables(read_tables(folder)))
    got = _outcome(lambda: read_validated(folder))
    assert got[0] == want[0]
    if want[0] == "error":
        assert got == want
        return None
    assert list(got[1]) == list(want[1])
    for name, frame in want[1].items():
        pd.testing.assert_frame_equal(got[1][name], frame)
        assert got[1][name].attrs == frame.attrs == {}
    return want[1]


@pytest.mark.slow  # 40 folders, each read twice
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_read_validated_fails_as_validate_tables(case, bases: dict[str, Path], tmp_path: Path):
    folder = _copy(bases, case.fmt, tmp_path)
    case.corrupt(folder)
    assert assert_reads_as_validate_tables(folder) is None


@pytest.mark.parametrize(("label", "fmt", "change"), VALID, ids=[v[0] for v in VALID])
def test_read_validated_reads_as_validate_tables(
    label: str, fmt: str, change, bases: dict[str, Path], tmp_path: Path
):
    folder = _copy(bases, fmt, tmp_path)
    change(folder)
    assert assert_reads_as_validate_tables(folder) is not None


def test_read_validated_fails_as_validate_tables_in_the_unit_tier(
    bases: dict[str, Path], tmp_path: Path
):
    """A few of the corrupted folders: a file unread, a rule failed, several tables failing."""
    picked = [c for c in CASES if c.rule in ("readable file", "allowed categories", "reference")]
    assert picked
    for case in picked[:4]:
        folder = _copy(bases, case.fmt, tmp_path / case.id)
        case.corrupt(folder)
        assert assert_reads_as_validate_tables(folder) is None
    folder = _copy(bases, "parquet", tmp_path / "several")
    for case in picked:  # several failures at once, a reading one among them or not
        if case.fmt == "parquet":
            with contextlib.suppress(OSError):  # a file an earlier corruption removed
                case.corrupt(folder)
    assert assert_reads_as_validate_tables(folder) is None


def test_read_validated_drops_and_holds_categoricals_with_the_same_values(
    bases: dict[str, Path], tmp_path: Path
):
    folder = _copy(bases, "parquet", tmp_path)
    want = validate_tables(read_tables(folder))
    got = read_validated(folder, drop=DROP, categorical=CATEGORICAL)
    assert list(got) == list(want)
    for name, frame in want.items():
        dropped = [c for c in frame.columns if c in DROP.get(name, ())]
        assert list(got[name].columns) == [c for c in frame.columns if c not in dropped]
        for column in CATEGORICAL.get(name, ()):
            assert isinstance(got[name][column].dtype, pd.CategoricalDtype)
        restored = got[name].astype({c: frame[c].dtype for c in CATEGORICAL.get(name, ())})
        pd.testing.assert_frame_equal(restored, frame.drop(columns=dropped))


def test_read_validated_refuses_a_missing_folder(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist or is not a folder"):
        read_validated(tmp_path / "nowhere")


def test_read_validated_skips_tables_unread_and_refuses_to_skip_a_parent(
    bases: dict[str, Path], tmp_path: Path
):
    folder = _copy(bases, "parquet", tmp_path)
    want = validate_tables(read_tables(folder))
    leaf = next(n for n in want if n not in ("customers", "facilities"))
    (folder / f"{leaf}.parquet").write_bytes(b"not parquet")  # skipped: never opened
    got = read_validated(folder, skip={leaf})
    assert list(got) == [n for n in want if n != leaf]
    for name, frame in got.items():
        pd.testing.assert_frame_equal(frame, want[name])
    with pytest.raises(ValueError, match="parent tables cannot be skipped"):
        read_validated(folder, skip={"customers"})
