"""The model card: read from the stages' files, rendered as a page and as the registry's Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from research.config import load_settings
from research.paths import (
    diagnostics_path,
    feature_dir,
    metrics_path,
    model_dir,
    run_file,
    source_info_path,
)
from research.reporting.html import external_references
from research.reporting.model_card import (
    NOT_SET,
    collect_model_card,
    model_card_html,
    model_card_markdown,
)
from research.stages.report import model_card_links

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {
    "as_of": "2024-12-31",
    "default_definition": "a facility 90 or more days past due",
    "kind": "synthetic",
}
TRAIN = {
    "holdout": "oot",
    "train": {"n": 15497, "events": 663, "auc": 0.89, "gini": 0.78, "brier": 0.0289},
    "valid": {"n": 3823, "events": 162, "auc": 0.83, "gini": 0.67, "brier": 0.0288},
    "oot": {"n": 7050, "events": 209, "auc": 0.8066, "gini": 0.6133, "brier": 0.0239},
    "best_iteration": 599,
    "round_cap_hit": True,
    "fit_notes": [],
    "n_features": 3,
    "oracle": {"auc": 0.8066, "oracle_auc": 0.8289, "gap": 0.0222},
    "calibration": {"method": "platt", "alpha": 0.01, "grades_tested": 7, "grades_outside": 1},
}
VALIDATION = {
    "discrimination": {
        "train": {"auc": 0.892797, "gini": 0.785595, "n": 15497, "events": 663},
        "valid": {"auc": 0.835468, "gini": 0.670936, "n": 3823, "events": 162},
        "oot": {"auc": 0.806646, "gini": 0.613291, "n": 7050, "events": 209},
    },
    "calibration": {
        "brier": 0.023886,
        "hl_p": 0.31,
        "observed_rate": 0.0296,
        "predicted_rate": 0.031,
        "classes_red": 0,
    },
    "lights": {"green": 144, "amber": 8, "red": 2, "grey": 3},
}
CHECKS = (
    "area,check,subject,value,threshold,light,reason\n"
    'stability,CSI,fin_revenue_growth,0.2509,"green < 0.10, red ≥ 0.25",red,r\n'
    'overfitting,AUC gap,train − oot,0.08615,"green < 0.03, red ≥ 0.06",red,r\n'
)


def make_card_project(root: Path) -> Path:
    """A project folder with what the stages leave for the card of ``credit``."""
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + 0.3 * x[:, 1] + rng.normal(size=400) > 1).astype(int)
    booster = xgb.train(
        {"max_depth": 2, "objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(x, label=y, feature_names=["utilisation", "dpd_max", "tenure"]),
        num_boost_round=10,
    )
    model_dir(root, "credit").mkdir(parents=True)
    booster.save_model(str(model_dir(root, "credit") / "model.ubj"))
    (model_dir(root, "credit") / "features.json").write_text(
        json.dumps({"features": ["utilisation", "dpd_max", "tenure"]})
    )
    # each stage's whole record, and its headline subset as the DVC metrics file
    diagnostics_path(root, "credit", "train.json").parent.mkdir(parents=True)
    diagnostics_path(root, "credit", "train.json").write_text(json.dumps(TRAIN))
    diagnostics_path(root, "credit", "validation.json").write_text(json.dumps(VALIDATION))
    metrics_path(root, "credit").write_text(json.dumps({"oot": {"auc": TRAIN["oot"]["auc"]}}))
    metrics_path(root, "credit_validation").write_text(
        json.dumps(
            {
                "discrimination": {"oot": {"auc": 0.806646}},
                "lights": VALIDATION["lights"],
            }
        )
    )
    (root / "plots" / "credit").mkdir(parents=True)
    (root / "plots" / "credit" / "checks.csv").write_text(CHECKS, encoding="utf-8")
    run_file(root, "credit").parent.mkdir(parents=True)
    run_file(root, "credit").write_text(
        json.dumps({"run_id": "r9", "model_name": "credit_pd", "model_version": "5"})
    )
    feature_dir(root).mkdir(parents=True)
    snapshots = [f"{y}-{m:02d}-01" for y in range(2020, 2025) for m in (1, 4, 7, 10)] + [
        "2025-01-01"
    ]
    (feature_dir(root) / "snapshots.json").write_text(
        json.dumps(
            {
                "mode": "calendar",
                "every_months": 3,
                "snapshots": snapshots,
                "oot_first_snapshot": "2023-04-01",
            }
        )
    )
    source_info_path(root).parent.mkdir(parents=True)
    source_info_path(root).write_text(json.dumps(SOURCE))
    return root


def make_card(root: Path):
    """The card of ``make_card_project(root)``'s credit model."""
    spec = load_settings(ROOT / "params.yaml").model("credit")
    return collect_model_card(
        root,
        "credit",
        spec,
        source=SOURCE,
        default_dpd=90,
        signoff="not signed off: no sign-off recorded (current version 5)",
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_card_project(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def card(project):
    return make_card(project)


def test_the_card_holds_purpose_target_window_features_performance_and_limits(card):
    assert card.purpose.startswith("Probability that the firm defaults")
    assert card.owner == NOT_SET and card.risk_tier == NOT_SET  # params.yaml has no such keys yet
    assert (
        card.target == "default_12m: default within 12 months; a facility 90 or more days past due"
    )
    assert card.data_window["out-of-time from"] == "2023-04-01"
    assert card.features_count == 3
    assert [name for name, _ in card.top_features][0] == "utilisation"
    assert abs(sum(share for _, share in card.top_features) - 1) < 1e-9
    perf = card.performance.set_index("set")
    # AUC and Gini from the validation metrics (one source with the validation report)
    assert perf.loc["out-of-time", "AUC"] == 0.806646 and perf.loc["train", "AUC"] == 0.892797
    assert perf.loc["out-of-time", "Brier"] == 0.023886
    assert perf.loc["valid", "Brier"] == 0.0288  # train metrics
    assert card.verdict == "red" and card.model_version == "5"
    limits = " ".join(card.known_limits)
    assert "round cap" in limits
    assert "2 red and 8 amber validation checks" in limits and "fin_revenue_growth" in limits
    assert "The last 4 snapshots (2024-04-01 to 2025-01-01)" in limits  # censored
    assert "1 of 7 grades outside" in card.calibration


def test_the_card_page_is_self_contained_and_links_back(card):
    page = model_card_html(card, links=model_card_links("credit"), built="2026-01-02")
    assert external_references(page) == []
    assert 'href="../index.html"' in page and 'href="validation.html"' in page
    assert "Model-risk tier" in page and "not set" in page
    assert "0.8066" in page  # the out-of-time AUC as the validation report shows it


def test_the_markdown_is_the_registry_description(card):
    text = model_card_markdown(card)
    assert text.startswith("**credit_pd** (model `credit` of params.yaml): Probability")
    assert "- Owner: not set" in text and "- Model-risk tier: not set" in text
    assert re.search(r"out-of-time: AUC 0\.8066, Gini 0\.6133, Brier 0\.0239", text)
    assert "- Validation: red (green 144, amber 8, red 2, grey 3)" in text
    assert "- Sign-off: not signed off" in text
    assert "`utilisation`" in text


def test_at_training_time_the_card_leaves_the_old_validation_out(project):
    spec = load_settings(ROOT / "params.yaml").model("credit")
    card = collect_model_card(
        project, "credit", spec, source=SOURCE, validated=False, model_version="6"
    )
    assert card.lights is None and card.model_version == "6"
    assert card.performance.set_index("set").loc["out-of-time", "AUC"] == 0.8066  # train metrics
    assert "not validated yet" in card.performance_source
    assert "- Validation: not validated yet" in model_card_markdown(card)


@pytest.mark.parametrize("named", [True, False])
def test_the_total_gain_read_from_the_file_equals_xgboost_s_own(tmp_path, named):
    """``model.ubj`` read without XGBoost: every feature's total gain to the bit, in its order."""
    import xgboost as xgb

    from research.reporting.model_card import _total_gain

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3_000, 12))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (x[:, 0] + 0.5 * np.nan_to_num(x[:, 3]) + rng.normal(size=3_000) > 0.8).astype(int)
    names = [f"feature_{i}" for i in range(12)] if named else None
    booster = xgb.train(
        {"max_depth": 5, "eta": 0.2, "objective": "binary:logistic", "verbosity": 0},
        xgb.DMatrix(x, label=y, feature_names=names),
        num_boost_round=40,
    )
    path = tmp_path / "model.ubj"
    booster.save_model(str(path))
    loaded = xgb.Booster()
    loaded.load_model(str(path))
    expected = {str(k): float(v) for k, v in loaded.get_score(importance_type="total_gain").items()}
    found = _total_gain(path)
    assert found == expected
    assert list(found) == list(expected)
