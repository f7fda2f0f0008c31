"""The oracle comparison: same customer-snapshots, model and oracle AUC, the gap."""

from __future__ import annotations

import pandas as pd
import pytest

from _panel_fixtures import fit_panel_model, make_panel
from research.evaluation import oracle_comparison
from research.models.metrics import auc


def test_oracle_comparison_on_the_out_of_time_rows():
    _, _, _, scores = fit_panel_model("default_12m")
    _, oracle = make_panel()
    result = oracle_comparison(
        scores,
        oracle.sample(frac=1.0, random_state=0),
        label="label",
        oracle_column="oracle_default",
    )
    oot = scores[scores["split"] == "oot"]
    assert (
        result["n"] == len(oot)
        and result["events"] == int(oot["label"].sum())
        and result["unmatched"] == 0
    )
    assert result["auc"] == pytest.approx(auc(oot["label"], oot["score"]))
    assert result["gap"] == pytest.approx(result["oracle_auc"] - result["auc"])
    assert 0.5 < result["auc"] < result["oracle_auc"]


def test_oracle_comparison_uses_only_rows_the_oracle_covers():
    scores = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "snapshot_date": pd.to_datetime(["2023-01-01"] * 5),
            "split": ["oot", "oot", "oot", "oot", "train"],
            "label": [0.0, 1.0, 0.0, 1.0, 1.0],
            "score": [0.1, 0.9, 0.8, 0.2, 0.5],
        }
    )
    oracle = (
        scores[["customer_id", "snapshot_date"]].iloc[:3].assign(oracle_default=[0.1, 0.9, 0.2])
    )
    result = oracle_comparison(scores, oracle, label="label", oracle_column="oracle_default")
    assert (result["n"], result["events"], result["unmatched"]) == (3, 1, 1)
    assert result["oracle_auc"] == 1.0 and result["auc"] == 1.0
    with pytest.raises(KeyError, match="oracle_churn"):
        oracle_comparison(scores, oracle, label="label", oracle_column="oracle_churn")
