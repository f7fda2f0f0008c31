"""Calibration to observed rates (isotonic and Platt), the master scale, deciles and the grade test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from research.models import calibration


def _miscalibrated(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins that rank well but are off in scale and level; return (margin, outcome, true probability)."""
    rng = np.random.default_rng(seed)
    truth_logit = rng.normal(-3.0, 1.2, n)
    outcome = (rng.random(n) < 1 / (1 + np.exp(-truth_logit))).astype(float)
    margin = 2.0 * truth_logit + 3.0
    return margin, outcome, 1 / (1 + np.exp(-truth_logit))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrated_probabilities_match_observed_rates(method):
    margin, outcome, truth = _miscalibrated()
    calibrator = calibration.fit_calibrator(margin, outcome, method=method)
    fresh_margin, fresh_outcome, fresh_truth = _miscalibrated(seed=1)
    calibrated = calibrator.apply(fresh_margin)
    assert calibrated.mean() == pytest.approx(fresh_outcome.mean(), rel=0.1)
    bins = pd.qcut(calibrated, 10, duplicates="drop")
    by_bin = (
        pd.DataFrame({"p": calibrated, "y": fresh_outcome, "truth": fresh_truth})
        .groupby(bins, observed=True)
        .mean()
    )
    assert (
        np.abs(by_bin["p"] - by_bin["truth"]).max() < 0.02
    )  # against the true rates (no sampling noise)
    assert np.abs(by_bin["p"] - by_bin["y"]).max() < 0.04  # against the observed rates
    assert np.abs(calibrated - fresh_truth).mean() < 0.01
    raw = 1 / (1 + np.exp(-fresh_margin))
    assert np.abs(raw - fresh_truth).mean() > 0.05  # the input really was off


def test_platt_recovers_the_known_map():
    margin, outcome, _ = _miscalibrated(n=60_000)
    calibrator = calibration.fit_platt(margin, outcome)
    assert calibrator.slope == pytest.approx(0.5, abs=0.03)
    assert calibrator.intercept == pytest.approx(-1.5, abs=0.1)


def test_isotonic_is_increasing_keeps_the_ranking_inside_and_never_gives_zero():
    margin, outcome, _ = _miscalibrated()
    calibrator = calibration.fit_isotonic(margin, outcome, min_block_events=10)
    knots = np.asarray(calibrator.knots_probability)
    assert (np.diff(knots) > 0).all() and (np.diff(calibrator.knots_margin) > 0).all()
    assert knots.min() > 0 and knots.max() < 1
    inside = np.sort(
        margin[(margin > calibrator.knots_margin[0]) & (margin < calibrator.knots_margin[-1])]
    )
    assert (np.diff(calibrator.apply(inside)) >= 0).all()
    assert (np.diff(calibrator.apply(np.unique(inside))) > 0).all()


def test_isotonic_blocks_hold_enough_events():
    rng = np.random.default_rng(4)
    margin = rng.normal(size=500)
    outcome = (rng.random(500) < 0.05).astype(float)
    calibrator = calibration.fit_isotonic(margin, outcome, min_block_events=10)
    assert len(calibrator.knots_margin) <= outcome.sum() // 10
    assert min(calibrator.knots_probability) > 0


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrator_json_round_trip_scores_identically(method):
    margin, outcome, _ = _miscalibrated(n=3000)
    calibrator = calibration.fit_calibrator(margin, outcome, method=method)
    again = calibration.Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert np.array_equal(calibrator.apply(margin), again.apply(margin))


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="isotonic, platt"):
        calibration.fit_calibrator([0.0, 1.0], [0.0, 1.0], method="beta")


def test_master_scale_boundaries_belong_to_the_lower_grade():
    scale = calibration.MasterScale(("A", "B", "C"), (0.01, 0.05))
    pds = [0.0, 0.005, 0.01, 0.0100001, 0.05, 0.050001, 0.5, 1.0]
    assert list(scale.grade(pds)) == ["A", "A", "A", "B", "B", "C", "C", "C"]
    assert scale.grade(pds).ordered
    assert scale.table()["pd_up_to"].tolist() == [0.01, 0.05, 1.0]


def test_master_scale_rejects_a_bad_definition():
    with pytest.raises(ValueError, match="one more grade name"):
        calibration.MasterScale(("A", "B"), (0.01, 0.05))
    with pytest.raises(ValueError, match="increase strictly"):
        calibration.MasterScale(("A", "B", "C"), (0.05, 0.01))


def test_deciles_are_fixed_on_development_and_run_from_low_to_high_risk():
    margin = np.random.default_rng(2).normal(size=10_000)
    deciles = calibration.fit_deciles(margin)
    assigned = deciles.decile(margin)
    assert set(assigned) == set(range(1, 11))
    assert np.bincount(assigned)[1:].min() == pytest.approx(1000, abs=5)
    assert deciles.decile([-100.0, 100.0]).tolist() == [1, 10]


def test_grade_test_accepts_a_calibrated_portfolio_and_flags_a_shifted_one():
    rng = np.random.default_rng(8)
    scale = calibration.MasterScale(("A", "B", "C", "D"), (0.01, 0.03, 0.08))
    pd_values = np.exp(rng.uniform(np.log(0.002), np.log(0.3), 20_000))
    outcome = (rng.random(20_000) < pd_values).astype(float)
    grades = scale.grade(pd_values)
    table = calibration.grade_calibration(grades, pd_values, outcome, names=scale.names, alpha=0.01)
    assert table["within"].all() and table["n"].sum() == 20_000
    assert (table["lower_rate"] <= table["observed_rate"]).all() and (
        table["observed_rate"] <= table["upper_rate"]
    ).all()
    shifted = calibration.grade_calibration(
        grades, pd_values / 2, outcome, names=scale.names, alpha=0.01
    )
    assert not shifted["within"].all()


def test_grade_test_skips_empty_grades():
    table = calibration.grade_calibration(
        ["A", "A", "C"], [0.1, 0.1, 0.5], [0.0, 0.0, 1.0], names=["A", "B", "C"]
    )
    assert table.set_index("grade").loc["B", "n"] == 0
    assert pd.isna(table.set_index("grade").loc["B", "within"])
