"""The boosted model: layout, model matrix, monotone constraints, early stopping, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _panel_fixtures import DIRECTIONS, fit_panel_model
from research.models import train


@pytest.fixture(scope="module")
def credit():
    return fit_panel_model("default_12m", monotone=True)


def test_layout_treats_strings_as_categoricals_and_constrains_only_numeric_catalog_features():
    frame = pd.DataFrame(
        {
            "segment": ["b", "a", None],
            "x": [1, 2, 3],
            "flag": [True, False, True],
            "y": [0.1, np.nan, 0.3],
        }
    )
    layout = train.feature_layout(
        frame, ["segment", "x", "flag", "y"], {"x": 1, "segment": 1, "y": -1, "elsewhere": 1}
    )
    assert layout.categories == {"segment": ("a", "b")}
    assert layout.monotone == {"x": 1, "y": -1}
    assert layout.constraints() == (0, 1, 0, -1)
    assert train.FeatureLayout.from_dict(layout.to_dict()) == layout


def test_layout_rejects_dates_and_bad_directions():
    frame = pd.DataFrame({"when": pd.to_datetime(["2020-01-01"]), "x": [1.0]})
    with pytest.raises(TypeError, match="when.*date"):
        train.feature_layout(frame, ["when"])
    with pytest.raises(ValueError, match="-1, 0 or \\+1"):
        train.feature_layout(frame, ["x"], {"x": 2})


def test_model_matrix_keeps_fixed_levels_and_unseen_levels_become_missing():
    layout = train.feature_layout(pd.DataFrame({"s": ["a", "b"], "n": [1, 2]}), ["s", "n"])
    x = train.model_matrix(pd.DataFrame({"n": [5, None, 7], "s": ["b", "zz", None]}), layout)
    assert list(x.columns) == ["s", "n"]
    assert list(x["s"].cat.categories) == ["a", "b"]
    assert x["s"].isna().tolist() == [False, True, True]
    assert x["n"].dtype == np.float64 and np.isnan(x["n"].iloc[1])


def test_monotone_constraints_hold_predictions_move_the_declared_way(credit):
    model, table, _, _ = credit
    base = table.sample(300, random_state=1)
    before = model.score(base)["raw_score"].to_numpy()
    for feature, direction in DIRECTIONS.items():
        if not direction:
            continue
        assert model.layout.monotone[feature] == direction
        step = 3 * np.nanstd(table[feature])
        moved = base.assign(**{feature: base[feature] + step})
        after = model.score(moved)["raw_score"].to_numpy()
        valid = base[feature].notna().to_numpy()
        change = (after - before)[valid] * direction
        assert (change >= -1e-7).all(), (
            f"{feature}: prediction moved against the declared direction"
        )
        assert (change > 1e-6).any(), (
            f"{feature}: no effect at all (constraint trivially satisfied)"
        )


def test_without_constraints_the_booster_has_none():
    layout = train.feature_layout(pd.DataFrame({"x": [1.0]}), ["x"], {})
    params = train.booster_params(
        learning_rate=0.1,
        max_depth=2,
        min_child_weight=1.0,
        subsample=1.0,
        colsample_bytree=1.0,
        reg_lambda=1.0,
        constraints=layout.constraints(),
        nthread=1,
        seed=0,
    )
    assert "monotone_constraints" not in params and params["tree_method"] == "hist"


def test_early_stopping_cuts_the_booster_to_its_best_round(credit):
    model, *_ = credit
    assert 1 <= model.booster.num_boosted_rounds() <= 60


def test_two_fits_with_the_same_seed_give_identical_predictions(credit):
    model, table, _, scores = credit
    again_model, _, _, again = fit_panel_model("default_12m", monotone=True)
    assert bytes(model.booster.save_raw("ubj")) == bytes(again_model.booster.save_raw("ubj"))
    pd.testing.assert_frame_equal(scores, again)


def test_an_empty_table_scores_to_an_empty_frame_with_the_contract_columns(credit):
    from research.models.scoring import score_table

    model, table, split, scores = credit
    empty = score_table(
        model,
        table.iloc[:0],
        split.iloc[:0],
        id_column="customer_id",
        date_column="snapshot_date",
        label="default_12m",
    )
    assert list(empty.columns) == list(scores.columns) and len(empty) == 0
