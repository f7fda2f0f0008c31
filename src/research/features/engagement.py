"""Engagement: touchpoints by channel, digital adoption, complaints, RM contact, service, satisfaction.

Point in time: an interaction is seen when its timestamp is before the snapshot, with
its response hours and satisfaction score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from research.data.contract import DIGITAL_INTERACTION_CHANNELS, INTERACTION_CHANNELS
from research.features._grid import (
    NS_PER_DAY,
    SnapshotGrid,
    category_codes,
    elapsed,
    family_frame,
    ratio,
    to_ns,
)


def engagement_features(
    interactions: pd.DataFrame, grid: SnapshotGrid, *, windows_months: Sequence[int]
) -> pd.DataFrame:
    """Engagement features (``eng_*``) of the panel rows of ``grid``."""
    windows = sorted(set(windows_months))
    longest = max(windows)
    times = to_ns(interactions["timestamp"])
    flat = grid.place(grid.codes(interactions["customer_id"]), times)
    unknown = len(INTERACTION_CHANNELS)
    channel = category_codes(interactions["channel"], INTERACTION_CHANNELS)
    channel = np.where(channel >= 0, channel, unknown)
    complaint = category_codes(interactions["interaction_type"], ("complaint",)) == 0
    hours = interactions["response_hours"].to_numpy(dtype=np.float64)
    score = interactions["satisfaction_score"].to_numpy(dtype=np.float64)
    has_hours, has_score = ~np.isnan(hours), ~np.isnan(score)

    # Channels are kinds of a bucket: one pass counts them all and finds the latest of each.
    stride, n_kinds = grid.trash + 1, unknown + 1
    counts = np.bincount(channel * stride + flat, minlength=stride * n_kinds)
    by_channel = counts.reshape(n_kinds, stride)[:, : grid.trash].reshape(
        n_kinds, grid.n_buckets, grid.n_customers
    )
    last = grid.latest(flat, times, kinds=channel, n_kinds=n_kinds, counts=counts)
    total = by_channel.sum(axis=0)
    digital = by_channel[[INTERACTION_CHANNELS.index(c) for c in DIGITAL_INTERACTION_CHANNELS]].sum(
        axis=0
    )

    out: dict[str, np.ndarray] = {}
    for w in windows:
        out[f"eng_touchpoints_{w}m"] = grid.window(total, w)
    for position, name in enumerate(INTERACTION_CHANNELS):
        out[f"eng_{name}_{longest}m"] = grid.window(by_channel[position], longest)
    out[f"eng_digital_share_{longest}m"] = ratio(
        grid.window(digital, longest), grid.window(total, longest)
    )
    complaints = grid.totals(flat, where=complaint)
    for w in windows:
        out[f"eng_complaints_{w}m"] = grid.window(complaints, w)
    rm_visit = INTERACTION_CHANNELS.index("rm_visit")
    out["eng_days_since_rm_contact"] = elapsed(grid.snapshot_ns, last[rm_visit], NS_PER_DAY)
    out["eng_days_since_touchpoint"] = elapsed(grid.snapshot_ns, last.max(axis=0), NS_PER_DAY)
    hours_sum = grid.totals(flat, np.where(has_hours, hours, 0.0))
    hours_count = grid.totals(flat, where=has_hours)
    out[f"eng_mean_response_hours_{longest}m"] = ratio(
        grid.window(hours_sum, longest), grid.window(hours_count, longest)
    )
    score_sum = grid.totals(flat, np.where(has_score, score, 0.0))
    score_count = grid.totals(flat, where=has_score)
    recent = ratio(grid.window(score_sum, longest), grid.window(score_count, longest))
    earlier = ratio(
        grid.window(score_sum, 2 * longest, longest), grid.window(score_count, 2 * longest, longest)
    )
    out[f"eng_satisfaction_{longest}m"] = recent
    out[f"eng_satisfaction_change_{longest}m"] = recent - earlier
    return family_frame(grid, out)
