"""The logistic challenger: missing values, categoricals, standardisation, an exact JSON reload."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from research.models.challenger import Challenger, fit_challenger


def _frame(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    amount = np.exp(8 + risk + rng.normal(size=n))
    amount[rng.random(n) < 0.2] = np.nan
    segment = np.where(
        risk + rng.normal(size=n) > 0.5, "micro", rng.choice(["large", "medium"], n)
    ).astype(object)
    segment[rng.random(n) < 0.1] = None
    frame = pd.DataFrame(
        {
            "amount": amount,
            "score": -risk + rng.normal(scale=0.5, size=n),
            "segment": segment,
            "constant": 1.0,
        }
    )
    outcome = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.5 * risk)))).astype(float)
    return frame, outcome


@pytest.fixture(scope="module")
def challenger() -> Challenger:
    frame, outcome = _frame()
    return fit_challenger(
        frame, outcome, numeric=["amount", "score", "constant"], categorical=["segment"]
    )


def test_challenger_handles_missing_values_and_categoricals(challenger):
    assert challenger.missing_flags == ("amount",)
    assert set(challenger.levels["segment"]) == {"micro", "large", "medium"}
    assert "amount__missing" in challenger.columns and "segment=micro" in challenger.columns
    fresh = pd.DataFrame(
        {
            "amount": [np.nan, 1e12, 10.0],
            "score": [0.0, np.nan, 1.0],
            "segment": [None, "unseen", "micro"],
            "constant": 1.0,
        }
    )
    p = challenger.predict(fresh)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    design = challenger.design(fresh)
    assert np.abs(design).max() < 20  # winsorised before standardising
    assert (
        design[
            1, [challenger.columns.index(c) for c in challenger.columns if c.startswith("segment=")]
        ].sum()
        == 0
    )


def test_challenger_learns_the_signal_with_the_right_signs(challenger):
    coef = dict(zip(challenger.columns, challenger.coef, strict=True))
    assert coef["score"] < 0 and coef["amount"] > 0 and coef["segment=micro"] > 0
    assert coef["constant"] == pytest.approx(0.0, abs=1e-6)
    frame, outcome = _frame(seed=1)
    from research.models.metrics import auc

    assert auc(outcome, challenger.predict(frame)) > 0.7


def test_challenger_json_round_trip_scores_identically(challenger):
    frame, _ = _frame(seed=2)
    again = Challenger.from_dict(json.loads(json.dumps(challenger.to_dict())))
    assert again == challenger
    assert np.array_equal(challenger.predict(frame), again.predict(frame))


def test_challenger_works_on_a_categorical_model_matrix(challenger):
    frame, _ = _frame(seed=3)
    as_category = frame.assign(
        segment=pd.Categorical(frame["segment"], categories=["large", "medium", "micro"])
    )
    assert np.array_equal(challenger.predict(frame), challenger.predict(as_category))


def test_challenger_scores_an_empty_frame(challenger):
    frame, _ = _frame()
    assert challenger.predict(frame.iloc[:0]).shape == (0,)
