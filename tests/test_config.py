"""params.yaml is checked key by key: typos, missing keys, wrong types and bad values stop early."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from research.config import ParamsError, load_settings, parse_section, parse_settings, read_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw_params() -> dict:
    return read_params()


def test_project_params_parse(raw_params):
    settings = load_settings()
    assert settings.seed == raw_params["seed"]
    assert (
        settings.models["credit"].xgb.max_depth
        == raw_params["models"]["credit"]["xgb"]["max_depth"]
    )
    assert raw_params["models"]["churn"]["label"] == "churn"  # the event; the column follows
    assert settings.model("churn").label == "churn_12m"  # horizon_months
    assert settings.enabled_models == list(raw_params["models"])
    assert (
        settings.model_for_task("pd") == "credit"
        and settings.model_for_task("attrition") == "churn"
    )


def test_typo_names_the_key_and_suggests_the_fix(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["models"]["credit"]["xgb"]["max_dept"] = broken["models"]["credit"]["xgb"].pop(
        "max_depth"
    )
    with pytest.raises(ParamsError) as err:
        parse_settings(broken)
    assert (
        "unknown key 'models.credit.xgb.max_dept' (did you mean 'models.credit.xgb.max_depth'?)"
        in str(err.value)
    )


def test_missing_key(raw_params):
    broken = copy.deepcopy(raw_params)
    del broken["labels"]["horizons_months"]
    with pytest.raises(ParamsError, match=r"missing key 'labels\.horizons_months'"):
        parse_settings(broken)


def test_wrong_type(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["data"]["synthetic"]["n_customers"] = "many"
    with pytest.raises(
        ParamsError, match=r"data\.synthetic\.n_customers must be int, got str 'many'"
    ):
        parse_settings(broken)


def test_value_outside_allowed_set(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["explain"]["method"] = "lime"
    with pytest.raises(
        ParamsError, match=r"explain\.method must be one of woodelf, native, shap, got 'lime'"
    ):
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


def test_a_third_model_is_a_params_entry(raw_params):
    params = copy.deepcopy(raw_params)
    params["labels"]["horizons_months"] = [6, 12]
    params["models"]["default_6m"] = {
        **copy.deepcopy(params["models"]["credit"]),
        "label": "default_6m",
        "horizon_months": 6,
        "registry_name": "credit_pd_6m",
    }
    settings = parse_settings(params)
    assert settings.enabled_models == ["credit", "churn", "default_6m"]
    assert settings.model("default_6m").graded and settings.model("default_6m").task == "pd"


def test_model_errors_name_the_model_and_the_fix(raw_params):
    settings = load_settings()
    with pytest.raises(
        ParamsError,
        match=r"unknown model 'credt' \(did you mean 'credit'\?\); params.yaml models: credit, churn",
    ):
        settings.model("credt")
    cases = [
        (
            ("models", "credit", "label"),
            "default_6m",
            r"models\.credit\.horizon_months \(12\) must equal the window of its label 'default_6m'; "
            r"or set models\.credit\.label to 'default' alone",
        ),
        (
            ("models", "credit", "label"),
            "defualt",
            r"models\.credit\.label 'defualt' is not a label the features stage builds: name the "
            r"event \(default, churn; .*\(did you mean 'default'\?\)",
        ),
        (
            ("models", "credit", "horizon_months"),
            6,
            r"models\.credit\.horizon_months \(6\) is not among labels\.horizons_months \[12\], so "
            r"the panel has no column 'default_6m' \(it carries default_12m, churn_12m\)\. Fix: set "
            r"models\.credit\.horizon_months to one of \[12\], or add 6 to labels\.horizons_months",
        ),
        (
            ("labels", "horizons_months"),
            [6],
            r"models\.credit\.horizon_months \(12\) is not among labels\.horizons_months \[6\]",
        ),
        (
            ("models", "churn", "registry_name"),
            "credit_pd",
            r"models\.churn\.registry_name 'credit_pd' is already the registry name of models\.credit",
        ),
        (
            ("models", "credit", "xgb", "learning_rate"),
            -0.1,
            r"models\.credit\.xgb\.learning_rate must lie in \(0, 1\]",
        ),
        (
            ("models", "credit", "xgb", "n_estimators"),
            0,
            r"models\.credit\.xgb\.n_estimators must be at least 1",
        ),
        (
            ("models", "churn", "grading"),
            "master_scale",
            r"models\.churn\.grades\.names must name the grades",
        ),
        (
            ("models", "credit", "task"),
            "lgd",
            r"models\.credit\.task must be one of pd, attrition, propensity",
        ),
        (
            ("labels", "horizons_months"),
            [],
            r"labels\.horizons_months must name at least one horizon",
        ),
    ]
    for path, value, message in cases:
        broken = copy.deepcopy(raw_params)
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(ParamsError, match=message):
            parse_settings(broken)


def test_one_number_moves_the_panel_labels_and_every_model_label(tmp_path):
    """params.yaml states the horizon once (``&horizon``): editing it changes everything."""
    text = (ROOT / "params.yaml").read_text()
    assert text.count("[&horizon 12]") == 1 and text.count("horizon_months: *horizon") == 2
    edited = tmp_path / "params.yaml"
    edited.write_text(text.replace("[&horizon 12]", "[&horizon 6]"))
    settings = load_settings(edited)
    assert settings.labels.horizons_months == [6]
    assert [settings.model(m).label for m in ("credit", "churn")] == ["default_6m", "churn_6m"]
    assert [settings.model(m).horizon_months for m in ("credit", "churn")] == [6, 6]


def test_a_full_column_name_still_works_and_flat_labels_are_columns(raw_params):
    params = copy.deepcopy(raw_params)
    params["labels"]["horizons_months"] = [6, 12]
    params["models"]["credit"].update(label="default_6m", horizon_months=6)
    params["models"]["churn"].update(label="churn", source="data/flat.parquet", horizon_months=3)
    settings = parse_settings(params)
    assert settings.model("credit").label == "default_6m"
    assert settings.model("churn").label == "churn"  # a flat table's column, as it is
    params["models"]["credit"]["enabled"] = False  # a disabled model needs no panel column
    params["labels"]["horizons_months"] = [12]
    assert parse_settings(params).model("credit").label == "default_6m"


def test_model_names_must_be_plain(raw_params):
    broken = copy.deepcopy(raw_params)
    broken["models"]["Credit PD"] = broken["models"].pop("credit")
    with pytest.raises(ParamsError, match=r"models\.Credit PD is not a valid model name"):
        parse_settings(broken)


def test_feature_selection_include_and_exclude():
    from research.models.params import FeatureSelection

    columns = ["a", "b", "c"]
    assert FeatureSelection(include=[], exclude=["b"]).select(columns) == ["a", "c"]
    assert FeatureSelection(include=["c", "a"], exclude=[]).select(columns) == ["a", "c"]
    with pytest.raises(KeyError, match=r"lacks: \['z'\]"):
        FeatureSelection(include=["z"], exclude=[]).select(columns)
    with pytest.raises(ParamsError, match="in both include and exclude"):
        FeatureSelection(include=["a"], exclude=["a"])
