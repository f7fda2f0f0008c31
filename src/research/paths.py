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


def diagnostics_path(root: Path, model: str, name: str) -> Path:
    """``metrics/diagnostics/<model>/<name>``: a stage's whole record beside its headline metrics.

    The DVC metrics files (``metrics/<model>.json``, ``metrics/<model>_validation.json``,
    ``metrics/value.json``) hold the headline figures ``dvc exp show`` and ``dvc metrics
    diff`` compare. Every figure of a model's stages, the headline ones included, is in a
    record here (``train.json``, ``validation.json``, ``explain.json``): DVC outs, not
    metrics, so DVC tracks them without showing them; each is logged to the model's MLflow
    run too. Under ``metrics/`` so that what depends on ``metrics`` (the report stage) sees
    them. The per-feature and per-snapshot tables are in ``plots/<model>/``.
    """
    return root / "metrics" / "diagnostics" / model / name


def mlruns_dir(root: Path) -> Path:
    """The MLflow store: ``<root>/mlruns`` of the project (see ``experiment_origin``)."""
    return experiment_origin(root) / "mlruns"


# Where DVC runs an experiment away from the workspace (``dvc exp run --temp``, ``--queue``):
# a temporary copy at ``<repo>/.dvc/tmp/exps/standalone/<tmp>`` or ``<repo>/.dvc/tmp/exps/<tmp>``
# (dvc.repo.experiments: EXEC_TMP_DIR, queue/tempdir.py, executor/local.py), deleted afterwards.
_EXECUTOR_DIR = (".dvc", "tmp", "exps")


def experiment_origin(root: Path) -> Path:
    """The project ``root`` is, or the one it was copied from when it is a DVC experiment's temporary copy.

    ``<repo>/.dvc/tmp/exps/[standalone/]<tmp>/<sub>`` gives ``<repo>/<sub>``; any other
    folder is its own origin. Decided by the path alone (no environment variable needed).
    """
    here = Path(root).resolve()
    parts = here.parts
    width = len(_EXECUTOR_DIR)
    for start in range(len(parts) - width, 0, -1):
        if parts[start : start + width] != _EXECUTOR_DIR:
            continue
        below = parts[start + width :]
        # the copy is the first folder down that holds a .dvc folder (DVC's own layout if gone)
        depth = next(
            (
                n
                for n in range(1, len(below) + 1)
                if (Path(*parts[: start + width], *below[:n]) / ".dvc").is_dir()
            ),
            2 if below[:1] == ("standalone",) else 1,
        )
        if len(below) < depth:
            return here
        return Path(*parts[:start], *below[depth:])
    return here


def feature_dir(root: Path) -> Path:
    """The panel and its tables (catalog, quality, univariate power)."""
    return root / "data" / "features"


def value_dir(root: Path) -> Path:
    return root / "data" / "value"


def runs_dir(root: Path) -> Path:
    """``runs/``: each model's last training run (git-ignored, never a DVC output or dependency)."""
    return root / "runs"


def run_file(root: Path, model: str) -> Path:
    """``runs/<model>.json``: the MLflow run and registry version of a model's last training.

    Outside ``models/<model>`` on purpose: the run id is new with every run, and the model
    folder is a DVC output whose hash must depend on the model alone (dvc.lock stays as
    committed after a rebuild).
    """
    return runs_dir(root) / f"{model}.json"


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


def pages_path(root: Path) -> Path:
    """``reports/pages.json``: the pages the report stage builds (its one DVC output; see stages.report)."""
    return report_dir(root) / "pages.json"


def notebooks_dir(root: Path) -> Path:
    """The stage notebooks (sources)."""
    return root / "notebooks"


def executed_notebook_path(root: Path, stage: str, model: str | None = None) -> Path:
    """Where the executed copy of a stage notebook goes (an HTML rendering lands beside it).

    A file beside the stage's outputs, not one of them (it records times and run ids).
    """
    name = f"{stage}-{model}" if model else stage
    return report_dir(root) / "notebooks" / f"{name}.ipynb"
