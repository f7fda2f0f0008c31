"""Calibration to observed event rates, the PD master scale, deciles and the per-grade test.

Both calibrators map the booster's log-odds margin to a probability and are fitted on
the validation split (rows the trees never saw):

- ``isotonic``: pool-adjacent-violators on the margin, with blocks merged until each
  holds at least ``min_block_events`` events and non-events (a block of zero events would
  give a PD of zero), then linear interpolation between the blocks' centres, so the map
  is strictly increasing inside the fitted range and the ranking survives (flat beyond
  the outermost centres).
- ``platt``: ``sigmoid(slope * margin + intercept)``, fitted by maximum likelihood.

The calibrator is a handful of floats, kept as JSON so a reload scores identically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import expit

METHODS = ("isotonic", "platt")


@dataclasses.dataclass(frozen=True)
class Calibrator:
    """A monotone map from the booster's margin to a probability."""

    method: str
    knots_margin: tuple[float, ...] = ()
    knots_probability: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, margin: ArrayLike) -> np.ndarray:
        """Calibrated probabilities for the given margins."""
        m = np.asarray(margin, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(m, np.asarray(self.knots_margin), np.asarray(self.knots_probability))
        # scipy's expit, as research.models.train.sigmoid: the same bits on any processor
        return np.asarray(expit(self.slope * m + self.intercept), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibrator:
        return cls(
            method=raw["method"],
            knots_margin=tuple(raw["knots_margin"]),
            knots_probability=tuple(raw["knots_probability"]),
            slope=float(raw["slope"]),
            intercept=float(raw["intercept"]),
        )


def _pava_blocks(margin: np.ndarray, outcome: np.ndarray) -> list[list[float]]:
    """Isotonic blocks as ``[weight, margin_sum, events]``, increasing in event rate."""
    from sklearn.isotonic import isotonic_regression  # fitting only: the registry reads verdicts

    order = np.argsort(margin, kind="stable")
    m, y = margin[order], outcome[order]
    unique, start, counts = np.unique(m, return_index=True, return_counts=True)
    events = np.add.reduceat(y, start)
    fitted = isotonic_regression(events / counts, sample_weight=counts, increasing=True)
    blocks: list[list[float]] = []
    for value, x, n, e in zip(fitted, unique, counts, events, strict=True):
        if blocks and np.isclose(blocks[-1][3], value, rtol=0, atol=1e-12):
            blocks[-1][0] += n
            blocks[-1][1] += x * n
            blocks[-1][2] += e
        else:
            blocks.append([float(n), float(x * n), float(e), float(value)])
    return [b[:3] for b in blocks]


def _merge_thin_blocks(blocks: list[list[float]], min_events: int) -> list[list[float]]:
    """Merge each block short of ``min_events`` events or non-events into its upper neighbour.

    Merging two adjacent increasing blocks yields a rate between theirs, so the result
    stays increasing. The last block, if still thin, merges downward.
    """
    merged: list[list[float]] = []
    carry = [0.0, 0.0, 0.0]
    for block in blocks:
        carry = [a + b for a, b in zip(carry, block, strict=True)]
        n, _, e = carry
        if e >= min_events and n - e >= min_events:
            merged.append(carry)
            carry = [0.0, 0.0, 0.0]
    if carry[0]:
        if merged:
            merged[-1] = [a + b for a, b in zip(merged[-1], carry, strict=True)]
        else:
            merged.append(carry)
    return merged


def fit_isotonic(
    margin: ArrayLike, outcome: ArrayLike, *, min_block_events: int = 10
) -> Calibrator:
    """Centred isotonic calibration with blocks of at least ``min_block_events`` of each outcome."""
    m, y = np.asarray(margin, dtype=np.float64), np.asarray(outcome, dtype=np.float64)
    blocks = _merge_thin_blocks(_pava_blocks(m, y), min_block_events)
    centres = tuple(float(s / n) for n, s, _ in blocks)
    rates = tuple(float(e / n) for n, _, e in blocks)
    return Calibrator("isotonic", knots_margin=centres, knots_probability=rates)


def fit_platt(margin: ArrayLike, outcome: ArrayLike, *, iterations: int = 50) -> Calibrator:
    """Platt scaling on the margin by Newton's method (two parameters, maximum likelihood)."""
    m = np.asarray(margin, dtype=np.float64)
    x = np.column_stack([m, np.ones(len(m))])
    y = np.asarray(outcome, dtype=np.float64)
    beta = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        hessian = x.T @ (x * (p * (1.0 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, x.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return Calibrator("platt", slope=float(beta[0]), intercept=float(beta[1]))


def fit_calibrator(margin: ArrayLike, outcome: ArrayLike, *, method: str) -> Calibrator:
    """Fit the calibrator ``method`` (``isotonic`` or ``platt``) on held-out margins and outcomes."""
    if method not in METHODS:
        raise ValueError(
            f"calibration method {method!r} unknown; expected one of {', '.join(METHODS)}"
        )
    return fit_isotonic(margin, outcome) if method == "isotonic" else fit_platt(margin, outcome)


@dataclasses.dataclass(frozen=True)
class MasterScale:
    """Rating grades by PD: grade ``i`` holds PDs in ``(upper_pd[i-1], upper_pd[i]]``; the last takes the rest."""

    names: tuple[str, ...]
    upper_pd: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.upper_pd) + 1:
            raise ValueError("a master scale needs one more grade name than upper PD bounds")
        if any(a >= b for a, b in zip(self.upper_pd, self.upper_pd[1:], strict=False)):
            raise ValueError(f"master scale bounds must increase strictly: {self.upper_pd}")

    def grade(self, pd_values: ArrayLike) -> pd.Categorical:
        """The grade of each PD (ordered categorical, best grade first)."""
        index = np.searchsorted(
            np.asarray(self.upper_pd), np.asarray(pd_values, dtype=float), side="left"
        )
        return pd.Categorical.from_codes(index, categories=list(self.names), ordered=True)

    def table(self) -> pd.DataFrame:
        """Each grade's PD range."""
        lower = (0.0, *self.upper_pd)
        upper = (*self.upper_pd, 1.0)
        return pd.DataFrame({"grade": self.names, "pd_above": lower, "pd_up_to": upper})

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "upper_pd": list(self.upper_pd)}


@dataclasses.dataclass(frozen=True)
class DecileScale:
    """Risk deciles (1 lowest, 10 highest) by nine cut points on the margin."""

    cuts: tuple[float, ...]

    def decile(self, margin: ArrayLike) -> np.ndarray:
        return (
            np.searchsorted(np.asarray(self.cuts), np.asarray(margin, dtype=float), side="right")
            + 1
        )

    def to_dict(self) -> dict[str, Any]:
        return {"cuts_margin": list(self.cuts)}


def fit_deciles(margin: ArrayLike) -> DecileScale:
    """Decile cut points on the development set's margins (fixed from then on)."""
    cuts = np.quantile(np.asarray(margin, dtype=float), np.arange(1, 10) / 10)
    return DecileScale(tuple(float(c) for c in cuts))


def grade_calibration(
    grades: ArrayLike,
    predicted: ArrayLike,
    outcome: ArrayLike,
    *,
    names: Sequence[str],
    alpha: float = 0.01,
) -> pd.DataFrame:
    """Per grade: observed against predicted rate with a two-sided binomial interval.

    The interval for the number of events in a grade of ``n`` rows with mean PD ``p``
    holds ``1 - alpha / k`` of the Binomial(n, p) mass (Bonferroni over the ``k`` grades
    that hold rows); ``within`` says whether the observed count falls inside.
    """
    from scipy import stats

    work = pd.DataFrame(
        {"grade": pd.Categorical(grades, categories=list(names)), "pd": predicted, "y": outcome}
    )
    table = work.groupby("grade", observed=False).agg(
        n=("y", "size"), events=("y", "sum"), mean_pd=("pd", "mean")
    )
    table["observed_rate"] = table["events"] / table["n"].where(table["n"] > 0)
    tested = int((table["n"] > 0).sum())
    level = alpha / max(tested, 1) / 2
    lower = stats.binom.ppf(level, table["n"], table["mean_pd"].fillna(0))
    upper = stats.binom.isf(level, table["n"], table["mean_pd"].fillna(0))
    table["lower_rate"] = lower / table["n"].where(table["n"] > 0)
    table["upper_rate"] = upper / table["n"].where(table["n"] > 0)
    table["within"] = ((table["events"] >= lower) & (table["events"] <= upper)).where(
        table["n"] > 0
    )
    return table.reset_index()


def calibration_verdict(
    held: pd.DataFrame, *, method: str, grade_names: Sequence[str], alpha: float
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The train stage's calibration summary on the holdout rows, and its table.

    A graded model: how many grades hold rows and how many of them fall outside their
    ``1 - alpha`` binomial interval (Bonferroni over those grades; ``grade_calibration``).
    A decile model: whether the observed rate rises from the first decile to the last.

    Args:
        held: Holdout rows with ``score``, ``label`` and ``grade`` (graded) or ``decile``.
        method: The calibration method (recorded in the summary).
        grade_names: Master-scale grades, best first; empty for a decile model.
        alpha: Family-wise level of the grade test.
    """
    if grade_names:
        table = grade_calibration(
            held["grade"], held["score"], held["label"], names=grade_names, alpha=alpha
        )
        tested = table[table["n"] > 0]
        summary = {
            "method": method,
            "alpha": alpha,
            "grades_tested": len(tested),
            "grades_outside": int((~tested["within"].astype(bool)).sum()),
        }
        return summary, table
    table = held.groupby("decile").agg(
        n=("label", "size"),
        events=("label", "sum"),
        mean_score=("score", "mean"),
        observed_rate=("label", "mean"),
    )
    return {
        "method": method,
        "decile_rates_increasing": bool(table["observed_rate"].is_monotonic_increasing),
    }, table


def verdict_text(summary: Mapping[str, Any] | None) -> str | None:
    """The train stage's calibration verdict (``calibration_verdict``'s summary) in words.

    Shared by the registry description and the model card.

    A graded model: how many grades fall outside their interval; a decile model: whether
    the observed rate rises from the first decile to the last. None when there is none.
    """
    if not summary:
        return None
    method = summary.get("method")
    suffix = f" ({method} calibration)" if method else ""
    if "grades_outside" in summary:
        alpha = summary.get("alpha")
        level = f" {1 - float(alpha):.0%}" if alpha is not None else ""
        return (
            f"{summary['grades_outside']} of {summary.get('grades_tested', '?')} grades outside "
            f"their{level} interval{suffix}"
        )
    if "decile_rates_increasing" in summary:
        rising = "rise" if summary["decile_rates_increasing"] else "do not rise"
        return f"observed rates {rising} from the first decile to the last{suffix}"
    return None
