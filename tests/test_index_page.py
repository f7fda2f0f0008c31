"""The front page: relative links, run ids, headline figures and light counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from research import signoff
from research.paths import run_file
from research.reporting.html import external_references
from research.reporting.index_page import (
    StageFailure,
    collect_index,
    index_page_html,
    mlflow_run_url,
    write_index_page,
)
from research.stages import notebook_names

MODELS = ("credit", "churn")


BUILD = {"date": "2026-01-02 03:04 UTC", "commit": "0123456789abcdef0123", "data_hash": "feedface"}
CHECKS = (
    "area,check,subject,value,threshold,light,reason\n"
    'discrimination,AUC,oot,0.7912,"green ≥ 0.70, red < 0.60",green,fine\n'
    'stability,CSI,utilisation,0.31,"green < 0.10, red ≥ 0.25",red,CSI 0.31 ≥ 0.25\n'
    'overfitting,AUC gap,train − oot,0.045,"green < 0.03, red ≥ 0.06",amber,gap\n'
    'calibration,binomial,B,0.002,"green p ≥ 0.05, red p < 0.01",amber,p small\n'
    'stability,CSI,tenure,0.12,"green < 0.10, red ≥ 0.25",amber,CSI 0.12\n'
)


def _content(root: Path):
    statuses = {m: signoff.status(root, m) for m in MODELS}  # as the report stage reads them
    return collect_index(root, MODELS, notebook_names(MODELS), build=BUILD, signoffs=statuses)


def _project(root: Path) -> Path:
    run_file(root, "credit").parent.mkdir(parents=True)
    run_file(root, "credit").write_text(
        json.dumps(
            {
                "run_id": "abc123",
                "model_name": "corporate-lending-credit",
                "model_version": "3",
                "experiment_id": "7",
            }
        )
    )
    (root / "plots" / "credit").mkdir(parents=True)
    (root / "plots" / "credit" / "checks.csv").write_text(CHECKS, encoding="utf-8")
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
        "credit/model_card.html",
        "notebooks/validate-credit.html",
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
    hrefs = {h for h in re.findall(r'href="([^"#]+)"', page) if not h.startswith("http")}
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
    assert "not trained yet" in page  # churn has no run file
    assert "SHAP report (not built yet)" in page  # churn


def test_each_model_gets_a_verdict_its_reasons_and_the_build(tmp_path):
    page = index_page_html(_content(_project(tmp_path)))
    assert "Front page of reports/" not in page
    assert "Verdicts: credit red, churn not validated" in page  # the subtitle
    box = page[page.index('id="verdict-credit"') : page.index('id="verdict-churn"')]
    assert page.index('id="verdict-credit"') < page.index('<h2 id="overview"')
    assert "credit: red" in box
    # the three most important reasons: red first, then amber, each with figure and threshold
    reasons = re.findall(r"<li>(.*?)</li>", box)
    assert len(reasons) == 3
    assert "CSI</strong> of <code>utilisation</code> = 0.31" in reasons[0]
    assert "threshold green &lt; 0.10, red ≥ 0.25" in reasons[0]
    assert ">amber</span>" in reasons[1] and "AUC gap" in reasons[1]
    assert "1 more red or amber checks" in box
    for fact in (
        "2026-01-02 03:04 UTC",
        "0123456789ab",
        "feedface",
        "corporate-lending-credit version 3",
    ):
        assert fact in box, fact
    url = "http://127.0.0.1:5000/#/experiments/7/runs/abc123"
    assert f'href="{url}"' in box
    assert 'href="credit/model_card.html"' in box
    assert 'href="notebooks/validate-credit.html"' in box
    assert "not signed off: no sign-off recorded (current version 3)" in box
    assert external_references(page, allow_relative=True) == []
    assert external_references(page) == []  # relative and loopback <a> links load nothing


def test_a_green_model_says_no_check_needs_attention(tmp_path):
    root = _project(tmp_path)
    (root / "plots" / "credit" / "checks.csv").write_text(
        CHECKS.splitlines()[0] + "\n" + CHECKS.splitlines()[1] + "\n"
    )
    validation = json.loads((root / "metrics" / "credit_validation.json").read_text())
    validation["lights"] = {"green": 30, "amber": 0, "red": 0, "grey": 0}
    (root / "metrics" / "credit_validation.json").write_text(json.dumps(validation))
    page = index_page_html(_content(root))
    assert "credit: green" in page
    assert "No red or amber check: every judged check is green." in page


def test_the_mlflow_link_follows_the_port(tmp_path, monkeypatch):
    run = {"run_id": "r1", "experiment_id": "2"}
    assert mlflow_run_url(run, 5001) == "http://127.0.0.1:5001/#/experiments/2/runs/r1"
    assert mlflow_run_url({"run_id": "r1"}) is None
    monkeypatch.setenv("MLFLOW_PORT", "5055")
    root = _project(tmp_path)
    page = index_page_html(collect_index(root, MODELS, notebook_names(MODELS)))
    assert "http://127.0.0.1:5055/#/experiments/7/runs/abc123" in page


def test_the_front_page_shows_the_sign_off_against_the_current_version(tmp_path):
    root = _project(tmp_path)
    signoff.record(
        root,
        "credit",
        reviewer="u123",
        decision="approve",
        note="fine",
        now="2026-01-01T00:00:00+00:00",
    )
    page = index_page_html(_content(root))
    assert "signed off version 3 (approved by u123, 2026-01-01)" in page
    assert "current version and validation pack: signed off" in page


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
