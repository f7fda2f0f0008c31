"""Is the model fit to be fitted, and did it learn anything? Verdicts that stop the train stage.

Three checks, each a pure function returning a :class:`Verdict` (the train stage raises
:class:`DegenerateModelError` with the verdict's message, before anything is written):

* :func:`event_floor`: every split the model fits or is measured on (train, valid and the
  holdout, ``oot`` or ``test``) holds at least ``split.min_events`` events of its label;
* :func:`booster_grew`: at least one tree of the booster splits (a booster of single
  leaves scores every row alike);
* :func:`validation_discrimination`: the validation AUC's DeLong 95% interval excludes 0.5
  (a model indistinguishable from a coin on rows it was not fitted on).

Each message names the model, what was found and the settings to change.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

FLOOR_KEY = "split.min_events"


class DegenerateModelError(ValueError):
    """A model that cannot be fitted or learned nothing: the train stage stops, writing nothing."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """``ok`` or not, with the message that says why and what to change."""

    ok: bool
    message: str = ""

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise DegenerateModelError(self.message)


def event_counts(labels: pd.Series, split: pd.Series, splits: Iterable[str]) -> dict[str, int]:
    """Events (label == 1) per split, for the named splits (0 for a split without rows)."""
    events = pd.to_numeric(labels, errors="coerce").eq(1)
    counted = events.groupby(split.to_numpy()).sum()
    return {name: int(counted.get(name, 0)) for name in splits}


def event_floor(
    model: str, label: str, counts: Mapping[str, int], *, floor: int, dated: bool = True
) -> Verdict:
    """Every split in ``counts`` holds at least ``floor`` events of ``label``."""
    short = {name: n for name, n in counts.items() if n < floor}
    if not short:
        return Verdict(True)
    listed = ", ".join(f"{name} {n}" for name, n in counts.items())
    window = (
        "move split.oot_first_snapshot earlier or add snapshots (features.snapshots) so the "
        "short splits gain events, "
        if dated
        else "use a larger modeling table or a larger split.test_fraction, "
    )
    return Verdict(
        False,
        f"model {model!r}: too few events of its label {label!r} to fit and measure it: "
        f"{listed} (short: {', '.join(short)}; the floor {FLOOR_KEY} is {floor}). "
        f"To change it: {window}lower {FLOOR_KEY} (estimates on fewer events are noise), "
        f"or set models.{model}.enabled: false in params.yaml.",
    )


def tree_splits(dump: Iterable[str]) -> int:
    """Trees of a booster's text dump (``Booster.get_dump()``) that split at least once."""
    return sum(1 for tree in dump if not tree.lstrip().startswith("0:leaf="))


def booster_grew(
    model: str, label: str, dump: list[str], *, min_child_weight: float, max_depth: int
) -> Verdict:
    """At least one tree of the booster splits (``dump``: ``Booster.get_dump()``)."""
    if tree_splits(dump) > 0:
        return Verdict(True)
    return Verdict(
        False,
        f"model {model!r}: the booster grew no split at all ({len(dump)} trees, each a single "
        f"leaf), so it scores every row alike. Likely causes: models.{model}.xgb.min_child_weight "
        f"({min_child_weight:g}) is too large for the events of the label (lower it), "
        f"models.{model}.xgb.max_depth ({max_depth}) too small, or the label {label!r} "
        f"(models.{model}.label) is unrelated to every feature; or set "
        f"models.{model}.enabled: false in params.yaml.",
    )


def _midranks_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong variance (Sun & Xu's midrank form)."""
    from scipy import stats  # here, not at the top: the validate stage imports this module's error

    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    ranks_all = stats.rankdata(np.concatenate([pos, neg]))
    ranks_pos, ranks_neg = stats.rankdata(pos), stats.rankdata(neg)
    auc = (ranks_all[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (ranks_all[:m] - ranks_pos) / n
    v01 = 1.0 - (ranks_all[m:] - ranks_neg) / m
    var = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n if m > 1 and n > 1 else math.inf
    return float(auc), float(var)


def auc_interval(
    label: ArrayLike, score: ArrayLike, level: float = 0.95
) -> tuple[float, float, float]:
    """AUC with its DeLong interval; NaNs when the sample holds one class (or no rows)."""
    from scipy import stats

    y = np.asarray(label, dtype=float)
    s = np.asarray(score, dtype=float)
    keep = ~(np.isnan(y) | np.isnan(s))
    y, s = y[keep], s[keep]
    if not ((y == 1).any() and (y == 0).any()):
        return math.nan, math.nan, math.nan
    value, var = _midranks_delong(y, s)
    half = float(stats.norm.ppf(0.5 + level / 2)) * math.sqrt(max(var, 0.0))
    return value, max(0.0, value - half), min(1.0, value + half)


def validation_discrimination(
    model: str,
    label: str,
    y: ArrayLike,
    score: ArrayLike,
    *,
    min_child_weight: float,
    max_depth: int,
    level: float = 0.95,
) -> Verdict:
    """The validation AUC's DeLong interval excludes 0.5 (the model ranks better than a coin)."""
    auc, low, high = auc_interval(y, score, level)
    if math.isnan(auc) or not (low <= 0.5 <= high):
        return Verdict(True)
    return Verdict(
        False,
        f"model {model!r}: its validation AUC {auc:.3f} is indistinguishable from 0.5 "
        f"({level:.0%} DeLong interval {low:.3f}-{high:.3f}): the model ranks no better than a "
        f"coin on customers it was not fitted on. Likely causes: the label {label!r} "
        f"(models.{model}.label) is unrelated to the features, or the trees are too constrained "
        f"to find it (models.{model}.xgb.min_child_weight {min_child_weight:g}, "
        f"models.{model}.xgb.max_depth {max_depth}); or set models.{model}.enabled: false "
        "in params.yaml.",
    )
