"""Risk-adjusted customer lifetime value (CLV) and how it splits.

For a customer with expected yearly margin ``m``, yearly churn probability ``c``,
yearly default probability ``d`` (PD), LGD-weighted exposure ``L = sum(LGD x EAD)``,
horizon ``H`` years and discount rate ``r`` (``v_t = (1 + r)^-t``):

* the relationship is still alive at the end of year ``t`` with probability
  ``S(t) = ((1 - c)(1 - d))^t`` (both models' 12-month probabilities held constant);
* the margin of year ``t`` is earned at its end if the relationship is alive then;
* a default in year ``t`` needs the relationship alive at its start and costs
  ``d x L`` (expected credit loss, PD x LGD x exposure, exposure held flat).

So ``CLV = sum_t v_t m S(t) - sum_t v_t d L S(t - 1)``, which splits exactly into

    gross margin      sum_t v_t m                       (kept for the whole horizon)
  - churn attrition   sum_t v_t m (1 - (1 - c)^t)        (lost when the client leaves)
  - default attrition sum_t v_t m ((1 - c)^t - S(t))     (lost when the client defaults)
  - expected credit loss.

The relationship is valued, not the contracts: maturing facilities are assumed to be
renewed on the same terms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLV_PARTS = ("gross_margin", "churn_attrition", "default_attrition", "expected_credit_loss")


def annual_probability(probability: pd.Series | np.ndarray, horizon_months: int) -> np.ndarray:
    """A probability over ``horizon_months`` as a yearly probability (constant hazard)."""
    p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    return 1.0 - (1.0 - p) ** (12.0 / horizon_months)


def lifetime_value(
    yearly_margin: pd.Series,
    churn_probability: pd.Series,
    default_probability: pd.Series,
    loss_exposure: pd.Series,
    *,
    horizon_years: int,
    discount_rate: float,
) -> pd.DataFrame:
    """CLV of each customer and its parts (see the module docstring), on ``yearly_margin``'s index.

    Args:
        yearly_margin: Expected margin per year.
        churn_probability: Yearly probability that the client leaves.
        default_probability: Yearly probability of default (PD).
        loss_exposure: Sum over the customer's facilities of LGD x exposure at default.
        horizon_years: Number of years valued.
        discount_rate: Yearly discount rate.

    Returns:
        Columns ``gross_margin``, ``churn_attrition``, ``default_attrition``,
        ``retained_margin``, ``expected_credit_loss`` and ``clv``.
    """
    t = np.arange(1, horizon_years + 1, dtype=float)
    discount = (1.0 + discount_rate) ** -t
    m = yearly_margin.to_numpy(dtype=float)[:, None]
    stay = 1.0 - np.clip(np.asarray(churn_probability, dtype=float), 0.0, 1.0)[:, None]
    pd_ = np.clip(np.asarray(default_probability, dtype=float), 0.0, 1.0)[:, None]
    alive = (stay * (1.0 - pd_)) ** t
    alive_at_start = (stay * (1.0 - pd_)) ** (t - 1.0)
    gross = (m * discount).sum(axis=1)
    churn_attrition = (m * discount * (1.0 - stay**t)).sum(axis=1)
    default_attrition = (m * discount * (stay**t - alive)).sum(axis=1)
    loss = (pd_ * np.asarray(loss_exposure, dtype=float)[:, None] * alive_at_start * discount).sum(
        axis=1
    )
    retained = gross - churn_attrition - default_attrition
    return pd.DataFrame(
        {
            "gross_margin": gross,
            "churn_attrition": churn_attrition,
            "default_attrition": default_attrition,
            "retained_margin": retained,
            "expected_credit_loss": loss,
            "clv": retained - loss,
        },
        index=yearly_margin.index,
    )


def clv_split(frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Sum of the CLV parts (and the CLV) over the portfolio, or per group of ``by``."""
    columns = [*CLV_PARTS, "retained_margin", "clv"]
    if by is None:
        return frame[columns].sum().to_frame("total").T
    return frame.groupby(by, sort=True, observed=True)[columns].sum()
