"""``research.evaluation.rank_auc``: sklearn's ``roc_auc_score`` bit for bit, without sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from research.evaluation import oriented_auc, rank_auc


@st.composite
def _samples(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes with both classes and scores with many ties (few distinct values) or none."""
    n = draw(st.integers(2, 400))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    y[rng.choice(n, 2, replace=False)] = [0.0, 1.0]
    kind = draw(st.sampled_from(["ties", "continuous", "constant", "scaled"]))
    if kind == "ties":
        score = rng.integers(0, draw(st.integers(1, 12)), n).astype(float) / 7.0
    elif kind == "continuous":
        score = rng.normal(size=n) + y * draw(st.floats(0.0, 3.0))
    elif kind == "constant":
        score = np.full(n, 0.25)
    else:  # huge and tiny magnitudes, negative zeros
        score = rng.choice([-0.0, 0.0, 1e-300, -1e300, 3e8, 0.1], n)
    return y, score


@settings(max_examples=80, deadline=None)
@given(_samples())
def test_rank_auc_is_sklearns_roc_auc_to_the_last_bit(sample):
    y, score = sample
    assert rank_auc(y, score) == float(roc_auc_score(y, score))


@pytest.mark.parametrize("seed", range(3))
def test_rank_auc_on_large_samples_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(40_000) < 0.03).astype(float)
    score = np.round(rng.normal(size=y.size) + y, 2)  # a few hundred distinct values
    assert rank_auc(y, score) == float(roc_auc_score(y, score))
    distinct = rng.random(y.size)
    assert rank_auc(y, distinct) == float(roc_auc_score(y, distinct))


def test_rank_auc_by_hand():
    assert rank_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert rank_auc(np.array([0, 1]), np.array([1.0, 1.0])) == 0.5  # a tie counts one half
    assert rank_auc(np.array([1, 1]), np.array([0.1, 0.2])) is None  # one class: undefined


def test_rank_auc_refuses_what_metrics_auc_refuses():
    with pytest.raises(ValueError, match="only 0 and 1"):
        rank_auc(np.array([0.0, np.nan, 1.0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="differ in length"):
        rank_auc(np.array([0.0, 1.0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="infinite or missing"):
        rank_auc(np.array([0.0, 1.0]), np.array([0.1, np.nan]))


@settings(max_examples=40, deadline=None)
@given(_samples(), st.integers(0, 2**32 - 1))
def test_oriented_auc_as_before(sample, seed):
    """Missing values rank lowest, the better direction counts: as computed with sklearn."""
    y, score = sample
    rng = np.random.default_rng(seed)
    values = pd.Series(np.where(rng.random(y.size) < 0.2, np.nan, score))
    label = pd.Series(np.where(rng.random(y.size) < 0.1, np.nan, y))
    mask = label.notna()
    x = values[mask].fillna(values[mask].min() - 1 if values[mask].notna().any() else 0.0)
    yy = label[mask]
    if yy.nunique() < 2 or x.nunique() < 2:
        expected = 0.5
    else:
        area = float(roc_auc_score(yy, x))
        expected = max(area, 1.0 - area)
    assert oriented_auc(label, values) == expected
