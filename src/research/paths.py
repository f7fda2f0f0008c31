"""Where things live in the project (one place, so stages never spell paths twice)."""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("params.yaml", "dvc.yaml")


def project_root(start: str | Path | None = None) -> Path:
    """The project folder: ``$RESEARCH_ROOT`` or the nearest parent holding params.yaml and dvc.yaml."""
    env = os.environ.get("RESEARCH_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / m).exists() for m in _MARKERS):
            return folder
    raise FileNotFoundError(
        f"no project root above {here}: expected a folder with {' and '.join(_MARKERS)} "
        "(or set RESEARCH_ROOT)"
    )


def raw_dir(root: Path) -> Path:
    return root / "data" / "raw"


SOURCE_INFO = "_source.json"  # beside the raw tables: where they came from (readers skip "_")


def source_info_path(root: Path) -> Path:
    """``data/raw/_source.json``: the data stage's description of the source (the reports show it)."""
    return raw_dir(root) / SOURCE_INFO


def truth_dir(root: Path) -> Path:
    return root / "data" / "truth"


def panel_path(root: Path) -> Path:
    return root / "data" / "features" / "panel.parquet"


def scores_path(root: Path, model: str) -> Path:
    return root / "data" / "scores" / f"{model}.parquet"


def model_dir(root: Path, model: str) -> Path:
    return root / "models" / model


def report_dir(root: Path, model: str | None = None) -> Path:
    return root / "reports" / model if model else root / "reports"


def metrics_path(root: Path, name: str) -> Path:
    return root / "metrics" / f"{name}.json"


def plots_dir(root: Path, model: str) -> Path:
    return root / "plots" / model


def mlruns_dir(root: Path) -> Path:
    return root / "mlruns"


def feature_dir(root: Path) -> Path:
    """The panel and its tables (catalog, quality, univariate power)."""
    return root / "data" / "features"


def value_dir(root: Path) -> Path:
    return root / "data" / "value"


def run_file(root: Path, model: str) -> Path:
    """``run.json``: the MLflow run and registry version of a model's training."""
    return model_dir(root, model) / "run.json"


def reason_codes_path(root: Path, model: str) -> Path:
    """Every explained customer-snapshot's top reasons; beside the scores, which the value stage reads as a folder."""
    return root / "data" / "scores" / f"{model}_reason_codes.parquet"


def shap_report_path(root: Path, model: str) -> Path:
    return report_dir(root, model) / "shap.html"


def validation_report_path(root: Path, model: str) -> Path:
    return report_dir(root, model) / "validation.html"


def value_report_path(root: Path) -> Path:
    return report_dir(root) / "value.html"


def index_path(root: Path) -> Path:
    return report_dir(root) / "index.html"


def notebooks_dir(root: Path) -> Path:
    """The stage notebooks (sources)."""
    return root / "notebooks"


def executed_notebook_path(root: Path, stage: str, model: str | None = None) -> Path:
    """Where the executed copy of a stage notebook goes (an HTML rendering lands beside it)."""
    name = f"{stage}-{model}" if model else stage
    return report_dir(root) / "notebooks" / f"{name}.ipynb"
