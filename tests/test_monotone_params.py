"""Monotone constraints per column (issue 15): ``models.<name>.monotone`` as a mapping."""

from __future__ import annotations

import copy
import types

import pytest

from research.config import ParamsError, parse_settings, read_params
from research.stages.train import monotone_directions


@pytest.fixture(scope="module")
def raw() -> dict:
    return read_params()


def _spec(raw: dict, monotone: object):
    params = copy.deepcopy(raw)
    params["models"]["credit"]["monotone"] = monotone
    return parse_settings(params).model("credit")


def test_a_mapping_constrains_the_named_columns_by_their_own_names(raw):
    spec = _spec(raw, {"PAY_0": 1, "LIMIT_BAL": -1, "util<90d": 1, "AGE_BAND": 0})
    preparation = types.SimpleNamespace(renamed={"util_lt_90d": "util<90d"})
    features = ["PAY_0", "LIMIT_BAL", "util_lt_90d", "AGE_BAND", "BILL_AMT1"]
    assert monotone_directions("credit", spec, features, preparation) == {
        "PAY_0": 1,
        "LIMIT_BAL": -1,
        "util_lt_90d": 1,  # the modelled (renamed) name; 0 and unnamed columns stay free
    }


def test_true_takes_the_catalog_and_false_none(raw):
    features = ["rep_max_dpd_12m", "fac_revolver_utilisation"]
    on = monotone_directions("credit", _spec(raw, True), features)
    assert on and set(on) <= set(features) and set(on.values()) <= {-1, 1}
    assert monotone_directions("credit", _spec(raw, False), features) == {}


def test_an_unknown_column_is_refused_naming_it(raw):
    spec = _spec(raw, {"PAY_O": 1})
    with pytest.raises(ValueError, match=r"models\.credit\.monotone names 'PAY_O'.*PAY_0"):
        monotone_directions("credit", spec, ["PAY_0", "LIMIT_BAL"])


@pytest.mark.parametrize("bad", [{"PAY_0": 2}, {"PAY_0": "up"}, "yes"])
def test_a_direction_other_than_1_minus_1_or_0_is_refused(raw, bad):
    with pytest.raises(ParamsError, match=r"monotone"):
        _spec(raw, bad)
