"""Every params.yaml key's range and its relations to other keys are checked before any stage runs.

Each case edits the project's params.yaml in one place and expects ``parse_settings`` (which
``research notebook`` and ``research stage`` call first, through ``stage_context``) to stop
with a ``ParamsError`` naming the key. Values that work but do less than they say warn.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from research._params import add_months
from research.config import ParamsError, ParamsWarning, load_settings, parse_settings, read_params
from research.stages import run_stage

Edit = Callable[[dict], Any]


def put(path: str, value: Any) -> Edit:
    """An edit setting the dotted ``path`` (``models.credit.xgb.max_depth``) to ``value``."""

    def edit(params: dict) -> None:
        *parents, last = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def rename(path: str, new: str) -> Edit:
    """An edit renaming the key at the dotted ``path`` to ``new`` (a typo)."""

    def edit(params: dict) -> None:
        *parents, last = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[new] = node.pop(last)

    return edit


GRADES = ["A", "B", "C", "D", "E", "F", "G"]
UPPER_PD = [0.003, 0.007, 0.015, 0.03, 0.06, 0.12]

CASES: list[tuple[str, Edit, str]] = [
    # ------------------------------------------------------------------ features
    ("windows-empty", put("features.windows_months", []), r"features\.windows_months must name at least one window"),
    ("windows-zero", put("features.windows_months", [0, 6, 12]), r"features\.windows_months must be positive months"),
    ("windows-order", put("features.windows_months", [6, 3, 12]), r"features\.windows_months must increase strictly"),
    ("windows-repeat", put("features.windows_months", [3, 3, 12]), r"features\.windows_months must increase strictly"),
    ("long-window-zero", put("features.long_window_months", 0), r"features\.long_window_months must be at least 1"),
    ("trend-zero", put("features.trend_recent_months", 0), r"features\.trend_recent_months must be at least 1"),
    ("trend-too-long", put("features.trend_recent_months", 100), r"features\.trend_recent_months must not exceed the longest of features\.windows_months \(12\)"),
    ("dpd-empty", put("features.dpd_thresholds", []), r"features\.dpd_thresholds must name at least one threshold"),
    ("dpd-zero", put("features.dpd_thresholds", [0, 30]), r"features\.dpd_thresholds must be positive days"),
    ("dpd-order", put("features.dpd_thresholds", [60, 30, 90]), r"features\.dpd_thresholds must increase strictly"),
    ("dpd-past-default", put("features.dpd_thresholds", [30, 60, 120]), r"features\.dpd_thresholds \[120\] must not exceed labels\.default_dpd \(90\)"),
    ("overdue-days-zero", put("features.financials_overdue_days", 0), r"features\.financials_overdue_days must be at least 1 day"),
    ("missing-share-five", put("features.max_missing_share", 5), r"features\.max_missing_share must lie in \[0, 1\]"),
    ("snapshots-reversed", put("features.snapshots.first", "2025-04-01"), r"features\.snapshots\.first must not be after features\.snapshots\.last"),
    ("snapshots-every-zero", put("features.snapshots.every_months", 0), r"features\.snapshots\.every_months must be at least 1"),
    ("snapshots-bad-date", put("features.snapshots.last", "2025-02-30"), r"features\.snapshots\.last must be an ISO date"),
    ("snapshot-after-data", put("features.snapshots.last", "2026-01-01"), r"features\.snapshots\.last \(2026-01-01\) must not be after the end of the data \(2025-01-01, data\.synthetic\.start \+ data\.synthetic\.months\)"),
    ("snapshot-before-history", put("features.snapshots.first", "2019-07-01"), r"features\.snapshots\.first \(2019-07-01\) must leave 12 months of history after data\.synthetic\.start .*earliest possible 2020-01-01"),
    ("window-longer-than-history", put("features.windows_months", [3, 6, 24]), r"features\.snapshots\.first \(2020-01-01\) must leave 24 months of history"),
    ("long-window-longer-than-history", put("features.long_window_months", 18), r"features\.snapshots\.first \(2020-01-01\) must leave 18 months of history"),
    ("history-shorter-than-windows", put("data.synthetic.start", "2019-06-01"), r"features\.snapshots\.first \(2020-01-01\) must leave 12 months of history after data\.synthetic\.start \(2019-06-01\)"),
    ("snapshots-mode-unknown", put("features.snapshots.mode", "weekly"), r"features\.snapshots\.mode must be one of calendar, events, got 'weekly'"),
    ("anchors-empty-in-events-mode", lambda p: p["features"]["snapshots"].update(mode="events", anchors=""), r"features\.snapshots\.anchors must name the anchor events of mode: events"),
    ("anchors-unknown", put("features.snapshots.anchors", "applications.decision"), r"features\.snapshots\.anchors must be one of applications, applications\.decided_date, applications\.submitted_date or the path of a table ending in \.parquet"),
    ("snapshots-first-not-a-date", put("features.snapshots.first", "soon"), r"features\.snapshots\.first must be an ISO date"),
    # ------------------------------------------------------------------ split
    ("oot-before-snapshots", put("split.oot_first_snapshot", "2019-10-01"), r"split\.oot_first_snapshot must lie within the snapshots"),
    ("oot-after-snapshots", put("split.oot_first_snapshot", "2025-04-01"), r"split\.oot_first_snapshot must lie within the snapshots"),
    ("oot-after-snapshot-dates", lambda p: p["features"]["snapshots"].update(last="2025-02-01") or p["split"].update(oot_first_snapshot="2025-02-01"), r"split\.oot_first_snapshot \(2025-02-01\) is after the last snapshot date \(2025-01-01"),
    ("oot-purges-development", put("split.oot_first_snapshot", "2020-07-01"), r"split\.oot_first_snapshot must be at least models\.credit\.horizon_months \(12\) after features\.snapshots\.first"),
    ("oot-labels-censored", put("split.oot_first_snapshot", "2024-07-01"), r"split\.oot_first_snapshot \(2024-07-01\) plus models\.credit\.horizon_months \(12\) must not pass the end of the data .*latest possible: 2024-01-01"),
    ("valid-fraction-zero", put("split.valid_fraction", 0.0), r"split\.valid_fraction must lie in \(0, 1\)"),
    ("test-fraction-one", put("split.test_fraction", 1.0), r"split\.test_fraction must lie in \(0, 1\)"),
    ("min-events-zero", put("split.min_events", 0), r"split\.min_events must be at least 1"),
    ("min-events-typo", rename("split.min_events", "min_event"), r"unknown key 'split\.min_event' \(did you mean 'split\.min_events'\?\)"),
    ("oot-bad-date", put("split.oot_first_snapshot", "2023-13-01"), r"split\.oot_first_snapshot must be an ISO date"),
    # ------------------------------------------------------------------ labels
    ("default-dpd-zero", put("labels.default_dpd", 0), r"labels\.default_dpd must be at least 1 day"),
    ("horizon-negative", put("labels.horizons_months", [-12]), r"labels\.horizons_months must be positive months"),
    ("horizon-repeated", put("labels.horizons_months", [12, 12]), r"labels\.horizons_months must not repeat a horizon"),
    ("default-below-thresholds", put("labels.default_dpd", 60), r"features\.dpd_thresholds \[90\] must not exceed labels\.default_dpd \(60\)"),
    # ------------------------------------------------------------------ models
    ("learning-rate-negative", put("models.credit.xgb.learning_rate", -0.1), r"models\.credit\.xgb\.learning_rate must lie in \(0, 1\]"),
    ("learning-rate-nan", put("models.credit.xgb.learning_rate", float("nan")), r"models\.credit\.xgb\.learning_rate must be a finite number"),
    ("n-estimators-zero", put("models.credit.xgb.n_estimators", 0), r"models\.credit\.xgb\.n_estimators must be at least 1"),
    ("subsample-zero", put("models.churn.xgb.subsample", 0), r"models\.churn\.xgb\.subsample must lie in \(0, 1\]"),
    ("colsample-above-one", put("models.churn.xgb.colsample_bytree", 1.5), r"models\.churn\.xgb\.colsample_bytree must lie in \(0, 1\]"),
    ("max-depth-zero", put("models.credit.xgb.max_depth", 0), r"models\.credit\.xgb\.max_depth must lie in \[1, 20\]"),
    ("max-depth-deep", put("models.credit.xgb.max_depth", 25), r"models\.credit\.xgb\.max_depth must lie in \[1, 20\]"),
    ("min-child-weight-negative", put("models.credit.xgb.min_child_weight", -1.0), r"models\.credit\.xgb\.min_child_weight must be >= 0"),
    ("reg-lambda-negative", put("models.credit.xgb.reg_lambda", -1.0), r"models\.credit\.xgb\.reg_lambda must be >= 0"),
    ("early-stopping-zero", put("models.credit.xgb.early_stopping_rounds", 0), r"models\.credit\.xgb\.early_stopping_rounds must be at least 1"),
    ("model-horizon-zero", put("models.credit.horizon_months", 0), r"models\.credit\.horizon_months must be at least 1"),
    ("model-label-empty", put("models.credit.label", ""), r"models\.credit\.label must name the outcome column"),
    ("registry-name-empty", put("models.credit.registry_name", " "), r"models\.credit\.registry_name must not be empty"),
    ("panel-id-column", put("models.credit.id_column", "client_id"), r"models\.credit\.id_column must be customer_id for a model on the panel"),
    ("panel-date-column", put("models.churn.date_column", ""), r"models\.churn\.date_column must be snapshot_date for a model on the panel"),
    ("flat-source-suffix", put("models.credit.source", "tables/loans.xlsx"), r"models\.credit\.source must be \"panel\" or a Parquet or CSV file"),
    ("source-empty", put("models.credit.source", ""), r"models\.credit\.source must be \"panel\" or the path"),
    ("event-value-number", put("models.credit.event_value", 2), r"models\.credit\.event_value must be str, got int 2"),
    ("event-value-on-panel", put("models.credit.event_value", "Yes"), r"models\.credit\.event_value must be \"\" for a model on the panel"),
    ("allow-protected-text", put("models.churn.allow_protected", "AGE"), r"models\.churn\.allow_protected must be a list"),
    ("allow-protected-on-panel", put("models.churn.allow_protected", ["AGE"]), r"models\.churn\.allow_protected must be \[\] for a model on the panel"),
    ("grades-out-of-range", put("models.credit.grades.upper_pd", [*UPPER_PD[:-1], 1.5]), r"models\.credit\.grades\.upper_pd must be probabilities in \(0, 1\)"),
    ("grades-not-increasing", put("models.credit.grades.upper_pd", [0.01, 0.005, *UPPER_PD[2:]]), r"models\.credit\.grades\.upper_pd must increase strictly"),
    ("grades-count", put("models.credit.grades.names", GRADES[:-1]), r"models\.credit\.grades needs one more name than upper_pd bounds"),
    ("grades-repeated", put("models.credit.grades.names", ["A", "A", *GRADES[2:]]), r"models\.credit\.grades\.names must not repeat a grade"),
    ("decile-bounds", put("models.churn.grades.upper_pd", [0.1]), r"models\.churn\.grades\.upper_pd must be empty when grades\.names is"),
    ("pd-model-in-deciles", lambda p: p["models"]["credit"].update(grading="deciles", grades={"names": [], "upper_pd": []}), r"models\.credit\.grading must be master_scale: the value stage reads the grades"),
    # ------------------------------------------------------------------ explain
    ("report-sample-negative", put("explain.report_sample", -5), r"explain\.report_sample must be at least 1"),
    ("reason-codes-zero", put("explain.reason_codes", 0), r"explain\.reason_codes must be at least 1"),
    ("interaction-sample-zero", put("explain.interaction_sample", 0), r"explain\.interaction_sample must be at least 1"),
    # ------------------------------------------------------------------ validation
    ("hhi-above-one", put("validation.hhi_bands", [0.2, 1.5]), r"validation\.hhi_bands must be shares of at most 1"),
    ("psi-bands-reversed", put("validation.psi_bands", [0.25, 0.10]), r"validation\.psi_bands must be two increasing"),
    ("psi-bins-one", put("validation.psi_bins", 1), r"validation\.psi_bins must be at least 2"),
    ("calibration-alpha-zero", put("validation.calibration_alpha", 0.0), r"validation\.calibration_alpha must lie in \(0, 1\)"),
    # ------------------------------------------------------------------ value
    ("discount-rate-percent", put("value.discount_rate", 10), r"value\.discount_rate must lie in \(-1, 1\): a yearly rate as a fraction"),
    ("funding-cost-percent", put("value.funding_cost", 3.0), r"value\.funding_cost must lie in \(-1, 1\)"),
    ("payments-margin-negative", put("value.payments_margin", -0.1), r"value\.payments_margin must lie in \[0, 1\)"),
    ("tier-names-repeated", put("value.tier_names", ["low", "core", "core", "top"]), r"value\.tier_names must not repeat a tier"),
    ("high-value-tier-typo", put("value.high_value_tiers", ["hgh", "top"]), r"value\.high_value_tiers names tiers not in tier_names: \['hgh'\] \(did you mean 'high'\?\)"),
    ("treatment-tier-typo", rename("value.treatments.core", "cor"), r"value\.treatments names tiers not in tier_names: \['cor'\] \(did you mean 'core'\?\)"),
    ("treatment-band-typo", rename("value.treatments.top.high_risk", "hi_risk"), r"value\.treatments\.top names bands not in risk_bands: \['hi_risk'\] \(did you mean 'high_risk'\?\)"),
    ("risk-band-empty", put("value.risk_bands.medium_risk", []), r"value\.risk_bands\.medium_risk must list at least one grade"),
    ("risk-band-unknown-grade", put("value.risk_bands.high_risk", ["F", "H"]), r"value\.risk_bands names grades not in models\.credit\.grades\.names: \['H'\]"),
    ("risk-band-missing-grade", put("value.risk_bands.high_risk", ["F"]), r"value\.risk_bands puts grades \['G'\] of models\.credit\.grades\.names in no band"),
    ("watch-dpd-at-default", put("value.watch.dpd_days", 90), r"value\.watch\.dpd_days must be below labels\.default_dpd \(90\)"),
    ("watch-reason-codes", put("value.watch.reason_codes", 5), r"value\.watch\.reason_codes must not exceed explain\.reason_codes \(4\)"),
    ("watch-grade-notches", put("value.watch.grade_notches", 7), r"value\.watch\.grade_notches must be below the number of grades of models\.credit \(7\)"),
    ("watch-pd-rise", put("value.watch.pd_rise", 0.0), r"value\.watch\.pd_rise must lie in \(0, 1\)"),
    ("satisfaction-weights-zero", put("value.satisfaction.weights", {"survey": 0, "complaint_free": 0, "responsiveness": 0}), r"value\.satisfaction\.weights must not all be zero"),
    # ------------------------------------------------------------------ data, compute, top level
    ("synthetic-months", put("data.synthetic.months", 12), r"data\.synthetic\.months must be at least 36"),
    ("synthetic-customers", put("data.synthetic.n_customers", 5), r"data\.synthetic\.n_customers must be at least 10"),
    ("synthetic-start-date", put("data.synthetic.start", "2019-02-30"), r"data\.synthetic\.start must be an ISO date"),
    ("synthetic-transactions-inf", put("data.synthetic.transactions_per_month", float("inf")), r"data\.synthetic\.transactions_per_month must be a finite number"),
    ("snapshot-after-as-of", put("data.as_of", "2024-06-30"), r"features\.snapshots\.last \(2025-01-01\) must not be after the end of the data \(the day after data\.as_of \(2024-06-30\)\)"),
    ("nthread-zero", put("compute.nthread", 0), r"compute\.nthread must be >= 1"),
    ("worker-memory", put("compute.dask_worker_memory", "lots"), r"compute\.dask_worker_memory must be a size"),
    ("seed-negative", put("seed", -1), r"seed must lie in \[0, 2\*\*31\)"),
    ("key-typo", rename("features.trend_recent_months", "trend_recent_month"), r"unknown key 'features\.trend_recent_month' \(did you mean 'features\.trend_recent_months'\?\)"),
]  # fmt: skip


@pytest.fixture(scope="module")
def raw_params() -> dict:
    return read_params()


def edited(raw_params: dict, edit: Edit) -> dict:
    params = copy.deepcopy(raw_params)
    edit(params)
    return params


def test_enough_cases():
    assert len(CASES) >= 36
    assert len({name for name, _, _ in CASES}) == len(CASES)


def test_project_params_parse_without_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = load_settings()
    assert settings.features.history_months == 12
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_params_stop_with_the_key(raw_params, edit, message):
    with pytest.raises(ParamsError, match=message) as err:
        parse_settings(edited(raw_params, edit))
    assert str(err.value).startswith("params.yaml: ")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            put("models.credit.xgb.early_stopping_rounds", 600),
            r"models\.credit\.xgb\.early_stopping_rounds \(600\) is not below n_estimators \(600\)",
        ),
        (
            put("split.oot_first_snapshot", "2023-05-01"),
            r"split\.oot_first_snapshot \(2023-05-01\) is not a snapshot date .*starts at 2023-07-01",
        ),
    ],
    ids=["early-stopping-never-stops", "oot-between-snapshots"],
)
def test_odd_but_working_params_warn(raw_params, edit, message):
    with pytest.warns(ParamsWarning, match=message):
        parse_settings(edited(raw_params, edit))


def test_thresholds_below_the_default_parse_quietly(raw_params):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_settings(edited(raw_params, put("features.dpd_thresholds", [30, 60])))


def test_own_tables_skip_the_synthetic_history(raw_params):
    """With a folder of tables the history is known only to the data stage (it checks it there)."""
    params = edited(raw_params, put("features.snapshots.first", "2019-07-01"))
    params["data"]["source"] = "data/own_tables"
    assert parse_settings(params).features.snapshots.first == "2019-07-01"
    params["features"]["snapshots"]["last"] = "2030-01-01"
    params["split"]["oot_first_snapshot"] = "2029-01-01"
    assert parse_settings(params).split.oot_first_snapshot == "2029-01-01"


def test_empty_grid_and_split_are_left_to_the_data(raw_params):
    """Empty first/last/oot are derived by the features stage from the data: nothing to check here."""
    params = copy.deepcopy(raw_params)
    params["features"]["snapshots"].update(first="", last="")
    params["split"]["oot_first_snapshot"] = ""
    settings = parse_settings(params)
    assert settings.features.snapshots.derived and settings.split.oot_first_snapshot == ""
    params["features"]["snapshots"]["first"] = "2020-01-01"  # one end only: still derived
    assert parse_settings(params).features.snapshots.derived
    params["split"]["oot_first_snapshot"] = "2024-07-01"  # censored labels: still caught
    with pytest.raises(ParamsError, match=r"split\.oot_first_snapshot \(2024-07-01\) plus"):
        parse_settings(params)
    events = copy.deepcopy(raw_params)
    events["features"]["snapshots"].update(mode="events", anchors="data/anchors.csv")
    events["split"]["oot_first_snapshot"] = ""
    assert parse_settings(events).features.snapshots.mode == "events"


def test_disabled_models_do_not_bind_the_split(raw_params):
    params = edited(raw_params, put("split.oot_first_snapshot", "2020-07-01"))
    for spec in params["models"].values():
        spec["enabled"] = False
    assert parse_settings(params).enabled_models == []


def test_history_boundaries_are_inclusive(raw_params):
    """The defaults sit on every boundary: first snapshot one longest window after the start,
    last snapshot at the end of the history."""
    settings = parse_settings(raw_params)
    syn, snapshots = settings.data.synthetic, settings.features.snapshots
    assert str(add_months(syn.start, settings.features.history_months)) == snapshots.first
    assert str(add_months(syn.start, syn.months)) == snapshots.last


def test_add_months_clips_the_day():
    assert str(add_months("2024-01-31", 1)) == "2024-02-29"
    assert str(add_months("2020-01-01", -13)) == "2018-12-01"


def test_a_stage_stops_before_it_runs(tmp_path, raw_params):
    """``research stage`` and ``research notebook`` go through stage_context: nothing runs or is written."""
    params = edited(raw_params, put("features.trend_recent_months", 100))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(ParamsError, match=r"features\.trend_recent_months"):
        run_stage("features", root=tmp_path, write=True)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["params.yaml"]
