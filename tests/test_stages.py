"""The stage layer in-process: every stage's run() on a small portfolio with three models.

No papermill: each stage module is called the way its notebook calls it. The project is a
temporary copy whose params add a third model (default within 6 months), so the test also
shows that a model is a params entry: it trains, is explained and validated, and reaches
the front page with no code naming it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _project import copy_project
from research.paths import run_file
from research.stages import run_stage, stage_context

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("credit", "churn", "default_6m")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("stages")]


def small_params(params: dict) -> dict:
    """The project's params at test size, with a third model: default within 6 months."""
    params = copy.deepcopy(params)
    params["data"]["synthetic"]["n_customers"] = 1200
    params["labels"]["horizons_months"] = [6, 12]
    third = copy.deepcopy(params["models"]["credit"])
    third.update(
        label="default_6m",
        horizon_months=6,
        registry_name="credit_pd_6m",
        description="Probability of default within 6 months",
    )
    params["models"]["default_6m"] = third
    for spec in params["models"].values():
        spec["xgb"]["n_estimators"] = 120
    params["explain"].update(report_sample=300, interaction_sample=40, agreement_sample=200)
    return params


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stages") / "project"
    copy_project(root)
    params = small_params(yaml.safe_load((root / "params.yaml").read_text()))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def built(project) -> dict:
    """Every stage run once, in pipeline order, writing its outputs."""
    saved = os.environ.get("RESEARCH_PIPELINE")
    os.environ["RESEARCH_PIPELINE"] = "1"
    try:
        results = {
            "data": run_stage("data", root=project),
            "features": run_stage("features", root=project),
        }
        for stage in ("train", "explain", "validate"):
            for model in MODELS:
                results[f"{stage}@{model}"] = run_stage(stage, model, root=project)
        results["value"] = run_stage("value", root=project)
        results["report"] = run_stage("report", root=project)
    finally:
        if saved is None:
            os.environ.pop("RESEARCH_PIPELINE", None)
        else:
            os.environ["RESEARCH_PIPELINE"] = saved
    return results


def test_every_stage_writes_its_contract_outputs(project, built):
    expected = [
        "data/raw/customers.parquet",
        "data/truth/oracle.parquet",
        "data/features/panel.parquet",
        "data/features/catalog.csv",
        "reports/value.html",
        "metrics/value.json",
        "data/value/summary.json",
        "reports/index.html",
    ]
    for model in MODELS:
        expected += [
            f"models/{model}/model.ubj",
            f"runs/{model}.json",
            f"data/scores/{model}.parquet",
            f"metrics/{model}.json",
            f"metrics/diagnostics/{model}/train.json",
            f"plots/{model}/roc.csv",
            f"reports/{model}/shap.html",
            f"data/scores/{model}_reason_codes.parquet",
            f"metrics/diagnostics/{model}/explain.json",
            f"reports/{model}/validation.html",
            f"metrics/{model}_validation.json",
            f"metrics/diagnostics/{model}/validation.json",
            f"plots/{model}/checks.csv",
            f"plots/{model}/backtest.csv",
        ]
    assert [p for p in expected if not (project / p).exists()] == []
    leftovers = [p for p in project.rglob(".*.tmp-*")]
    assert leftovers == [], "atomic writes leave no temporary files"


def _leaves(node: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        out.update(_leaves(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return out


def test_metrics_files_hold_headline_figures_and_the_records_hold_every_figure(project, built):
    """Issue 17: the DVC metrics files are the headline (what dvc exp show compares, about 30
    figures a model with the light counts); each stage's whole record is beside them."""
    from research import validation as v
    from research.stages.train import headline_metrics, metrics_file_content

    for model in MODELS:
        content = json.loads((project / f"metrics/{model}.json").read_text())
        record = json.loads((project / f"metrics/diagnostics/{model}/train.json").read_text())
        # the record is what the stage measured (the notebook shows it), the headline its pick,
        # under the model's name (short, distinct names in dvc exp show)
        assert record == json.loads(json.dumps(built[f"train@{model}"].results))
        assert content == json.loads(json.dumps(metrics_file_content(model, record)))
        metrics = content[model]
        assert metrics == json.loads(json.dumps(headline_metrics(record)))
        assert set(metrics) == {"train", "valid", "oot", "challenger", "oracle"}, model
        assert metrics["oot"]["auc"] == record["oot"]["auc"]
        validation = json.loads((project / f"metrics/{model}_validation.json").read_text())[model]
        summary = json.loads((project / f"metrics/diagnostics/{model}/validation.json").read_text())
        assert summary == json.loads(json.dumps(built[f"validate@{model}"].summary))
        assert validation == v.headline_metrics(summary)
        headline = _leaves(metrics) | _leaves(validation, "validation.")
        assert len(_leaves(validation)) == 13, sorted(_leaves(validation))
        assert len(headline) <= 35, len(headline)
        assert all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in headline.values()
        )
        # one figure, one value: the validation pack's out-of-time AUC is the train stage's
        assert validation["discrimination"]["oot"]["auc"] == pytest.approx(
            metrics["oot"]["auc"], abs=1e-6
        )
        explain = json.loads((project / f"metrics/diagnostics/{model}/explain.json").read_text())
        assert explain == json.loads(json.dumps(built[f"explain@{model}"].summary))
        assert not (project / f"metrics/{model}_explain.json").exists()
        checks = pd.read_csv(project / f"plots/{model}/checks.csv")
        assert sum(validation["lights"].values()) == len(checks)
    value = json.loads((project / "metrics/value.json").read_text())
    summary = json.loads((project / "data/value/summary.json").read_text())
    assert summary == json.loads(json.dumps(built["value"].result.metrics))
    assert len(_leaves(value)) == 8 and value["total_clv"] == round(summary["total_clv"], 2)


def test_panel_carries_every_label_of_every_horizon(built):
    panel = built["features"].panel
    assert {"default_6m", "default_12m", "churn_6m", "churn_12m"} <= set(panel.columns)
    known = panel[["default_6m", "default_12m"]].dropna()
    assert (known["default_6m"] <= known["default_12m"]).all(), (
        "a default within 6 months is one within 12"
    )


def test_third_model_is_trained_graded_and_compared_with_its_own_oracle(project, built):
    metrics = json.loads((project / "metrics" / "default_6m.json").read_text())["default_6m"]
    record = json.loads((project / "metrics/diagnostics/default_6m/train.json").read_text())
    assert record["label"] == "default_6m" and record["model"] == "default_6m"
    assert 0.6 < metrics["oot"]["auc"] <= 1
    assert 0 < metrics["oracle"]["auc"] <= 1  # the generator wrote oracle_default_6m
    assert metrics["oracle"]["auc"] == record["oracle"]["oracle_auc"]
    assert record["calibration"]["grades_tested"] >= 1
    run = json.loads(run_file(project, "default_6m").read_text())
    assert run["model_name"] == "credit_pd_6m" and run["model_version"] == "1"
    scores = pd.read_parquet(project / "data" / "scores" / "default_6m.parquet")
    assert "grade" in scores.columns


def test_front_page_lists_every_model_from_params(project, built):
    page = (project / "reports" / "index.html").read_text()
    for model in MODELS:
        assert f'href="{model}/validation.html"' in page and f'href="{model}/shap.html"' in page
        assert (
            f"notebooks/train-{model}.html" not in page
            or (project / f"reports/notebooks/train-{model}.html").exists()
        )
    assert [e.model for e in built["report"].models] == list(MODELS)


def test_value_takes_its_models_by_task(built):
    value = built["value"]
    assert (value.pd_model, value.attrition_model) == ("credit", "churn")
    assert value.result.metrics["customers"] > 0


def test_interactive_run_writes_nothing_and_registers_nothing(project, built):
    from mlflow import MlflowClient

    from research import tracking

    before = {p: p.stat().st_mtime_ns for p in (project / "models" / "churn").iterdir()}
    metrics_before = (project / "metrics" / "churn.json").read_bytes()
    result = run_stage(
        "train", "churn", root=project
    )  # RESEARCH_PIPELINE unset: a JupyterLab session
    assert {p: p.stat().st_mtime_ns for p in (project / "models" / "churn").iterdir()} == before
    assert (project / "metrics" / "churn.json").read_bytes() == metrics_before
    tracking.configure(project)
    client = MlflowClient()
    assert client.get_run(result.run["run_id"]).data.tags["interactive"] == "true"
    assert [str(v.version) for v in client.search_model_versions("name = 'churn'")] == ["1"]
    # the same params give the same model: the interactive run reproduces the pipeline's scores
    written = pd.read_parquet(project / "data" / "scores" / "churn.parquet")
    pd.testing.assert_frame_equal(result.scores.reset_index(drop=True), written)


def test_bad_stage_or_model_is_refused_before_any_work(project):
    ctx = stage_context(project, write=False)
    with pytest.raises(ValueError, match="unknown stage 'trian'"):
        run_stage("trian", "credit", ctx=ctx)
    with pytest.raises(ValueError, match=r"unknown model 'credt' \(did you mean 'credit'\?\)"):
        run_stage("train", "credt", ctx=ctx)
    with pytest.raises(ValueError, match="stage 'value' takes no --model"):
        run_stage("value", "credit", ctx=ctx)


def _copy_project(project: Path, built: dict, tmp_path: Path, edit) -> Path:
    """A copy of the built project (data and features reused) with ``edit`` applied to its params."""
    assert built  # the source project has run every stage
    root = tmp_path / "project"
    shutil.copytree(project, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def _pipeline(root: Path, stages) -> dict:
    saved = os.environ.get("RESEARCH_PIPELINE")
    os.environ["RESEARCH_PIPELINE"] = "1"
    try:
        return {
            f"{stage}@{model}" if model else stage: run_stage(stage, model, root=root)
            for stage, model in stages
        }
    finally:
        if saved is None:
            os.environ.pop("RESEARCH_PIPELINE", None)
        else:
            os.environ["RESEARCH_PIPELINE"] = saved


def test_a_disabled_model_writes_its_disabled_record_and_the_pipeline_runs_on(
    project, built, tmp_path
):
    def disable_churn(params: dict) -> None:
        params["models"]["churn"]["enabled"] = False

    root = _copy_project(project, built, tmp_path, disable_churn)
    for path in ("models/churn", "data/scores/churn.parquet", "reports/churn", "plots/churn"):
        target = root / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for name in ("churn", "churn_validation"):
        (root / "metrics" / f"{name}.json").unlink()
    shutil.rmtree(root / "metrics" / "diagnostics" / "churn")
    # the disabled model and one enabled model (credit) through train, explain and validate;
    # default_6m keeps the outputs of the built project (a second enabled model would rerun
    # the same code on other numbers), and the report below still lists it
    results = _pipeline(
        root,
        [
            *((stage, model) for stage in ("train", "explain", "validate") for model in MODELS[:2]),
            ("value", None),
            ("report", None),
        ],
    )
    # every out dvc.yaml declares for the churn stages exists, each saying the model is off
    declared = [
        "models/churn/disabled.json",
        "data/scores/churn.parquet",
        "metrics/churn.json",
        "metrics/diagnostics/churn/train.json",
        "plots/churn/roc.csv",
        "plots/churn/precision_recall.csv",
        "plots/churn/calibration.csv",
        "reports/churn/shap.html",
        "data/scores/churn_reason_codes.parquet",
        "metrics/diagnostics/churn/explain.json",
        "reports/churn/validation.html",
        "metrics/churn_validation.json",
        "metrics/diagnostics/churn/validation.json",
        "plots/churn/checks.csv",
        "plots/churn/backtest.csv",
        "plots/churn/csi.csv",
        "reports/value.html",
        "metrics/value.json",
        "reports/index.html",
    ]
    assert [p for p in declared if not (root / p).exists()] == []
    assert json.loads((root / "metrics/churn.json").read_text()) == {"enabled": False}
    assert json.loads((root / "metrics/churn_validation.json").read_text()) == {"enabled": False}
    for stage in ("train", "explain", "validation"):
        record = json.loads((root / f"metrics/diagnostics/churn/{stage}.json").read_text())
        assert record["enabled"] is False and "disabled in params.yaml" in record["note"], stage
    assert "disabled in params.yaml" in (root / "reports/churn/validation.html").read_text()
    assert "disabled in params.yaml" in (root / "reports/churn/shap.html").read_text()
    scores = pd.read_parquet(root / "data/scores/churn.parquet")
    assert scores.empty and {"customer_id", "snapshot_date", "split", "score"} <= set(
        scores.columns
    )
    assert list(pd.read_csv(root / "plots/churn/roc.csv").columns) == ["fpr", "tpr"]
    assert results["train@credit"].results["oot"]["auc"] > 0.6  # the enabled models still train
    # the value step needs the attrition model: it says so rather than guessing a retention term
    value_page = (root / "reports/value.html").read_text()
    assert "not computed" in value_page and "churn" in value_page
    assert json.loads((root / "metrics/value.json").read_text()) == {"computed": False}
    page = (root / "reports/index.html").read_text()
    assert "Disabled models" in page and "<code>churn</code>: disabled" in page
    assert [e.model for e in results["report"].models] == ["credit", "default_6m"]
    # what dvc repro runs: the notebook runner writes the placeholders and a notebook saying why
    from research.stages.notebook import run_notebook

    (root / "metrics" / "churn.json").unlink()
    executed = run_notebook("train", model="churn", root=root, html=True)
    assert "disabled in params.yaml" in executed.read_text()
    assert executed.with_suffix(".html").exists()
    assert json.loads((root / "metrics/churn.json").read_text()) == {"enabled": False}
    executed = run_notebook("value", root=root, html=False)
    assert "not computed" in executed.read_text().lower()


def test_degenerate_models_stop_train_before_writing(project, built, tmp_path):
    import numpy as np

    from research.models.checks import DegenerateModelError

    # A label drawn at random, beside features that say nothing: the booster can find no split
    # (each feature's second value is on 40 rows, too few for min_child_weight; a constant
    # column would be dropped before fitting, research.models.flat.prepare_features).
    rng = np.random.default_rng(7)
    rare = np.arange(3000) % 75 == 0
    noise = pd.DataFrame(
        {
            "loan_id": np.arange(3000),
            "income": np.where(rare, 2.0, 1.0),
            "segment": np.where(rare, "b", "a"),
            "bad": (rng.random(3000) < 0.2).astype(int),
        }
    )

    def add_noise_model(params: dict) -> None:
        spec = copy.deepcopy(params["models"]["churn"])
        spec.update(
            source="data/noise.parquet",
            id_column="loan_id",
            date_column="",
            label="bad",
            registry_name="noise",
            description="A label drawn independently of every feature",
        )
        params["models"]["noise"] = spec

    root = _copy_project(project, built, tmp_path, add_noise_model)
    noise.to_parquet(root / "data" / "noise.parquet")
    with pytest.raises(
        # min_child_weight: auto lets the trees split on noise, so the stop is the validation
        # AUC no better than a coin (with a fixed 50 it was: no split at all)
        DegenerateModelError,
        match=r"model 'noise': (its validation AUC .* is indistinguishable from 0\.5"
        r"|the booster grew no split at all)",
    ):
        _pipeline(root, [("train", "noise")])
    assert not (root / "models" / "noise").exists()
    assert not (root / "metrics" / "noise.json").exists()
    assert not (root / "data" / "scores" / "noise.parquet").exists()

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["split"]["min_events"] = 100_000
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = (root / "metrics" / "credit.json").read_bytes()
    with pytest.raises(DegenerateModelError, match=r"model 'credit': too few events") as err:
        _pipeline(root, [("train", "credit")])
    for part in (
        "train ",
        "valid ",
        "oot ",
        "split.min_events is 100000",
        "split.oot_first_snapshot",
        "features.snapshots",
        "models.credit.enabled: false",
    ):
        assert part in str(err.value), part
    assert (root / "metrics" / "credit.json").read_bytes() == before


def test_the_data_stage_reads_a_banks_export_through_its_source_mapping(tmp_path):
    """``data.source`` names a mapping file: the stage reads the export it names, checks it
    and writes the contract's tables with ``_source.json`` (currency, default definition,
    as-of date from the mapping); the source stage fingerprints the files it read."""
    from research.data import foreign
    from research.data.asof import synthetic_as_of
    from research.data.synthetic import generate_portfolio
    from research.labels import churn_dates, default_dates
    from research.stages import source

    root = copy_project(tmp_path / "project")
    tables = generate_portfolio(
        n_customers=150,
        start="2019-01-01",
        months=72,
        scenario="baseline",
        transactions_per_month=6,
        seed=5,
    ).tables
    as_of = synthetic_as_of("2019-01-01", 72)
    events = foreign.events_table(
        default_dates(tables["repayments"], 90), churn_dates(tables["customers"]), as_of
    )
    foreign.write_foreign_export(tables, events, root / "data" / "foreign_export", as_of=as_of)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["source"] = "examples/foreign_bank/mapping.yaml"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    result = run_stage("data", root=root, write=True)
    assert f"{result.as_of.date}" == "2024-12-31" and "source mapping" in result.as_of.how
    written = {p.stem for p in (root / "data" / "raw").glob("*.parquet")}
    assert "events" in written and "repayments" not in written and "interactions" not in written
    info = json.loads((root / "data" / "raw" / "_source.json").read_text())
    assert info["kind"] == "mapping" and info["currency"] == "CZK"
    assert info["mapping"] == "examples/foreign_bank/mapping.yaml"
    assert info["folder"] == "data/foreign_export" and info["as_of"] == "2024-12-31"
    assert "SELHANI" in info["default_definition"]
    assert str(tmp_path) not in json.dumps(info)  # no machine paths
    assert any(n.startswith("source: data/foreign_export through") for n in result.notes)
    from research.reporting.index_page import collect_index, index_page_html

    page = index_page_html(collect_index(root, ["credit"], []))  # the front page states them
    assert "CZK" in page and "SELHANI in UDALOSTI.csv" in page
    assert "examples/foreign_bank/mapping.yaml" in page
    fingerprint = source.run(stage_context(root, write=True))
    assert json.loads(source.fingerprint_path(root).read_text()) == fingerprint
    assert "POHYBY/POHYBY_2024.csv" in {f["path"] for f in fingerprint["files"]}

    # params and the mapping disagreeing about the extract date stop the stage before writing
    params["data"]["as_of"] = "2025-01-15"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(ValueError, match="disagree"):
        run_stage("data", root=root, write=True)
