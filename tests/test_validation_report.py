"""The validation report's conclusion, links, folded tables and its one source for each figure."""

from __future__ import annotations

import html
import json
import re

import pytest

from research import signoff
from research import validation as v
from research.paths import metrics_path
from research.reporting.html import external_references
from research.reporting.validation_report import validation_report
from test_validation_pack import make_portfolio, run_pack


@pytest.fixture(scope="module")
def drifted() -> v.ValidationResult:
    return run_pack(*make_portfolio(n_customers=500, drift=0.8, scale=0.6))


@pytest.fixture(scope="module")
def page(drifted) -> str:
    return validation_report(
        drifted,
        model="credit",
        thresholds=v.Thresholds(),
        run_id="run42",
        model_version="4",
        oot_first_snapshot="2022-07-01",
        target="default_12m: default within 12 months; 90 days past due",
        built="2026-01-02 03:04 UTC",
        git_commit="abc123def",
    )


def _conclusion(page: str) -> str:
    start = page.index('id="conclusion"')
    return page[start : page.index("</div>", start)]


def test_the_conclusion_opens_the_page_with_verdict_reasons_date_commit_target_and_oot(
    drifted, page
):
    box = _conclusion(page)
    assert page.index('id="conclusion"') < page.index('<h2 id="summary"')
    verdict = v.worst_light(drifted.checks["light"])
    assert f"Conclusion: {verdict}" in box
    assert len(re.findall(r"<li>", box)) == 3  # the three most important reasons
    first = drifted.checks[drifted.checks["light"] == "red"].iloc[0]
    assert f"{first['check']}" in html.unescape(box)
    assert "threshold" in box
    for fact in (
        "2026-01-02 03:04 UTC",
        "abc123def",
        "default_12m: default within 12 months",
        "2022-07-01",
        "run42",
        "version 4",
    ):
        assert fact in box, fact
    assert "not shown (the validate stage passed no sign-off status)" in box


def test_the_page_and_the_metrics_file_show_the_same_oot_auc(drifted, page):
    """One source: the figure is summary_metrics' value (6 decimals), whatever page shows it."""
    recorded = v.summary_metrics(drifted)["discrimination"]["oot"]["auc"]
    shown = f"{recorded:.4f}"
    assert f"{shown} (metrics/credit_validation.json)" in _conclusion(page)
    # the discrimination table rounds from the same recorded value
    discrimination = page[page.index('<h2 id="discrimination"') :]
    assert f">{shown}</td>" in discrimination[: discrimination.index("</table>")]


def test_a_value_rounding_differently_twice_is_shown_as_recorded():
    """0.83175049 is 0.8318 to 4 places, but the file keeps 0.83175, which is 0.8317.

    The front page formats the file's value; the report formats the same recorded value,
    so both show 0.8317 (before, one showed 0.8318 and the other 0.8317).
    """
    import pandas as pd

    from research.reporting.html import table

    raw = 0.83175049
    recorded = json.loads(json.dumps(round(raw, 6)))
    assert f"{raw:.4f}" == "0.8318" and f"{recorded:.4f}" == "0.8317"
    assert ">0.8317</td>" in table(pd.DataFrame({"auc": [raw]}))
    assert ">0.8317</td>" in table(pd.DataFrame({"auc": [recorded]}))


def test_links_back_and_across_are_real_relative_links(page):
    hrefs = re.findall(r'<nav class="related"[^>]*>(.*?)</nav>', page)[0]
    for target in (
        "../index.html",
        "shap.html",
        "model_card.html",
        "../value.html",
        "../notebooks/validate-credit.html",
    ):
        assert f'href="{target}"' in hrefs, target
    assert external_references(page) == []


def test_long_tables_are_folded_and_the_checks_not_repeated(drifted, monkeypatch):
    from research.reporting import validation_report as module

    monkeypatch.setattr(module, "CSI_SHOWN", 3)  # the fixture has 5 features (a panel 100+)
    page = validation_report(drifted, model="credit", thresholds=v.Thresholds())
    stability = page[page.index('<h2 id="stability"') : page.index('<h2 id="backtesting"')]
    assert "<details>" in stability
    assert f"The first 3 of {len(drifted.csi)} rows" in stability
    assert f"Show the CSI of all {len(drifted.csi)} features" in stability
    checks = page[page.index('<h2 id="all-checks"') :]
    assert checks.count("<details>") == 2
    n_csi = int(
        ((drifted.checks["area"] == "stability") & (drifted.checks["check"] == "CSI")).sum()
    )
    assert f"Show the {n_csi} per-feature CSI checks" in checks
    assert "@media print" in page and "details::details-content" in page
    assert "<script" not in page.lower()


def test_text_columns_are_left_and_numbers_right_aligned(page):
    summary = page[page.index('<h2 id="summary"') :]
    first_row = re.search(r"<tbody><tr>(.*?)</tr>", summary).group(1)
    assert first_row.startswith('<td class="text">discrimination</td><td class="num">')
    assert '<td class="badge"><span class="light"' in first_row


def test_the_conclusion_shows_the_sign_off_against_the_current_version(tmp_path, drifted):
    root = tmp_path
    (root / "runs").mkdir()
    (root / "runs" / "credit.json").write_text(
        json.dumps({"run_id": "r3", "model_name": "credit_pd", "model_version": "3"})
    )
    metrics_path(root, "credit_validation").parent.mkdir(parents=True)
    metrics_path(root, "credit_validation").write_text(json.dumps(v.summary_metrics(drifted)))
    signoff.record(
        root,
        "credit",
        reviewer="u123",
        decision="approve",
        note="ok",
        now="2026-01-01T00:00:00+00:00",
    )
    (root / "runs" / "credit.json").write_text(
        json.dumps({"run_id": "r4", "model_name": "credit_pd", "model_version": "4"})
    )
    page = validation_report(
        drifted,
        model="credit",
        thresholds=v.Thresholds(),
        model_version="4",
        signoff=signoff.status(root, "credit"),
    )
    assert (
        "signed off version 3 (approved by u123, 2026-01-01); current version is 4: not signed off"
        in _conclusion(page)
    )


def test_the_notebook_shows_the_pictures_the_page_embeds(drifted, page, capsys):
    import matplotlib.pyplot as plt

    from research.reporting import validation_report as report

    figures = report.embedded_figures(page)
    assert set(report.FIGURE_ALT.values()) <= set(figures)
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in figures.values())
    before = set(plt.get_fignums())
    report.show_figure(figures, "migration", drifted)  # shown from the page: nothing drawn
    assert set(plt.get_fignums()) == before
    report.show_figure({}, "migration", drifted)  # not on the page: drawn anew
    drawn = set(plt.get_fignums()) - before
    assert len(drawn) == 1
    plt.close(drawn.pop())
