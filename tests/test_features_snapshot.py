"""The panel: snapshot dates, columns and their order, rows, missing tables, and many snapshots at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from _feature_fixtures import PARAMS, customers, random_portfolio, table
from research.features._grid import category_codes
from research.features.catalog import RELATIONSHIP_COLUMNS, feature_catalog
from research.features.snapshot import (
    SnapshotRangeError,
    build_panel,
    calendar_snapshots,
    snapshot_dates,
)

T = pd.Timestamp
CATALOG = feature_catalog(
    PARAMS["windows_months"],
    PARAMS["long_window_months"],
    PARAMS["dpd_thresholds"],
    PARAMS["trend_recent_months"],
)
SNAPSHOTS = [T("2019-10-01"), T("2020-04-15"), T("2021-01-01"), T("2021-03-31")]


@pytest.fixture(scope="module")
def portfolio() -> dict[str, pd.DataFrame]:
    return random_portfolio(np.random.default_rng(5), n_customers=25)


@pytest.fixture(scope="module")
def panel(portfolio) -> pd.DataFrame:
    return build_panel(portfolio, SNAPSHOTS, **PARAMS)[0]


def test_snapshot_dates_step_in_whole_months_from_the_first():
    assert snapshot_dates("2020-01-31", "2020-07-31", 2) == [
        T("2020-01-31"),
        T("2020-03-31"),
        T("2020-05-31"),
        T("2020-07-31"),
    ]
    assert snapshot_dates("2020-01-01", "2020-02-15", 1) == [T("2020-01-01"), T("2020-02-01")]
    with pytest.raises(ValueError, match="every_months"):
        snapshot_dates("2020-01-01", "2020-02-01", 0)


def test_a_grid_without_first_or_last_is_derived_from_the_data():
    """Records from 15 January 2019 to an as-of date of 15 December 2024, 12-month windows."""
    derive = {
        "data_from": T("2019-01-15").date(),
        "observation_end": T("2024-12-16"),
        "history_months": 12,
    }
    dates, notes = calendar_snapshots("", "", 3, **derive)
    # last: the month start on or before the day after the as-of date; first: the first
    # quarter step back that lies a year after the first record (2020-01-15 -> 2020-02-01 on)
    assert dates[-1] == T("2024-12-01") and dates[0] == T("2020-03-01")
    assert dates == snapshot_dates("2020-03-01", "2024-12-01", 3)
    assert notes == [
        "features.snapshots.first derived: 2020-03-01, the first snapshot at least 12 months (the "
        "longest feature window) after the first record date 2019-01-15",
        "features.snapshots.last derived: 2024-12-01, the last snapshot on or before 2024-12-16 "
        "(the day after the as-of date)",
    ]
    # an as-of date at a month's end: the following month start sees every record
    dates, notes = calendar_snapshots(
        "",
        "",
        3,
        data_from=T("2019-01-01").date(),
        observation_end=T("2025-01-01"),
        history_months=12,
    )
    assert dates == snapshot_dates("2020-01-01", "2025-01-01", 3)  # the default grid
    assert notes[1].endswith("(the day after the as-of date; it sees every record)")
    # one end configured: the grid steps from it
    forward, notes = calendar_snapshots("2020-03-01", "", 6, **derive)
    assert forward == snapshot_dates("2020-03-01", "2024-09-01", 6) and len(notes) == 1
    backward, _ = calendar_snapshots("", "2024-06-01", 12, **derive)
    assert backward == snapshot_dates("2020-06-01", "2024-06-01", 12)
    # both configured: exactly the configured grid, no note
    assert calendar_snapshots("2021-01-01", "2021-07-01", 3, **derive) == (
        snapshot_dates("2021-01-01", "2021-07-01", 3),
        [],
    )


def test_a_history_too_short_for_the_windows_holds_no_derived_snapshot():
    with pytest.raises(SnapshotRangeError, match=r"the first possible snapshot is 2025-01-01"):
        calendar_snapshots(
            "",
            "",
            3,
            data_from=T("2024-01-01").date(),
            observation_end=T("2024-07-01"),
            history_months=12,
        )
    with pytest.raises(SnapshotRangeError, match=r"no record dates to derive it"):
        calendar_snapshots(
            "", "", 3, data_from=None, observation_end=T("2024-07-01"), history_months=12
        )


def test_columns_order_and_dtypes(panel):
    assert list(panel.columns) == [
        "customer_id",
        "snapshot_date",
        *CATALOG,
        "default_12m",
        "churn_12m",
    ]
    assert panel["customer_id"].dtype == "str" and panel["snapshot_date"].dtype == "datetime64[ns]"
    for name in CATALOG:
        expected = "str" if name in ("segment", "industry", "region") else "float64"
        assert panel[name].dtype == expected, name
    assert set(np.unique(panel[["green_flag", "inclusive_flag"]].to_numpy())) <= {0.0, 1.0}
    assert panel[["default_12m", "churn_12m"]].dtypes.eq("float64").all()
    assert set(panel["default_12m"].dropna().unique()) <= {0.0, 1.0}
    assert 60 <= len(CATALOG) <= 120


def test_every_feature_is_prefixed_by_its_family(panel):
    prefixes = {
        "repayment": "rep_",
        "cashflow": "cf_",
        "facilities": "fac_",
        "engagement": "eng_",
        "financials": "fin_",
        "applications": "app_",
        "balances": "bal_",
        "relationship": "rel_",
    }
    for name, spec in CATALOG.items():
        assert name.startswith(prefixes[spec.family]) or name in RELATIONSHIP_COLUMNS, name


def test_rows_are_sorted_unique_and_onboarded_before_the_snapshot(panel, portfolio):
    keys = panel[["snapshot_date", "customer_id"]]
    assert not keys.duplicated().any()
    assert keys.equals(keys.sort_values(["snapshot_date", "customer_id"]).reset_index(drop=True))
    onboarding = portfolio["customers"].set_index("customer_id")["onboarding_date"]
    assert (panel["customer_id"].map(onboarding) < panel["snapshot_date"]).all()
    ended = panel["customer_id"].map(
        portfolio["customers"].set_index("customer_id")["relationship_end_date"]
    )
    assert not (ended < panel["snapshot_date"]).any()


def test_deterministic_and_independent_of_row_order(portfolio, panel):
    again, _ = build_panel(portfolio, SNAPSHOTS, **PARAMS)
    pdt.assert_frame_equal(again, panel, check_exact=True)
    rng = np.random.default_rng(0)
    shuffled = {
        name: frame.sample(frac=1.0, random_state=rng).reset_index(drop=True)
        for name, frame in portfolio.items()
    }
    other, _ = build_panel(shuffled, list(reversed(SNAPSHOTS)), **PARAMS)
    pdt.assert_frame_equal(other, panel, check_exact=False, rtol=1e-9)


def test_the_stage_s_categoricals_and_dropped_columns_give_the_same_panel(portfolio, panel):
    """The features stage holds a few text columns as categoricals and drops what feeds nothing."""
    from research.features.inputs import INPUTS, Feeds
    from research.stages.features import CATEGORICAL_COLUMNS, UNUSED_COLUMNS

    assert all(INPUTS[(t, c)] == Feeds() for t, cs in UNUSED_COLUMNS.items() for c in cs)

    kept = {}
    for name, frame in portfolio.items():
        frame = frame.drop(columns=[c for c in UNUSED_COLUMNS.get(name, ()) if c in frame])
        categorical = [c for c in CATEGORICAL_COLUMNS.get(name, ()) if c in frame]
        kept[name] = frame.astype(dict.fromkeys(categorical, "category"))
    assert sum(isinstance(f[c].dtype, pd.CategoricalDtype) for f in kept.values() for c in f) == 3
    got, _ = build_panel(kept, SNAPSHOTS, **PARAMS)
    pdt.assert_frame_equal(got, panel, check_exact=True)


def test_category_codes_of_a_categorical_equal_those_of_its_text():
    text = pd.Series(["web", None, "branch", "phone", "web", "Web"], dtype="str")
    categorical = text.astype(pd.CategoricalDtype(["zz", "Web", "branch", "phone", "web"]))
    levels = ("web", "branch", "email")
    want = category_codes(text, levels)
    np.testing.assert_array_equal(want, [0, -1, 1, -1, 0, -1])
    np.testing.assert_array_equal(category_codes(categorical, levels), want)
    assert category_codes(categorical.iloc[:0], levels).shape == (0,)


def test_many_snapshots_at_once_equal_one_at_a_time(portfolio, panel):
    singles = pd.concat(
        [build_panel(portfolio, [s], **PARAMS)[0] for s in SNAPSHOTS], ignore_index=True
    )
    pdt.assert_frame_equal(panel, singles, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize(
    "absent",
    [
        "transactions",
        "repayments",
        "facilities",
        "facility_balances",
        "interactions",
        "financials",
        "applications",
        "account_balances",
    ],
)
def test_an_absent_table_drops_its_family_with_a_note(portfolio, panel, absent):
    tables = {name: frame for name, frame in portfolio.items() if name != absent}
    out, notes = build_panel(tables, SNAPSHOTS, **PARAMS)
    dropped = [c for c in panel.columns if c not in out.columns]
    prefix = {
        "transactions": ("cf_", "bal_cash_cover_"),  # cash cover: balances against outflows
        "repayments": "rep_",
        "facilities": "fac_",
        "interactions": "eng_",
        "financials": "fin_",
        "applications": "app_",
        "account_balances": "bal_",
    }.get(absent)
    if prefix:
        assert dropped == [c for c in panel.columns if c.startswith(prefix)]
    else:
        windows = [f"fac_revolver_utilisation_{w}m" for w in sorted(PARAMS["windows_months"])]
        assert dropped == [
            "fac_exposure",
            "fac_utilisation",
            "fac_revolver_utilisation",
            *windows,
            "fac_revolver_utilisation_trend",
        ]
    assert notes[0].startswith(absent) and len(notes) == (2 if absent == "facilities" else 1)
    kept = [c for c in out.columns if c not in ("default_12m", "churn_12m")]
    if absent != "repayments":  # without repayments nobody is excluded for default
        pdt.assert_frame_equal(out[kept], panel[kept])
    else:
        assert out["default_12m"].isna().all()


def test_customers_alone_and_empty_tables(portfolio):
    alone, notes = build_panel({"customers": portfolio["customers"]}, SNAPSHOTS, **PARAMS)
    assert [
        c
        for c in alone.columns
        if c not in ("customer_id", "snapshot_date", "default_12m", "churn_12m")
    ] == ["rel_tenure_months", *RELATIONSHIP_COLUMNS]
    assert len(notes) == 7  # one per optional table with a family
    empty = {name: frame.iloc[0:0] for name, frame in portfolio.items() if name != "customers"}
    out, notes = build_panel({"customers": portfolio["customers"], **empty}, SNAPSHOTS, **PARAMS)
    assert notes == [] and list(out.columns[2:-2]) == list(CATALOG)
    assert (out["cf_inflow_count_3m"] == 0).all() and out["fin_leverage"].isna().all()


def test_no_customers_table_is_a_clear_error():
    with pytest.raises(ValueError, match="customers table is required"):
        build_panel({"transactions": table("transactions")}, SNAPSHOTS, **PARAMS)


def test_records_of_unknown_customers_are_ignored():
    people = customers("A", onboarding="2020-01-01")
    tx = table(
        "transactions",
        [
            {"customer_id": "A", "timestamp": "2020-06-01", "amount": 5.0},
            {"customer_id": "ZZ", "timestamp": "2020-06-01", "amount": 7.0},
        ],
    )
    out, _ = build_panel({"customers": people, "transactions": tx}, [T("2020-07-01")], **PARAMS)
    assert out["customer_id"].tolist() == ["A"] and out["cf_inflow_amount_3m"].tolist() == [5.0]


def test_no_snapshots_or_no_customers_give_an_empty_panel_with_all_columns(portfolio, panel):
    out, _ = build_panel(portfolio, [], **PARAMS)
    assert len(out) == 0 and list(out.columns) == list(panel.columns)
    nobody = {name: frame.iloc[0:0] for name, frame in portfolio.items()}
    out, _ = build_panel(nobody, SNAPSHOTS, **PARAMS)
    assert len(out) == 0 and list(out.columns) == list(panel.columns)
    assert out.dtypes.equals(panel.dtypes)


def test_a_grid_too_short_for_a_window_is_a_clear_error(portfolio):
    from research.features._grid import make_grid
    from research.features.cashflow import cashflow_features

    grid = make_grid(portfolio["customers"], SNAPSHOTS, months_back=6)
    with pytest.raises(ValueError, match="months_back=12"):
        cashflow_features(
            portfolio["transactions"], grid, windows_months=[3, 12], trend_recent_months=3
        )
