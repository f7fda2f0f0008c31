"""The explain stage's one-call pipeline, its metrics, the SHAP report and the stage wiring."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from research.explain import explain_metrics, explain_model, explain_population, previous_scores
from research.explain.params import ExplainParams
from research.explain.pipeline import ScoreWording, explain_timings
from research.reporting.html import external_references
from research.reporting.shap_report import (
    BEESWARM_ALT,
    IDENTITY_FIELDS,
    _checks_section,
    embedded_figure,
    seeded,
    shap_report,
)
from test_explain import CATALOG, make_panel, make_scores, make_spec, train_model

ROOT = Path(__file__).resolve().parents[1]
IDENTITY = {
    "model": "credit (credit_pd)",
    "model_version": "7",
    "run_id": "0123456789abcdef0123456789abcdef",
    "experiment_id": "1",
    "tracking_uri": "sqlite:///mlruns/mlflow.db",
    "data_fingerprint": "feedfacecafebeef",
    "git_commit": "abc123",
    "training_git_commit": "abc122",
}


@pytest.fixture(scope="module")
def explained():
    panel = make_panel(n_customers=200, seed=5)
    layout = make_spec()
    booster = train_model(panel, layout)
    scores = make_scores(panel, booster, layout)
    population = explain_population(scores, panel)
    result = explain_model(
        booster,
        layout,
        population,
        model="credit",
        params=ExplainParams(
            method="woodelf",
            reason_codes=4,
            dependence_top=2,
            interaction_sample=60,
            agreement_sample=150,
            report_sample=200,
        ),
        catalog=CATALOG,
        previous=previous_scores(scores),
        challenger={
            "max_dpd_12m": 0.5,
            "utilisation": 0.3,
            "inflow_trend": -0.4,
            "segment=micro": 0.2,
        },
    )
    return result, shap_report(result, IDENTITY)


def test_pipeline_checks_pass_on_a_constrained_model(explained):
    result, _ = explained
    assert result.additivity["passed"] and result.additivity["max_residual"] < 1e-5
    assert result.margin_vs_scores["passed"]
    assert set(result.agreement) == {"shap_vs_native", "woodelf_vs_native"}
    assert all(a["passed"] for a in result.agreement.values())
    assert result.monotone["passed"].all()
    assert len(result.dependence) == 2 and result.interaction_rows == 60
    assert len(result.report_rows) == 200
    assert result.shap.values.shape == (len(result.population), len(result.frame.columns))


def test_reason_codes_cover_every_scored_customer_with_positive_contributions(explained):
    result, _ = explained
    codes = result.reason_codes
    keys = codes[["customer_id", "snapshot_date"]].drop_duplicates()
    rows_with_positive = int((result.shap.values > 0).any(axis=1).sum())
    assert len(keys) == rows_with_positive
    assert list(codes.columns) == [
        "customer_id",
        "snapshot_date",
        "rank",
        "feature",
        "value",
        "level",
        "shap",
        "sentence",
    ]
    assert codes["rank"].between(1, 4).all()


def test_metrics_are_json_and_state_the_scale(explained):
    result, _ = explained
    metrics = json.loads(json.dumps(explain_metrics(result)))
    assert metrics["scale"] == "log-odds" and metrics["method"] == "woodelf"
    assert metrics["additivity_max_residual"] < 1e-5
    assert metrics["agreement"]["woodelf_vs_native"]["p99"] < 1e-5
    assert metrics["monotone"]["checked"] == 4 and metrics["monotone"]["failed"] == 0
    # the metrics file is a DVC output: no wall times (they go to the MLflow run)
    assert "timing" not in metrics and metrics == explain_metrics(result)
    timings = explain_timings(result)
    assert timings["shap_seconds"] > 0 and timings["explain_seconds"] >= timings["shap_seconds"]


def test_report_loads_nothing_from_outside_the_file(explained):
    _, html = explained
    assert external_references(html) == []
    assert "<script" not in html.lower()
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 5 and all(src.startswith("data:image/png;base64,") for src in images)


def test_report_shows_identity_scale_and_every_section(explained):
    _, html = explained
    for key, _label in IDENTITY_FIELDS:
        assert IDENTITY[key] in html, key
    assert html.count("log-odds") >= 5
    for anchor in (
        "identity",
        "checks",
        "importance",
        "dependence",
        "interactions",
        "segments",
        "local",
        "challenger",
        "reasons",
    ):
        assert f'id="{anchor}"' in html, anchor
    for text in (
        "Additivity",
        "Agreement shap vs native",
        "Agreement woodelf vs native",
        "highest risk #1",
        "grade boundary",
        "largest PD rise",
        "project_spv",
        "green",
        "inclusive",
        "(raises risk)",
    ):
        assert text in html, text


def test_report_is_the_same_bytes_whatever_the_random_state(explained):
    """shap's beeswarm and scatter draw with NumPy's global generator: each plot is seeded."""
    result, html = explained
    np.random.seed(12345)  # noqa: NPY002 (the global generator shap uses)
    again = shap_report(result, IDENTITY)
    assert again == html
    assert "SHAP time" not in html and " s</td>" not in html


def test_seeded_leaves_the_callers_random_state_alone():
    draw = np.random.rand  # the global generator shap uses
    np.random.seed(3)  # noqa: NPY002
    expected = draw(4)
    np.random.seed(3)  # noqa: NPY002
    with seeded():
        inside = draw(4)
    assert np.array_equal(draw(4), expected)
    with seeded():
        assert np.array_equal(draw(4), inside)


def test_report_marks_a_failed_monotone_check_red(explained):
    result, _ = explained
    broken = result.monotone.copy()
    broken.loc[0, "passed"] = False
    section = _checks_section(dataclasses.replace(result, monotone=broken))
    assert ">red<" in section.body and ">green<" in section.body


def test_native_switch_runs_the_same_pipeline():
    panel = make_panel(n_customers=60, snapshots=5, seed=7)
    layout = make_spec()
    booster = train_model(panel, layout, rounds=10)
    scores = make_scores(panel, booster, layout)
    result = explain_model(
        booster,
        layout,
        explain_population(scores, panel),
        model="churn",
        catalog={},
        params=ExplainParams(
            method="native",
            reason_codes=2,
            dependence_top=1,
            interaction_sample=10,
            agreement_sample=20,
            report_sample=30,
        ),
        wording=ScoreWording(outcome="churn risk", score_label="churn probability"),
    )
    assert set(result.agreement) == {"shap_vs_native"}
    assert result.outcome == "churn risk"
    assert result.reason_codes["sentence"].str.endswith("(raises churn risk)").all()
    assert result.challenger is None and np.isnan(result.challenger_rank_correlation)


def test_embedded_figures_carry_no_metadata(explained):
    """No matplotlib version or date in the PNGs: the report's bytes follow its content only."""
    import base64

    _, html = explained
    for src in re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html):
        png = base64.b64decode(src)
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(_png_chunks(png))


def _png_chunks(png: bytes) -> list[bytes]:
    chunks, at = [], 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        chunks.append(png[at + 4 : at + 8])
        at += 12 + length
    return chunks


def test_report_links_back_to_the_front_page_and_across(explained):
    _, html = explained
    bar = re.search(r'<nav class="related"[^>]*>(.*?)</nav>', html).group(1)
    for href in (
        "../index.html",
        "validation.html",
        "model_card.html",
        "../value.html",
        "../notebooks/explain-credit.html",
    ):
        assert f'href="{href}"' in bar, href
    assert external_references(html) == []


def test_the_notebook_finds_the_reports_beeswarm(explained):
    _, page = explained
    image = embedded_figure(page, BEESWARM_ALT)
    assert image is not None and image.startswith(f'<img alt="{BEESWARM_ALT}" src="data:image/png')
    assert image in page
    assert embedded_figure(page, "no such figure") is None
