"""Source mappings (issue 14): a bank's export read onto the contract through one YAML file.

Hand-made exports: the mapping's own problems reported all at once with the closest key,
the CSV dialect (decimal comma, dd.mm.yyyy, Y/N, cp1250 and latin-1, amounts in thousands),
value maps, the allow-list of columns, the currency check, failures worded for the
mapping, Parquet and part folders, the as-of date, and the source fingerprint the
``source`` stage writes for DVC.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research._params import ParamsError
from research.cli import main
from research.data.asof import clear_placeholders
from research.data.io import read_folder, write_tables
from research.data.mapping import (
    check_mapping,
    read_source,
    source_fingerprint,
)
from research.data.params import configured_as_of, source_kind
from research.data.schema import SchemaError

CUSTOMERS = (
    "KLIENT;VELIKOST;NACE;KRAJ;OD;DO;ZELENY;INKLUZE;PORADCE;JMENO;EXPORT\r\n"
    "K1;MALÝ;C;JIŽNÍ;01.02.2019;;Y;N;R1;Jan Novák;02.01.2025\r\n"
    "K2;STŘEDNÍ;F;PRAHA;15.03.2020;31.12.9999;N;N;R2;Eva Malá;02.01.2025\r\n"
    "K3;VELKÝ;X;PRAHA;28.02.2018;30.06.2024;N;Y;R1;Petr Veselý;02.01.2025\r\n"
)
FACILITIES = (
    "UVER;KLIENT;PRODUKT;OD;SPLATNOST;UKONCENO;LIMIT_TIS;SAZBA;POPLATEK;TYP;ZAJISTENI;ZELENY;MENA\r\n"
    "U1;K1;TERM;01.03.2019;01.03.2024;01.03.2024;1 250,5;4,25;0,5;SPLATKY;BEZ;N;CZK\r\n"
    "U2;K2;KTK;01.04.2020;01.04.2025;;80;3,9;0;REVOLV;ZARUKA;Y;CZK\r\n"
)
MAPPING = """
folder: export
as_of: 2024-12-31
currency: CZK
amount_scale: 1000
csv:
  delimiter: ";"
  decimal: ","
  thousands: " "
  date_format: "%d.%m.%Y"
  true_values: [Y]
  false_values: [N]
  encoding: cp1250
drop: [EXPORT]
tables:
  customers:
    file: KLIENTI.csv
    drop: [JMENO]
    columns:
      customer_id: KLIENT
      segment: VELIKOST
      industry: NACE
      region: KRAJ
      onboarding_date: OD
      relationship_end_date: DO
      green_flag: ZELENY
      inclusive_flag: INKLUZE
      rm_id: PORADCE
    values:
      segment: {MALÝ: small, STŘEDNÍ: medium, VELKÝ: large}
      industry: {C: manufacturing, F: construction, "*": other}
      region: {JIŽNÍ: south, PRAHA: capital}
  facilities:
    file: UVERY.csv
    currency_column: MENA
    scale: {interest_rate: 0.01, fee_rate: 0.01}
    columns:
      facility_id: UVER
      customer_id: KLIENT
      product: PRODUKT
      origination_date: OD
      maturity_date: SPLATNOST
      close_date: UKONCENO
      limit_amount: LIMIT_TIS
      interest_rate: SAZBA
      fee_rate: POPLATEK
      repayment_type: TYP
      collateral_type: ZAJISTENI
      green_loan: ZELENY
    values:
      product: {TERM: term_loan, KTK: revolver}
      repayment_type: {SPLATKY: amortising, REVOLV: revolving}
      collateral_type: {BEZ: unsecured, ZARUKA: guarantee}
"""


def _export(
    root: Path,
    mapping: str = MAPPING,
    *,
    customers: str = CUSTOMERS,
    facilities: str = FACILITIES,
    encoding: str = "cp1250",
) -> Path:
    folder = root / "export"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "KLIENTI.csv").write_bytes(customers.encode(encoding))
    (folder / "UVERY.csv").write_bytes(facilities.encode(encoding))
    path = root / "mapping.yaml"
    path.write_text(textwrap.dedent(mapping), encoding="utf-8")
    return path


def _validated(path: Path) -> dict[str, pd.DataFrame]:
    read = read_source(path)
    raw, _ = clear_placeholders(read.frames)
    return read.validated(raw)


# ----------------------------------------------------------------------------- the dialect


def test_a_semicolon_cp1250_export_reads_onto_the_contract(tmp_path):
    tables = _validated(_export(tmp_path))
    customers = tables["customers"].set_index("customer_id")
    assert customers["segment"].tolist() == ["small", "medium", "large"]
    assert customers["industry"].tolist() == ["manufacturing", "construction", "other"]  # "*"
    assert customers["region"].tolist() == ["south", "capital", "capital"]
    assert customers["onboarding_date"].tolist() == [
        pd.Timestamp("2019-02-01"),
        pd.Timestamp("2020-03-15"),
        pd.Timestamp("2018-02-28"),
    ]
    # empty and the 31.12.9999 placeholder both read as no end; a real end is a date
    assert customers["relationship_end_date"].isna().tolist() == [True, True, False]
    assert customers["green_flag"].tolist() == [True, False, False]
    assert customers["inclusive_flag"].tolist() == [False, False, True]
    assert "JMENO" not in customers.columns and "EXPORT" not in customers.columns
    facilities = tables["facilities"].set_index("facility_id")
    # thousands (space separator, decimal comma) times amount_scale; rates in percent
    assert facilities["limit_amount"].tolist() == pytest.approx([1_250_500.0, 80_000.0])
    assert facilities["interest_rate"].tolist() == pytest.approx([0.0425, 0.039])
    assert facilities["fee_rate"].tolist() == pytest.approx([0.005, 0.0])
    assert facilities["product"].tolist() == ["term_loan", "revolver"]
    assert facilities["green_loan"].tolist() == [False, True]
    assert "MENA" not in facilities.columns


def test_latin1_and_utf8_exports_read_with_their_encoding(tmp_path):
    latin = CUSTOMERS.replace("MALÝ", "KLEIN").replace("STŘEDNÍ", "MITTEL").replace("VELKÝ", "GROß")
    latin = latin.replace("JIŽNÍ", "SÜD").replace("Novák", "Müller")
    mapping = (
        MAPPING.replace("encoding: cp1250", "encoding: latin-1")
        .replace(
            "{MALÝ: small, STŘEDNÍ: medium, VELKÝ: large}",
            "{KLEIN: small, MITTEL: medium, GROß: large}",
        )
        .replace("JIŽNÍ: south", "SÜD: south")
    )
    tables = _validated(_export(tmp_path / "latin", mapping, customers=latin, encoding="latin-1"))
    assert tables["customers"]["segment"].tolist() == ["small", "medium", "large"]
    assert tables["customers"]["region"].tolist() == ["south", "capital", "capital"]
    utf8 = MAPPING.replace("encoding: cp1250", "encoding: utf-8")
    tables = _validated(_export(tmp_path / "utf8", utf8, encoding="utf-8-sig"))  # with a BOM
    assert tables["customers"]["customer_id"].tolist() == ["K1", "K2", "K3"]


def test_a_wrong_encoding_says_which_setting_to_change(tmp_path):
    path = _export(tmp_path, MAPPING.replace("encoding: cp1250", "encoding: utf-8"))
    read = read_source(path)
    [error] = read.errors  # the facilities file is plain ASCII: it reads in either encoding
    assert error.table == "customers"
    assert error.rule == "readable file" and "csv.encoding" in str(error)
    assert "customers" in read.unreadable and "customers" not in read.frames


def test_unparsable_values_are_reported_once_by_the_type_rule_with_the_mappings_fix(tmp_path):
    customers = CUSTOMERS.replace("15.03.2020", "31.02.2020").replace(";Y;N;R1;Jan", ";A;N;R1;Jan")
    facilities = FACILITIES.replace("4,25", "4,2,5")
    path = _export(tmp_path, customers=customers, facilities=facilities)
    read = read_source(path)
    raw, _ = clear_placeholders(read.frames)
    with pytest.raises(SchemaError) as caught:
        read.validated(raw)
    errors = getattr(caught.value, "errors", [caught.value])
    found = {(e.table, e.column, e.rule) for e in errors}
    assert found == {
        ("customers", "onboarding_date", "type"),
        ("customers", "green_flag", "type"),
        ("facilities", "interest_rate", "type"),
    }, found  # once each: no 'not null' for the values the type rule emptied
    dates = next(e for e in errors if e.column == "onboarding_date")
    assert "'%d.%m.%Y'" in dates.fix and "mapping.yaml" in dates.fix
    assert dates.examples["onboarding_date"].tolist() == ["31.02.2020"]
    assert "KLIENTI.csv" in str(dates)  # the file is named
    rate = next(e for e in errors if e.column == "interest_rate")
    assert "decimal mark ','" in rate.fix and rate.examples["interest_rate"].tolist() == ["4,2,5"]
    flag = next(e for e in errors if e.column == "green_flag")
    assert "Y/N" in flag.fix


def test_an_unmapped_code_is_reported_with_the_closest_value_and_the_value_map_to_extend(tmp_path):
    facilities = FACILITIES.replace("SPLATKY", "amortizing")
    read = read_source(_export(tmp_path, facilities=facilities))
    raw, _ = clear_placeholders(read.frames)
    with pytest.raises(SchemaError) as caught:
        read.validated(raw)
    error = caught.value
    assert (error.table, error.column, error.rule) == (
        "facilities",
        "repayment_type",
        "allowed categories",
    )
    assert "amortizing" in str(error) and "tables.facilities.values.repayment_type" in error.fix


def test_a_second_currency_is_refused(tmp_path):
    facilities = FACILITIES.replace("Y;CZK", "Y;EUR")
    read = read_source(_export(tmp_path, facilities=facilities))
    [error] = read.errors
    assert (error.table, error.rule, error.count) == ("facilities", "one currency", 1)
    assert "EUR (1)" in str(error) and "convert these amounts to CZK" in error.fix
    assert error.examples["MENA"].tolist() == ["EUR"]


def test_unmapped_columns_are_not_read_and_noted_unless_dropped(tmp_path):
    mapping = MAPPING.replace("    drop: [JMENO]\n", "")
    read = read_source(_export(tmp_path, mapping))
    assert "JMENO" not in read.frames["customers"].columns
    [note] = read.notes
    assert note.startswith("customers:") and "JMENO" in note and "drop:" in note
    assert read_source(_export(tmp_path / "b")).notes == []


def test_a_mapped_column_missing_from_the_file_is_named_with_the_closest_header(tmp_path):
    read = read_source(_export(tmp_path, MAPPING.replace("segment: VELIKOST", "segment: VELIKSOT")))
    [error] = read.errors
    assert (error.table, error.column, error.rule) == ("customers", "segment", "required column")
    assert "'VELIKSOT'" in str(error) and "did you mean 'VELIKOST'" in str(error)
    assert "customers" in read.unreadable  # not read, and not reported again as missing


def test_parquet_files_and_part_folders_are_mapped_too(tmp_path):
    folder = tmp_path / "export"
    (folder / "CLIENTS").mkdir(parents=True)
    for year, ids in ((2019, ["K1", "K2"]), (2020, ["K3"])):
        part = folder / "CLIENTS" / f"part-{year}.csv"
        rows = [
            f"{i},{s},2,2019-01-0{n + 1},,1,0,R1"
            for n, (i, s) in enumerate(zip(ids, "SM", strict=False))
        ]
        part.write_text("ID,SIZE,BRANCH,SINCE,UNTIL,GREEN,INCL,RM\n" + "\n".join(rows) + "\n")
    pd.DataFrame(
        {
            "LOAN": ["U1"],
            "ID": ["K1"],
            "PRODUCT": [1],  # integer codes in Parquet
            "START": pd.to_datetime(["2019-02-01"]),
            "END": pd.to_datetime(["2021-02-01"]),
            "LIMIT": [2.5],
            "RATE": [4.0],
            "FEE": [0.1],
            "TYPE": ["B"],
            "SECURED": ["U"],
            "GREEN": [False],
        }
    ).to_parquet(folder / "loans.parquet")
    mapping = """
        folder: export
        currency: EUR
        amount_scale: 1000
        tables:
          customers:
            file: CLIENTS
            columns: {customer_id: ID, segment: SIZE, industry: BRANCH, region: RM,
                      onboarding_date: SINCE, relationship_end_date: UNTIL,
                      green_flag: GREEN, inclusive_flag: INCL, rm_id: RM}
            values:
              segment: {S: small, M: medium}
              industry: {"*": unknown}
              region: {"*": unknown}
          facilities:
            file: loans.parquet
            scale: {interest_rate: 0.01, fee_rate: 0.01}
            columns: {facility_id: LOAN, customer_id: ID, product: PRODUCT,
                      origination_date: START, maturity_date: END, limit_amount: LIMIT,
                      interest_rate: RATE, fee_rate: FEE, repayment_type: TYPE,
                      collateral_type: SECURED, green_loan: GREEN}
            values:
              product: {1: term_loan}
              repayment_type: {B: bullet}
              collateral_type: {U: unsecured}
    """
    (tmp_path / "m.yml").write_text(textwrap.dedent(mapping))
    tables = _validated(tmp_path / "m.yml")
    assert tables["customers"]["customer_id"].tolist() == ["K1", "K2", "K3"]
    assert tables["customers"]["segment"].tolist() == ["small", "medium", "small"]
    assert set(tables["customers"]["industry"]) == {"unknown"}
    facility = tables["facilities"].iloc[0]
    assert (facility["product"], facility["limit_amount"]) == ("term_loan", 2500.0)
    assert facility["interest_rate"] == pytest.approx(0.04)


# ----------------------------------------------------------------------------- the file itself


BROKEN = """
folder: export
currency: czk
amout_scale: 1000
csv: {delimeter: ";", encoding: cp9999, date_format: "%d.%m", true_values: [yes]}
tables:
  custmers: {file: KLIENTI.csv}
  facilities:
    file: UVERY.txt
    columns: {facility_id: UVER, segmnt: X}
    values:
      repayment_type: {SPLATKY: amortizing}
      green_loan: {Y: "true"}
  events: {file: KLIENTI.csv}
"""


def test_every_problem_of_the_mapping_file_is_reported_at_once_with_the_closest_key(tmp_path):
    path = _export(tmp_path, BROKEN)
    mapping, errors = check_mapping(path)
    assert mapping is None  # problems outside the tables' entries: nothing is read
    said = {str(e).split(": ", 1)[1].split(". Fix:")[0] for e in errors}
    expected = [
        "currency: must be an ISO 4217 code",
        "amout_scale: unknown key; did you mean 'amount_scale'?",
        "csv.delimeter: unknown key; did you mean 'delimiter'?",
        "csv.encoding: unknown encoding 'cp9999'",
        "csv.date_format: '%d.%m' does not read back the date it writes",
        "csv.true_values: must be a list of spellings, got True",
        "tables.custmers: not a table of the contract; did you mean 'customers'?",
        "tables.facilities.file: 'UVERY.txt' is not in the export folder",
        "tables.facilities.columns.segmnt: not a column of facilities",
        "tables.facilities.values.repayment_type.SPLATKY: 'amortizing' is not allowed in "
        "facilities.repayment_type; did you mean 'amortising'?",
        "tables.facilities.values.green_loan: not a category column of facilities",
        "default_definition: missing, though the events table is mapped",
    ]
    for text in expected:
        assert any(s.startswith(text) for s in said), (text, sorted(said))
    assert "did you mean 'UVERY.csv'" in next(str(e) for e in errors if "UVERY.txt" in str(e))
    assert all(e.rule == "source mapping" and e.file == str(path) for e in errors)
    assert {e.table for e in errors} >= {"mapping", "facilities", "events"}


def test_research_validate_prints_every_mapping_problem_and_writes_them_as_json(tmp_path, capsys):
    path = _export(tmp_path, BROKEN)
    report = tmp_path / "report.json"
    assert main(["validate", str(path), "--json", str(report)]) == 2
    err = capsys.readouterr().err
    records = json.loads(report.read_text())
    assert len(records) >= 12 and all(r["rule"] == "source mapping" for r in records)
    assert "amout_scale" in err and "custmers" in err and "amortizing" in err
    assert "required table" not in err  # nothing read, so nothing is missing either


def test_a_sound_table_is_read_beside_a_broken_entry(tmp_path):
    mapping = MAPPING.replace(
        "      product: {TERM: term_loan, KTK: revolver}", "      product: {TERM: termloan}"
    )
    read = read_source(_export(tmp_path, mapping))
    assert set(read.frames) == {"customers"} and read.unreadable == {"facilities"}
    [error] = read.errors
    assert "did you mean 'term_loan'" in str(error)


def test_research_validate_passes_a_sound_export_through_its_mapping(tmp_path, capsys):
    assert main(["validate", str(_export(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "as-of date: 2024-12-31 (configured: as_of of mapping.yaml)" in out
    assert "customers: 3 rows ok" in out and "facilities: 2 rows ok" in out
    assert "currency CZK" in out


# ----------------------------------------------------------------------------- params and as-of


def test_data_source_names_one_of_three_kinds_and_the_mappings_as_of_is_configured(tmp_path):
    assert [source_kind(s) for s in ("synthetic", "tables", "bank/map.YAML", "m.yml")] == [
        "synthetic",
        "folder",
        "mapping",
        "mapping",
    ]
    path = _export(tmp_path)
    assert configured_as_of("mapping.yaml", tmp_path, "") == (
        "2024-12-31",
        "as_of of the source mapping mapping.yaml",
    )
    assert configured_as_of("mapping.yaml", tmp_path, "2024-12-31")[0] == "2024-12-31"
    with pytest.raises(ParamsError, match="disagree"):
        configured_as_of(str(path), tmp_path, "2024-06-30")
    assert configured_as_of("synthetic", tmp_path, "") == ("", "params.yaml data.as_of")


# ----------------------------------------------------------------------------- the fingerprint


def test_the_fingerprint_changes_with_a_source_file_and_only_then(tmp_path):
    path = _export(tmp_path / "project")
    root = tmp_path / "project"
    first = source_fingerprint("mapping.yaml", root)
    assert [f["path"] for f in first["files"]] == ["KLIENTI.csv", "UVERY.csv"]
    assert source_fingerprint("mapping.yaml", root) == first
    (root / "export" / "README.txt").write_text("not a table the mapping names")
    (root / "export" / "KLIENTI.csv").touch()  # a new time, the same content
    assert source_fingerprint("mapping.yaml", root) == first
    facilities = root / "export" / "UVERY.csv"
    facilities.write_bytes(facilities.read_bytes().replace(b"4,25", b"4,30"))
    changed = source_fingerprint("mapping.yaml", root)
    assert changed != first and changed["mapping_md5"] == first["mapping_md5"]
    path.write_text(path.read_text().replace("as_of: 2024-12-31", "as_of: 2024-12-30"))
    assert source_fingerprint("mapping.yaml", root)["mapping_md5"] != first["mapping_md5"]
    # the same export elsewhere: the same fingerprint (no machine paths)
    moved = tmp_path / "elsewhere"
    (root).rename(moved)
    assert source_fingerprint("mapping.yaml", moved)["files"] == changed["files"]


def test_a_folder_is_fingerprinted_file_by_file_and_synthetic_by_its_kind(tmp_path):
    assert source_fingerprint("synthetic", tmp_path) == {"kind": "synthetic", "source": "synthetic"}
    folder = tmp_path / "tables"
    write_tables({"customers": pd.DataFrame({"customer_id": ["a"]})}, folder)
    (folder / "_notes.txt").write_text("ignored by the reader, so by the fingerprint")
    first = source_fingerprint("tables", tmp_path)
    assert [f["path"] for f in first["files"]] == ["customers.parquet"]
    pd.DataFrame({"customer_id": ["b"]}).to_parquet(folder / "customers.parquet")
    assert source_fingerprint("tables", tmp_path) != first


def test_the_raw_folder_carries_a_note_that_readers_skip(tmp_path):
    frame = pd.DataFrame({"customer_id": ["a"], "x": [np.float64(1)]})
    write_tables({"customers": frame}, tmp_path / "raw", notes={"_source.json": "{}\n"})
    write_tables({"customers": frame}, tmp_path / "raw", notes={"_source.json": "{}\n"})
    assert (tmp_path / "raw" / "_source.json").read_text() == "{}\n"
    frames, errors = read_folder(tmp_path / "raw")
    assert list(frames) == ["customers"] and errors == []
    with pytest.raises(ValueError, match="must be a plain file name starting with '_'"):
        write_tables({"customers": frame}, tmp_path / "raw", notes={"source.json": "{}"})
