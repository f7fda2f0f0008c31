"""Issue 17: DVC metrics files hold headline figures only; every other figure is a record beside them.

``metrics/<model>.json`` (train: five measures per set, the challenger's and the oracle's),
``metrics/<model>_validation.json`` (the light counts and key test results) and
``metrics/value.json`` stay small enough that ``dvc exp show`` and ``dvc metrics diff`` fit
a screen; the whole records (``metrics/diagnostics/<model>/*.json``, ``data/value/
summary.json``) and the MLflow run keep everything. ``dvc plots show`` fills a page with
Vega inlined (``.dvc/plots/page.html``), so its charts need no network.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research import validation as v
from research.models import scoring
from research.stages import train as train_stage
from research.value import metrics_file

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SECTIONS = {"train", "valid", "oot", "challenger", "oracle"}
MEASURES = set(train_stage.HEADLINE_MEASURES)
# "about 30 headline figures per model, light counts included" (issue 17)
PER_MODEL_BUDGET = 35


def leaves(node: dict, prefix: str = "") -> dict[str, object]:
    """The leaves of a nested mapping as ``a.b.c`` (how DVC names metrics columns)."""
    out: dict[str, object] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        out.update(leaves(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return out


def scores_table(holdout: str = "oot", n: int = 600, seed: int = 3) -> pd.DataFrame:
    """Scores as the train stage writes them: every split, the raw and calibrated score, the challenger."""
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "valid", holdout], size=n, p=[0.6, 0.2, 0.2])
    signal = rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(2.5 - 1.5 * signal))).astype(int)
    score = 1 / (1 + np.exp(2.5 - signal))
    return pd.DataFrame(
        {
            "split": split,
            "label": label,
            "raw_score": signal,
            "score": score,
            "challenger_score": 1 / (1 + np.exp(2.5 - 0.5 * signal - rng.normal(size=n))),
        }
    )


def train_record(holdout: str = "oot") -> dict:
    """The train stage's whole record: ``model_metrics`` and what ``run`` adds to it."""
    results = scoring.model_metrics(scores_table(holdout))
    results.update(
        model="credit",
        label="default_12m",
        best_iteration=57,
        n_features=119,
        xgb_auto={"min_child_weight": 3.3},
        round_cap_hit=False,
        fit_notes=[],
        imbalance="none: no class weights",
        calibration={"method": "platt", "alpha": 0.01, "grades_tested": 7, "grades_outside": 0},
    )
    if holdout == "oot":
        results["oracle"] = {
            "auc": results["oot"]["auc"],
            "oracle_auc": 0.83,
            "gap": 0.83 - results["oot"]["auc"],
            "n": 100,
            "events": 9,
            "unmatched": 0,
        }
    else:
        results["table_preparation"] = {"renamed": {"util_lt_90d": "util<90d"}}
    return results


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_train_headline_is_five_measures_per_set_the_challenger_and_the_oracle():
    record = train_record()
    headline = train_stage.headline_metrics(record)
    assert set(headline) == TRAIN_SECTIONS
    for section in ("train", "valid", "oot", "challenger"):
        assert set(headline[section]) == MEASURES, section
    # the oracle's own AUC and its gap above the model (the model's AUC is oot.auc already)
    assert headline["oracle"] == {"auc": 0.83, "gap": record["oracle"]["gap"]}
    flat = leaves(headline)
    assert len(flat) == 22 and all(_is_number(value) for value in flat.values()), flat
    for section in ("train", "valid", "oot"):
        assert {k: record[section][k] for k in MEASURES} == headline[section]
    assert headline["challenger"] == {k: record["challenger"][k] for k in MEASURES}
    # nothing else: sizes, fitting facts, the calibration verdict stay in the record
    assert not {"n", "events", "auc_uncalibrated", "valid"} & set(leaves(headline["challenger"]))
    for key in ("model", "label", "holdout", "xgb_auto", "fit_notes", "calibration", "imbalance"):
        assert key not in headline and key in record
    json.dumps(headline, allow_nan=False)


def test_an_undated_table_names_its_holdout_test_and_has_no_oracle():
    record = train_record("test")
    headline = train_stage.headline_metrics(record)
    assert set(headline) == {"train", "valid", "test", "challenger"}
    assert len(leaves(headline)) == 20
    assert "table_preparation" in record and "table_preparation" not in headline


@pytest.fixture
def summary() -> dict:
    """A ``summary_metrics`` result as the validate stage wrote it for the synthetic credit model."""
    sets = {
        name: {"auc": auc, "auc_ci_low": auc - 0.03, "auc_ci_high": auc + 0.03, "gini": 2 * auc - 1}
        | {"ks": 0.5, "n": n, "events": events}
        for name, auc, n, events in (
            ("train", 0.892797, 15497, 663),
            ("valid", 0.835468, 3823, 162),
            ("oot", 0.806646, 7050, 209),
        )
    }
    return {
        "discrimination": sets,
        "challenger": {"challenger_auc": 0.765553, "auc_diff": 0.041093, "p_value": 0.000211},
        "calibration": {
            "observed_rate": 0.029645,
            "predicted_rate": 0.028311,
            "brier": 0.023886,
            "hl_statistic": 11.910093,
            "hl_p": 0.291119,
            "central_p": 0.633552,
            "min_class_p_adj": 0.121307,
            "classes_red": 0,
        },
        "stability": {
            "score_psi": 0.095544,
            "score_psi_latest": 0.095072,
            "max_csi": 0.250947,
            "features_red": 1,
            "features_amber": 7,
        },
        "backtest": {"min_auc": 0.786938, "max_rate_gap": 0.004356, "snapshots": 17},
        "overfit": {"auc_gap": 0.086152, "auc_gap_valid": 0.057329},
        "segments": {"min_auc": 0.7536, "judged": 5, "too_small": 3},
        "concentration": {"hhi_oot": 0.211463},
        "lights": {"green": 144, "amber": 8, "red": 2, "grey": 3},
    }


def test_each_models_figures_have_their_own_short_dvc_names(summary):
    """DVC prefixes a metric with its file's path when two files share its name
    (``metrics/credit.json:oot.auc``): under the model's name no two files share one."""
    files = {
        f"metrics/{model}.json": train_stage.metrics_file_content(model, train_record())
        for model in ("credit", "churn")
    } | {
        f"metrics/{model}_validation.json": {model: v.headline_metrics(summary)}
        for model in ("credit", "churn")
    }
    names = [name for content in files.values() for name in leaves(content)]
    assert len(names) == len(set(names)) == 2 * (22 + 13)
    assert "credit.oot.auc" in names and "churn.lights.red" in names
    assert max(len(name) for name in names) == len("credit.discrimination.oot.auc_ci_high")


def test_the_train_record_is_rounded_as_the_validation_summary_is():
    record = {"oot": {"auc": 0.83174999999, "n": 7050}, "fit_notes": ["x"], "flag": True}
    record["curve"] = [0.12345678, 1]
    assert train_stage.rounded(record) == {
        "oot": {"auc": 0.83175, "n": 7050},
        "fit_notes": ["x"],
        "flag": True,
        "curve": [0.123457, 1],
    }


def test_the_validation_headline_names_figures_of_the_real_summary():
    """Every figure the headline picks is one ``summary_metrics`` writes (by its docstring's sections)."""
    import inspect

    from research.validation import pack

    source = inspect.getsource(pack.summary_metrics)
    for section, keys in pack.HEADLINE.items():
        assert f'"{section}"' in source, section
        names = [k for ks in keys.values() for k in ks] if isinstance(keys, dict) else list(keys)
        for key in names:
            assert f'"{key}"' in source, (section, key)


def test_validation_headline_is_the_light_counts_and_the_key_test_results(summary):
    headline = v.headline_metrics(summary)
    flat = leaves(headline)
    assert sorted(flat) == sorted(
        [
            "discrimination.oot.auc",
            "discrimination.oot.auc_ci_low",
            "discrimination.oot.auc_ci_high",
            "challenger.auc_diff",
            "challenger.p_value",
            "calibration.hl_p",
            "stability.score_psi",
            "stability.max_csi",
            "overfit.auc_gap",
            "lights.green",
            "lights.amber",
            "lights.red",
            "lights.grey",
        ]
    )
    everything = leaves(summary)
    assert all(flat[name] == everything[name] for name in flat)  # picked, never recomputed
    assert sum(headline["lights"].values()) == sum(summary["lights"].values())
    # the MLflow run keeps every figure (the registry's gate reads validation.lights.<colour>)
    logged = v.flat_metrics(summary)
    assert len(logged) > len(flat)
    for colour in ("green", "amber", "red", "grey"):
        assert logged[f"validation.lights.{colour}"] == float(summary["lights"][colour])
    assert "validation.discrimination.train.auc" in logged


def test_validation_headline_leaves_out_what_the_pack_has_not_and_counts_every_colour(summary):
    partial = {k: val for k, val in summary.items() if k != "challenger"}
    partial["lights"] = {"green": 3}
    headline = v.headline_metrics(partial)
    assert "challenger" not in headline
    assert headline["lights"] == {"green": 3, "amber": 0, "red": 0, "grey": 0}


def test_a_model_has_about_thirty_headline_figures_light_counts_included(summary):
    per_model = len(leaves(train_stage.headline_metrics(train_record()))) + len(
        leaves(v.headline_metrics(summary))
    )
    assert per_model <= PER_MODEL_BUDGET, per_model


def test_value_metrics_file_is_eight_figures_of_the_summary():
    summary = {
        "snapshot_date": "2025-01-01",
        "customers": 1696,
        "total_exposure": 63450685049.354996,
        "total_clv": 3.3e9,
        "high_value_share": 0.952203354768,
        "high_value_share_of_positive": 0.92,
        "negative_clv": {"customers": 152, "total": -1.1e8},
        "clv_split": {"gross_margin": 4.5e9, "churn_attrition": 4.7e8},
        "expected_loss_1y": 1.6e8,
        "satisfaction_index_mean": 78.2,
        "watch_list": {"size": 545, "share": 0.32},
        "watch_backtest_oot": {"watch_rows": 2115, "ratio": 3.47, "defaults_caught": 0.6},
        "green_finance": {"customer_share": 0.15, "loss_rate": 0.002},
    }
    figures = metrics_file(summary)
    assert figures == {  # amounts to the cent, shares to six decimals
        "customers": 1696,
        "total_exposure": 63450685049.35,
        "total_clv": 3.3e9,
        "expected_loss_1y": 1.6e8,
        "high_value_share": 0.952203,
        "watch_list": {"size": 545},
        "watch_backtest_oot": {"ratio": 3.47, "defaults_caught": 0.6},
    }
    # a figure the summary lacks (no out-of-time watch backtest) is left out, not null
    without = metrics_file({k: val for k, val in summary.items() if k != "watch_backtest_oot"})
    assert "watch_backtest_oot" not in without and len(leaves(without)) == 6


# ----------------------------------------------------------------------------- dvc plots, offline

PAGE = ROOT / ".dvc" / "plots" / "page.html"


def _build_page_module():
    spec = importlib.util.spec_from_file_location("build_page", ROOT / ".dvc/plots/build_page.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dvc_config_names_the_offline_page_and_the_page_loads_nothing():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    assert (ROOT / ".dvc" / config["plots"]["html_template"]) == PAGE  # relative to .dvc/
    text = PAGE.read_text(encoding="utf-8")
    assert text.count("{plot_divs}") == 1
    assert "{scripts}" not in text  # DVC's CDN tags are never inserted
    assert "<script src" not in text.lower() and "<link" not in text.lower()
    build = _build_page_module()
    for name, (version, _) in build.LIBRARIES.items():
        assert f"/* {name}@{version} */" in text, name


def test_the_page_builder_inlines_the_libraries_and_refuses_what_would_break_the_page():
    build = _build_page_module()
    sources = {
        name: f"var {name.replace('-', '_')} = 1;\n//# sourceMappingURL=x.map\n"
        for name in build.LIBRARIES
    }
    page = build.page(sources)
    assert page.count("{plot_divs}") == 1 and "{refresh_tag}" in page
    assert "sourceMappingURL" not in page
    order = [page.index(f"/* {name}@") for name in ("vega", "vega-lite", "vega-embed")]
    assert order == sorted(order)  # vega-embed needs the other two defined first
    with pytest.raises(ValueError, match="closing script tag"):
        build.page({**sources, "vega": "x = '</script>';"})
    with pytest.raises(ValueError, match="placeholder"):
        build.page({**sources, "vega-lite": "x = '{plot_divs}';"})


def rendered_page(folder: Path) -> Path:
    """What ``dvc plots show`` writes for one linear plot, with the project's page."""
    from dvc_render import VegaRenderer, render_html

    points = [{"fpr": x / 10, "tpr": math.sqrt(x / 10), "rev": "workspace"} for x in range(11)]
    renderer = VegaRenderer(
        points, "plots/credit/roc.csv", x="fpr", y="tpr", template="linear", title="ROC"
    )
    return Path(render_html([renderer], folder / "index.html", html_template=str(PAGE)))


def test_dvc_plots_show_writes_a_page_with_no_network_reference(tmp_path):
    text = rendered_page(tmp_path).read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in text and 'src="http' not in text
    assert "vegaEmbed('#plots_credit_roc_csv'" in text


def _chromium() -> str | None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from check_report_browser import find_chromium
    finally:
        sys.path.pop(0)
    return find_chromium()


@pytest.mark.slow
@pytest.mark.skipif(
    _chromium() is None, reason="no headless Chromium on PATH (apt-get install chromium)"
)
def test_the_plot_renders_in_a_browser_with_no_network(tmp_path):
    page = rendered_page(tmp_path)
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [
            str(_chromium()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # no host resolves: offline
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # vega-embed drew the chart: its container and a canvas inside the plot's div
    assert 'class="vega-embed' in dom and "<canvas" in dom, dom[-2000:]
