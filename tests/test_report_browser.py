"""Every report fits a 1280 px window in headless Chromium: no horizontal overflow, no wide element.

The pages are rendered from the small fixtures of the report tests (not the pipeline):
the front page, a validation report, a SHAP report, a model card and the value report,
laid out as under ``reports/``. Chromium is driven over the DevTools protocol
(``benchmarks/check_report_browser.py``): each page is loaded at a 1280 px viewport and
``document.documentElement.scrollWidth`` must not exceed it, nor may any element be
wider than the viewport or reach past its right edge. The test also checks that a page
loads nothing from outside the file and logs no console error.

Skipped, with how to install it, when no headless Chromium is on PATH (``chromium``,
``chromium-browser``, ``google-chrome``): Debian's ``apt-get install chromium``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from check_report_browser import INSTALL_HINT, Browser, find_chromium  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_chromium() is None,
        reason=f"no headless Chromium on PATH (chromium, chromium-browser, google-chrome): {INSTALL_HINT}",
    ),
]
WIDTH = 1280


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """reports/ of a small project: every page the pipeline writes, from the tests' fixtures."""
    from research import validation as v
    from research.reporting.index_page import write_index_page
    from research.reporting.model_card import model_card_html
    from research.reporting.shap_report import shap_report
    from research.reporting.validation_report import validation_report
    from research.reporting.value_report import value_report
    from research.stages.report import model_card_links
    from test_explain_report import IDENTITY
    from test_index_page import _content, _project
    from test_model_card_report import make_card, make_card_project
    from test_validation_pack import make_portfolio, run_pack
    from test_value_report import random_portfolio, value_params

    root = _project(tmp_path_factory.mktemp("project"))
    out = root / "reports"
    # a validation report on a drifted portfolio (red and amber checks, long tables)
    result = run_pack(*make_portfolio(n_customers=500, drift=0.8, scale=0.6))
    (out / "credit" / "validation.html").write_text(
        validation_report(
            result,
            model="credit",
            thresholds=v.Thresholds(),
            run_id="0123456789abcdef0123456789abcdef",
            model_version="3",
            oot_first_snapshot="2022-07-01",
            target="default_12m: default within 12 months; a facility 90 or more days past due "
            "(derived from the repayments; labels.default_dpd)",
            built="2026-01-02 03:04 UTC",
            git_commit="0123456789abcdef0123456789abcdef01234567-dirty",
        )
    )
    # the value report on a random portfolio
    from research.value import evaluate_value

    params = value_params()
    value = evaluate_value(
        *random_portfolio(), params=params, default_horizon_months=12, churn_horizon_months=12
    )
    (out / "value.html").write_text(
        value_report(value, params, currency="EUR", models=["credit", "churn"])
    )
    # a SHAP report of a small model
    (out / "credit" / "shap.html").write_text(shap_report(_explained(), IDENTITY))
    # the model card
    card_root = make_card_project(tmp_path_factory.mktemp("card"))
    (out / "credit" / "model_card.html").write_text(
        model_card_html(make_card(card_root), links=model_card_links("credit"), built="2026-01-02")
    )
    write_index_page(root, _content(root))
    return out


def _explained():
    from research.explain import explain_model, explain_population, previous_scores
    from research.explain.params import ExplainParams
    from test_explain import CATALOG, make_panel, make_scores, make_spec, train_model

    panel = make_panel(n_customers=200, seed=5)
    layout = make_spec()
    booster = train_model(panel, layout)
    scores = make_scores(panel, booster, layout)
    return explain_model(
        booster,
        layout,
        explain_population(scores, panel),
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
    )


@pytest.fixture(scope="module")
def browser():
    with Browser() as running:
        yield running


PAGES = [
    "index.html",
    "credit/validation.html",
    "credit/shap.html",
    "credit/model_card.html",
    "value.html",
]


@pytest.mark.parametrize("page", PAGES)
def test_the_page_fits_1280_px_without_horizontal_overflow(reports, browser, page):
    report = browser.inspect(reports / page, width=WIDTH)
    print(
        f"{page}: scrollWidth {report.scroll_width} px at {report.viewport} px "
        f"(overflow {report.overflow} px), height {report.height} px"
    )
    assert report.viewport == WIDTH
    assert report.scroll_width <= WIDTH, report.wide
    assert report.wide == [], f"{report.wide_count} elements wider than the viewport"
    assert report.problems == []


def test_printing_unfolds_every_folded_table(reports, browser):
    page = reports / "credit" / "validation.html"
    on_screen = browser.inspect(page, width=WIDTH)
    assert on_screen.folded >= 3 and on_screen.folded_hidden == on_screen.folded
    printed = browser.inspect(page, width=WIDTH, media="print")
    assert printed.folded == on_screen.folded and printed.folded_hidden == 0
    assert printed.overflow == 0


def test_the_measurement_sees_an_overflowing_page(tmp_path, browser):
    wide = tmp_path / "wide.html"
    wide.write_text(
        '<!doctype html><html><body><table><tr><td style="min-width:2000px">x</td></tr>'
        "</table></body></html>"
    )
    report = browser.inspect(wide, width=WIDTH)
    assert report.overflow > 700 and report.wide
