"""Records on or after a snapshot change nothing the value stage computes at that snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from research.value import (
    early_warning_inputs,
    loyalty_index,
    relationship_business,
    satisfaction_index,
)
from research.value.params import LGDParams, LoyaltyParams, SatisfactionParams

_feature_fixtures = pytest.importorskip("_feature_fixtures")

LGD = LGDParams(
    collateral={
        "unsecured": 0.45,
        "real_estate": 0.25,
        "receivables": 0.35,
        "equipment": 0.35,
        "project_assets": 0.3,
        "guarantee": 0.3,
    },
    product_adjustment={"revolver": 0.05},
)
SATISFACTION = SatisfactionParams(
    response_target_hours=24, weights={"survey": 0.6, "complaint_free": 0.2, "responsiveness": 0.2}
)
LOYALTY = LoyaltyParams(
    tenure_cap_years=10,
    product_breadth_cap=3,
    weights={"tenure": 1, "contact_regularity": 1, "account_regularity": 1, "product_breadth": 1},
)


def _value_inputs(
    tables: dict[str, pd.DataFrame], ids: list[str], s: pd.Timestamp
) -> list[pd.DataFrame]:
    business = relationship_business(
        tables, ids, s, window_months=12, funding_cost=0.03, payments_margin=0.001, ccf=0.5, lgd=LGD
    )
    satisfaction = satisfaction_index(
        tables["interactions"], ids, s, window_months=12, params=SATISFACTION
    )
    loyalty = loyalty_index(tables, ids, s, window_months=12, params=LOYALTY)
    watch = early_warning_inputs(tables, [s], window_months=3)
    watch = watch[watch["customer_id"].isin(ids)].sort_values("customer_id").reset_index(drop=True)
    return [business, satisfaction, loyalty, watch]


@pytest.mark.parametrize("seed", range(6))
def test_later_records_change_no_value_input(seed):
    rng = np.random.default_rng(seed)
    tables = _feature_fixtures.random_portfolio(rng, n_customers=7)
    s = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 600)))
    if seed % 2:
        s = s.replace(day=1)  # month starts: instalments fall due exactly on the boundary
    customers = tables["customers"]
    ids = sorted(customers.loc[customers["onboarding_date"] < s, "customer_id"])
    before = _value_inputs(tables, ids, s)
    after = _value_inputs(_feature_fixtures.perturb_after(tables, s, rng), ids, s)
    for left, right in zip(after, before, strict=True):
        pdt.assert_frame_equal(left, right)
