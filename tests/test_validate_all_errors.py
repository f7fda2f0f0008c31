"""``research validate`` reports every failure of a folder in one run (issue 14).

A copy of a small valid portfolio gets ten different faults across several tables (and
one unreadable file); one run of the command names all ten on stderr, grouped by table
and rule, exits 2 and writes them to a JSON report for tools.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from research.data.io import load_validated, write_tables
from research.data.schema import SchemaError, SchemaErrors
from research.data.synthetic import generate_portfolio

ROOT = Path(__file__).resolve().parents[1]

# (table, column, rule, what stderr says about it)
FAULTS = [
    ("customers", "segment", "allowed categories", "unknown values: 'megacorp'"),
    ("facilities", "limit_amount", "range", "values not between 0 and 1e+13"),
    ("facilities", "facility_id", "unique key", "rows sharing a facility_id"),
    ("repayments", "amount_due", "unique column names", "appears 2 times in the CSV header"),
    ("transactions", "category", "allowed categories", "unknown values: 'crypto'"),
    ("transactions", "customer_id", "reference", "customer_id not in customers"),
    ("transactions", "timestamp", "dated after the as-of date", "dated 2031-03-15 .. 2031-03-15"),
    ("interactions", "timestamp", "time zone", "time-zone-aware values"),
    ("financials", "cash", "required column", "the column is missing"),
    ("applications", None, "readable file", "line 3 has"),
]


def _research() -> list[str]:
    script = Path(sys.executable).parent / "research"
    return [str(script)] if script.exists() else [str(ROOT / ".venv" / "bin" / "research")]


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tables = generate_portfolio(
        n_customers=60,
        start="2019-01-01",
        months=36,
        scenario="baseline",
        transactions_per_month=2,
        seed=1,
    ).tables
    t = {name: frame.copy() for name, frame in tables.items()}
    t["customers"].loc[0, "segment"] = "megacorp"
    t["facilities"].loc[3, "limit_amount"] = -5.0
    t["facilities"] = pd.concat([t["facilities"], t["facilities"].iloc[[7]]], ignore_index=True)
    t["transactions"].loc[4, "customer_id"] = "C999999"
    t["transactions"].loc[5, "category"] = "crypto"
    t["transactions"].loc[6, "timestamp"] = pd.Timestamp("2031-03-15 10:00")
    t["interactions"]["timestamp"] = t["interactions"]["timestamp"].dt.tz_localize("UTC")
    t["financials"] = t["financials"].drop(columns="cash")
    repayments = t.pop("repayments")
    applications = t.pop("applications")
    folder = tmp_path_factory.mktemp("bank") / "export"
    write_tables(t, folder)
    repayments.insert(4, "amount_due", repayments["amount_due"], allow_duplicates=True)
    repayments.to_csv(folder / "repayments.csv", index=False)
    lines = applications.to_csv(index=False).splitlines()
    lines[2] += ",an unquoted,comma"  # a ragged line: the file cannot be read
    (folder / "applications.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_one_run_reports_all_ten_failures(broken_folder: Path, tmp_path: Path):
    report = tmp_path / "out.json"
    done = subprocess.run(
        [*_research(), "validate", str(broken_folder), "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr
    assert "Traceback" not in err
    assert err.startswith(
        "research: 10 failures in 7 tables: customers (1), facilities (2), repayments (1), "
        "transactions (3), interactions (1), financials (1), applications (1)\n"
    )
    for number, (table, column, rule, says) in enumerate(FAULTS, 1):
        if rule in ("readable file", "unique column names"):  # a file's: named by its path
            where = str(broken_folder / f"{table}.csv")
        else:
            where = table if column is None else f"{table}.{column}"
        assert f"\n  {number}. [{rule}" in err, (number, rule)
        assert where in err and says in err, (table, column, rule, says)
    assert "C999999" in err and "F0000008" in err  # example rows are shown
    assert "facility_balances: 2,548 rows ok" in done.stdout
    assert "customers:" not in done.stdout

    records = json.loads(report.read_text(encoding="utf-8"))
    assert len(records) == 10
    assert [(r["table"], r["column"]) for r in records] == [(t, c) for t, c, _, _ in FAULTS]
    for record, (_table, _column, rule, _says) in zip(records, FAULTS, strict=True):
        assert {
            "table",
            "column",
            "rule",
            "count",
            "total_rows",
            "examples",
            "fix",
            "file",
        } <= set(record)
        assert record["rule"].startswith(rule)
        assert record["fix"]
        assert record["file"] and Path(record["file"]).parent == broken_folder
    by_rule = {r["rule"]: r for r in records}
    late = next(r for r in records if r["rule"].startswith("dated after"))
    assert (late["count"], late["total_rows"]) == (1, 3131)
    assert late["examples"][0]["customer_id"] and late["examples"][0]["timestamp"].startswith(
        "2031-03-15"
    )
    assert by_rule["unique key"]["count"] == 2
    assert [e["facility_id"] for e in by_rule["unique key"]["examples"]] == ["F0000008"] * 2
    assert by_rule["time zone"]["count"] == by_rule["time zone"]["total_rows"] == 5776
    assert by_rule["required column"]["examples"] is None


def test_a_clean_folder_writes_an_empty_report(tmp_path: Path):
    tables = generate_portfolio(
        n_customers=20,
        start="2019-01-01",
        months=12,
        scenario="baseline",
        transactions_per_month=1,
        seed=2,
    ).tables
    write_tables(tables, tmp_path / "ok")
    report = tmp_path / "ok.json"
    done = subprocess.run(
        [*_research(), "validate", str(tmp_path / "ok"), "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text(encoding="utf-8")) == []


def test_load_validated_raises_every_failure_but_the_as_of_rule(broken_folder: Path):
    with pytest.raises(SchemaErrors) as info:
        load_validated(broken_folder)
    error = info.value
    assert isinstance(error, SchemaError)
    assert str(error).startswith("9 failures in 7 tables: customers (1), facilities (2),")
    assert (error.table, error.column, error.rule) == ("customers", "segment", "allowed categories")
    assert [e.rule for e in error.errors] == [
        rule for _, _, rule, _ in FAULTS if "as-of" not in rule
    ]
