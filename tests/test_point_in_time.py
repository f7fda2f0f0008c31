"""Point-in-time correctness: records on or after a snapshot never change its features.

For random portfolios and snapshots, adding, altering or deleting records whose event
time is on or after a snapshot ``s`` (in every table and every date column, including a
payment on or after ``s`` of an instalment due before it, a statement reported on or
after ``s`` for a period that ended before it, and a decision on or after ``s`` on a
request submitted before it) leaves every panel row and feature at ``s`` and before
unchanged. Labels look forward by design and are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _feature_fixtures import PARAMS, perturb_after, random_portfolio
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
