"""Event-anchored panels: one row per anchor (an application's decision date, a user's table).

The rows follow the calendar panel's rules: features see only the records before the
anchor day, labels and eligibility use the same event dates, and peer-relative features
compare with the book at the month start on or before the anchor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from _feature_fixtures import PARAMS, customers, random_portfolio, table
from research.data.synthetic import generate_portfolio
from research.features import anchored
from research.features.anchored import (
    _against,
    application_anchors,
    build_anchored_panel,
    read_anchor_table,
    select_anchors,
)
from research.features.peers import add_peer_relative
from research.features.snapshot import build_panel

T = pd.Timestamp
END = T("2023-01-01")  # the day after the generated history


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    """Four years of 150 generated firms, with their applications."""
    return generate_portfolio(
        n_customers=150,
        start="2019-01-01",
        months=48,
        scenario="baseline",
        transactions_per_month=4,
        seed=3,
        default_dpd=90,
        horizons_months=[12],
    ).tables


@pytest.fixture(scope="module")
def at_decisions(portfolio) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    anchors, notes = application_anchors(portfolio["applications"])
    panel, built = build_anchored_panel(portfolio, anchors, observation_end=END, **PARAMS)
    return panel, notes + built, anchors


def test_a_panel_at_application_decision_dates(portfolio, at_decisions):
    panel, notes, anchors = at_decisions
    apps = portfolio["applications"]
    decided = apps[apps["decided_date"].notna()]
    assert len(anchors) == len(decided) and len(panel) > 0.8 * len(decided)
    assert list(panel.columns[:3]) == ["customer_id", "snapshot_date", "application_id"]
    assert list(panel.columns[-2:]) == ["default_12m", "churn_12m"]
    # each row is its application's customer at the decision day (midnight)
    joined = panel.merge(apps, on="application_id", suffixes=("", "_app"), validate="one_to_one")
    assert (joined["customer_id"] == joined["customer_id_app"]).all()
    assert (joined["snapshot_date"] == joined["decided_date"].dt.normalize()).all()
    keys = panel[["snapshot_date", "customer_id"]]
    assert not keys.duplicated().any()
    assert keys.equals(keys.sort_values(["snapshot_date", "customer_id"]))
    assert panel["default_12m"].notna().any() and panel["churn_12m"].notna().any()
    # dropped anchors are counted by reason
    skipped = len(decided) - len(panel)
    if skipped:
        assert any(n.startswith("anchors:") for n in notes)


def test_anchored_rows_equal_the_calendar_panel_at_the_same_dates(portfolio):
    """Raw features: the calendar panel at the anchor dates holds the same rows."""
    anchors, _ = application_anchors(portfolio["applications"])
    anchors = anchors.iloc[::4].reset_index(drop=True)
    got, _ = build_anchored_panel(
        portfolio, anchors, observation_end=END, peer_relative=False, max_dates=5, **PARAMS
    )
    dates = sorted(got["snapshot_date"].unique())
    calendar, _ = build_panel(portfolio, dates, observation_end=END, peer_relative=False, **PARAMS)
    expected = calendar.merge(
        got[["customer_id", "snapshot_date"]], on=["customer_id", "snapshot_date"]
    )
    pdt.assert_frame_equal(got.drop(columns="application_id"), expected)


def test_anchors_on_month_starts_get_the_calendar_panels_peer_relative_values(portfolio):
    snapshots = [T("2021-01-01"), T("2021-07-01"), T("2022-01-01")]
    calendar, _ = build_panel(portfolio, snapshots, observation_end=END, **PARAMS)
    sample = calendar.sample(60, random_state=0)[["customer_id", "snapshot_date"]]
    got, notes = build_anchored_panel(portfolio, sample, observation_end=END, **PARAMS)
    expected = calendar.merge(sample, on=["customer_id", "snapshot_date"]).sort_values(
        ["snapshot_date", "customer_id"], ignore_index=True
    )
    assert any(c.endswith("_vs_book") or "book_rank" in c for c in got.columns)
    pdt.assert_frame_equal(got, expected)
    assert not any(n.startswith("anchors:") for n in notes)


def test_peers_of_an_anchor_are_the_book_with_its_own_row_replaced():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(0, 8))
        book = np.round(rng.normal(size=n), 1)  # ties
        book[rng.random(n) < 0.2] = np.nan
        own_at = int(rng.integers(-1, n)) if n else -1  # the firm's own book row, if any
        v = np.round(rng.normal(), 1) if rng.random() < 0.9 else np.nan
        group = book.copy()
        if own_at >= 0:
            group[own_at] = v
        else:
            group = np.append(group, v)
        me = own_at if own_at >= 0 else len(group) - 1
        frame = pd.DataFrame(
            {"snapshot_date": 0, "cf_digital_share_3m": group, "fac_mean_interest_rate": group}
        )
        expected = add_peer_relative(frame)
        peers = np.sort(book[~np.isnan(book)])
        own = np.array([book[own_at] if own_at >= 0 else np.nan])
        rank = _against(np.array([v]), own, peers, "rank")[0]
        difference = _against(np.array([v]), own, peers, "difference")[0]
        assert np.allclose(rank, expected["cf_digital_share_book_rank_3m"].iloc[me], equal_nan=True)
        assert np.allclose(difference, expected["fac_rate_vs_book"].iloc[me], equal_nan=True)


def test_anchors_that_fail_the_panel_rule_are_dropped_and_counted():
    people = pd.concat(
        [
            customers("A", "D", onboarding="2020-01-01"),
            customers("B", onboarding="2021-04-01"),  # onboarded on the anchor day: not before
            customers("C", onboarding="2020-01-01", relationship_end_date="2021-03-01"),
        ],
        ignore_index=True,
    )
    events = table(
        "events", [{"customer_id": "D", "event_type": "default", "event_date": "2021-02-01"}]
    )
    anchors = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E", "A", None],
            "snapshot_date": pd.to_datetime(
                [
                    "2021-04-01 15:30",
                    "2021-04-01",
                    "2021-04-01",
                    "2021-04-01",
                    "2021-04-01",
                    "2021-04-01 09:00",
                    "2021-04-01",
                ],
                format="mixed",
            ),
            "anchor_id": ["a1", "b1", "c1", "d1", "e1", "a2", "x"],
        }
    )
    panel, notes = build_anchored_panel(
        {"customers": people, "events": events}, anchors, observation_end=T("2023-01-01"), **PARAMS
    )
    assert panel[["customer_id", "anchor_id"]].values.tolist() == [["A", "a1"]]
    assert panel["snapshot_date"].tolist() == [T("2021-04-01")]
    assert (
        "anchors: 4 of 5 make no panel row and are dropped (unknown customer: 1, not onboarded "
        "before the date: 1, relationship ended before the date: 1, in default before the date: 1)"
    ) in notes
    assert "anchors: 1 without a customer or a date are dropped" in notes
    assert any("2 with a time of day are taken at their day's midnight" in n for n in notes)
    assert any("1 fall on a day that already anchors the same customer" in n for n in notes)


def test_no_anchor_left_gives_an_empty_panel_with_every_column():
    people = customers("A", onboarding="2020-01-01")
    anchors = pd.DataFrame({"customer_id": ["A"], "snapshot_date": [T("2019-01-01")]})
    panel, notes = build_anchored_panel(
        {"customers": people}, anchors, observation_end=END, **PARAMS
    )
    calendar, _ = build_panel(
        {"customers": people}, [T("2021-01-01")], observation_end=END, **PARAMS
    )
    assert panel.empty and list(panel.columns) == list(calendar.columns)


def test_batches_split_by_dates_and_cells_and_give_the_same_panel():
    rng = np.random.default_rng(4)
    tables = random_portfolio(rng, n_customers=7)
    ids = tables["customers"]["customer_id"].to_numpy()
    anchors = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, 30),
            "snapshot_date": T("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, 30), unit="D"),
        }
    )
    one, _ = build_anchored_panel(tables, anchors, observation_end=T("2022-01-01"), **PARAMS)
    many, _ = build_anchored_panel(
        tables, anchors, observation_end=T("2022-01-01"), max_dates=2, max_cells=3, **PARAMS
    )
    pdt.assert_frame_equal(one, many)
    assert len(anchored._batches(anchors.drop_duplicates(), max_dates=2, max_cells=10**9)) >= 10


def test_anchor_tables_and_bounds(tmp_path):
    path = tmp_path / "anchors.csv"
    path.write_text(
        "customer_id,anchor_date,anchor_id\n001,2021-03-05,L1\n002,2021-03-06 10:00,L2\n"
    )
    frame = read_anchor_table(path)
    assert frame["customer_id"].tolist() == ["001", "002"]  # ids stay text
    assert frame["snapshot_date"].tolist() == [T("2021-03-05"), T("2021-03-06 10:00")]
    assert frame["anchor_id"].tolist() == ["L1", "L2"]
    kept, notes = select_anchors(frame, after=T("2021-03-05"), through=T("2022-01-01"))
    assert kept["anchor_id"].tolist() == ["L2"] and notes[0].startswith(
        "anchors: 1 of 2 dated outside"
    )
    (tmp_path / "bad.csv").write_text("customer,date\n1,2021-01-01\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['customer_id', 'anchor_date'\]"):
        read_anchor_table(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="features.snapshots.anchors"):
        read_anchor_table(tmp_path / "missing.parquet")
