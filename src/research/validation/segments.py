"""Segments: the portfolio slices judged separately, each with its AUC and rate test.

The slices are the size segments of the input contract (``research.data.contract``) in
its order, any other segment value after them, project finance among them, and green
and inclusive lending. A slice with too few events or non-events is shown, not judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from research.data.contract import SEGMENTS
from research.validation._base import band_light, p_value_light
from research.validation.calibration import binomial_p_value, clustered_counts
from research.validation.discrimination import auc_confidence_interval


def segment_masks(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The portfolio slices judged separately: size classes, project finance, green and inclusive lending.

    Args:
        frame: Rows with any of ``segment``, ``green_flag`` and ``inclusive_flag``.

    Returns:
        A row mask per slice title, for the slices with at least one row (flags always).
    """
    masks: dict[str, pd.Series] = {}
    if "segment" in frame.columns:
        present = [s for s in pd.unique(frame["segment"].dropna()) if s not in SEGMENTS]
        for name in [*SEGMENTS, *sorted(map(str, present))]:
            if (frame["segment"] == name).any():
                title = (
                    "project finance (project_spv)" if name == "project_spv" else f"size: {name}"
                )
                masks[title] = frame["segment"] == name
    if "green_flag" in frame.columns:
        masks["green lending"] = frame["green_flag"] == 1
    if "inclusive_flag" in frame.columns:
        masks["inclusive lending"] = frame["inclusive_flag"] == 1
    return masks


def segment_table(
    labelled: pd.DataFrame,
    *,
    auc_bands: Sequence[float],
    alpha: float,
    amber_alpha: float,
    min_events: int,
    cluster_column: str | None = None,
) -> pd.DataFrame:
    """AUC and calibration per segment with sample sizes; too few events or non-events: not judged.

    Args:
        labelled: Labelled rows with ``label`` (0/1), ``score`` and the slice columns.
        auc_bands: AUC bands of the light.
        alpha: Red below this Bonferroni-adjusted p-value.
        amber_alpha: Amber below this Bonferroni-adjusted p-value.
        min_events: A slice with fewer events or non-events is not judged.
        cluster_column: With it, the rate test runs on counts divided by the segment's
            design effect.

    Returns:
        One row per slice with its figures, p-values, lights and a note when not judged.
    """
    rows = []
    for name, mask in segment_masks(labelled).items():
        part = labelled[mask.to_numpy()]
        events = int(part["label"].sum())
        n = len(part)
        design, events_eff, n_eff = clustered_counts(part, cluster_column)
        judged = events >= min_events and n - events >= min_events
        value, low, high = auc_confidence_interval(part["label"], part["score"])
        rows.append(
            {
                "segment": name,
                "n": n,
                "events": events,
                "observed_rate": events / n if n else math.nan,
                "predicted_rate": float(part["score"].mean()) if n else math.nan,
                "auc": value,
                "auc_ci_low": low,
                "auc_ci_high": high,
                "design_effect": design,
                "n_effective": n_eff,
                "binomial_p": binomial_p_value(events_eff, n_eff, float(part["score"].mean()))
                if n
                else math.nan,
                "judged": judged,
                "note": ""
                if judged
                else f"too small to judge: {events} events, {n - events} non-events (< {min_events})",
            }
        )
    columns = [
        "segment",
        "n",
        "events",
        "observed_rate",
        "predicted_rate",
        "auc",
        "auc_ci_low",
        "auc_ci_high",
        "design_effect",
        "n_effective",
        "binomial_p",
        "judged",
        "note",
    ]
    out = pd.DataFrame(rows, columns=columns)
    tests = max(int(out["judged"].sum()), 1)
    out["binomial_p_adj"] = np.minimum(out["binomial_p"].astype(float) * tests, 1.0)
    out["auc_light"] = [
        band_light(v, auc_bands, higher_is_better=True) if j else "grey"
        for v, j in zip(out["auc"], out["judged"], strict=True)
    ]
    out["calibration_light"] = [
        p_value_light(p, alpha=alpha, amber_alpha=amber_alpha) if j else "grey"
        for p, j in zip(out["binomial_p_adj"], out["judged"], strict=True)
    ]
    out["tests"] = tests
    return out
