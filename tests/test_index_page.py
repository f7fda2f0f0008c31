"""The front page: relative links, run ids, headline figures and light counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from research.reporting.html import external_references
from research.reporting.index_page import (
    StageFailure,
    collect_index,
    index_page_html,
    write_index_page,
)
from research.stages import notebook_names

MODELS = ("credit", "churn")


def _content(root: Path):
    return collect_index(root, MODELS, notebook_names(MODELS))


def _project(root: Path) -> Path:
    (root / "models" / "credit").mkdir(parents=True)
    (root / "models" / "credit" / "run.json").write_text(
        json.dumps(
            {"run_id": "abc123", "model_name": "corporate-lending-credit", "model_version": "3"}
        )
    )
    (root / "metrics").mkdir()
    (root / "metrics" / "credit.json").write_text(
        json.dumps({"oot": {"auc": 0.8}, "oracle": {"auc": 0.86}})
    )
    (root / "metrics" / "credit_validation.json").write_text(
        json.dumps(
            {
                "discrimination": {
                    "oot": {
                        "auc": 0.7912,
                        "auc_ci_low": 0.75,
                        "auc_ci_high": 0.83,
                        "gini": 0.58,
                        "ks": 0.45,
                    }
                },
                "stability": {"score_psi": 0.0123, "max_csi": 0.05},
                "lights": {"green": 30, "amber": 2, "red": 1, "grey": 3},
            }
        )
    )
    for page in (
        "credit/validation.html",
        "credit/shap.html",
        "value.html",
        "notebooks/train-credit.html",
        "notebooks/data.html",
    ):
        (root / "reports" / page).parent.mkdir(parents=True, exist_ok=True)
        (root / "reports" / page).write_text("<html></html>")
    return root


def test_the_front_page_links_every_built_report_relatively(tmp_path):
    root = _project(tmp_path)
    path = write_index_page(root, _content(root))
    assert path == root / "reports" / "index.html"
    page = path.read_text()
    assert external_references(page, allow_relative=True) == []
    hrefs = set(re.findall(r'href="([^"#]+)"', page))
    assert {
        "credit/validation.html",
        "credit/shap.html",
        "value.html",
        "notebooks/train-credit.html",
        "notebooks/data.html",
    } <= hrefs
    # every linked file exists beside index.html, except this stage's own notebook (written right after)
    assert all((root / "reports" / h).exists() for h in hrefs - {"notebooks/report.html"})
    assert "churn/validation.html" not in hrefs


def test_the_front_page_shows_run_ids_versions_headlines_and_lights(tmp_path):
    page = index_page_html(_content(_project(tmp_path)))
    assert "abc123" in page and "corporate-lending-credit" in page
    assert "0.7912" in page  # oot AUC
    assert "0.0123" in page  # score PSI
    assert "0.8600" in page  # oracle AUC from the training metrics
    assert re.search(r">red</span>\s*1\b", page)
    assert re.search(r">green</span>\s*30\b", page)
    assert "not trained yet" in page  # churn has no run.json
    assert "SHAP report (not built yet)" in page  # churn


def test_notebooks_are_listed_in_pipeline_order():
    assert notebook_names(("credit", "churn")) == [
        "data",
        "features",
        "train-credit",
        "train-churn",
        "explain-credit",
        "explain-churn",
        "validate-credit",
        "validate-churn",
        "value",
        "report",
    ]


def test_a_failed_stage_puts_a_banner_on_top_naming_it_and_the_stale_stages(tmp_path):
    root = _project(tmp_path)
    failure = StageFailure.from_record(
        {
            "stage": "train@credit",
            "time": "2026-01-02 03:04:05 UTC",
            "error": "ValueError: <no rows>",
            "stale": ["explain@credit", "validate@credit", "value", "report"],
            "removed": ["reports/credit/shap.html"],
        }
    )
    page = index_page_html(collect_index(root, MODELS, notebook_names(MODELS), [failure]))
    banner = page[page.index('class="stale-banner"') :]
    assert page.index('class="stale-banner"') < page.index('<h2 id="overview"')
    assert "<code>train@credit</code> failed" in banner and "2026-01-02 03:04:05 UTC" in banner
    assert "ValueError: &lt;no rows&gt;" in banner
    for stage in ("explain@credit", "validate@credit", "value", "report"):
        assert f"<code>{stage}</code>" in banner
    assert external_references(page, allow_relative=True) == []


def test_no_banner_without_a_failure(tmp_path):
    page = index_page_html(_content(_project(tmp_path)))
    assert "stale-banner" not in page and "Stale" not in page
