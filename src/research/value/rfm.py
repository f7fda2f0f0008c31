"""Recency, frequency and monetary (RFM) scores and named segments for corporate clients.

* Recency: days since the customer's last account movement (fewer is better).
* Frequency: account movements over the trailing activity window.
* Monetary: the bank's income from the customer over that window (interest on drawn
  balances and fees on limits).

Each is scored 1..q (q = ``value.rfm_quantiles``) by its quantile within the
portfolio at the snapshot, q being best; ties share a score and a customer without any
movement gets the worst recency score.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RFM_SEGMENTS: dict[str, str] = {
    "champions": "recent, frequent and among the most profitable: protect and grow",
    "growing": "recently active but not yet a top relationship: room to cross-sell",
    "steady": "neither recent nor quiet: business as usual",
    "at_risk": "quiet lately although frequent or profitable: call before the business leaves",
    "dormant": "quiet and small: reactivate or simplify servicing",
    "lost": "no account movement and no income in the window, or the lowest score on all three",
}


def quantile_score(
    values: pd.Series, quantiles: int, *, higher_is_better: bool = True
) -> pd.Series:
    """Score each value 1..``quantiles`` by its quantile; ties share a score, missing values score 1.

    The score is the quantile bucket of the value's mid-rank percentile:
    ``1 + floor(quantiles * (rank - 1/2) / n)`` with average ranks among the ``n``
    non-missing values, ordered so that the best value has the highest rank (so n
    distinct values with n = quantiles score 1..n, and all-equal values score the middle).
    """
    ordered = values if higher_is_better else -values
    ranks = ordered.rank(method="average")
    n = int(ranks.notna().sum())
    if n == 0:
        return pd.Series(1, index=values.index, dtype="int64")
    score = (1 + np.floor(quantiles * (ranks - 0.5) / n)).clip(1, quantiles)
    return score.fillna(1).astype("int64")


def rfm_scores(business: pd.DataFrame, *, quantiles: int) -> pd.DataFrame:
    """RFM scores of each customer from ``recency_days``, ``frequency`` and ``monetary``.

    Returns ``r_score``, ``f_score``, ``m_score``, the code ``rfm`` (e.g. ``"545"``) and
    the ``rfm_segment`` (see ``rfm_segment``), on ``business``'s index.
    """
    scores = pd.DataFrame(
        {
            # A customer that never moved money ranks as the least recent (and counts in n).
            "r_score": quantile_score(
                business["recency_days"].fillna(np.inf), quantiles, higher_is_better=False
            ),
            "f_score": quantile_score(business["frequency"].astype(float), quantiles),
            "m_score": quantile_score(business["monetary"], quantiles),
        },
        index=business.index,
    )
    scores["rfm"] = (
        scores["r_score"].astype(str)
        + scores["f_score"].astype(str)
        + scores["m_score"].astype(str)
    )
    inactive = (business["frequency"] == 0) & (business["monetary"] <= 0)
    scores["rfm_segment"] = rfm_segment(
        scores["r_score"],
        scores["f_score"],
        scores["m_score"],
        quantiles=quantiles,
        inactive=inactive,
    )
    return scores


def rfm_segment(
    r: pd.Series, f: pd.Series, m: pd.Series, *, quantiles: int, inactive: pd.Series | None = None
) -> pd.Series:
    """Name the segment of each RFM score; the first matching rule wins.

    With ``high`` = score at least ``ceil(0.7 q)`` and ``low`` = score at most
    ``floor(0.4 q)`` (for q = 5: high is 4-5, low is 1-2):

    1. lost: ``inactive`` (no movement and no income), or all three scores are 1;
    2. champions: R, F and M all high;
    3. at_risk: R low while F or M is high;
    4. dormant: R low;
    5. growing: R high (and not a champion);
    6. steady: the rest.
    """
    high, low = math.ceil(0.7 * quantiles), math.floor(0.4 * quantiles)
    inactive = pd.Series(False, index=r.index) if inactive is None else inactive
    conditions = [
        inactive | ((r == 1) & (f == 1) & (m == 1)),
        (r >= high) & (f >= high) & (m >= high),
        (r <= low) & ((f >= high) | (m >= high)),
        r <= low,
        r >= high,
    ]
    names = ["lost", "champions", "at_risk", "dormant", "growing"]
    return pd.Series(np.select(conditions, names, default="steady"), index=r.index, dtype="str")
