"""Splits a validator accepts: grouped validation, a strictly later out-of-time test, the purge rule."""

from __future__ import annotations

import pandas as pd
import pytest

from _panel_fixtures import OOT_FIRST, make_flat_table, make_panel
from research.models import splits


def _split(panel: pd.DataFrame, label: str = "default_12m", seed: int = 3, **kw) -> pd.Series:
    args = {
        "oot_first_snapshot": OOT_FIRST,
        "horizon_months": 12,
        "valid_fraction": 0.2,
        "seed": seed,
        **kw,
    }
    return splits.out_of_time_splits(
        panel, id_column="customer_id", date_column="snapshot_date", label=label, **args
    )


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()[0]


def test_no_customer_sits_on_both_sides_of_train_and_valid(panel):
    split = _split(panel)
    train_ids = set(panel.loc[split == "train", "customer_id"])
    valid_ids = set(panel.loc[split == "valid", "customer_id"])
    assert train_ids and valid_ids and not train_ids & valid_ids
    share = len(valid_ids) / (len(train_ids) + len(valid_ids))
    assert share == pytest.approx(0.2, abs=0.02)
    splits.check_splits(panel, split, id_column="customer_id", date_column="snapshot_date")


def test_out_of_time_test_is_strictly_later_and_labelled(panel):
    split = _split(panel)
    dates = panel["snapshot_date"]
    assert dates[split.isin(["train", "valid"])].max() < dates[split == "oot"].min()
    assert (dates[split == "oot"] >= pd.Timestamp(OOT_FIRST)).all()
    assert panel.loc[split == "oot", "default_12m"].notna().all()
    assert panel.loc[panel["default_12m"].isna()].index.isin(split.index[split == "latest"]).all()


def test_censored_snapshots_are_scored_only_even_where_an_event_is_already_known(panel):
    split = _split(panel)
    last_dates = sorted(panel["snapshot_date"].unique())[-2:]
    censored = panel["snapshot_date"].isin(last_dates)
    assert (panel.loc[censored, "default_12m"] == 1).any()  # known events in censored windows
    assert (split[censored] == "latest").all() and (split[~censored] != "latest").all()
    oot_rate = panel.loc[split == "oot", "default_12m"].mean()
    assert oot_rate < 0.3  # no events-only sample in the test set


def test_purge_drops_development_rows_whose_label_window_reaches_the_test_period(panel):
    split = _split(panel)
    window_end = panel["snapshot_date"] + pd.DateOffset(months=12)
    development = split.isin(["train", "valid"])
    assert (window_end[development] <= pd.Timestamp(OOT_FIRST)).all()
    before_oot = (panel["snapshot_date"] < pd.Timestamp(OOT_FIRST)) & panel["default_12m"].notna()
    assert (split[before_oot & (window_end > pd.Timestamp(OOT_FIRST))] == "purged").all()
    assert (split == "purged").any()


def test_purge_boundary_a_window_ending_exactly_at_the_test_start_is_kept():
    dates = pd.Series(pd.to_datetime(["2022-01-01", "2022-01-02", "2022-12-31"]))
    assert splits.purged(dates, oot_first_snapshot="2023-01-01", horizon_months=12).tolist() == [
        False,
        True,
        True,
    ]
    assert splits.purged(dates, oot_first_snapshot="2023-01-01", horizon_months=0).tolist() == [
        False,
        False,
        False,
    ]


def test_splits_are_seeded_and_do_not_depend_on_row_order(panel):
    first = _split(panel, seed=11)
    shuffled = panel.sample(frac=1.0, random_state=0)
    again = _split(shuffled, seed=11).reindex(first.index)
    pd.testing.assert_series_equal(first, again, check_names=False)
    assert not first.equals(_split(panel, seed=12))


def test_validation_split_is_stratified_by_customer_outcome(panel):
    split = _split(panel)
    ever = panel[split.isin(["train", "valid"])].groupby("customer_id")["default_12m"].max()
    valid_ids = set(panel.loc[split == "valid", "customer_id"])
    in_valid = ever.index.isin(list(valid_ids))
    assert ever[in_valid].mean() == pytest.approx(ever[~in_valid].mean(), abs=0.05)


def test_random_test_split_without_dates_is_grouped_by_customer(panel):
    split = splits.random_test_splits(
        panel,
        id_column="customer_id",
        label="churn_12m",
        test_fraction=0.2,
        valid_fraction=0.2,
        seed=5,
    )
    assert splits.holdout_name(split) == "test"
    groups = {
        name: set(panel.loc[split == name, "customer_id"]) for name in ("train", "valid", "test")
    }
    assert (
        not groups["train"] & groups["valid"]
        and not groups["train"] & groups["test"]
        and not groups["valid"] & groups["test"]
    )
    assert len(groups["test"]) == 50
    assert (split[panel["churn_12m"].isna()] == "latest").all()


def test_random_test_split_is_stratified_by_outcome():
    table = make_flat_table(n_rows=2000, with_date=False)
    split = splits.random_test_splits(
        table, id_column="loan_id", label="bad", test_fraction=0.25, valid_fraction=0.2, seed=5
    )
    counts = table.groupby(split)["bad"].agg(["size", "sum"])
    assert counts.loc["test", "size"] == pytest.approx(500, abs=2)
    assert counts.loc["test", "sum"] == pytest.approx(0.25 * table["bad"].sum(), abs=1)


def test_an_empty_split_names_the_setting_to_change(panel):
    with pytest.raises(ValueError, match="oot.*oot_first_snapshot"):
        _split(panel, oot_first_snapshot="2030-01-01")


def test_check_splits_catches_a_shared_customer(panel):
    split = _split(panel).copy()
    customer = panel.loc[split == "valid", "customer_id"].iloc[0]
    split[(panel["customer_id"] == customer) & (split == "valid")] = "train"
    split[split.index[(panel["customer_id"] == customer) & (split == "train")][:1]] = "valid"
    with pytest.raises(AssertionError, match="both train and valid"):
        splits.check_splits(panel, split, id_column="customer_id", date_column="snapshot_date")


def test_split_summary_lists_every_split_in_order(panel):
    summary = splits.split_summary(
        panel,
        _split(panel),
        id_column="customer_id",
        date_column="snapshot_date",
        label="default_12m",
    )
    assert list(summary.index) == ["train", "valid", "oot", "purged", "latest"]
    assert summary["rows"].sum() == len(panel)


# --------------------------------------------------------------------------- a derived out-of-time start


def _quarters(first: str, last: str) -> list[pd.Timestamp]:
    return list(pd.date_range(first, last, freq="QS"))


def test_the_derived_out_of_time_start_of_the_default_grid_is_the_configured_one():
    """Quarterly 2020-01 .. 2025-01, data to 2024-12-31, 12-month labels: 17 labelled
    snapshots (to 2024-01-01); a fifth rounded up is 4: 2023-04-01, as params.yaml says."""
    oot, how = splits.derive_oot_first_snapshot(
        _quarters("2020-01-01", "2025-01-01"),
        observation_end=pd.Timestamp("2025-01-01"),
        horizon_months=12,
    )
    assert oot == pd.Timestamp("2023-04-01")
    assert how.startswith("the latest 4 of 17 labelled snapshots (24%; at least 20%)")
    # 6-month labels: 19 labelled (to 2024-07-01), the latest 4 from 2023-10-01
    oot, _ = splits.derive_oot_first_snapshot(
        _quarters("2020-01-01", "2025-01-01"),
        observation_end=pd.Timestamp("2025-01-01"),
        horizon_months=6,
    )
    assert oot == pd.Timestamp("2023-10-01")


def test_a_short_history_moves_the_out_of_time_start_or_says_why_it_cannot():
    # labelled 2023-01 .. 2024-01 (5): one is a fifth, and 2023-01-01's window ends by 2024-01-01
    oot, _ = splits.derive_oot_first_snapshot(
        _quarters("2023-01-01", "2025-01-01"),
        observation_end=pd.Timestamp("2025-01-01"),
        horizon_months=12,
    )
    assert oot == pd.Timestamp("2024-01-01")
    # monthly 2023-06 .. 2024-01 labelled (8): a fifth is 2 (2023-12-01), but no development
    # snapshot ends by then; the first start that leaves one is 2024-06-01: too late
    with pytest.raises(ValueError, match=r"one on or after 2024-06-01 is needed"):
        splits.derive_oot_first_snapshot(
            list(pd.date_range("2023-06-01", "2025-01-01", freq="MS")),
            observation_end=pd.Timestamp("2025-01-01"),
            horizon_months=12,
        )
    with pytest.raises(ValueError, match=r"1 snapshot date\(s\) have a 12-month label window"):
        splits.derive_oot_first_snapshot(
            _quarters("2024-01-01", "2025-01-01"),
            observation_end=pd.Timestamp("2025-01-01"),
            horizon_months=12,
        )


def test_row_dates_weigh_by_their_rows_and_the_start_moves_later_for_development():
    days = pd.Series(
        [pd.Timestamp("2021-01-05")] * 10
        + [pd.Timestamp("2021-06-10")] * 2
        + [pd.Timestamp("2022-03-03")] * 3
        + [pd.Timestamp("2023-12-20")] * 4  # window past the data: not labelled
    )
    oot, how = splits.derive_oot_first_snapshot(
        days, observation_end=pd.Timestamp("2024-01-01"), horizon_months=12
    )
    assert oot == pd.Timestamp("2022-03-03")  # 3 of 15 labelled rows: a fifth
    assert "3 of 15 labelled rows" in how
    oot, _ = splits.derive_oot_first_snapshot(
        days, observation_end=pd.Timestamp("2024-01-01"), horizon_months=12, share=0.5
    )
    # half is 2021-06-10 on (5 rows), but 2021-01-05's window ends after it: the next start
    assert oot == pd.Timestamp("2022-03-03")
