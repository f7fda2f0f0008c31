"""Point-in-time correctness: records on or after a snapshot never change its features.

For random portfolios and snapshots, adding, altering or deleting records whose event
time is on or after a snapshot ``s`` (in every table and every date column, including a
payment on or after ``s`` of an instalment due before it, a statement reported on or
after ``s`` for a period that ended before it, and a decision on or after ``s`` on a
request submitted before it) leaves every panel row and feature at ``s`` and before
unchanged. Labels look forward by design and are left out.

Both modes: the calendar panel (common snapshots) and the event-anchored panel (one row per
anchor, ``research.features.anchored``, whose peer-relative features compare with the book
at the month start before the anchor).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _feature_fixtures import PARAMS, perturb_after, random_portfolio
from research.features.anchored import build_anchored_panel
from research.features.snapshot import build_panel
from research.labels import label_names

LABELS = tuple(label_names(PARAMS["horizons_months"]))


def _features_up_to(panel: pd.DataFrame, s: pd.Timestamp) -> pd.DataFrame:
    kept = panel[panel["snapshot_date"] <= s].drop(columns=list(LABELS))
    return kept.reset_index(drop=True)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_customers=st.integers(1, 7),
    snapshot_days=st.lists(st.integers(0, 900), min_size=1, max_size=3, unique=True),
    which=st.integers(0, 2),
    month_starts=st.booleans(),
)
def test_records_on_or_after_the_snapshot_change_no_feature(
    seed, n_customers, snapshot_days, which, month_starts
):
    rng = np.random.default_rng(seed)
    tables = random_portfolio(rng, n_customers=n_customers)
    dates = {pd.Timestamp("2019-06-01") + pd.Timedelta(days=d) for d in snapshot_days}
    # Month starts are where instalments fall due, so boundaries are hit exactly.
    snapshots = sorted({d.replace(day=1) for d in dates} if month_starts else dates)
    s = snapshots[min(which, len(snapshots) - 1)]
    before, _ = build_panel(tables, snapshots, **PARAMS)
    after, _ = build_panel(perturb_after(tables, s, rng), snapshots, **PARAMS)
    pdt.assert_frame_equal(_features_up_to(after, s), _features_up_to(before, s))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_customers=st.integers(1, 6),
    anchor_days=st.lists(st.integers(0, 900), min_size=1, max_size=6),
    which=st.integers(0, 5),
    month_starts=st.booleans(),
)
def test_records_on_or_after_an_anchor_change_no_anchored_feature(
    seed, n_customers, anchor_days, which, month_starts
):
    """The same property for event-anchored rows: each anchor is its own snapshot."""
    rng = np.random.default_rng(seed)
    tables = random_portfolio(rng, n_customers=n_customers)
    ids = tables["customers"]["customer_id"].to_numpy()
    dates = [pd.Timestamp("2019-06-01") + pd.Timedelta(days=d) for d in anchor_days]
    anchors = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, len(dates)),
            "snapshot_date": [d.replace(day=1) if month_starts else d for d in dates],
        }
    )
    days = sorted(anchors["snapshot_date"].unique())
    s = days[min(which, len(days) - 1)]
    end = pd.Timestamp("2022-01-01")  # fixed: labels are left out anyway
    before, _ = build_anchored_panel(tables, anchors, observation_end=end, **PARAMS)
    after, _ = build_anchored_panel(
        perturb_after(tables, s, rng), anchors, observation_end=end, **PARAMS
    )
    pdt.assert_frame_equal(_features_up_to(after, s), _features_up_to(before, s))


def test_perturbation_reaches_every_table_and_changes_later_features():
    """The perturbation is not a no-op: it changes the tables and features after the snapshot."""
    rng = np.random.default_rng(7)
    tables = random_portfolio(rng, n_customers=7)
    s = pd.Timestamp("2020-06-01")
    perturbed = perturb_after(tables, s, rng)
    for name, frame in tables.items():
        assert not frame.equals(perturbed[name]), name
    later = [s, pd.Timestamp("2021-06-01")]
    before, _ = build_panel(tables, later, **PARAMS)
    after, _ = build_panel(perturbed, later, **PARAMS)
    assert (
        not before[before["snapshot_date"] > s]
        .drop(columns=list(LABELS))
        .reset_index(drop=True)
        .equals(after[after["snapshot_date"] > s].drop(columns=list(LABELS)).reset_index(drop=True))
    )
