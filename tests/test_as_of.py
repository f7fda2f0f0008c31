"""The as-of date of the data (issue 13): placeholders, derivation, refusal, censoring, snapshots.

A bank export with an open relationship written as 2099-12-31 and a few transactions dated
years ahead used to move the end of observation to the latest date found, switching
censoring off for the last snapshots. Here the placeholder reads as empty, the future rows
are refused by name, and once they are removed the labels equal those of the clean data.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research import cli, labels
from research.data import asof
from research.data.asof import AsOf, RecordsAfterAsOf
from research.data.contract import EVENT_TIME
from research.data.io import read_tables, write_tables
from research.data.schema import SchemaError, validate_tables
from research.data.synthetic import generate_portfolio
from research.features.params import SnapshotPlan
from research.features.snapshot import STANDARD_FEATURE_SETTINGS, build_panel, snapshot_dates
from research.stages import _inputs, run_stage, stage_context
from research.stages import data as data_stage
from research.stages.features import SnapshotRangeError, check_snapshots

ROOT = Path(__file__).resolve().parents[1]
T = pd.Timestamp
D = dt.date
START, MONTHS, AS_OF = "2021-01-01", 36, D(2023, 12, 31)  # the small portfolio's history
SNAPSHOTS = [T(s) for s in ("2022-07-01", "2022-10-01", "2023-01-01", "2023-04-01", "2023-10-01")]
LABEL_SETTINGS = {"default_dpd": 90, "horizons_months": [6, 12]}
FUTURE = T("2031-03-15 10:30")


@pytest.fixture(scope="module")
def clean() -> dict[str, pd.DataFrame]:
    """Three years of 400 generated firms: a bank's export as it should be."""
    return generate_portfolio(
        n_customers=400,
        start=START,
        months=MONTHS,
        scenario="baseline",
        transactions_per_month=6,
        seed=13,
        default_dpd=90,
        horizons_months=[12],
    ).tables


def with_placeholders(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Open relationships and facilities written as far-future dates instead of left empty."""
    out = dict(tables)
    customers = tables["customers"].copy()
    active = customers.index[customers["relationship_end_date"].isna()][:2]
    customers.loc[active, "relationship_end_date"] = T("2099-12-31")
    facilities = tables["facilities"].copy()
    text = facilities["close_date"].dt.strftime("%Y-%m-%d").astype(object)  # ISO text, as in CSV
    text.iloc[facilities["close_date"].isna().to_numpy().nonzero()[0][:3]] = "9999-12-31"
    facilities["close_date"] = text
    out["customers"], out["facilities"] = customers, facilities
    return out


# Columns filled only together with a later event time (emptied with it in an earlier extract).
_FILLED_WITH = {"paid_date": ["amount_paid"], "decided_date": ["decision"]}


def cut_after(tables: dict[str, pd.DataFrame], last: str) -> dict[str, pd.DataFrame]:
    """The tables as extracted at the end of day ``last``: no record or later event after it."""
    end = T(last) + pd.Timedelta(days=1)
    out = {}
    for name, frame in tables.items():
        roles = EVENT_TIME[name]
        frame = frame[~(frame[roles["record"]] >= end)].copy()
        for role, column in roles.items():
            later = (frame[column] >= end).to_numpy()
            if role != "record" and later.any():
                for emptied in [column, *_FILLED_WITH.get(column, [])]:
                    frame[emptied] = frame[emptied].mask(later)
        out[name] = frame.reset_index(drop=True)
    return out


def with_future_rows(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A handful of transactions and one interaction dated seven years after the extract."""
    out = dict(tables)
    stray = tables["transactions"].sample(12, random_state=0).assign(timestamp=FUTURE)
    out["transactions"] = pd.concat([tables["transactions"], stray], ignore_index=True)
    contact = tables["interactions"].iloc[[0]].assign(timestamp=T("2030-01-02 09:00"))
    out["interactions"] = pd.concat([tables["interactions"], contact], ignore_index=True)
    return out


def without_future_rows(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = dict(tables)
    for name in ("transactions", "interactions"):
        out[name] = tables[name][tables[name]["timestamp"] < T("2024-01-01")].reset_index(drop=True)
    return out


def checked(raw: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], AsOf, list[str]]:
    """What the data stage does to a bank's tables: placeholders, contract, as-of date."""
    cleared, notes = asof.clear_placeholders(raw)
    tables = validate_tables(cleared)
    return tables, asof.resolve_as_of("", tables, None), notes


def panel_labels(tables: dict[str, pd.DataFrame], end: pd.Timestamp) -> pd.DataFrame:
    panel, _ = build_panel(
        tables, SNAPSHOTS, **LABEL_SETTINGS, **STANDARD_FEATURE_SETTINGS, observation_end=end
    )
    return panel[["customer_id", "snapshot_date", *labels.label_names([6, 12])]]


# --------------------------------------------------------------------------- placeholders


def test_open_end_placeholders_read_as_empty_in_open_ended_columns_only():
    customers = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "relationship_end_date": pd.Series(
                np.array(["9999-12-31", "2099-12-31T23:59:59", "2023-05-31", "NaT"], "M8[s]")
            ),
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3"],
            "maturity_date": pd.to_datetime(["2099-12-31", "2030-01-01", "2099-12-31"]),
            "close_date": ["2999-12-31 00:00:00", None, " 2022-01-31"],
        }
    )
    tables = {"customers": customers, "facilities": facilities}
    out, notes = asof.clear_placeholders(tables)
    assert out["customers"]["relationship_end_date"].isna().tolist() == [True, True, False, True]
    assert out["facilities"]["close_date"].isna().tolist() == [True, True, False]
    # maturity lies in the future legitimately: untouched
    assert out["facilities"]["maturity_date"].equals(facilities["maturity_date"])
    assert notes == [
        "customers.relationship_end_date: 2 open-ended placeholder date(s) read as empty "
        "(2099-12-31: 1, 9999-12-31: 1)",
        "facilities.close_date: 1 open-ended placeholder date(s) read as empty (2999-12-31: 1)",
    ]
    assert (
        tables["customers"] is customers and customers["relationship_end_date"].notna().sum() == 3
    )
    assert asof.OPEN_ENDED_COLUMNS == {
        "customers": ("relationship_end_date",),
        "facilities": ("close_date",),
    }
    assert {"9999-12-31", "2099-12-31", "2999-12-31", "9999-01-01"} <= set(
        asof.OPEN_END_PLACEHOLDERS
    )


def test_tables_without_placeholders_come_back_unchanged(clean):
    out, notes = asof.clear_placeholders(clean)
    assert notes == [] and all(out[name] is clean[name] for name in clean)


# --------------------------------------------------------------------------- resolution


def test_derive_as_of_ignores_a_handful_of_stray_future_dates(clean):
    assert asof.derive_as_of(clean)[0] == AS_OF
    stray = with_future_rows(clean)
    date, how = asof.derive_as_of(stray)
    assert date == AS_OF
    assert "13 record(s) in 2 later sparse month(s), up to 2031-03-15" in how
    # the latest date found would have ended the observation in 2031
    assert labels.observation_end(stray) == T("2031-03-16")
    assert labels.observation_end(stray, date) == T("2024-01-01")


def test_derive_as_of_takes_the_latest_record_of_a_partial_last_month(clean):
    # An extract taken on 2023-12-10: the month is partial but dense enough to count.
    assert asof.derive_as_of(cut_after(clean, "2023-12-10"))[0] == D(2023, 12, 10)


def test_configured_as_of_wins_then_the_synthetic_end_then_the_derived_date(clean):
    configured = asof.resolve_as_of("2023-06-30", clean, D(2023, 12, 31))
    assert configured.date == D(2023, 6, 30) and "data.as_of" in configured.how
    assert configured.observation_end == T("2023-07-01")
    synthetic = asof.resolve_as_of("", clean, asof.synthetic_as_of(START, MONTHS))
    assert synthetic.date == AS_OF and "synthetic" in synthetic.how
    derived = asof.resolve_as_of("", clean, None)
    assert derived.date == AS_OF and derived.how.startswith("derived")
    assert derived.data_from == D(2021, 1, 1)  # the first dense month, not 20-year-old onboardings
    assert str(derived).startswith("2023-12-31 (derived from the tables' dates")
    with pytest.raises(ValueError, match="--as-of must be an ISO date"):
        asof.resolve_as_of("31.12.2023", clean, None, configured_as="--as-of")


def test_synthetic_as_of_is_the_last_day_of_the_history():
    assert asof.synthetic_as_of("2019-01-01", 72) == D(2024, 12, 31)
    assert asof.synthetic_as_of("2021-01-01", 36) == D(2023, 12, 31)
    assert asof.synthetic_as_of("2020-03-01", 40) == D(2023, 6, 30)


def test_counting_data_raw_batch_by_batch_equals_counting_the_tables(clean, tmp_path):
    write_tables(clean, tmp_path / "raw")
    assert _inputs.raw_counts(tmp_path / "raw").equals(asof.event_time_counts(clean))


# --------------------------------------------------------------------------- refusal


def test_records_after_the_as_of_date_are_reported_like_schema_errors(clean):
    tables = validate_tables(with_future_rows(clean))
    errors = asof.after_as_of_errors(tables, asof.resolve_as_of("", tables, None))
    assert [(e.table, e.column, e.rule) for e in errors] == [
        ("transactions", "timestamp", "dated after the as-of date 2023-12-31"),
        ("interactions", "timestamp", "dated after the as-of date 2023-12-31"),
    ]
    first = errors[0]
    assert isinstance(first, SchemaError) and len(first.examples) == 5
    assert str(first).startswith(
        "transactions.timestamp: rule 'dated after the as-of date 2023-12-31' failed for 12 of "
    )
    assert "(dated 2031-03-15 .. 2031-03-15)" in str(first)
    assert str(first).endswith("Fix: set data.as_of to the extract date, or remove these rows")
    with pytest.raises(RecordsAfterAsOf) as raised:
        asof.check_after_as_of(tables, AS_OF)
    assert raised.value.errors and "transactions.timestamp, interactions.timestamp" in str(
        raised.value
    )
    # a timestamp on the as-of date itself is not after it
    assert asof.after_as_of_errors(tables, D(2031, 3, 15)) == []


def test_research_validate_refuses_the_future_rows_by_name(clean, tmp_path, capsys):
    folder = tmp_path / "export"
    write_tables(with_future_rows(with_placeholders(clean)), folder)
    assert cli.main(["validate", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert "as-of date: 2023-12-31 (derived from the tables' dates" in out
    assert "note: customers.relationship_end_date: 2 open-ended placeholder date(s)" in out
    assert "note: facilities.close_date: 3 open-ended placeholder date(s)" in out
    assert "customers: 400 rows ok" in out and "transactions:" not in out
    assert "transactions.timestamp: rule 'dated after the as-of date 2023-12-31' failed" in err
    assert "interactions.timestamp: rule 'dated after the as-of date 2023-12-31' failed" in err
    # configured wins: an extract date that late accepts them
    assert cli.main(["validate", str(folder), "--as-of", "2031-12-31"]) == 0
    assert "as-of date: 2031-12-31 (configured: --as-of)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["validate", str(folder), "--as-of", "end of 2023"])
    # with the future rows removed (placeholders kept) the folder passes
    write_tables(with_placeholders(clean), tmp_path / "fixed")
    assert cli.main(["validate", str(tmp_path / "fixed")]) == 0


# --------------------------------------------------------------------------- labels (issue 13)


def test_a_2099_end_date_and_future_rows_leave_the_labels_of_the_clean_data(clean, tmp_path):
    """The must-show of issue 13: placeholder kept, future rows removed: labels equal clean ones."""
    folder = tmp_path / "export"
    write_tables(without_future_rows(with_future_rows(with_placeholders(clean))), folder)
    dirty, as_of, notes = checked(read_tables(folder))
    assert len(notes) == 2 and as_of.date == AS_OF
    reference, reference_as_of, _ = checked(clean)
    assert reference_as_of == as_of
    expected = panel_labels(reference, reference_as_of.observation_end)
    got = panel_labels(dirty, as_of.observation_end)
    pd.testing.assert_frame_equal(got, expected)
    assert expected[expected["snapshot_date"] == T("2023-10-01")]["default_6m"].isna().mean() > 0.9
    # Before: the placeholder read as a date, and the latest date found ended the observation.
    naive = validate_tables({**with_placeholders(clean), "facilities": clean["facilities"]})
    assert naive["customers"]["relationship_end_date"].max() == T("2099-12-31")
    assert labels.observation_end(naive) == T("2100-01-01")
    before = panel_labels(naive, labels.observation_end(naive))
    late = before["snapshot_date"] == T("2023-10-01")
    assert before.loc[late, "default_6m"].notna().all()  # censoring was off: all "non-events"


# --------------------------------------------------------------------------- stages


@functools.cache
def _project_params() -> dict:
    return dict(stage_context(ROOT, write=False).params)


def _context(
    root: Path, data: dict, grid: tuple[str, str, int, str] | None = None, *, write: bool = True
):
    """A stage run of ``root`` with the project's params, ``data`` and the snapshot grid
    ``(first, last, every_months, split.oot_first_snapshot)`` overridden."""
    base = _project_params()
    params = {"data": {**base["data"], **data}}
    if grid is not None:
        first, last, every, oot = grid
        snapshots = {
            **base["features"]["snapshots"],
            "first": first,
            "last": last,
            "every_months": every,
        }
        params["features"] = {**base["features"], "snapshots": snapshots}
        params["split"] = {**base["split"], "oot_first_snapshot": oot}
    return stage_context(root, params_path=ROOT / "params.yaml", overrides=params, write=write)


def _bank_source(folder: Path, as_of: str = "") -> dict:
    return {"source": str(folder), "as_of": as_of}


# A grid whose out-of-time labels end by an extract date of 2023-06-30.
BY_MID_2023 = ("2021-07-01", "2023-07-01", 6, "2022-07-01")


def test_data_stage_refuses_future_rows_before_writing_anything(clean, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    dirty = tmp_path / "dirty"
    write_tables(with_future_rows(with_placeholders(clean)), dirty)
    with pytest.raises(RecordsAfterAsOf, match="transactions.timestamp") as raised:
        run_stage("data", ctx=_context(project, _bank_source(dirty)))
    assert [e.column for e in raised.value.errors] == ["timestamp", "timestamp"]
    assert not (project / "data").exists(), "nothing is written"
    # a configured as-of date before the last records refuses them too
    fixed = tmp_path / "fixed"
    write_tables(with_placeholders(clean), fixed)
    with pytest.raises(RecordsAfterAsOf, match="dated after the as-of date 2023-06-30"):
        run_stage("data", ctx=_context(project, _bank_source(fixed, "2023-06-30"), BY_MID_2023))
    assert not (project / "data").exists()


@pytest.mark.slow  # the whole data stage with its profile (3 s)
def test_data_stage_returns_the_as_of_date_and_the_placeholder_notes(clean, tmp_path):
    fixed = tmp_path / "fixed"
    write_tables(with_placeholders(clean), fixed)
    project = tmp_path / "project"
    result = run_stage("data", ctx=_context(project, _bank_source(fixed)))
    assert isinstance(result, data_stage.DataResult)
    assert result.as_of.date == AS_OF and result.as_of.how.startswith("derived")
    placeholders = [n.split(":")[0] for n in result.notes if "placeholder" in n]
    assert placeholders == ["customers.relationship_end_date", "facilities.close_date"]
    assert result.tables["customers"]["relationship_end_date"].max() < T("2024-01-01")
    assert result.event_rates["year"].max() == 2023  # complete years up to the as-of date
    written = read_tables(project / "data" / "raw")
    assert written["facilities"]["close_date"].max() < T("2024-01-01")
    assert _inputs.as_of(_context(project, _bank_source(fixed), write=False)) == result.as_of


def test_features_stage_stops_for_snapshots_outside_the_data(clean, tmp_path):
    project = tmp_path / "project"
    write_tables(clean, project / "data" / "raw")
    source = _bank_source(project / "data" / "raw")
    beyond = ("2023-01-01", "2024-07-01", 6, "2024-01-01")
    with pytest.raises(SnapshotRangeError) as raised:
        run_stage("features", ctx=_context(project, source, beyond, write=False))
    message = str(raised.value)
    assert message.startswith(
        "features.snapshots: 1 of 4 snapshots fall outside the data (2024-07-01)"
    )
    assert "records run from 2021-01-01 to the as-of date 2023-12-31 (derived" in message
    assert "no later than 2024-01-01" in message
    assert "features.snapshots.first and/or features.snapshots.last" in message
    before = ("2020-01-01", "2022-01-01", 12, "2021-01-01")
    with pytest.raises(SnapshotRangeError, match=r"\(2020-01-01, 2021-01-01\)"):
        run_stage("features", ctx=_context(project, source, before, write=False))


def test_features_stage_stops_when_no_snapshot_has_a_labelled_row():
    as_of = AsOf(AS_OF, "configured: params.yaml data.as_of", D(2021, 1, 1))
    late = snapshot_dates("2023-04-01", "2024-01-01", 3)
    with pytest.raises(SnapshotRangeError) as raised:
        check_snapshots(late, as_of, [12])
    message = str(raised.value)
    assert "no snapshot has a labelled row" in message
    assert "The latest snapshot whose windows fit is 2023-01-01" in message
    assert "features.snapshots.first" in message
    check_snapshots(snapshot_dates("2022-01-01", "2024-01-01", 3), as_of, [12])  # one fits
    check_snapshots(late, as_of, [6, 12])  # the 6-month windows of April to July fit


@pytest.mark.slow  # the whole features stage (3 s)
def test_features_stage_censors_at_the_resolved_as_of_date(clean, tmp_path):
    """The stage passes the as-of date on: a configured earlier extract date censors earlier."""
    project = tmp_path / "project"
    write_tables(cut_after(clean, "2023-06-30"), project / "data" / "raw")
    source = _bank_source(project / "data" / "raw", "2023-06-30")
    result = run_stage("features", ctx=_context(project, source, BY_MID_2023, write=False))
    assert result.as_of.date == D(2023, 6, 30)
    last = result.panel[result.panel["snapshot_date"] == T("2023-01-01")]
    # a 12-month window from January 2023 runs past 2023-07-01: censored unless the event came
    assert (last["default_12m"].isna() | (last["default_12m"] == 1)).all()


@pytest.mark.slow  # the whole features stage, calendar and event-anchored (13 s)
def test_a_bank_source_without_a_grid_or_split_gets_them_from_its_dates(clean, tmp_path):
    """Records from January 2021 to an as-of date of 2023-12-31, 12-month labels and windows."""
    project = tmp_path / "project"
    write_tables(clean, project / "data" / "raw")
    source = _bank_source(project / "data" / "raw")
    result = run_stage("features", ctx=_context(project, source, ("", "", 3, "")))
    # first: a year after the first record; last: the day after the as-of date
    assert result.snapshots == snapshot_dates("2022-01-01", "2024-01-01", 3)
    plan = result.plan
    assert (plan.first, plan.last, plan.every_months) == ("2022-01-01", "2024-01-01", 3)
    assert plan.notes[0].startswith("features.snapshots.first derived: 2022-01-01")
    # labelled: 2022-01 .. 2023-01 (5); the latest fifth is 2023-01-01, a year after the first
    assert plan.oot_first_snapshot == "2023-01-01"
    assert plan.lines()[-1].startswith(
        "derived split.oot_first_snapshot: 2023-01-01 (the latest 1 of 5"
    )
    written = SnapshotPlan.read(project / "data" / "features")
    assert written == plan and written.oot_for("") == "2023-01-01"
    assert written.oot_for("2022-07-01") == "2022-07-01"  # a configured one wins
    with pytest.raises(ValueError, match=r"after the last snapshot \(2024-01-01"):
        written.oot_for("2024-04-01")
    # event anchors: each application's decision day, with the same as-of date
    events = _context(project, source, ("", "", 3, ""), write=False)
    params = dict(events.params)
    params["features"] = {
        **params["features"],
        "snapshots": {**params["features"]["snapshots"], "mode": "events"},
    }
    anchored = run_stage(
        "features",
        ctx=stage_context(project, params_path=ROOT / "params.yaml", overrides=params, write=False),
    )
    panel = anchored.panel
    assert list(panel.columns[:3]) == ["customer_id", "snapshot_date", "application_id"]
    assert panel["snapshot_date"].min() > T("2021-01-01") and anchored.plan.mode == "events"
    assert anchored.by_snapshot.index.name == "snapshot_month"
    assert anchored.plan.oot_first_snapshot  # derived from the anchored rows' dates
    assert "application_id" not in set(anchored.quality["feature"])


# --------------------------------------------------------------------------- synthetic default


@pytest.mark.slow
def test_synthetic_observation_end_is_unchanged_on_the_default_params():
    """On the default synthetic portfolio (2,000 firms) the as-of date ends the data as before."""
    settings = stage_context(ROOT, write=False).settings
    syn, label_settings = settings.data.synthetic, settings.labels
    tables = generate_portfolio(
        n_customers=2000,
        start=syn.start,
        months=syn.months,
        scenario=syn.scenario,
        transactions_per_month=syn.transactions_per_month,
        seed=settings.seed,
        default_dpd=label_settings.default_dpd,
        horizons_months=label_settings.horizons_months,
    ).tables
    latest = max(
        tables[t][c].max()
        for t, columns in EVENT_TIME.items()
        if t in tables
        for c in columns.values()
    )
    before = T(latest).normalize() + pd.Timedelta(days=1)  # what labels.observation_end was
    resolved = asof.resolve_as_of(
        settings.data.as_of, tables, asof.synthetic_as_of(syn.start, syn.months)
    )
    assert (
        resolved.observation_end == before == asof.resolve_as_of("", tables, None).observation_end
    )
    assert asof.after_as_of_errors(tables, resolved) == []
    assert asof.clear_placeholders(tables)[1] == []
    grid = settings.features.snapshots
    snapshots = snapshot_dates(grid.first, grid.last, grid.every_months)
    check_snapshots(snapshots, resolved, label_settings.horizons_months)
    kwargs = {
        "default_dpd": label_settings.default_dpd,
        "horizons_months": label_settings.horizons_months,
        **settings.features.panel_settings(),
    }
    now, _ = build_panel(tables, snapshots, observation_end=resolved.observation_end, **kwargs)
    then, _ = build_panel(tables, snapshots, observation_end=before, **kwargs)
    pd.testing.assert_frame_equal(now, then)


@pytest.mark.slow  # a local Dask cluster
def test_the_dask_engine_censors_at_the_as_of_date_the_stage_passes(clean, tmp_path):
    from research import distributed

    folder = tmp_path / "raw"
    write_tables(validate_tables(with_future_rows(clean)), folder)  # strays the stage refuses
    end = asof.resolve_as_of("", None, None, counts=_inputs.raw_counts(folder)).observation_end
    assert end == T("2024-01-01")
    kwargs = {**LABEL_SETTINGS, **STANDARD_FEATURE_SETTINGS}
    with distributed.dask_client("", n_workers=1, memory_limit="2GiB", threads_per_worker=1) as c:
        panel, _ = distributed.build_panel_from_folder(
            folder, SNAPSHOTS, client=c, n_partitions=2, observation_end=end, **kwargs
        )
    local, _ = build_panel(
        validate_tables(read_tables(folder)), SNAPSHOTS, **kwargs, observation_end=end
    )
    pd.testing.assert_frame_equal(panel, local, check_exact=True)
    assert panel[panel["snapshot_date"] == T("2023-10-01")]["default_6m"].isna().mean() > 0.9
