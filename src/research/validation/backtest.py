"""Backtesting per snapshot and overfitting between the labelled sets.

Each snapshot has one row per customer, so the per-snapshot rate test needs no
clustering adjustment. Out-of-time snapshots are judged; in-sample ones are shown only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from research.validation._base import DEVELOPMENT_SETS, band_light, p_value_light
from research.validation.calibration import binomial_p_value
from research.validation.discrimination import auc


def _period(splits: pd.Series) -> str:
    top = splits.value_counts().idxmax()
    return "development" if top in DEVELOPMENT_SETS else str(top)


def backtest_table(
    labelled: pd.DataFrame,
    *,
    auc_bands: Sequence[float],
    alpha: float,
    amber_alpha: float,
    min_events: int,
) -> pd.DataFrame:
    """AUC and observed against predicted event rate per snapshot (labelled rows of every split).

    Out-of-time snapshots are judged (AUC bands; two-sided binomial test of the rate,
    Bonferroni over the out-of-time snapshots); in-sample snapshots are shown, not judged.

    Args:
        labelled: Rows with ``snapshot_date``, ``split``, ``label`` (0/1) and ``score``.
        auc_bands: AUC bands of the light.
        alpha: Red below this Bonferroni-adjusted p-value.
        amber_alpha: Amber below this Bonferroni-adjusted p-value.
        min_events: A snapshot with fewer events or non-events is not judged.

    Returns:
        One row per snapshot, oldest first, with its figures, p-values and lights.
    """
    rows = []
    for date, group in labelled.groupby("snapshot_date", sort=True):
        rows.append(
            {
                "snapshot_date": date,
                "period": _period(group["split"]),
                "n": len(group),
                "events": int(group["label"].sum()),
                "observed_rate": float(group["label"].mean()),
                "predicted_rate": float(group["score"].mean()),
                "auc": auc(group["label"], group["score"]),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "snapshot_date",
            "period",
            "n",
            "events",
            "observed_rate",
            "predicted_rate",
            "auc",
        ],
    )
    judged = (
        (out["period"] == "oot")
        & (out["events"] >= min_events)
        & (out["n"] - out["events"] >= min_events)
    )
    tests = max(int(judged.sum()), 1)
    out["binomial_p"] = [
        binomial_p_value(d, n, p)
        for d, n, p in zip(out["events"], out["n"], out["predicted_rate"], strict=True)
    ]
    out["binomial_p_adj"] = np.minimum(out["binomial_p"] * tests, 1.0)
    out["judged"] = judged
    out["auc_light"] = [
        band_light(v, auc_bands, higher_is_better=True) if j else "grey"
        for v, j in zip(out["auc"], judged, strict=True)
    ]
    out["calibration_light"] = [
        p_value_light(p, alpha=alpha, amber_alpha=amber_alpha) if j else "grey"
        for p, j in zip(out["binomial_p_adj"], judged, strict=True)
    ]
    out["tests"] = tests
    return out


def overfit_table(discrimination: pd.DataFrame, *, bands: Sequence[float]) -> pd.DataFrame:
    """AUC gaps between sets; the train against out-of-time gap is the one judged.

    Args:
        discrimination: A ``discrimination_table`` (``set`` and ``auc``).
        bands: AUC-gap bands of the light.

    Returns:
        Rows train − oot, train − valid and valid − oot with both AUCs, the gap and a light.
    """
    by_set = discrimination.set_index("set")["auc"]
    rows = []
    for first, second in (("train", "oot"), ("train", "valid"), ("valid", "oot")):
        gap = float(by_set.get(first, math.nan) - by_set.get(second, math.nan))
        judged = (first, second) == ("train", "oot")
        rows.append(
            {
                "comparison": f"{first} − {second}",
                "auc_first": by_set.get(first, math.nan),
                "auc_second": by_set.get(second, math.nan),
                "auc_gap": gap,
                "light": band_light(gap, bands, higher_is_better=False) if judged else "grey",
            }
        )
    return pd.DataFrame(rows)
