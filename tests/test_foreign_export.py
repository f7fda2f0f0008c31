"""The foreign-shaped fixture (issue 14): the portfolio as another bank exports it, read back.

A small synthetic portfolio is written the way a Czech bank would export it
(``research.data.foreign``) and read through the committed worked example,
``examples/foreign_bank/mapping.yaml``: every table and column both have equals the native
table, the labels' events equal the native default and churn dates, and ``research
validate`` passes it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from research import labels
from research.cli import main
from research.data import foreign
from research.data.asof import clear_placeholders, synthetic_as_of
from research.data.contract import TABLES
from research.data.mapping import load_mapping, read_source
from research.data.schema import validate_tables
from research.data.synthetic import generate_portfolio

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "examples" / "foreign_bank" / "mapping.yaml"
START, MONTHS = "2019-01-01", 72
AS_OF = synthetic_as_of(START, MONTHS)


@pytest.fixture(scope="module")
def native() -> dict[str, pd.DataFrame]:
    portfolio = generate_portfolio(
        n_customers=200,
        start=START,
        months=MONTHS,
        scenario="baseline",
        transactions_per_month=6,
        seed=11,
    )
    tables = dict(portfolio.tables)
    tables["events"] = foreign.events_table(
        labels.default_dates(tables["repayments"], 90),
        labels.churn_dates(tables["customers"]),
        AS_OF,
    )
    return validate_tables(tables)


@pytest.fixture(scope="module")
def export(native, tmp_path_factory) -> Path:
    """The export and a copy of the committed mapping pointing at it."""
    root = tmp_path_factory.mktemp("foreign")
    foreign.write_foreign_export(native, native["events"], root / "export", as_of=AS_OF)
    doc = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    doc["folder"] = "export"
    path = root / "mapping.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def read(export):
    return read_source(export)


def _sorted(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    spec = TABLES[table]
    key = list(spec.key) or [c for c in frame.columns if c != "amount"][:3]
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def test_every_table_and_column_both_have_equals_the_native_one(native, read):
    assert read.errors == [] and read.notes == []
    raw, notes = clear_placeholders(read.frames)
    assert notes and "customers.relationship_end_date" in notes[0]  # the 31.12.9999 open ends
    tables = read.validated(raw)
    # labels only as events: no repayments, and one more optional table left out
    assert set(tables) == set(native) - set(foreign.NOT_EXPORTED)
    for name, frame in tables.items():
        columns = [c for c in native[name].columns if c in frame.columns]
        assert columns == list(TABLES[name].column_names), name
        pd.testing.assert_frame_equal(
            _sorted(frame[columns], name),
            _sorted(native[name][columns], name),
            check_exact=False,
            rtol=1e-12,
            obj=name,
        )


def test_the_events_are_the_native_default_and_churn_dates(native):
    events = native["events"].set_index("customer_id")
    defaults = labels.default_dates(native["repayments"], 90)
    observed = defaults[defaults <= pd.Timestamp(AS_OF)]
    got = events.loc[events["event_type"] == "default", "event_date"].sort_index()
    pd.testing.assert_series_equal(got, observed.rename("event_date"), check_names=False)
    churned = native["customers"].dropna(subset=["relationship_end_date"])
    assert (events["event_type"] == "churn").sum() == len(churned)  # label events
    assert len(observed) < len(defaults) or defaults.max() <= pd.Timestamp(AS_OF)


def test_the_export_looks_like_another_banks(export, read):
    folder = export.parent / "export"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == sorted(
        {f.name for f in foreign.FILES if f.table not in ("account_balances",)}
        | {"ZUSTATKY_UCTU.csv"}
    )
    assert sorted(p.name for p in (folder / "POHYBY").iterdir())[0] == "POHYBY_2019.csv"
    raw = (folder / "KLIENTI.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # cp1250
    header, first = raw.decode("cp1250").split("\r\n")[:2]
    assert header.split(";")[:3] == ["KLIENT_ID", "NAZEV_FIRMY", "VELIKOST"]
    assert "31.12.9999" in raw.decode("cp1250") and ";Y;" in raw.decode("cp1250")
    statements = (folder / "VYKAZY.csv").read_text(encoding="cp1250")
    assert any(" " in line.split(";")[3] for line in statements.splitlines()[1:])  # 1 708,25
    assert "NAZEV_FIRMY" not in read.frames["customers"].columns  # personal data: never read
    assert "EMAIL" not in read.frames["customers"].columns


def test_research_validate_passes_the_export_through_the_committed_mapping(export, capsys):
    assert main(["validate", str(export)]) == 0
    out = capsys.readouterr().out
    assert "as-of date: 2024-12-31 (configured: as_of of mapping.yaml)" in out
    assert "events:" in out and "rows ok" in out and "currency CZK" in out


def test_the_committed_mapping_reads_the_export_where_the_readme_writes_it():
    doc = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    assert (MAPPING.parent / doc["folder"]).resolve() == ROOT / "data" / "foreign_export"
    assert dt.date.fromisoformat(str(doc["as_of"])) == AS_OF
    assert doc["default_definition"] and doc["currency"] == foreign.CURRENCY


def test_generate_foreign_writes_an_export_the_mapping_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("RESEARCH_ROOT", str(ROOT))
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--customers", "40", "--foreign", "bank"]) == 0
    assert (tmp_path / "bank" / "UDALOSTI.csv").exists()
    # a second run replaces it; a folder it did not write is refused
    assert main(["generate", "--customers", "40", "--foreign", "bank"]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    assert main(["generate", "--customers", "40", "--foreign", "mine"]) == 2
    doc = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    doc["folder"] = "bank"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    mapping = load_mapping(tmp_path / "m.yaml")
    assert mapping.currency == "CZK" and os.fspath(mapping.folder).endswith("bank")
    read = read_source(tmp_path / "m.yaml")
    raw, _ = clear_placeholders(read.frames)
    assert len(read.validated(raw)["customers"]) == 40


def test_the_panel_and_labels_equal_the_native_ones_on_every_shared_feature(native, read):
    """Issue 14's must-show: the export's panel equals the native one wherever both can say.

    The native side derives defaults from repayments and churn from relationship end dates;
    the export has no repayments and carries both only as the bank's events.
    """
    from research.features.snapshot import build_panel

    raw, _ = clear_placeholders(read.frames)
    exported = read.validated(raw)
    derived = {name: frame for name, frame in native.items() if name != "events"}
    snapshots = pd.to_datetime(["2021-01-01", "2022-07-01", "2023-10-01", "2024-07-01"])
    settings = dict(
        windows_months=[3, 6, 12],
        long_window_months=12,
        trend_recent_months=3,
        dpd_thresholds=[30, 60, 90],
        financials_overdue_days=180,
        default_dpd=90,
        horizons_months=[6, 12],
        observation_end=pd.Timestamp(AS_OF) + pd.Timedelta(days=1),
        n_threads=1,
    )
    native_panel, _ = build_panel(derived, snapshots, **settings)
    export_panel, notes = build_panel(exported, snapshots, **settings)
    assert any("defaults come from the events table" in note for note in notes)
    shared = [c for c in native_panel.columns if c in export_panel.columns]
    lost = sorted(set(native_panel.columns) - set(shared))
    # only the families of the tables the export leaves out are missing
    assert lost and all(c.startswith(("rep_", "eng_")) for c in lost), lost
    assert set(export_panel.columns) <= set(native_panel.columns)
    for label in labels.label_names([6, 12]):
        assert label in shared and export_panel[label].notna().any()
    assert export_panel["default_12m"].sum() > 0
    pd.testing.assert_frame_equal(
        export_panel[shared], native_panel[shared], check_exact=False, rtol=1e-9
    )
