"""params.yaml is checked key by key: typos, missing keys, wrong types and bad values stop early."""

from __future__ import annotations

import copy

import pytest

from research.config import ParamsError, load_settings, parse_section, parse_settings, read_params


@pytest.fixture(scope="module")
def raw_params() -> dict:
    return read_params()


def test_project_params_parse(raw_params):
    settings = load_settings()
    assert settings.seed == raw_params["seed"]
    assert settings.models.credit.xgb.max_depth == raw_params["models"]["credit"]["xgb"]["max_depth"]
    assert settings.model("churn").label == raw_params["models"]["churn"]["label"]


def test_typo_names_the_key_and_suggests_the_fix(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["models"]["credit"]["xgb"]["max_dept"] = broken["models"]["credit"]["xgb"].pop("max_depth")
    with pytest.raises(ParamsError) as err:
        parse_settings(broken)
    assert "unknown key 'models.credit.xgb.max_dept' (did you mean 'models.credit.xgb.max_depth'?)" in str(err.value)


def test_missing_key(raw_params):
    broken = copy.deepcopy(raw_params)
    del broken["labels"]["churn_horizon_months"]
    with pytest.raises(ParamsError, match=r"missing key 'labels\.churn_horizon_months'"):
        parse_settings(broken)


def test_wrong_type(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["data"]["synthetic"]["n_customers"] = "many"
    with pytest.raises(ParamsError, match=r"data\.synthetic\.n_customers must be int, got str 'many'"):
        parse_settings(broken)


def test_value_outside_allowed_set(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["explain"]["method"] = "lime"
    with pytest.raises(ParamsError, match=r"explain\.method must be one of woodelf, native, shap, got 'lime'"):
        parse_settings(broken)


def test_bad_date_and_rule(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["split"]["oot_first_snapshot"] = "2023-13-01"
    with pytest.raises(ParamsError, match=r"split\.oot_first_snapshot must be an ISO date"):
        parse_settings(broken)
    broken = copy.deepcopy(raw_params)
    broken["models"]["credit"]["grades"]["upper_pd"] = [0.01, 0.005, 0.02, 0.03, 0.06, 0.12]
    with pytest.raises(ParamsError, match=r"grades\.upper_pd must increase strictly"):
        parse_settings(broken)


def test_section_parse_matches_whole(raw_params):
    assert parse_section("labels", raw_params["labels"]) == load_settings().labels
    with pytest.raises(ParamsError, match="unknown section 'label'"):
        parse_section("label", raw_params["labels"])
