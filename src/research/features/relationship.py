"""Relationship: tenure, segment, industry, region and the green and inclusive-finance flags.

Point in time: tenure counts from the onboarding date (only customers onboarded
before the snapshot are in the panel). The relationship end date is the churn event
and never a feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.features._grid import NS_PER_MONTH, SnapshotGrid, elapsed, family_frame

CATEGORY_COLUMNS = ("segment", "industry", "region")
FLAG_COLUMNS = ("green_flag", "inclusive_flag")


def relationship_features(customers: pd.DataFrame, grid: SnapshotGrid) -> pd.DataFrame:
    """Tenure (``rel_tenure_months``), the segment, industry and region (str) and the flags (0/1)."""
    shape = (grid.n_snapshots, grid.n_customers)
    codes = grid.codes(customers["customer_id"])
    known = codes >= 0
    position = np.zeros(grid.n_customers, dtype=np.int64)
    position[codes[known]] = np.flatnonzero(known)
    at_rows = position[grid.rows % grid.n_customers]
    out = family_frame(
        grid,
        {
            "rel_tenure_months": elapsed(
                grid.snapshot_ns, np.broadcast_to(grid.onboarding, shape), NS_PER_MONTH
            )
        },
    )
    for column in CATEGORY_COLUMNS:
        out[column] = customers[column].astype("str").take(at_rows).reset_index(drop=True)
    for column in FLAG_COLUMNS:
        out[column] = customers[column].to_numpy(dtype=np.float64)[at_rows]
    return out
