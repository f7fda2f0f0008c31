"""Customer value on a bank's real export: empty rates and the open vocabulary levels, hand-computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from research._params import ParamsError
from research.data.contract import COLLATERAL_TYPES, OPEN_LEVELS, PRODUCTS
from research.value.params import LGDParams
from research.value.relationship import facility_lgd, priced_facilities, trailing_income

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = pd.Timestamp("2024-01-01")


def _facilities(products, rates, fees, originated) -> pd.DataFrame:
    n = len(products)
    return pd.DataFrame(
        {
            "facility_id": [f"F{i + 1}" for i in range(n)],
            "customer_id": ["C1"] * n,
            "product": products,
            "origination_date": pd.to_datetime(originated),
            "interest_rate": rates,
            "fee_rate": fees,
            "limit_amount": [1000.0] * n,
        }
    )


def test_an_empty_rate_takes_its_products_median_then_the_books_point_in_time():
    facilities = _facilities(
        ["term_loan", "term_loan", "revolver", "term_loan", "trade_finance", "term_loan"],
        [0.04, 0.06, 0.08, np.nan, np.nan, 0.99],
        [np.nan] * 6,
        ["2020-01-01"] * 5 + ["2024-01-01"],  # F6 originates on the snapshot: not seen
    )
    priced = priced_facilities(facilities, SNAPSHOT)
    # F4: median of the term loans seen (0.04, 0.06); F5: no trade finance seen, the book's
    # median (0.04, 0.06, 0.08). No fee rate is known anywhere: no fee income.
    assert priced["interest_rate"].tolist() == pytest.approx([0.04, 0.06, 0.08, 0.05, 0.06, 0.99])
    assert priced["fee_rate"].tolist() == [0.0] * 6
    assert facilities["interest_rate"].isna().sum() == 2  # the input is not modified


def test_complete_rates_are_returned_as_they_are():
    facilities = _facilities(["revolver"], [0.05], [0.01], ["2020-01-01"])
    assert priced_facilities(facilities, SNAPSHOT) is facilities


def test_no_interest_rate_to_go_on_is_an_error_not_zero_income():
    facilities = _facilities(
        ["term_loan", "revolver"], [np.nan] * 2, [0.01] * 2, ["2020-01-01"] * 2
    )
    with pytest.raises(
        ValueError, match=r"facilities\.interest_rate is empty for every facility .*Fix: "
    ):
        priced_facilities(facilities, SNAPSHOT)


def test_trailing_income_prices_an_empty_rate_instead_of_dropping_it():
    facilities = _facilities(
        ["term_loan", "term_loan", "term_loan"],
        [0.03, 0.05, np.nan],
        [0.01, 0.01, np.nan],
        ["2020-01-01"] * 3,
    )
    balances = pd.DataFrame(
        {
            "facility_id": ["F3"],
            "customer_id": ["C1"],
            "month_end": pd.to_datetime(["2023-12-31"]),
            "drawn_amount": [600.0],
            "limit_amount": [1200.0],
        }
    )
    income = trailing_income(facilities, balances, SNAPSHOT, months=12).loc["C1"]
    assert income["interest_income"] == pytest.approx(600 * 0.04 / 12)
    assert income["fee_income"] == pytest.approx(1200 * 0.01 / 12)


def _lgd_params() -> LGDParams:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    return LGDParams(**params["value"]["lgd"])


def test_params_value_every_collateral_and_product_including_the_open_levels():
    lgd = _lgd_params()
    assert set(lgd.collateral) == {*COLLATERAL_TYPES, *OPEN_LEVELS}
    assert set(lgd.product_adjustment) == {*PRODUCTS, *OPEN_LEVELS}
    facilities = pd.DataFrame(
        {
            "collateral_type": ["other", "unknown", "unknown", "real_estate"],
            "product": ["term_loan", "unknown", "revolver", "other"],
        }
    )
    # other and unknown collateral: unsecured LGD; other and unknown products: no adjustment
    assert facility_lgd(facilities, lgd).tolist() == pytest.approx([0.45, 0.45, 0.50, 0.25])


def test_lgd_params_refuse_names_outside_the_contract():
    with pytest.raises(
        ParamsError, match=r"value\.lgd\.collateral .*\['unsecurd'\] \(did you mean 'unsecured'\?\)"
    ):
        LGDParams(collateral={"unsecurd": 0.45}, product_adjustment={})
    with pytest.raises(ParamsError, match=r"value\.lgd\.product_adjustment .*\['loan'\]"):
        LGDParams(collateral={"other": 0.45}, product_adjustment={"loan": 0.0})
