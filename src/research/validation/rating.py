"""Rating classes: which classes a model has, how customers migrate between them, concentration.

A credit model rates customers on its master scale's grades; a churn model, which has
no master scale, by score decile. Concentration is the Herfindahl-Hirschman index (HHI)
of the shares of the population in each class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def rating_column(scores: pd.DataFrame) -> str:
    """``grade`` when the scores carry rating grades (credit), else ``decile`` (churn).

    Raises:
        ValueError: When neither column has values.
    """
    if "grade" in scores.columns and scores["grade"].notna().any():
        return "grade"
    if "decile" in scores.columns and scores["decile"].notna().any():
        return "decile"
    raise ValueError(
        "scores: neither a 'grade' nor a 'decile' column with values; the train stage writes "
        "grades for a model with a master scale and score deciles otherwise"
    )


def rating_classes(
    scores: pd.DataFrame, column: str, grade_names: Sequence[str] = ()
) -> list[object]:
    """The classes of ``column`` in order, best first.

    Args:
        scores: Rows with ``column``.
        column: ``grade`` or ``decile``.
        grade_names: The master scale's grade names, best first (used for grades).

    Returns:
        ``grade_names`` for grades, else the sorted values present (deciles 1..10).

    Raises:
        ValueError: When the scores hold a grade the master scale lacks.
    """
    present = pd.unique(scores[column].dropna())
    if column == "grade" and grade_names:
        unknown = sorted(set(map(str, present)) - set(map(str, grade_names)))
        if unknown:
            raise ValueError(
                f"scores: grade(s) {unknown} not in models.<model>.grades.names {list(grade_names)}; "
                "rerun the train stage after changing the master scale"
            )
        return list(grade_names)
    return sorted(present.tolist())


def herfindahl(shares: ArrayLike) -> float:
    """Herfindahl-Hirschman index of shares (normalised to sum to one): 1/k when even, 1 when all in one.

    Args:
        shares: Counts or shares per class.

    Returns:
        The index; NaN when the shares sum to zero.
    """
    values = np.asarray(shares, dtype=float)
    total = values.sum()
    return float(np.sum((values / total) ** 2)) if total > 0 else math.nan


def migration_matrix(
    frame: pd.DataFrame, *, rating_column: str, classes: Sequence[object]
) -> pd.DataFrame:
    """Counts of customers moving from each class (rows) to each class (columns) between consecutive snapshots.

    Args:
        frame: Rows with ``customer_id``, ``snapshot_date`` and ``rating_column``.
        rating_column: ``grade`` or ``decile``.
        classes: The classes in order, best first.

    Returns:
        A square count matrix indexed ``from`` (rows) and ``to`` (columns).
    """
    ratings = frame[["customer_id", "snapshot_date", rating_column]].dropna()
    dates = pd.Series(np.sort(ratings["snapshot_date"].unique()))
    # each snapshot's successor, as a frame so the key keeps its datetime type
    successor = pd.DataFrame(
        {"snapshot_date": dates.iloc[:-1].to_numpy(), "next_date": dates.iloc[1:].to_numpy()}
    )
    current = ratings.merge(successor, on="snapshot_date", how="inner")
    later = ratings.rename(columns={"snapshot_date": "next_date", rating_column: "to"})
    pairs = current.merge(later, on=["customer_id", "next_date"], how="inner")
    counts = pd.crosstab(pairs[rating_column], pairs["to"])
    counts = (
        counts.reindex(index=list(classes), columns=list(classes), fill_value=0)
        .fillna(0)
        .astype(int)
    )
    counts.index.name, counts.columns.name = "from", "to"
    return counts


def migration_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per class: customers, share staying, upgraded, downgraded, moved two or more notches, and the row HHI.

    Args:
        matrix: A ``migration_matrix``.

    Returns:
        One row per class (``class``, ``n``, the shares and ``hhi``).
    """
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1)
    k = counts.shape[0]
    notches = np.arange(k)[None, :] - np.arange(k)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = counts / totals[:, None]
    return pd.DataFrame(
        {
            "class": matrix.index,
            "n": totals.astype(int),
            "stay_share": np.diag(shares),
            "upgrade_share": np.where(notches < 0, shares, 0).sum(axis=1),
            "downgrade_share": np.where(notches > 0, shares, 0).sum(axis=1),
            "two_notch_share": np.where(np.abs(notches) >= 2, shares, 0).sum(axis=1),
            "hhi": [
                herfindahl(row) if total > 0 else math.nan
                for row, total in zip(counts, totals, strict=True)
            ],
        }
    )


def concentration_by_snapshot(
    frame: pd.DataFrame, *, rating_column: str, classes: Sequence[object]
) -> pd.DataFrame:
    """Share of the population in each class and the HHI over classes, per snapshot.

    Args:
        frame: Rows with ``snapshot_date`` and ``rating_column``.
        rating_column: ``grade`` or ``decile``.
        classes: The classes in order, best first.

    Returns:
        One row per snapshot: ``n``, ``share_<class>`` per class and ``hhi``.
    """
    counts = pd.crosstab(frame["snapshot_date"], frame[rating_column]).reindex(
        columns=list(classes), fill_value=0
    )
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = shares.copy()
    out.columns = [f"share_{c}" for c in classes]
    out.insert(0, "n", counts.sum(axis=1))
    out["hhi"] = [herfindahl(row) for row in counts.to_numpy(dtype=float)]
    return out.reset_index()
