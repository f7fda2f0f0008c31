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
