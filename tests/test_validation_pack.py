"""The validation evidence pack on generated portfolios: healthy, drifted and miscalibrated."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest

from research import validation as v
from research.data.contract import SEGMENTS
from research.reporting.html import external_references
from research.reporting.validation_report import validation_report

GRADE_NAMES = ["A", "B", "C", "D", "E", "F", "G"]
UPPER_PD = [0.003, 0.007, 0.015, 0.03, 0.06, 0.12]
FEATURES = ["cash_inflow_trend", "utilisation", "days_past_due_max", "segment", "industry"]
CATEGORICAL = ["segment", "industry"]
SEGMENT_SHARES = {
    "micro": 0.3,
    "small": 0.3,
    "medium": 0.2,
    "large": 0.1,
    "multinational": 0.02,
    "project_spv": 0.08,
}


def make_portfolio(
    *,
    n_customers: int = 1500,
    drift: float = 0.0,
    scale: float = 1.0,
    seed: int = 7,
    deciles: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and panel of a calibrated model by construction (labels drawn from the score).

    ``drift`` shifts ``cash_inflow_trend`` in the out-of-time and latest snapshots (the
    scores follow it); ``scale`` multiplies the scores after the labels are drawn (a
    miscalibrated model with unchanged ranking); ``deciles`` writes score deciles instead
    of grades (the churn model's layout).
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-01", periods=10, freq="QS")
    customers = np.arange(n_customers)
    persistent = rng.normal(size=n_customers)
    segment = rng.choice(list(SEGMENT_SHARES), size=n_customers, p=list(SEGMENT_SHARES.values()))
    industry = rng.choice(["agri", "manufacturing", "services", "energy"], size=n_customers)
    green = (rng.random(n_customers) < 0.2).astype(int)
    inclusive = (rng.random(n_customers) < 0.15).astype(int)
    holdout = rng.random(n_customers) < 0.2
    frames = []
    for i, date in enumerate(dates):
        split = np.where(
            i < 6,
            np.where(holdout, "valid", "train"),
            "purged" if i == 6 else "oot" if i < 9 else "latest",
        )
        trend = persistent + 0.5 * rng.normal(size=n_customers) + (drift if i >= 7 else 0.0)
        utilisation = rng.beta(2, 3, size=n_customers)
        dpd = np.where(rng.random(n_customers) < 0.7, 0.0, rng.exponential(20, size=n_customers))
        logit = (
            -3.4 + 1.0 * trend + 1.2 * (utilisation - 0.4) + 0.02 * dpd + 0.3 * (segment == "micro")
        )
        score = 1 / (1 + np.exp(-logit))
        challenger = 1 / (1 + np.exp(-(-3.4 + 0.6 * trend)))
        label = (rng.random(n_customers) < score).astype(float)
        label[split == "latest"] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": customers,
                    "snapshot_date": date,
                    "split": split,
                    "label": label,
                    "score": score * scale,
                    "raw_score": logit,
                    "margin": logit,
                    "challenger_score": challenger,
                    "cash_inflow_trend": trend,
                    "utilisation": utilisation,
                    "days_past_due_max": dpd,
                    "segment": segment,
                    "industry": industry,
                    "green_flag": green,
                    "inclusive_flag": inclusive,
                }
            )
        )
    both = pd.concat(frames, ignore_index=True)
    keys = ["customer_id", "snapshot_date"]
    scores = both[
        [*keys, "split", "label", "score", "raw_score", "margin", "challenger_score"]
    ].copy()
    if deciles:
        dev = both.loc[both["split"].isin(["train", "valid"]), "raw_score"]
        cuts = np.quantile(dev, np.linspace(0, 1, 11)[1:-1])
        scores["decile"] = np.searchsorted(cuts, both["raw_score"], side="right") + 1
    else:
        # the grade follows the model's PD before any scaling (the master scale was fixed at training)
        scores["grade"] = np.array(GRADE_NAMES)[
            np.searchsorted(UPPER_PD, 1 / (1 + np.exp(-both["raw_score"])), side="left")
        ]
    panel = both[
        [
            *keys,
            "cash_inflow_trend",
            "utilisation",
            "days_past_due_max",
            "segment",
            "industry",
            "green_flag",
            "inclusive_flag",
        ]
    ].copy()
    panel["default_12m"] = both["label"]
    return scores, panel


def run_pack(scores: pd.DataFrame, panel: pd.DataFrame, **kwargs) -> v.ValidationResult:
    grade_names = [] if "decile" in scores.columns else GRADE_NAMES
    return v.validate_model(
        scores, panel, features=FEATURES, categorical=CATEGORICAL, grade_names=grade_names, **kwargs
    )


@pytest.fixture(scope="module")
def healthy() -> v.ValidationResult:
    return run_pack(*make_portfolio())


def test_a_calibrated_stable_model_is_green_or_amber_everywhere_with_reasons(healthy):
    checks = healthy.checks
    assert not (checks["light"] == "red").any(), checks[checks["light"] == "red"]
    assert set(checks["area"]) == {
        "discrimination",
        "calibration",
        "stability",
        "backtest",
        "overfitting",
        "segments",
        "concentration",
    }
    assert checks["reason"].str.len().gt(10).all()
    assert checks["threshold"].str.len().gt(5).all()
    assert healthy.lights["green"] > 20
    assert sum(healthy.lights.values()) == len(checks)


def test_every_grade_and_set_is_covered(healthy):
    assert healthy.rating_column == "grade"
    assert healthy.calibration["class"].tolist() == GRADE_NAMES
    assert healthy.discrimination["set"].tolist() == ["train", "valid", "oot"]
    assert healthy.migration.shape == (7, 7)
    # every customer of a snapshot that is also in the next one is counted once
    assert healthy.migration.to_numpy().sum() == 9 * 1500
    assert healthy.backtest["period"].tolist() == ["development"] * 6 + ["purged", "oot", "oot"]
    assert healthy.backtest["judged"].sum() == 2
    assert healthy.score_stability["population"].tolist() == ["oot", "latest"]


def test_a_drifted_out_of_time_feature_turns_its_csi_and_the_score_psi_red():
    result = run_pack(*make_portfolio(drift=1.0))
    csi = result.csi.set_index("feature")
    assert csi.loc["cash_inflow_trend", "light"] == "red"
    assert (csi.drop(index="cash_inflow_trend")["light"] == "green").all()
    assert result.score_stability.set_index("population").loc["oot", "light"] == "red"
    red = result.checks[result.checks["light"] == "red"]
    assert {"score PSI", "CSI"} <= set(red["check"])
    # a drift the model follows keeps it calibrated
    assert "calibration" not in set(red["area"])


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_a_miscalibrated_model_turns_calibration_red(scale):
    result = run_pack(*make_portfolio(scale=scale))
    calibration = result.checks[result.checks["area"] == "calibration"].set_index("check")
    assert calibration.loc["Hosmer-Lemeshow", "light"] == "red"
    assert calibration.loc["portfolio rate (binomial)", "light"] == "red"
    assert (result.calibration["light"] == "red").any()
    # ranking is untouched: discrimination and stability stay as they were
    assert (result.checks.loc[result.checks["area"] == "discrimination", "light"] == "green").all()


def test_an_underestimating_model_fails_the_jeffreys_test_and_an_overestimating_one_passes_it():
    under = run_pack(*make_portfolio(scale=0.5)).calibration.set_index("class")
    over = run_pack(*make_portfolio(scale=2.0)).calibration.set_index("class")
    assert under.loc["G", "jeffreys_light"] == "red"
    assert (over["jeffreys_light"] != "red").all()
    assert over.loc["G", "binomial_light"] == "red"


def test_the_churn_layout_uses_score_deciles():
    result = run_pack(*make_portfolio(deciles=True))
    assert result.rating_column == "decile"
    assert result.classes == list(range(1, 11))
    assert result.calibration["class"].tolist() == list(range(1, 11))
    assert result.migration.shape == (10, 10)
    assert "per decile" in " ".join(result.checks["check"])


def test_a_weaker_model_than_its_challenger_is_red():
    scores, panel = make_portfolio()
    swapped = scores.assign(score=scores["challenger_score"], challenger_score=scores["score"])
    result = run_pack(swapped, panel)
    row = result.checks[result.checks["check"] == "AUC − challenger AUC"].iloc[0]
    assert row["light"] == "red"
    assert row["value"] < 0


def test_small_segments_are_flagged_not_judged():
    result = run_pack(*make_portfolio(), thresholds=v.Thresholds(min_segment_events=60))
    segments = result.segments.set_index("segment")
    small = segments[~segments["judged"]]
    assert "size: multinational" in small.index
    assert (small["auc_light"] == "grey").all()
    assert small["note"].str.contains("too small to judge").all()
    assert (segments["n"] > 0).all()
    assert {"green lending", "inclusive lending", "project finance (project_spv)"} <= set(
        segments.index
    )


def test_segments_follow_the_contract_order_then_other_values_then_flags():
    frame = pd.DataFrame(
        {
            "segment": ["sme_other", "large", "micro", "project_spv", "large"],
            "green_flag": [1, 0, 0, 0, 1],
            "inclusive_flag": [0, 0, 0, 0, 0],
        }
    )
    sizes = [s for s in SEGMENTS if s in set(frame["segment"])]
    expected = [
        "project finance (project_spv)" if s == "project_spv" else f"size: {s}" for s in sizes
    ]
    masks = v.segment_masks(frame)
    assert list(masks) == [*expected, "size: sme_other", "green lending", "inclusive lending"]
    assert masks["size: large"].tolist() == [False, True, False, False, True]


def test_overfitting_is_the_train_against_out_of_time_gap():
    scores, panel = make_portfolio()
    # a model that memorised the training rows: perfect there, unchanged elsewhere
    train = scores["split"] == "train"
    memorised = scores.assign(
        score=np.where(train, 0.001 + 0.9 * scores["label"].fillna(0), scores["score"])
    )
    result = run_pack(memorised, panel)
    gap = result.overfit.set_index("comparison").loc["train − oot"]
    assert gap["auc_gap"] > 0.15
    assert gap["light"] == "red"


def test_the_summary_holds_numbers_only_and_counts_the_lights(healthy):
    summary = v.summary_metrics(healthy)
    text = json.dumps(summary, allow_nan=False)

    def leaves(node):
        for value in node.values():
            yield from leaves(value) if isinstance(value, dict) else [value]

    assert all(value is None or isinstance(value, (int, float)) for value in leaves(summary))
    assert set(summary) >= {
        "discrimination",
        "calibration",
        "stability",
        "backtest",
        "overfit",
        "segments",
        "lights",
    }
    assert summary["discrimination"]["oot"]["auc"] == pytest.approx(
        healthy.discrimination["auc"].iloc[2], abs=1e-6
    )
    assert summary["lights"] == healthy.lights
    flat = v.flat_metrics(summary)
    assert flat["validation.stability.score_psi"] == pytest.approx(
        summary["stability"]["score_psi"]
    )
    assert all(isinstance(value, float) for value in flat.values())
    assert "NaN" not in text


def test_the_pack_does_not_change_its_inputs():
    scores, panel = make_portfolio(n_customers=300)
    before_scores, before_panel = scores.copy(), panel.copy()
    run_pack(scores, panel)
    pd.testing.assert_frame_equal(scores, before_scores)
    pd.testing.assert_frame_equal(panel, before_panel)


def test_missing_columns_and_unknown_grades_are_named():
    scores, panel = make_portfolio(n_customers=200)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['score'\]"):
        run_pack(scores.drop(columns="score"), panel)
    with pytest.raises(ValueError, match="grade.*'Z'.*not in models"):
        run_pack(scores.assign(grade=scores["grade"].replace("A", "Z")), panel)
    with pytest.raises(ValueError, match="no out-of-time rows"):
        run_pack(scores.assign(split=scores["split"].replace("oot", "train")), panel)
    with pytest.raises(ValueError, match="neither a 'grade' nor a 'decile'"):
        run_pack(scores.drop(columns="grade"), panel)


def test_features_missing_from_the_panel_are_noted():
    scores, panel = make_portfolio(n_customers=200)
    result = run_pack(scores, panel.drop(columns="utilisation"))
    assert "utilisation" not in set(result.csi["feature"])
    assert any("utilisation" in text for text in result.notes)


def test_the_report_is_self_contained_and_shows_thresholds_beside_figures(healthy):
    page = validation_report(healthy, model="credit", thresholds=v.Thresholds(), run_id="run123")
    assert external_references(page) == []
    assert "run123" in page
    text = html.unescape(page)
    assert "green ≥ 0.70, red < 0.60" in text
    assert "green < 0.10, red ≥ 0.25" in text
    assert page.count("data:image/png;base64,") >= 5
    assert "<script" not in page.lower()


def test_the_report_links_its_sibling_reports_and_loads_nothing_from_outside():
    result = run_pack(*make_portfolio(scale=0.5, n_customers=600))
    related = {"SHAP report": "shap.html", "executed notebook": "../notebooks/validate-credit.html"}
    page = validation_report(result, model="credit", thresholds=v.Thresholds(), related=related)
    assert external_references(page) == []
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', page))
    hrefs = set(re.findall(r'href="([^"]*)"', page))
    # in-page anchors, and relative links back to the front page and across to the siblings
    assert {"../index.html", "shap.html", "model_card.html", "../value.html"} <= hrefs
    assert all(h.startswith("#") or not re.match(r"^[a-z]+:|^//", h) for h in hrefs)
    assert "<code>shap.html</code>" in page
    # the reasons for every red check are on the page
    assert "What needs attention" in page
    assert "Hosmer-Lemeshow" in page


def test_ordered_categorical_grades_from_the_master_scale_work_as_strings_do():
    scores, panel = make_portfolio(n_customers=400)
    as_categorical = scores.assign(
        grade=pd.Categorical(scores["grade"], categories=GRADE_NAMES, ordered=True)
    )
    plain, categorical = run_pack(scores, panel), run_pack(as_categorical, panel)
    pd.testing.assert_frame_equal(plain.calibration, categorical.calibration)
    pd.testing.assert_frame_equal(plain.migration, categorical.migration, check_names=False)


def test_an_undated_table_uses_its_test_split_as_the_holdout():
    scores, _ = make_portfolio(n_customers=400)
    flat = scores[scores["split"].isin(["train", "valid", "oot"])].assign(
        split=lambda f: f["split"].replace("oot", "test"), snapshot_date=pd.NaT
    )
    result = v.validate_model(flat, None, grade_names=GRADE_NAMES)
    assert result.discrimination["set"].tolist() == ["train", "valid", "oot"]
    assert result.backtest.empty and result.migration.to_numpy().sum() == 0
    assert any("test split stands in" in text for text in result.notes)
    assert validation_report(result, model="credit", thresholds=v.Thresholds()).startswith(
        "<!DOCTYPE html>"
    )
