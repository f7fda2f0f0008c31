"""Default and churn labels: event dates, the performance window, censoring and exclusions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _feature_fixtures import PARAMS, customers, random_portfolio, table
from research.evaluation import event_rates_by_year
from research.features.snapshot import build_panel
from research.labels import (
    LABEL_EVENTS,
    bank_event_dates,
    churn_dates,
    default_dates,
    event_dates,
    event_labels,
    event_source,
    event_source_notes,
    label_names,
    label_sources,
    observation_end,
    panel_labels,
    parse_label_name,
)

T = pd.Timestamp
END = T("2025-01-01")
ROOT = Path(__file__).resolve().parents[1]


def test_label_names_cover_every_event_at_every_horizon():
    assert label_names([6, 12]) == ["default_6m", "default_12m", "churn_6m", "churn_12m"]
    assert parse_label_name("churn_6m") == ("churn", 6)
    assert parse_label_name("default_12m") == ("default", 12)
    assert parse_label_name("segment") is None and parse_label_name("bankrupt_12m") is None
    assert list(LABEL_EVENTS) == ["default", "churn"]


def test_default_date_is_the_first_day_an_instalment_reaches_the_threshold():
    repayments = table(
        "repayments",
        [
            {
                "customer_id": "A",
                "due_date": "2023-01-01",
                "paid_date": "2023-03-31",
            },  # paid on day 89: no default
            {
                "customer_id": "A",
                "due_date": "2023-02-01",
                "paid_date": "2023-05-02",
            },  # paid on day 90: default 2 May
            {
                "customer_id": "A",
                "due_date": "2023-04-01",
            },  # never paid: default 30 June, later than the first
            {"customer_id": "B", "due_date": "2023-06-01", "paid_date": "2023-06-01"},
            {
                "customer_id": "C",
                "due_date": "2024-12-01",
            },  # unpaid at the end of the data: 1 March 2025
        ],
    )
    dates = default_dates(repayments, 90)
    assert dates.to_dict() == {"A": T("2023-05-02"), "C": T("2025-03-01")}
    assert dates.dtype == "datetime64[ns]"


def test_observation_end_is_the_day_after_the_latest_event_time():
    tables = {
        "customers": customers("A", onboarding="2020-01-01", relationship_end_date="2024-03-01"),
        "transactions": table(
            "transactions", [{"customer_id": "A", "timestamp": "2024-06-30 17:45", "amount": 1.0}]
        ),
        "repayments": table(
            "repayments",
            [{"customer_id": "A", "due_date": "2024-05-01", "paid_date": "2024-06-01"}],
        ),
    }
    assert observation_end(tables) == T("2024-07-01")


def test_observation_end_is_the_day_after_the_as_of_date_when_given():
    # Monthly instalments through June 2024, and one transaction keyed in as 2031.
    dues = pd.date_range("2023-01-01", "2024-06-01", freq="MS").strftime("%Y-%m-%d")
    rows = [{"customer_id": "A", "due_date": d, "paid_date": d} for d in dues]
    stray = {"customer_id": "A", "timestamp": "2031-07-01 10:00", "amount": 1.0}
    tables = {
        "customers": customers("A", onboarding="2020-01-01"),
        "repayments": table("repayments", rows),
        "transactions": table("transactions", [stray]),
    }
    assert observation_end(tables) == T("2031-07-02")  # the latest date found: what went wrong
    assert observation_end(tables, T("2024-06-30").date()) == T("2024-07-01")
    keys = pd.DataFrame(
        {"customer_id": pd.Series(["A"], dtype="str"), "snapshot_date": [T("2024-01-01")]}
    )
    end = observation_end(tables, T("2024-06-30").date())
    out = panel_labels(keys, tables, default_dpd=90, horizons_months=[12], observation_end=end)
    assert np.isnan(out["churn_12m"].iloc[0])  # the window runs past the as-of date: censored


def _labels(snapshots, dates, horizon=12, end="2025-01-01"):
    keys = pd.DataFrame(
        {
            "customer_id": pd.Series(["A"] * len(snapshots), dtype="str"),
            "snapshot_date": pd.to_datetime(snapshots).astype("datetime64[ns]"),
        }
    )
    events = pd.Series(
        pd.to_datetime(dates).astype("datetime64[ns]"), index=pd.Index(["A"] * len(dates))
    )
    return event_labels(keys, events, horizon_months=horizon, observation_end=T(end))


def test_window_is_from_the_snapshot_for_h_months():
    # event on 1 June 2023
    got = _labels(["2022-06-01", "2022-06-02", "2023-06-01", "2023-06-02"], ["2023-06-01"])
    assert got.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_a_window_past_the_data_is_censored_unless_the_event_is_seen():
    # data end 1 January 2025: a 12-month window from 2 January 2024 runs past it
    assert _labels(["2024-01-01"], []).tolist() == [0.0]
    assert np.isnan(_labels(["2024-01-02"], [])[0])
    assert _labels(["2024-01-02"], ["2024-12-31"]).tolist() == [1.0]  # seen inside the data
    assert np.isnan(_labels(["2024-01-02"], ["2025-01-01"])[0])  # on the end day: not seen


def test_panel_labels_without_repayments_leave_default_unknown():
    tables = {
        "customers": customers("A", onboarding="2020-01-01", relationship_end_date="2023-03-01")
    }
    keys = pd.DataFrame(
        {"customer_id": pd.Series(["A"], dtype="str"), "snapshot_date": [T("2022-06-01")]}
    )
    out = panel_labels(
        keys, tables, default_dpd=90, horizons_months=[12], observation_end=T("2024-01-01")
    )
    assert np.isnan(out["default_12m"].iloc[0]) and out["churn_12m"].iloc[0] == 1.0


def test_panel_excludes_customers_in_default_or_gone_and_labels_the_rest():
    people = pd.concat(
        [
            customers("A", "B", "D", onboarding="2020-01-01"),
            customers("C", onboarding="2020-01-01", relationship_end_date="2023-05-01"),
        ],
        ignore_index=True,
    )
    repayments = table(
        "repayments",
        [
            {
                "customer_id": "A",
                "due_date": "2023-01-01",
                "paid_date": "2023-09-01",
            },  # default 1 April 2023
            {
                "customer_id": "B",
                "due_date": "2023-10-03",
            },  # default on 1 January 2024, the second snapshot
            {"customer_id": "D", "due_date": "2024-06-01", "paid_date": "2024-06-01"},
        ],
    )
    tables = {"customers": people, "repayments": repayments}
    snapshots = [T("2023-01-01"), T("2024-01-01")]
    panel, notes = build_panel(tables, snapshots, **PARAMS, observation_end=T("2025-01-01"))
    rows = {
        (c, str(s.date())): (d, ch)
        for c, s, d, ch in panel[
            ["customer_id", "snapshot_date", "default_12m", "churn_12m"]
        ].itertuples(index=False)
    }
    assert rows == {
        ("A", "2023-01-01"): (1.0, 0.0),
        ("B", "2023-01-01"): (
            0.0,
            0.0,
        ),  # defaults on 1 January 2024: outside [2023-01-01, 2024-01-01)
        ("C", "2023-01-01"): (0.0, 1.0),
        ("D", "2023-01-01"): (0.0, 0.0),
        # A defaulted, C is gone; B defaults on the snapshot itself: still in, and an event
        ("B", "2024-01-01"): (1.0, 0.0),
        ("D", "2024-01-01"): (0.0, 0.0),
    }
    assert not any("repayments" in note for note in notes)


def test_panel_observation_end_defaults_to_the_data_end():
    people = customers("A", onboarding="2020-01-01")
    repayments = table(
        "repayments", [{"customer_id": "A", "due_date": "2023-06-01", "paid_date": "2023-06-01"}]
    )
    panel, _ = build_panel(
        {"customers": people, "repayments": repayments},
        [T("2022-06-02"), T("2022-06-03")],
        **PARAMS,
    )  # data end: 2 June 2023
    assert panel["default_12m"].tolist()[0] == 0.0 and np.isnan(panel["default_12m"].tolist()[1])


@pytest.mark.parametrize("horizon", [3, 6])
def test_horizons_name_the_columns(horizon):
    people = customers("A", onboarding="2020-01-01")
    params = {**PARAMS, "horizons_months": [horizon, 2 * horizon]}
    panel, _ = build_panel({"customers": people}, [T("2022-01-01")], **params)
    assert list(panel.columns[-4:]) == [
        f"default_{horizon}m",
        f"default_{2 * horizon}m",
        f"churn_{horizon}m",
        f"churn_{2 * horizon}m",
    ]


def test_a_shorter_horizon_counts_only_the_events_inside_it():
    # Churn on 2022-05-01: inside a 6-month window from 2022-01-01, outside a 3-month one.
    people = customers("A", onboarding="2020-01-01", relationship_end_date="2022-05-01")
    keys = pd.DataFrame(
        {"customer_id": pd.Series(["A"], dtype="str"), "snapshot_date": [T("2022-01-01")]}
    )
    out = panel_labels(
        keys,
        {"customers": people},
        default_dpd=90,
        horizons_months=[3, 6],
        observation_end=T("2024-01-01"),
    )
    assert out["churn_3m"].iloc[0] == 0.0 and out["churn_6m"].iloc[0] == 1.0


# --------------------------------------------------------------------------- the bank's events table


def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return table(
        "events", [{"customer_id": c, "event_type": e, "event_date": d} for c, e, d in rows]
    )


def events_from_derived(tables: dict[str, pd.DataFrame], default_dpd: int = 90) -> pd.DataFrame:
    """The events table a bank would export for the same defaults and relationship ends."""
    rows = [
        (c, "default", str(d)) for c, d in default_dates(tables["repayments"], default_dpd).items()
    ]
    rows += [(c, "churn", str(d)) for c, d in churn_dates(tables["customers"]).items()]
    return _events(rows)


def test_labels_from_an_events_table_equal_the_derived_ones_by_hand():
    people = pd.concat(
        [
            customers("A", "C", onboarding="2020-01-01"),
            customers("B", onboarding="2020-01-01", relationship_end_date="2023-06-01"),
        ],
        ignore_index=True,
    )
    repayments = table(
        "repayments",
        [
            {"customer_id": "A", "due_date": "2023-02-01", "paid_date": "2023-05-02"},
            {"customer_id": "C", "due_date": "2023-03-01", "paid_date": "2023-03-01"},
        ],
    )
    derived = {"customers": people, "repayments": repayments}
    events = _events([("A", "default", "2023-05-02"), ("B", "churn", "2023-06-01")])
    assert event_source(derived, "default") == "derived"
    with_events = {**derived, "events": events}
    assert [event_source(with_events, e) for e in LABEL_EVENTS] == ["events", "events"]
    assert event_dates(with_events, "default", 90).equals(event_dates(derived, "default", 90))
    keys = pd.DataFrame(
        {
            "customer_id": pd.Series(["A", "B", "C", "A"], dtype="str"),
            "snapshot_date": [T("2022-06-01"), T("2022-07-01"), T("2022-06-01"), T("2023-06-01")],
        }
    )
    kwargs = {"default_dpd": 90, "horizons_months": [12], "observation_end": T("2025-01-01")}
    got = panel_labels(keys, with_events, **kwargs)
    pd.testing.assert_frame_equal(got, panel_labels(keys, derived, **kwargs))
    assert got["default_12m"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert got["churn_12m"].tolist() == [0.0, 1.0, 0.0, 0.0]
    # without repayments the events table still says who defaulted
    alone = panel_labels(keys, {"customers": people, "events": events}, **kwargs)
    pd.testing.assert_frame_equal(alone, got)


def test_the_events_table_wins_per_event_type_and_only_its_first_event_counts():
    people = customers("A", "B", onboarding="2020-01-01", relationship_end_date="2023-03-01")
    repayments = table("repayments", [{"customer_id": "B", "due_date": "2022-01-01"}])
    events = table(
        "events",
        [
            {"customer_id": "A", "event_type": "default", "event_date": "2022-09-01"},
            {"customer_id": "A", "event_type": "default", "event_date": "2022-03-01"},
        ],
    )
    tables = {"customers": people, "repayments": repayments, "events": events}
    # defaults: the bank's table only (B's derived default of 1 April 2022 is not its definition)
    assert event_dates(tables, "default", 90).to_dict() == {"A": T("2022-03-01")}
    # churn: none in the events table, so the relationship end dates
    assert event_source(tables, "churn") == "derived"
    assert event_dates(tables, "churn", 90).equals(churn_dates(people))
    assert event_source_notes(label_sources(tables)) == [
        "events: default dates from the events table (first 'default' event per customer), "
        "not derived"
    ]
    # other event types define no label
    other = events.assign(event_type="other")
    assert bank_event_dates(other, "default") is None
    assert event_dates({**tables, "events": other}, "default", 90).to_dict() == {
        "B": T("2022-04-01")
    }
    with pytest.raises(KeyError, match="unknown label event 'bankrupt'"):
        event_dates(tables, "bankrupt", 90)


def test_a_default_in_the_events_table_takes_the_customer_out_of_later_panels():
    people = customers("A", "B", onboarding="2020-01-01")
    events = _events([("A", "default", "2022-02-01"), ("B", "churn", "2022-05-01")])
    snapshots = [T("2022-01-01"), T("2022-04-01"), T("2022-07-01")]
    panel, notes = build_panel(
        {"customers": people, "events": events}, snapshots, **PARAMS, observation_end=END
    )
    assert panel[["customer_id", "snapshot_date"]].values.tolist() == [
        ["A", T("2022-01-01")],
        ["B", T("2022-01-01")],
        ["B", T("2022-04-01")],  # B leaves on 1 May by the events table
    ]
    assert panel["default_12m"].tolist() == [1.0, 0.0, 0.0]
    assert panel["churn_12m"].tolist() == [0.0, 1.0, 1.0]
    assert sum(n.startswith("events:") for n in notes) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_events_table_of_the_derived_dates_gives_the_same_panel(seed):
    tables = random_portfolio(np.random.default_rng(seed), n_customers=25)
    snapshots = [T("2019-07-01"), T("2020-01-01"), T("2020-07-01"), T("2021-01-01")]
    derived, notes = build_panel(tables, snapshots, **PARAMS, observation_end=T("2022-01-01"))
    with_events = {**tables, "events": events_from_derived(tables)}
    got, got_notes = build_panel(with_events, snapshots, **PARAMS, observation_end=T("2022-01-01"))
    pd.testing.assert_frame_equal(got, derived)
    assert got_notes == notes + event_source_notes(label_sources(with_events))
    rates = {"default_dpd": 90, "as_of": T("2021-12-31").date()}
    pd.testing.assert_frame_equal(
        event_rates_by_year(with_events, **rates), event_rates_by_year(tables, **rates)
    )


# --------------------------------------------------------------------------- changing the horizon


def test_changing_the_one_horizon_in_params_works_end_to_end(tmp_path):
    """``&horizon 6``: the panel carries default_6m and churn_6m, and every model's label resolves."""
    from research.config import load_settings
    from research.models import flat, splits

    text = (ROOT / "params.yaml").read_text().replace("[&horizon 12]", "[&horizon 6]")
    (tmp_path / "params.yaml").write_text(text)
    settings = load_settings(tmp_path / "params.yaml")
    tables = random_portfolio(np.random.default_rng(3), n_customers=25)
    snapshots = [T(f"{y}-{m:02d}-01") for y in (2019, 2020, 2021) for m in (1, 4, 7, 10)]
    panel, _ = build_panel(
        tables,
        snapshots,
        default_dpd=settings.labels.default_dpd,
        horizons_months=settings.labels.horizons_months,
        observation_end=T("2022-01-01"),
        **{k: v for k, v in PARAMS.items() if k not in ("default_dpd", "horizons_months")},
    )
    assert list(panel.columns[-2:]) == ["default_6m", "churn_6m"]
    for name in settings.enabled_models:
        spec = settings.model(name)
        table_, date_column = flat.prepare_modeling_table(
            panel, id_column=spec.id_column, date_column=spec.date_column, label=spec.label
        )
        assert spec.label == f"{parse_label_name(spec.label)[0]}_6m"  # type: ignore[index]
        dates = table_[date_column]
        purged = splits.purged(
            dates, oot_first_snapshot="2021-04-01", horizon_months=spec.horizon_months
        )
        # a 6-month window: only the snapshot one quarter before the out-of-time start is purged
        assert (purged & (dates < T("2021-04-01"))).sum() == (dates == T("2021-01-01")).sum()


def test_the_source_is_decided_on_the_whole_tables_not_on_a_part_of_them():
    """A customer partition or anchor batch without default events still takes defaults from
    the events table (none), never from its own repayments."""
    people = customers("A", "B", onboarding="2020-01-01")
    repayments = table("repayments", [{"customer_id": "B", "due_date": "2022-01-01"}])
    events = _events([("A", "default", "2022-03-01")])
    whole = {"customers": people, "repayments": repayments, "events": events}
    sources = label_sources(whole)
    part = {name: frame[frame["customer_id"] == "B"] for name, frame in whole.items()}
    assert event_dates(part, "default", 90).to_dict() == {"B": T("2022-04-01")}  # alone: derived
    assert event_dates(part, "default", 90, source=sources["default"]).empty
    keys = pd.DataFrame(
        {"customer_id": pd.Series(["B"], dtype="str"), "snapshot_date": [T("2021-06-01")]}
    )
    kwargs = {"default_dpd": 90, "horizons_months": [12], "observation_end": END}
    assert panel_labels(keys, part, **kwargs, sources=sources)["default_12m"].tolist() == [0.0]
    panel, _ = build_panel(
        part, [T("2022-06-01")], **PARAMS, observation_end=END, label_sources=sources
    )
    assert panel["customer_id"].tolist() == ["B"]  # not excluded for a default the bank never saw
