"""The input contract as enforced by research.data.schema, and table folders (research.data.io)."""

from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _tables import small_valid_tables
from research.data import io as table_io
from research.data.contract import TABLES
from research.data.schema import RULES, SchemaError, SchemaErrors, TableFileError, validate_tables

Tables = dict[str, pd.DataFrame]


def _broken(change: Callable[[Tables], None]) -> Tables:
    tables = small_valid_tables()
    change(tables)
    return tables


def _fails(
    tables: Tables, first_line: str, *, table: str, column: str | None, rule: str
) -> SchemaError:
    """Validation raises a SchemaError with exactly this first line and these attributes."""
    with pytest.raises(SchemaError, match="^" + re.escape(first_line) + "\n") as info:
        validate_tables(tables)
    error = info.value
    assert (error.table, error.column, error.rule) == (table, column, rule)
    assert rule in RULES
    assert "\nFix: " in str(error)
    if error.examples is not None:
        assert 1 <= len(error.examples) <= 5
    return error


# --- the valid portfolio ----------------------------------------------------------------


def _with_optional_tables(tables: Tables) -> Tables:
    """The small portfolio with the two tables it lacks: account balances and bank events."""
    tables["account_balances"] = pd.DataFrame(
        {
            "customer_id": ["C001", "C001", "C002"],
            "balance_date": pd.to_datetime(["2023-01-31", "2023-02-28", "2023-01-31"]),
            "balance": [15_000.0, -2_500.0, 80_000.0],
        }
    )
    tables["events"] = pd.DataFrame(
        {
            "customer_id": ["C002", "C003"],
            "event_type": ["default", "churn"],
            "event_date": pd.to_datetime(["2023-08-15", "2024-06-30"]),
        }
    )
    return tables


def test_valid_tables_pass_with_canonical_dtypes():
    raw = _with_optional_tables(small_valid_tables())
    validated = validate_tables(raw)
    assert list(validated) == list(TABLES)
    canonical = {
        "id": "str",
        "category": "str",
        "date": "datetime64[ns]",
        "timestamp": "datetime64[ns]",
        "float": "float64",
        "bool": "bool",
    }
    for name, frame in validated.items():
        assert list(frame.columns) == list(TABLES[name].column_names)
        for column in TABLES[name].columns:
            # a flag that may be empty keeps pandas' nullable boolean
            expected = "boolean" if column.kind == "bool" and column.nullable else None
            assert str(frame[column.name].dtype) == (expected or canonical[column.kind]), (
                name,
                column.name,
            )
    pd.testing.assert_frame_equal(raw["customers"], small_valid_tables()["customers"])  # untouched


def test_optional_tables_may_be_missing_and_extra_columns_are_kept():
    customers = small_valid_tables()["customers"].assign(notes=["a", "b", "c"])
    validated = validate_tables({"customers": customers})
    assert list(validated) == ["customers"]
    assert validated["customers"]["notes"].tolist() == ["a", "b", "c"]


def test_text_and_numbers_are_coerced():
    def change(t: Tables) -> None:
        t["customers"]["onboarding_date"] = ["2018-01-15", "2019-06-01", "2020-03-10"]
        t["customers"]["green_flag"] = ["false", "False", "1"]
        t["facilities"]["limit_amount"] = ["1000000", "250000.5", "40000000"]

    validated = validate_tables(_broken(change))
    assert validated["customers"]["onboarding_date"].dtype == "datetime64[ns]"
    assert validated["customers"]["green_flag"].tolist() == [False, False, True]
    assert validated["facilities"]["limit_amount"].tolist() == [1e6, 250_000.5, 4e7]


def test_every_failure_is_listed_in_contract_table_order():
    def change(t: Tables) -> None:
        t["applications"].loc[0, "amount"] = -1.0
        t["facilities"].loc[0, "limit_amount"] = -1.0
        t["facilities"].loc[1, "product"] = "yacht"

    with pytest.raises(SchemaErrors) as info:
        validate_tables(_broken(change))
    error = info.value
    message = str(error)
    assert message.startswith("3 failures in 2 tables: facilities (2), applications (1)\n\n")
    # the first failure's attributes; then grouped by table (contract order), then rule
    assert (error.table, error.column, error.rule) == (
        "facilities",
        "product",
        "allowed categories",
    )
    assert [(e.table, e.rule) for e in error.errors] == [
        ("facilities", "allowed categories"),
        ("facilities", "range"),
        ("applications", "range"),
    ]
    assert "\nfacilities:\n  1. [allowed categories] facilities.product: rule " in message
    assert "\n  2. [range] facilities.limit_amount: rule 'range' failed for 1 of 3 rows" in message
    assert "\napplications:\n  3. [range] applications.amount: rule 'range' failed" in message
    assert message.count("\n    Fix: ") == 3


# --- table set --------------------------------------------------------------------------


def test_unknown_table_suggests_the_close_name():
    tables = _broken(lambda t: t.update(transaction=t.pop("transactions")))
    error = _fails(
        tables,
        "transaction: rule 'known table' failed: 'transaction' is not a table of the contract; "
        "did you mean 'transactions'?",
        table="transaction",
        column=None,
        rule="known table",
    )
    assert str(error).endswith(
        "Fix: rename it to 'transactions' (e.g. the file transactions.parquet) or remove it; "
        "known tables: customers, facilities, facility_balances, repayments, transactions, "
        "interactions, financials, applications, account_balances, events"
    )
    assert error.examples is None


def test_customers_table_is_required():
    tables = _broken(lambda t: t.pop("customers"))
    error = _fails(
        tables,
        "customers: rule 'required table' failed: the table is missing (tables given: facilities, "
        "facility_balances, repayments, transactions, interactions, financials, applications)",
        table="customers",
        column=None,
        rule="required table",
    )
    assert str(error).endswith(
        "Fix: provide customers (e.g. customers.parquet or customers.csv); it is mandatory"
    )


# --- columns and types ------------------------------------------------------------------


def test_repeated_column_name():
    def change(t: Tables) -> None:
        t["facilities"] = pd.concat([t["facilities"], t["facilities"][["product"]]], axis=1)

    _fails(
        _broken(change),
        "facilities.product: rule 'unique column names' failed: the column name appears 2 times",
        table="facilities",
        column="product",
        rule="unique column names",
    )


def test_missing_column_suggests_the_misspelt_one():
    def change(t: Tables) -> None:
        t["facilities"] = t["facilities"].rename(columns={"maturity_date": "Maturity_Dt"})

    error = _fails(
        _broken(change),
        "facilities.maturity_date: rule 'required column' failed: the column is missing; "
        "'Maturity_Dt' looks like a misspelling of it",
        table="facilities",
        column="maturity_date",
        rule="required column",
    )
    assert str(error).endswith("Fix: rename 'Maturity_Dt' to 'maturity_date'")


def test_text_in_a_float_column_is_a_type_error():
    def change(t: Tables) -> None:
        t["transactions"]["amount"] = t["transactions"]["amount"].astype(object)
        t["transactions"].loc[2, "amount"] = "12k"

    error = _fails(
        _broken(change),
        "transactions.amount: rule 'type' failed for 1 of 4 rows "
        "(not a finite number; column dtype object); e.g.:",
        table="transactions",
        column="amount",
        rule="type",
    )
    assert str(error) == (
        "transactions.amount: rule 'type' failed for 1 of 4 rows "
        "(not a finite number; column dtype object); e.g.:\n"
        "  customer_id           timestamp amount\n"
        "2        C002 2023-01-05 11:00:00    12k\n"
        "Fix: write plain numbers (dot as decimal separator, no thousands separators, units or "
        "infinities); leave unknown values empty"
    )
    assert error.examples["amount"].tolist() == ["12k"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [("2019-13-01", "not an ISO date/time"), ("9999-12-31", "outside 1677-09-22..2262-04-11")],
)
def test_unparsable_date_is_a_type_error(value: str, problem: str):
    def change(t: Tables) -> None:
        t["facilities"]["maturity_date"] = ["2024-01-01", value, "2035-12-31"]

    error = _fails(
        _broken(change),
        f"facilities.maturity_date: rule 'type' failed for 1 of 3 rows "
        f"({problem}; column dtype str); e.g.:",
        table="facilities",
        column="maturity_date",
        rule="type",
    )
    assert error.examples.index.tolist() == [1]


# --- values -----------------------------------------------------------------------------


def test_not_null():
    def change(t: Tables) -> None:
        t["repayments"].loc[[0, 2], "amount_due"] = np.nan

    error = _fails(
        _broken(change),
        "repayments.amount_due: rule 'not null' failed for 2 of 3 rows; e.g.:",
        table="repayments",
        column="amount_due",
        rule="not null",
    )
    assert str(error) == (
        "repayments.amount_due: rule 'not null' failed for 2 of 3 rows; e.g.:\n"
        "  facility_id   due_date  amount_due\n"
        "0        F001 2023-01-31         NaN\n"
        "2        F003 2023-06-30         NaN\n"
        "Fix: fill amount_due in these rows or drop them; it may not be empty"
    )


def test_allowed_categories_lists_the_allowed_values():
    error = _fails(
        _broken(lambda t: t["customers"].__setitem__("segment", ["small", "mega_corp", "large"])),
        "customers.segment: rule 'allowed categories' failed for 1 of 3 rows "
        "(unknown values: 'mega_corp'); e.g.:",
        table="customers",
        column="segment",
        rule="allowed categories",
    )
    assert str(error).endswith(
        "Fix: map the values to one of: micro, small, medium, large, multinational, project_spv, "
        "other, unknown (case-sensitive) in the source mapping's values: section for "
        "customers.segment; map a value the contract does not name to 'other', one not known "
        "to 'unknown'"
    )


@pytest.mark.parametrize(
    ("table", "column", "value", "allowed"),
    [
        ("repayments", "amount_due", -5.0, "between 0 and 1e+13"),
        ("facilities", "limit_amount", -1.0, "between 0 and 1e+13"),
        ("interactions", "satisfaction_score", 6.0, "between 1 and 5"),
        ("interactions", "response_hours", -1.0, "between 0 and 87600"),
        ("facility_balances", "drawn_amount", 2e13, "between 0 and 1e+13"),
        ("transactions", "amount", -1e308, "between -1e+13 and 1e+13"),
        ("financials", "ebitda", 1e14, "between -1e+13 and 1e+13"),
    ],
)
def test_range(table: str, column: str, value: float, allowed: str):
    error = _fails(
        _broken(
            lambda t: t[table].__setitem__(
                column, [t[table][column].iloc[0], value, *t[table][column].iloc[2:]]
            )
        ),
        f"{table}.{column}: rule 'range' failed for 1 of {len(small_valid_tables()[table])} rows "
        f"(values not {allowed}); e.g.:",
        table=table,
        column=column,
        rule="range",
    )
    assert f"\nFix: {column} must be {allowed}; correct these values or drop the rows" in str(error)
    beyond = abs(value) > 1e13
    assert str(error).endswith("a sentinel such as 9.99e99)") == beyond


def test_dates_must_be_at_midnight():
    def change(t: Tables) -> None:
        t["facilities"].loc[0, "origination_date"] = pd.Timestamp("2019-01-01 12:30")

    _fails(
        _broken(change),
        "facilities.origination_date: rule 'date at midnight' failed for 1 of 3 rows "
        "(values with a time of day); e.g.:",
        table="facilities",
        column="origination_date",
        rule="date at midnight",
    )


def test_unique_key():
    def change(t: Tables) -> None:
        t["facility_balances"] = t["facility_balances"].iloc[[0, 1, 0, 2]].reset_index(drop=True)

    error = _fails(
        _broken(change),
        "facility_balances.(facility_id, month_end): rule 'unique key' failed for 2 of 4 rows "
        "(rows sharing a (facility_id, month_end)); e.g.:",
        table="facility_balances",
        column="(facility_id, month_end)",
        rule="unique key",
    )
    assert error.examples.index.tolist() == [0, 2]


@pytest.mark.parametrize(
    ("table", "earlier", "later", "row", "value"),
    [
        ("facilities", "origination_date", "maturity_date", 1, "2019-12-31"),
        ("financials", "period_end", "reported_date", 0, "2022-12-30"),
        ("applications", "submitted_date", "decided_date", 1, "2023-02-28"),
    ],
)
def test_date_order_within_a_row(table: str, earlier: str, later: str, row: int, value: str):
    def change(t: Tables) -> None:
        t[table].loc[row, later] = pd.Timestamp(value)

    error = _fails(
        _broken(change),
        f"{table}.{later}: rule 'date order' failed for 1 of 3 rows ({later} before {earlier}); e.g.:",
        table=table,
        column=later,
        rule="date order",
    )
    assert error.examples.index.tolist() == [row]


def test_payment_needs_an_amount():
    _fails(
        _broken(lambda t: t["repayments"].__setitem__("amount_paid", np.nan)),
        "repayments.amount_paid: rule 'payment with amount' failed for 2 of 3 rows "
        "(paid_date set but amount_paid empty); e.g.:",
        table="repayments",
        column="amount_paid",
        rule="payment with amount",
    )


@pytest.mark.parametrize(
    ("column", "value", "first_line"),
    [
        (
            "decided_date",
            pd.NaT,
            "applications.decided_date: rule 'decision with date' failed for 1 of 3 rows "
            "(decision set but decided_date empty); e.g.:",
        ),
        (
            "decision",
            None,
            "applications.decision: rule 'decision with date' failed for 1 of 3 rows "
            "(decided_date set but decision empty); e.g.:",
        ),
    ],
)
def test_decision_and_decided_date_go_together(column: str, value: object, first_line: str):
    def change(t: Tables) -> None:
        t["applications"].loc[0, column] = value

    _fails(
        _broken(change), first_line, table="applications", column=column, rule="decision with date"
    )


# --- across tables ----------------------------------------------------------------------


def test_customer_reference():
    def change(t: Tables) -> None:
        t["transactions"].loc[3, "customer_id"] = "C999"

    error = _fails(
        _broken(change),
        "transactions.customer_id: rule 'reference' failed for 1 of 4 rows "
        "(customer_id not in customers); e.g.:",
        table="transactions",
        column="customer_id",
        rule="reference",
    )
    assert error.examples["customer_id"].tolist() == ["C999"]


def test_facility_reference():
    def change(t: Tables) -> None:
        t["facility_balances"].loc[3, "facility_id"] = "F999"

    _fails(
        _broken(change),
        "facility_balances.facility_id: rule 'reference' failed for 1 of 4 rows "
        "(facility_id not in facilities); e.g.:",
        table="facility_balances",
        column="facility_id",
        rule="reference",
    )


def test_facility_reference_needs_the_facilities_table():
    _fails(
        _broken(lambda t: t.pop("facilities")),
        "facility_balances.facility_id: rule 'reference' failed for 4 of 4 rows "
        "(the facilities table is missing); e.g.:",
        table="facility_balances",
        column="facility_id",
        rule="reference",
    )


def test_facility_belongs_to_the_same_customer():
    def change(t: Tables) -> None:
        t["repayments"].loc[0, "customer_id"] = "C002"

    error = _fails(
        _broken(change),
        "repayments.customer_id: rule 'same customer' failed for 1 of 3 rows "
        "(customer_id differs from the facility's customer_id in facilities); e.g.:",
        table="repayments",
        column="customer_id",
        rule="same customer",
    )
    assert error.examples["facilities.customer_id"].tolist() == ["C001"]


def test_facility_not_originated_before_onboarding():
    def change(t: Tables) -> None:
        t["facilities"].loc[1, "origination_date"] = pd.Timestamp("2019-01-01")

    _fails(
        _broken(change),
        "facilities.origination_date: rule 'not before onboarding' failed for 1 of 3 rows "
        "(origination_date before the customer's onboarding_date); e.g.:",
        table="facilities",
        column="origination_date",
        rule="not before onboarding",
    )


@pytest.mark.parametrize(
    ("column", "value"), [("due_date", "2020-06-30"), ("paid_date", "2020-07-01")]
)
def test_repayment_not_before_origination(column: str, value: str):
    def change(t: Tables) -> None:
        t["repayments"].loc[2, column] = pd.Timestamp(value)

    error = _fails(
        _broken(change),
        f"repayments.{column}: rule 'not before origination' failed for 1 of 3 rows "
        f"({column} before the facility's origination_date); e.g.:",
        table="repayments",
        column=column,
        rule="not before origination",
    )
    assert error.examples["facilities.origination_date"].tolist() == [pd.Timestamp("2021-01-01")]


def test_activity_may_predate_onboarding():
    def change(t: Tables) -> None:
        t["transactions"].loc[0, "timestamp"] = pd.Timestamp("2001-01-01 09:00")

    validate_tables(_broken(change))


# --- folders of tables ------------------------------------------------------------------


def test_write_then_load_round_trip(tmp_path: Path):
    table_io.write_tables(small_valid_tables(), tmp_path / "raw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]
    loaded = table_io.load_validated(tmp_path / "raw")
    for name, frame in validate_tables(small_valid_tables()).items():
        pd.testing.assert_frame_equal(loaded[name], frame)


def test_write_is_deterministic(tmp_path: Path):
    tables = small_valid_tables()
    table_io.write_tables(tables, tmp_path / "first")
    table_io.write_tables(tables, tmp_path / "second")
    first = {p.name: p.read_bytes() for p in (tmp_path / "first").iterdir()}
    second = {p.name: p.read_bytes() for p in (tmp_path / "second").iterdir()}
    assert sorted(first) == sorted(f"{name}.parquet" for name in tables)
    assert first == second


@pytest.mark.parametrize("existing", [False, True])
def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool):
    target = tmp_path / "raw"
    if existing:
        target.mkdir()
        (target / "old.parquet").write_bytes(b"previous output")
    real_write = table_io.pq.write_table
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 3:
            raise OSError("disk full")
        real_write(*args, **kwargs)

    monkeypatch.setattr(table_io.pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        table_io.write_tables(small_valid_tables(), target)
    assert len(calls) == 3
    left = sorted(p.name for p in tmp_path.iterdir())
    if existing:
        assert left == ["raw"]
        assert [p.name for p in target.iterdir()] == ["old.parquet"]
        assert (target / "old.parquet").read_bytes() == b"previous output"
    else:
        assert left == []


def test_write_refuses_a_folder_with_other_files(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=re.escape("holds 'notes.txt', which is not a table file")):
        table_io.write_tables(small_valid_tables(), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_csv_round_trip(tmp_path: Path):
    tables = {  # numeric-looking ids: CSV must keep them as text
        name: frame.assign(customer_id=frame["customer_id"].str.replace("C", "0"))
        for name, frame in small_valid_tables().items()
    }
    for name, frame in tables.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    raw = table_io.read_tables(tmp_path)
    assert raw["customers"]["customer_id"].tolist() == ["0001", "0002", "0003"]
    assert raw["repayments"]["paid_date"].dtype.kind == "M"
    loaded = validate_tables(raw)
    for name, frame in validate_tables(tables).items():
        pd.testing.assert_frame_equal(loaded[name], frame)


def test_csv_with_a_bad_date_is_left_for_validation(tmp_path: Path):
    customers = small_valid_tables()["customers"]
    customers.assign(onboarding_date=["2018-01-15", "15/06/2019", "2020-03-10"]).to_csv(
        tmp_path / "customers.csv", index=False
    )
    with pytest.raises(
        SchemaError,
        match="^"
        + re.escape(
            f"customers.onboarding_date (file {tmp_path / 'customers.csv'}): rule 'type' failed "
            "for 1 of 3 rows"
        ),
    ) as info:
        table_io.load_validated(tmp_path)
    assert info.value.column == "onboarding_date"


def test_read_refuses_two_files_for_one_table(tmp_path: Path):
    customers = small_valid_tables()["customers"]
    customers.to_csv(tmp_path / "customers.csv", index=False)
    customers.to_parquet(tmp_path / "customers.parquet", index=False)
    with pytest.raises(ValueError, match=re.escape("table 'customers' is given twice")):
        table_io.read_tables(tmp_path)


def test_unknown_file_name_is_reported_by_validation(tmp_path: Path):
    tables = small_valid_tables()
    table_io.write_tables(
        {"customers": tables["customers"], "transaction": tables["transactions"]}, tmp_path / "raw"
    )
    with pytest.raises(SchemaError, match=re.escape("did you mean 'transactions'?")):
        table_io.load_validated(tmp_path / "raw")


def test_read_missing_folder(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        table_io.read_tables(tmp_path / "nowhere")


# --- time zones, empty tables, files ----------------------------------------------------


@pytest.mark.parametrize(
    ("values", "problem", "count"),
    [
        (
            pd.Series(pd.to_datetime(["2023-01-03 09:15", "2023-01-04 17:40"] * 2)).dt.tz_localize(
                "UTC"
            ),
            "time-zone-aware values; column dtype datetime64[us, UTC]",
            4,
        ),
        (
            [
                "2023-01-03T09:15:00Z",
                "2023-01-04 17:40",
                "2023-01-05T11:00:00+02:00",
                "2023-01-06 08:30",
            ],
            "values with a time-zone offset; column dtype str",
            2,
        ),
        (
            ["2023-01-03T09:15:00+01:00"] * 4,
            "values with a time-zone offset; column dtype str",
            4,
        ),
    ],
    ids=["aware dtype", "mixed text", "one offset"],
)
def test_time_zones_are_refused_not_shifted(values: object, problem: str, count: int):
    def change(t: Tables) -> None:
        t["transactions"]["timestamp"] = values

    error = _fails(
        _broken(change),
        f"transactions.timestamp: rule 'time zone' failed for {count} of 4 rows ({problem}); e.g.:",
        table="transactions",
        column="timestamp",
        rule="time zone",
    )
    assert "convert the values to local time and drop the zone" in str(error)
    assert "would move events near midnight to another day" in str(error)


@pytest.mark.parametrize("table", ["transactions", "customers"])
def test_a_table_with_no_rows_is_refused(table: str):
    fix = (
        "customers is mandatory and needs at least one row"
        if table == "customers"
        else "remove the table (its file) if you have no such records: its feature family is "
        "then skipped"
    )

    def change(t: Tables) -> None:
        t[table] = t[table].iloc[:0]
        t[table].attrs["source"] = f"in/{table}.parquet"

    error = _fails(
        _broken(change),
        f"{table} (file in/{table}.parquet): rule 'not empty' failed: the table has no rows",
        table=table,
        column=None,
        rule="not empty",
    )
    assert fix in str(error)


def test_empty_frames_built_in_memory_pass():
    """The Dask engine validates empty schemas and partitions without some table's rows."""
    validated = validate_tables(
        {name: frame.iloc[:0] for name, frame in small_valid_tables().items()}
    )
    assert all(len(frame) == 0 for frame in validated.values())


def test_errors_name_the_source_file_and_validated_frames_drop_it():
    tables = small_valid_tables()
    for name, frame in tables.items():
        frame.attrs["source"] = f"in/{name}.csv"
    validated = validate_tables(tables)
    assert all(frame.attrs == {} for frame in validated.values())
    tables["facilities"].loc[0, "limit_amount"] = 1e308
    _fails(
        tables,
        "facilities.limit_amount (file in/facilities.csv): rule 'range' failed for 1 of 3 rows "
        "(values not between 0 and 1e+13); e.g.:",
        table="facilities",
        column="limit_amount",
        rule="range",
    )


def test_file_errors_pickle_with_their_attributes():
    error = TableFileError("x.csv: bad. Fix: redo", "x", None, "readable file", "in/x.csv")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, TableFileError)
    assert (str(copy), copy.table, copy.rule, copy.path) == (
        str(error),
        "x",
        "readable file",
        "in/x.csv",
    )


def test_read_tables_records_the_source(tmp_path: Path):
    small_valid_tables()["customers"].to_csv(tmp_path / "customers.csv.gz", index=False)
    raw = table_io.read_tables(tmp_path)
    assert raw["customers"].attrs["source"] == str(tmp_path / "customers.csv.gz")


# --- staging folders left by a killed writer ------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_staging_siblings_are_removed_live_ones_kept(tmp_path: Path):
    host, dead, alive = table_io._host(), _dead_pid(), os.getpid()
    names = {
        f".raw.tmp-{host}-{dead}-0123abcd": False,  # a killed writer here
        f".raw.old-{dead}-4567abcd": False,  # an older name without host
        f".raw.tmp-{host}-{alive}-89abcdef": True,  # a live writer
        f".raw.tmp-otherhost-{dead}-0123abcd": True,  # another host's, recent: cannot check
        f".raw.tmp-otherhost-{dead}-fedcba98": False,  # another host's, a day old
        f".rawx.tmp-{host}-{dead}-0123abcd": True,  # another folder's
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "customers.parquet").write_bytes(b"partial")
    day_old = time.time() - table_io.STALE_AFTER_S - 60
    os.utime(tmp_path / f".raw.tmp-otherhost-{dead}-fedcba98", (day_old, day_old))
    table_io.write_tables(small_valid_tables(), tmp_path / "raw")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"raw", *(name for name, kept in names.items() if kept)}


def test_a_killed_write_is_cleaned_up_by_the_next(tmp_path: Path):
    writer = (
        "import sys, time\n"
        "from research.data import io\n"
        "real = io._write_parquet\n"
        "def slow(frame, path):\n"
        "    real(frame, path)\n"
        "    print('staged', flush=True)\n"
        "    time.sleep(60)\n"
        "io._write_parquet = slow\n"
        "import pandas as pd\n"
        "io.write_tables({'customers': pd.DataFrame({'a': [1]})}, sys.argv[1])\n"
    )
    target = tmp_path / "raw"
    process = subprocess.Popen(
        [sys.executable, "-c", writer, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "staged"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and re.fullmatch(r"\.raw\.tmp-\w+-\d+-[0-9a-f]{8}", left[0]), left
    table_io.write_tables(small_valid_tables(), target)
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_dvc_ignores_staging_siblings():
    patterns = (Path(__file__).resolve().parents[1] / ".dvcignore").read_text().splitlines()
    assert {".*.tmp-*", ".*.old-*"} <= set(patterns)
