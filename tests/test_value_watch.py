"""The early-warning watch list: each trigger at its edge, point-in-time inputs, reasons and the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.value import (
    build_watch_flags,
    describe_triggers,
    early_warning_inputs,
    score_changes,
    trigger_summary,
    watch_backtest,
    watch_triggers,
)
from research.value.params import WatchParams
from research.value.watch import TRIGGERS, reason_summary

WATCH = WatchParams(
    pd_rise=0.02,
    grade_notches=2,
    dpd_days=30,
    window_months=3,
    inflow_drop=0.4,
    dscr_covenant=1.2,
    statement_overdue_days=180,
    complaints=2,
    reason_codes=3,
)
NEUTRAL = {
    "pd_change": 0.0,
    "grade_change": 0.0,
    "days_past_due": 0.0,
    "inflow_recent": 100.0,
    "inflow_previous": 100.0,
    "dscr": 2.0,
    "days_since_statement": 30.0,
    "complaints": 0.0,
}
GRADES = list("ABCDEFG")


def _fires(**inputs: float) -> list[str]:
    row = pd.DataFrame([{**NEUTRAL, **inputs}])
    out = watch_triggers(row, WATCH).iloc[0]
    fired = [name for name in TRIGGERS if out[f"trigger_{name}"]]
    assert out["on_watch"] == bool(fired)
    assert out["triggers"] == ", ".join(fired)
    return fired


def test_neutral_customer_is_not_watched():
    assert _fires() == []


@pytest.mark.parametrize(
    ("trigger", "silent", "firing"),
    [
        (
            "pd_rise",
            {"pd_change": 0.05 - 0.03},
            {"pd_change": 0.0201},
        ),  # 0.05 - 0.03 is 0.020000000000000004
        ("grade_downgrade", {"grade_change": 1.0}, {"grade_change": 2.0}),
        ("days_past_due", {"days_past_due": 29.0}, {"days_past_due": 30.0}),
        ("inflow_drop", {"inflow_recent": 60.0}, {"inflow_recent": 59.0}),
        ("dscr_breach", {"dscr": 1.2}, {"dscr": 1.19}),
        ("statement_overdue", {"days_since_statement": 180.0}, {"days_since_statement": 181.0}),
        ("complaint_spike", {"complaints": 1.0}, {"complaints": 2.0}),
    ],
)
def test_each_trigger_at_its_edge(trigger, silent, firing):
    assert _fires(**silent) == []
    assert _fires(**firing) == [trigger]


def test_missing_inputs_never_fire():
    assert (
        _fires(pd_change=np.nan, grade_change=np.nan, dscr=np.nan, days_since_statement=np.nan)
        == []
    )
    assert (
        _fires(inflow_previous=0.0, inflow_recent=0.0) == []
    )  # no inflows before: nothing dropped
    assert _fires(inflow_previous=100.0, inflow_recent=0.0) == ["inflow_drop"]
    assert _fires(days_past_due=45.0, complaints=3.0) == ["days_past_due", "complaint_spike"]


def test_descriptions_fill_the_thresholds():
    text = describe_triggers(WATCH)
    assert text["pd_rise"].startswith("PD rose by more than 2.0%")
    assert "1.2 covenant" in text["dscr_breach"] and "3 months" in text["complaint_spike"]


def _ts(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"))


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    repayments = pd.DataFrame(
        {
            "facility_id": ["F1", "F1", "F1", "F2", "F3"],
            "customer_id": ["C1", "C1", "C1", "C2", "C3"],
            "due_date": _ts("2024-03-02", "2024-03-31", "2024-04-01", "2024-02-01", "2023-06-01"),
            "amount_due": [10.0, 10.0, 10.0, 50.0, 1000.0],
            # C1's 3 March instalment is paid after the snapshot: unpaid at it. C2 paid before it.
            "paid_date": _ts("2024-04-10", None, None, "2024-02-01", "2023-06-01"),
            "amount_paid": [10.0, np.nan, np.nan, 50.0, 1000.0],
        }
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C1", "C1", "C2"],
            "timestamp": _ts(
                "2023-10-01 00:00",
                "2023-12-31 23:59",
                "2024-01-01 00:00",
                "2024-03-31 23:00",
                "2024-04-01 00:00",
                "2024-02-01 12:00",
            ),
            "amount": [100.0, 100.0, 50.0, 10.0, 1e6, -500.0],
        }
    )
    interactions = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C2"],
            "timestamp": _ts(
                "2024-01-01 00:00", "2024-03-31 10:00", "2024-04-01 00:00", "2023-12-31 10:00"
            ),
            "interaction_type": ["complaint", "complaint", "complaint", "complaint"],
        }
    )
    financials = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C3"],
            "reported_date": _ts("2023-09-01", "2024-04-01", "2023-10-03", "2023-05-01"),
            "ebitda": [30.0, 1e9, 120.0, 1.0],
            "cfads": [np.nan, np.nan, np.nan, 1150.0],
            "debt_service": [np.nan, np.nan, np.nan, 1000.0],
        }
    )
    return {
        "repayments": repayments,
        "transactions": transactions,
        "interactions": interactions,
        "financials": financials,
    }


def test_trigger_inputs_are_point_in_time(tables):
    inputs = early_warning_inputs(tables, [pd.Timestamp("2024-04-01")], window_months=3).set_index(
        "customer_id"
    )
    c1 = inputs.loc["C1"]
    assert c1["days_past_due"] == 30  # since 2 March; the 1 April instalment is not due yet
    assert c1["inflow_recent"] == pytest.approx(60.0)  # 1 Jan 00:00 and 31 Mar; not 1 Apr 00:00
    assert c1["inflow_previous"] == pytest.approx(200.0)  # 1 Oct 00:00 and 31 Dec
    assert c1["complaints"] == 2
    assert (
        c1["days_since_statement"] == (pd.Timestamp("2024-04-01") - pd.Timestamp("2023-09-01")).days
    )
    assert c1["dscr"] == pytest.approx(
        30.0 / 20.0
    )  # EBITDA over the instalments due in 12 months (not 1 April's)
    c2 = inputs.loc["C2"]
    # Nothing due unpaid, no inflow, the complaint of 31 December is before the window: no record (neutral later).
    assert c2[["days_past_due", "inflow_recent", "inflow_previous", "complaints"]].isna().all()
    assert c2["dscr"] == pytest.approx(120.0 / 50.0) and c2["days_since_statement"] == 181
    c3 = inputs.loc["C3"]
    assert c3["dscr"] == pytest.approx(1.15)  # CFADS over reported debt service


def _credit(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["customer_id", "snapshot_date", "split", "label", "score", "grade"]
    )
    frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
    return frame


def test_score_changes_against_the_previous_snapshot():
    credit = _credit(
        [
            ("C1", "2024-04-01", "oot", 0.0, 0.08, "F"),
            ("C1", "2024-01-01", "oot", 0.0, 0.02, "D"),
            ("C2", "2024-04-01", "oot", 0.0, 0.01, "C"),
        ]
    )
    changes = score_changes(credit, GRADES).set_index(["customer_id", "snapshot_date"])
    later = changes.loc[("C1", pd.Timestamp("2024-04-01"))]
    assert (
        later["pd_change"] == pytest.approx(0.06)
        and later["grade_change"] == 2
        and later["previous_grade"] == "D"
    )
    assert np.isnan(changes.loc[("C1", pd.Timestamp("2024-01-01")), "pd_change"])
    assert np.isnan(changes.loc[("C2", pd.Timestamp("2024-04-01")), "grade_change"])


def test_watch_flags_combine_scores_inputs_and_reasons(tables):
    credit = _credit(
        [
            ("C1", "2024-01-01", "oot", 1.0, 0.010, "C"),
            ("C1", "2024-04-01", "latest", np.nan, 0.012, "C"),
            ("C2", "2024-04-01", "latest", np.nan, 0.020, "D"),
            ("C4", "2024-04-01", "latest", np.nan, 0.001, "A"),
        ]
    )
    inputs = early_warning_inputs(tables, credit["snapshot_date"].unique(), window_months=3)
    reasons = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C1"],
            "snapshot_date": pd.to_datetime(["2024-04-01"] * 4),
            "rank": [2, 1, 3, 4],
            "feature": ["cf_b", "rep_a", "fin_c", "eng_d"],
            "value": 1.0,
            "shap": 0.1,
            "sentence": ["second", "first", "third", "fourth"],
        }
    )
    flags = build_watch_flags(credit, inputs, reasons, grades=GRADES, params=WATCH)
    flags = flags.set_index(["customer_id", "snapshot_date"])
    c1 = flags.loc[("C1", pd.Timestamp("2024-04-01"))]
    assert c1["triggers"] == "days_past_due, inflow_drop, statement_overdue, complaint_spike"
    assert c1["reasons"] == "first; second; third" and c1["reason_features"] == "rep_a, cf_b, fin_c"
    assert flags.loc[("C2", pd.Timestamp("2024-04-01")), "triggers"] == "statement_overdue"
    c4 = flags.loc[("C4", pd.Timestamp("2024-04-01"))]  # no records at all: neutral
    assert not c4["on_watch"] and c4["days_past_due"] == 0 and pd.isna(c4["reasons"])
    assert len(flags) == len(credit)


def test_reason_summary_with_no_codes():
    empty = pd.DataFrame(
        columns=["customer_id", "snapshot_date", "rank", "feature", "value", "shap", "sentence"]
    )
    assert reason_summary(empty, top=3).empty


def test_backtest_rates_and_ratio():
    flags = pd.DataFrame(
        {
            "snapshot_date": pd.to_datetime(
                ["2023-07-01"] * 3 + ["2023-10-01"] * 3 + ["2024-01-01"] * 2
            ),
            "split": ["oot"] * 6 + ["train", "oot"],
            "label": [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, np.nan],
            "on_watch": [True, True, False, False, False, False, True, True],
        }
    )
    for name in TRIGGERS:
        flags[f"trigger_{name}"] = flags["on_watch"] & (name == "days_past_due")
    pooled, by_snapshot = watch_backtest(flags)
    assert pooled["watch_rows"] == 2 and pooled["watch_default_rate"] == pytest.approx(0.5)
    assert pooled["rest_rows"] == 4 and pooled["rest_default_rate"] == pytest.approx(0.25)
    assert pooled["ratio"] == pytest.approx(2.0) and pooled["defaults_caught"] == pytest.approx(0.5)
    assert by_snapshot["snapshot_date"].tolist() == list(
        pd.to_datetime(["2023-07-01", "2023-10-01"])
    )
    assert by_snapshot["rest_default_rate"].tolist() == pytest.approx([1.0, 0.0])
    table = trigger_summary(flags).set_index("trigger")
    assert table.loc["days_past_due", "fired"] == 2 and table.loc[
        "days_past_due", "lift"
    ] == pytest.approx(0.5 / (2 / 6))
    assert table.loc["dscr_breach", "fired"] == 0


def test_reason_summary_keeps_rows_without_a_snapshot_date():
    """A flat table with no date column scores rows whose snapshot_date is NaT: their reasons stay."""
    codes = pd.DataFrame(
        {
            "customer_id": ["7", "7", "9"],
            "snapshot_date": pd.to_datetime([pd.NaT, pd.NaT, pd.NaT]),
            "rank": [2, 1, 1],
            "feature": ["PAY_0", "LIMIT_BAL", "PAY_2"],
            "value": [2.0, 1e4, 0.0],
            "shap": [0.1, 0.3, 0.2],
            "sentence": ["late last month", "low limit", "paid on time"],
        }
    )
    summary = reason_summary(codes, top=2).set_index("customer_id")
    assert summary.loc["7", "reasons"] == "low limit; late last month"
    assert summary.loc["7", "reason_features"] == "LIMIT_BAL, PAY_0"
    assert summary.loc["9", "reason_features"] == "PAY_2"
    assert summary["snapshot_date"].isna().all() and len(summary) == 2


def test_triggers_text_of_every_row_names_the_triggers_that_fired():
    """The comma-separated names are built once per combination: each row still gets its own."""
    rng = np.random.default_rng(7)
    n = 400
    rows = pd.DataFrame(
        {
            **{k: np.full(n, v) for k, v in NEUTRAL.items()},
            "pd_change": rng.choice([0.0, 0.05], n),
            "grade_change": rng.choice([0.0, 3.0], n),
            "days_past_due": rng.choice([0.0, 45.0, np.nan], n),
            "dscr": rng.choice([2.0, 0.5, np.nan], n),
            "complaints": rng.choice([0.0, 5.0], n),
        }
    )
    out = watch_triggers(rows, WATCH)
    fired = out[[f"trigger_{name}" for name in TRIGGERS]].to_numpy()
    expected = [", ".join(n for n, f in zip(TRIGGERS, row, strict=True) if f) for row in fired]
    assert out["triggers"].tolist() == expected
    assert out["on_watch"].tolist() == fired.any(axis=1).tolist()
    assert watch_triggers(rows.iloc[:0], WATCH)["triggers"].tolist() == []


def test_reason_summary_joins_each_customer_snapshot_by_rank():
    rng = np.random.default_rng(3)
    n = 300
    codes = pd.DataFrame(
        {
            "customer_id": rng.choice(["C1", "C2", "C3", "C10"], n),
            "snapshot_date": pd.to_datetime(rng.choice(["2024-01-01", "2023-10-01"], n)),
            "rank": rng.integers(1, 6, n),
            "feature": rng.choice(["f1", "f2", "f3"], n),
            "sentence": rng.choice(["up", "down", None], n),
        }
    )
    summary = reason_summary(codes, top=3)
    keys = ["customer_id", "snapshot_date"]
    chosen = codes.loc[codes["rank"] <= 3].sort_values([*keys, "rank"], kind="stable")
    expected = [
        ("; ".join(map(str, g["sentence"])), ", ".join(g["feature"]))
        for _, g in chosen.groupby(keys, sort=True)
    ]
    assert list(zip(summary["reasons"], summary["reason_features"], strict=True)) == expected
    assert summary[keys].apply(tuple, axis=1).tolist() == sorted(
        set(map(tuple, chosen[keys].values))
    )


def test_days_past_due_at_several_snapshots_equals_one_snapshot_at_a_time():
    """Instalments paid between snapshots, on time, late or never: the same at each snapshot alone."""
    repayments = pd.DataFrame(
        {
            "facility_id": ["F1", "F1", "F2", "F3", "F3", "F4"],
            "customer_id": ["C1", "C1", "C2", "C3", "C3", "C4"],
            "due_date": pd.to_datetime(
                ["2024-01-15", "2024-02-15", "2024-01-10", "2023-12-01", "2024-03-01", "2024-03-31"]
            ),
            "amount_due": [10.0, 10.0, 5.0, 7.0, 7.0, 1.0],
            "paid_date": pd.to_datetime(
                ["2024-01-20", "2024-05-01", None, "2024-02-01", "2024-03-01", "2024-04-01"]
            ),
            "amount_paid": [10.0, 10.0, np.nan, 7.0, 7.0, 1.0],
        }
    )
    tables = {
        "customers": pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"]}),
        "repayments": repayments,
    }
    snapshots = list(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]))
    together = early_warning_inputs(tables, snapshots, window_months=3)
    alone = pd.concat(
        [early_warning_inputs(tables, [s], window_months=3) for s in snapshots], ignore_index=True
    )
    pd.testing.assert_frame_equal(together, alone)
    dpd = together.set_index(["customer_id", "snapshot_date"])["days_past_due"]
    assert dpd[("C1", pd.Timestamp("2024-04-01"))] == 46.0  # due 15 Feb, paid in May
    # due 1 Dec, paid on 1 Feb: unpaid before it
    assert dpd[("C3", pd.Timestamp("2024-02-01"))] == 62.0
    assert ("C4", pd.Timestamp("2024-04-01")) in dpd.index
