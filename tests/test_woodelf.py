"""The blocked WOODELF engine (research.explain._woodelf) against woodelf itself and XGBoost.

The engine sums woodelf's own s-vectors by blocks of leaves and splits the rows over
threads: its values must equal woodelf's leaf-by-leaf computation (without woodelf's
neighbour-leaf shortcut, which swaps a parent's cover for its children's sum) to float
rounding, whatever the block sizes, and be the same bits for any number of threads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from research.explain import _woodelf
from research.explain.values import native_shap, woodelf_input, woodelf_matrix, woodelf_shap


def _frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"x{i}" for i in range(6)])
    frame.loc[rng.random(n) < 0.1, "x0"] = np.nan
    frame.loc[rng.random(n) < 0.1, "x3"] = np.nan
    levels = ["a", "b", "c", "d", "e"]
    segment = pd.Series(rng.choice(levels, n)).where(rng.random(n) > 0.05)
    frame["segment"] = pd.Categorical(segment, categories=levels)
    frame["region"] = pd.Categorical(rng.choice(["n", "s", "e"], n), categories=["n", "s", "e"])
    logit = frame["x1"].fillna(0) - 0.5 * frame["x0"].fillna(1) + (frame["segment"] == "b") * 1.0
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame, label.to_numpy()


def _booster(frame: pd.DataFrame, label: np.ndarray, *, depth: int, rounds: int) -> xgb.Booster:
    params = {
        "objective": "binary:logistic",
        "max_depth": depth,
        "eta": 0.3,
        "min_child_weight": 0.5,
        "max_cat_to_onehot": 1,
        "nthread": 2,
        "seed": 0,
    }
    data = xgb.DMatrix(frame, label, enable_categorical=True)
    return xgb.train(params, data, rounds)


@pytest.fixture(scope="module")
def model():
    frame, label = _frame(600)
    return frame, _booster(frame, label, depth=5, rounds=25)


def _woodelf_leaf_by_leaf(booster, frame: pd.DataFrame) -> np.ndarray:
    """woodelf's own high-depth loop on the same trees and s-vectors, leaf by leaf."""
    from woodelf.core.cube_metric import ShapleyValues
    from woodelf.high_depth_woodelf import woodelf_for_high_depth

    ensemble = _woodelf.ensemble_from_booster(booster, list(frame.columns))
    calculator = _woodelf.Float64PathToSVectors(
        ShapleyValues(), max_depth=max(ensemble.max_depth, 1)
    )
    data = woodelf_input(frame)
    values = woodelf_for_high_depth(
        ensemble,
        data,
        None,
        ShapleyValues(),
        path_to_matrices_calculator=calculator,
        use_neighbor_leaf_trick=False,
        model_was_loaded=True,
        verbose=False,
    )
    zeros = np.zeros(len(frame))
    return np.column_stack([np.asarray(values.get(c, zeros), dtype=float) for c in frame.columns])


def test_blocked_values_equal_woodelf_leaf_by_leaf_whatever_the_blocks(model):
    frame, booster = model
    x = woodelf_matrix(frame)
    expected = _woodelf_leaf_by_leaf(booster, frame)
    blocks = {}
    for planned_rows in (10, 10**9):  # few rows: small tables; many: a table per subtree
        engine = _woodelf.BlockedPathDependentShap(booster, x.shape[1], planned_rows)
        blocks[planned_rows] = sum(len(plan.blocks) for plan in engine.plans)
        np.testing.assert_allclose(engine.values(x), expected, rtol=0, atol=1e-12)
    leaves = sum(len(tree.leaf_order) for tree in _woodelf._trees(booster))
    assert blocks[10**9] < blocks[10] <= leaves


def test_values_do_not_depend_on_threads_or_chunks(model, monkeypatch):
    frame, booster = model
    x = woodelf_matrix(frame)
    engine = _woodelf.BlockedPathDependentShap(booster, x.shape[1], len(x))
    reference = engine.values(x, nthread=1)
    for chunk in (37, 256):
        monkeypatch.setattr(_woodelf, "_CHUNK_ROWS", chunk)
        for nthread in (1, 2, 3):
            assert np.array_equal(engine.values(x, nthread=nthread), reference)


def test_woodelf_shap_agrees_with_native_and_takes_nthread(model):
    frame, booster = model
    native = native_shap(booster, frame)
    one, two = woodelf_shap(booster, frame, nthread=1), woodelf_shap(booster, frame, nthread=2)
    assert np.array_equal(one.values, two.values)
    assert np.abs(two.values - native.values).max() < 1e-6
    assert two.base_value == pytest.approx(native.base_value)


def test_trees_deeper_than_a_table_fall_back_to_leaf_tables():
    frame, label = _frame(1500, seed=3)
    booster = _booster(frame, label, depth=11, rounds=2)
    x = woodelf_matrix(frame)
    engine = _woodelf.BlockedPathDependentShap(booster, x.shape[1], 10**9)
    deepest = max(
        len(ancestors) for tree in _woodelf._trees(booster) for ancestors in tree.ancestors
    )
    assert deepest > _woodelf._MAX_BITS
    assert np.abs(engine.values(x) - native_shap(booster, frame).values).max() < 1e-6


def test_empty_frame_and_single_leaf_trees():
    frame, label = _frame(200, seed=5)
    stumps = xgb.train(
        {"objective": "binary:logistic", "min_child_weight": 1e9},
        xgb.DMatrix(frame, label, enable_categorical=True),
        3,
    )
    x = woodelf_matrix(frame)
    engine = _woodelf.BlockedPathDependentShap(stumps, x.shape[1], len(x))
    assert np.array_equal(engine.values(x), np.zeros_like(x))
    assert engine.values(x[:0]).shape == (0, x.shape[1])
