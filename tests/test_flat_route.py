"""A model on a flat table is explained and validated on its own rows, end to end in-process.

A small mixed-type CSV (a Yes/No label, numbers held as text with blanks, a high-cardinality
text column, an id, a ``<`` in a column name, a SEX column, no date): train, explain and
validate run on it, with a stale panel in place that cannot be read, and the reports say the
random test split stands in for out-of-time and show the original column names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from _project import copy_project
from research.stages import run_stage

N_ROWS = 800


def mixed_table(n: int = N_ROWS, seed: int = 3) -> pd.DataFrame:
    """Loans with a Yes/No default, driven by utilisation, income and the band."""
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1, n)
    income = rng.lognormal(10.5, 0.4, n)
    band = rng.choice(["A", "B", "C", "D"], n)
    logit = -1.6 + 3.0 * (utilisation - 0.5) - 1.2 * np.log(income / 36_000) + (band == "D") * 0.8
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    income_text = np.round(income).astype(int).astype(str).astype(object)
    income_text[rng.random(n) < 0.05] = ""  # blanks: the column still reads as numbers
    income_text[:3] = ["", " ", ""]
    return pd.DataFrame(
        {
            "loan_id": [f"L{i:05d}" for i in range(n)],
            "annual income": income_text,
            "util<90d": utilisation.round(4),
            "band": band,
            "employer": [f"firm {i % 400}" for i in rng.permutation(n)],  # 400 levels
            "SEX": rng.choice(["M", "F"], n),
            "default": np.where(default, "Yes", "No"),
        }
    )


def _run(root: Path, stages: list[tuple[str, str]]) -> dict:
    saved = os.environ.get("RESEARCH_PIPELINE")
    os.environ["RESEARCH_PIPELINE"] = "1"
    try:
        return {f"{s}@{m}": run_stage(s, m, root=root) for s, m in stages}
    finally:
        if saved is None:
            os.environ.pop("RESEARCH_PIPELINE", None)
        else:
            os.environ["RESEARCH_PIPELINE"] = saved


@pytest.fixture(scope="module")
def flat_project(tmp_path_factory) -> tuple[Path, dict]:
    root = copy_project(tmp_path_factory.mktemp("flat") / "project")
    mixed_table().to_csv(root / "data" / "loans.csv", index=False)
    # A stale panel from some other run: a flat model must never read it.
    panel = root / "data" / "features" / "panel.parquet"
    panel.parent.mkdir(parents=True, exist_ok=True)
    panel.write_bytes(b"not the rows of this model")
    params = yaml.safe_load((root / "params.yaml").read_text())
    spec = params["models"]["credit"]
    spec.update(
        source="data/loans.csv",
        id_column="loan_id",
        date_column="",
        label="default",
        event_value="Yes",
        grading="deciles",
        monotone=False,
    )
    spec["grades"] = {"names": [], "upper_pd": []}
    spec["xgb"].update(min_child_weight="auto", n_estimators=200)
    params["explain"].update(report_sample=200, interaction_sample=40, agreement_sample=100)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    results = _run(root, [("train", "credit"), ("explain", "credit"), ("validate", "credit")])
    return root, results


def test_explain_and_validate_use_the_tables_own_rows(flat_project):
    root, results = flat_project
    scores = pd.read_parquet(root / "data" / "scores" / "credit.parquet")
    assert set(scores["split"]) == {"train", "valid", "test"}
    explained = results["explain@credit"]
    # the explained rows are the test split, keyed like the scores, with the table's values
    test = scores[scores["split"] == "test"]
    assert sorted(explained.population["customer_id"]) == sorted(test["customer_id"])
    assert explained.result.margin_vs_scores["passed"]
    table = mixed_table().set_index("loan_id")
    frame = explained.result.frame.set_index(explained.population["customer_id"])
    assert np.allclose(frame["util_lt_90d"], table.loc[frame.index, "util<90d"])
    assert "SEX" not in frame.columns and "employer" not in frame.columns
    # validation: the test split stands in for out-of-time, CSI on the table's features
    validated = results["validate@credit"].result
    assert validated.discrimination["set"].tolist() == ["train", "valid", "oot"]
    assert "util_lt_90d" in set(validated.csi["feature"])
    assert not any("left out of the CSI" in n for n in validated.notes)


def test_the_reports_say_the_test_split_stands_in_and_show_original_names(flat_project):
    root, _ = flat_project
    shap_page = (root / "reports" / "credit" / "shap.html").read_text()
    validation_page = (root / "reports" / "credit" / "validation.html").read_text()
    for page in (shap_page, validation_page):
        assert "test split stands in for out-of-time" in page
        assert "util&lt;90d" in page  # the original name, escaped
    # what the preparation dropped, excluded and converted is listed in the validation report
    for text in ("SEX", "employer", "annual income", "loan_id", "protected"):
        assert text in validation_page, text
    record = json.loads((root / "metrics" / "diagnostics" / "credit" / "train.json").read_text())
    assert record["table_preparation"]["renamed"] == {"util_lt_90d": "util<90d"}
    headline = json.loads((root / "metrics" / "credit.json").read_text())["credit"]
    assert set(headline) == {"train", "valid", "test", "challenger"}  # no preparation, no oracle
