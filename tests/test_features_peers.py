"""Peer-relative features: distances from the peers' median at the same snapshot, worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _feature_fixtures import PARAMS, random_portfolio
from research.features.catalog import feature_catalog
from research.features.peers import RULES, add_peer_relative, raw_name, relative_name
from research.features.snapshot import build_panel

T = pd.Timestamp
CATALOG = feature_catalog(
    PARAMS["windows_months"],
    PARAMS["long_window_months"],
    PARAMS["dpd_thresholds"],
    PARAMS["trend_recent_months"],
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "A", "B"],
            "snapshot_date": [T("2023-01-01")] * 4 + [T("2023-04-01")] * 2,
            "fac_mean_interest_rate": [0.02, 0.03, 0.05, np.nan, 0.06, 0.04],
            "eng_digital_share_12m": [0.1, 0.4, 0.2, 0.3, 0.5, np.nan],
            "fin_margin_change": [0.01, -0.02, 0.03, 0.00, 0.02, 0.04],
            "industry": ["energy", "energy", "retail", "retail", "energy", "energy"],
            "cf_digital_share_12m": [1.0, 0.5, 1.0, np.nan, 0.2, 0.9],
            "eng_touchpoints_3m": [4.0, 0.0, 9.0, 2.0, 7.0, 7.0],
            "cf_inflow_amount_3m": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


def test_values_are_distances_from_the_median_of_the_same_snapshot_and_peer_group():
    out = add_peer_relative(_frame())
    # Rates at the first snapshot: median of 0.02, 0.03, 0.05 (D has none) is 0.03.
    np.testing.assert_allclose(out["fac_rate_vs_book"], [-0.01, 0.0, 0.02, np.nan, 0.01, -0.01])
    # Digital shares: median 0.25 of four firms, then 0.5 alone (B's is missing and stays so).
    np.testing.assert_allclose(
        out["eng_digital_share_vs_book_12m"], [-0.15, 0.15, -0.05, 0.05, 0.0, np.nan]
    )
    # Margin change against the same industry at the same snapshot: energy 2023-01 median -0.005,
    # retail 0.015; energy 2023-04 median 0.03.
    np.testing.assert_allclose(
        out["fin_margin_change_vs_industry"],
        [0.015, -0.015, 0.015, -0.015, -0.01, 0.01],
        atol=1e-12,
    )


def test_ranks_are_percentiles_among_the_peers_with_a_value_ties_sharing_their_mean_rank():
    out = add_peer_relative(_frame())
    # First snapshot: 0.5 < 1.0 = 1.0 among three firms with a value (ranks 1, 2.5, 2.5 of 3).
    np.testing.assert_allclose(
        out["cf_digital_share_book_rank_12m"], [2.5 / 3, 1 / 3, 2.5 / 3, np.nan, 0.5, 1.0]
    )
    np.testing.assert_allclose(
        out["eng_touchpoints_book_rank_3m"], [0.75, 0.25, 1.0, 0.5, 0.75, 0.75]
    )


def test_each_relative_feature_takes_the_place_of_its_raw_feature():
    frame = _frame()
    out = add_peer_relative(frame)
    assert list(out.columns) == [relative_name(c) or c for c in frame.columns]
    pd.testing.assert_series_equal(out["cf_inflow_amount_3m"], frame["cf_inflow_amount_3m"])
    pd.testing.assert_frame_equal(frame, _frame())  # the input is left alone


def test_without_an_industry_column_the_margin_compares_with_the_whole_book():
    out = add_peer_relative(_frame().drop(columns="industry"))
    np.testing.assert_allclose(
        out["fin_margin_change_vs_industry"], [0.005, -0.025, 0.025, -0.005, -0.01, 0.01]
    )


def test_names_map_both_ways_and_the_catalog_holds_only_the_relative_ones():
    for raw, relative in [
        ("fac_mean_interest_rate", "fac_rate_vs_book"),
        ("eng_digital_share_12m", "eng_digital_share_vs_book_12m"),
        ("eng_digital_share_6m", "eng_digital_share_vs_book_6m"),
        ("fin_margin_change", "fin_margin_change_vs_industry"),
    ]:
        assert relative_name(raw) == relative and raw_name(relative) == raw
    assert relative_name("eng_touchpoints_3m") == "eng_touchpoints_book_rank_3m"
    assert raw_name("cf_digital_share_book_rank_12m") == "cf_digital_share_12m"
    assert relative_name("cf_inflow_amount_3m") is None and raw_name("cf_inflow_amount_3m") is None
    relative = [name for name in CATALOG if raw_name(name)]
    assert (
        len(relative) == len(RULES) + len(PARAMS["windows_months"]) - 1
    )  # touchpoints: one per window
    assert not [name for name in CATALOG if relative_name(name)]


@settings(max_examples=30, deadline=None)
@given(shift=st.floats(-0.05, 0.05), scale=st.floats(-0.3, 0.3))
def test_a_book_wide_move_leaves_the_relative_features_unchanged(shift, scale):
    """A policy-rate rise or an adoption trend moves every firm alike: the distances do not move."""
    frame = _frame()
    moved = frame.assign(
        fac_mean_interest_rate=frame["fac_mean_interest_rate"] + shift,
        eng_digital_share_12m=frame["eng_digital_share_12m"] + scale,
        fin_margin_change=frame["fin_margin_change"]
        + np.where(frame["industry"] == "energy", scale, shift),
        cf_digital_share_12m=frame["cf_digital_share_12m"]
        ** (1 + scale),  # any rise that keeps the order
        eng_touchpoints_3m=frame["eng_touchpoints_3m"] * (2 + scale),
    )
    pd.testing.assert_frame_equal(
        add_peer_relative(moved), add_peer_relative(frame), atol=1e-12, rtol=0
    )


@pytest.fixture(scope="module")
def panels() -> tuple[pd.DataFrame, pd.DataFrame]:
    portfolio = random_portfolio(np.random.default_rng(11), n_customers=30)
    snapshots = [T("2020-04-01"), T("2021-01-01")]
    relative, _ = build_panel(portfolio, snapshots, **PARAMS)
    raw, _ = build_panel(portfolio, snapshots, **PARAMS, peer_relative=False)
    return relative, raw


def test_build_panel_replaces_the_raw_features_in_catalog_order(panels):
    relative, raw = panels
    assert list(relative.columns) == [relative_name(c) or c for c in raw.columns]
    assert "fac_rate_vs_book" in relative.columns and "fac_mean_interest_rate" in raw.columns
    by_snapshot = raw.groupby("snapshot_date")["fac_mean_interest_rate"].transform("median")
    np.testing.assert_allclose(
        relative["fac_rate_vs_book"], raw["fac_mean_interest_rate"] - by_snapshot
    )
    pd.testing.assert_frame_equal(add_peer_relative(raw), relative)
