"""The validate and report notebooks: committed clean and a run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from research.paths import run_file
from research.reporting.html import external_references

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("validate", "report")


def _parameters_cell(name: str):
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}.ipynb needs exactly one cell tagged 'parameters'"
    return notebook, cells[0]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_without_outputs_on_the_research_kernel(name):
    notebook, _ = _parameters_cell(name)
    assert notebook.metadata["kernelspec"]["name"] == "research"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_validate_and_report_notebooks_run_end_to_end(tmp_path):
    """Generated scores through papermill: report, DVC metrics and plots written, all logged to MLflow."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from research.stages.notebook import run_notebook
    from research.tracking import configure, model_run
    from test_validation_pack import CATEGORICAL, FEATURES, make_portfolio

    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "notebooks").mkdir()
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", tmp_path / "notebooks")
    scores, panel = make_portfolio(n_customers=600)
    for folder in ("data/scores", "data/features", "models/credit"):
        (tmp_path / folder).mkdir(parents=True)
    scores.to_parquet(tmp_path / "data/scores/credit.parquet")
    panel.to_parquet(tmp_path / "data/features/panel.parquet")
    spec = {"features": FEATURES, "categorical": {c: [] for c in CATEGORICAL}, "monotone": {}}
    (tmp_path / "models/credit/features.json").write_text(json.dumps(spec))
    previous_uri = mlflow.get_tracking_uri()
    try:
        with model_run(tmp_path, "credit") as run:
            run_id = run.info.run_id
        client = mlflow.MlflowClient()
        client.create_registered_model("credit_pd")
        version = client.create_model_version("credit_pd", f"runs:/{run_id}/model", run_id=run_id)
        run_file(tmp_path, "credit").parent.mkdir(parents=True, exist_ok=True)
        run_file(tmp_path, "credit").write_text(
            json.dumps(
                {"run_id": run_id, "model_name": "credit_pd", "model_version": version.version}
            )
        )

        run_notebook("validate", model="credit", root=tmp_path, html=False)
        run_notebook("report", root=tmp_path, html=False)

        # the validated version's registry description is its model card
        description = client.get_model_version("credit_pd", version.version).description
        assert "credit_pd" in description and "Validation" in description, description[:300]
        summary = json.loads((tmp_path / "metrics/credit_validation.json").read_text())["credit"]
        assert summary["lights"]["red"] == 0
        assert 0.6 < summary["discrimination"]["oot"]["auc"] < 1
        backtest = (tmp_path / "plots/credit/backtest.csv").read_text().splitlines()
        assert backtest[0].startswith("snapshot_date,observed_rate,predicted_rate,auc,n")
        assert len(backtest) == 1 + 9
        report = (tmp_path / "reports/credit/validation.html").read_text()
        assert external_references(report) == []
        assert "<code>shap.html</code>" in report
        index = (tmp_path / "reports/index.html").read_text()
        assert run_id in index and 'href="credit/validation.html"' in index

        configure(tmp_path)
        logged = mlflow.get_run(run_id).data
        assert logged.metrics["validation.discrimination.oot.auc"] == pytest.approx(
            summary["discrimination"]["oot"]["auc"]
        )
        assert logged.tags["validation.red"] == "0"
        artifacts = {Path(a.path).name for a in MlflowClient().list_artifacts(run_id, "validation")}
        assert {
            "validation.html",
            "credit_validation.json",
            "backtest.csv",
            "csi.csv",
            "checks.csv",
        } <= artifacts
    finally:
        mlflow.set_tracking_uri(previous_uri)
