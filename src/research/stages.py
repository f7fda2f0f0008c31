"""Run a stage notebook with papermill, parameters from ``params.yaml``, plus an HTML copy.

DVC stage commands call ``research notebook <stage> [--model NAME]``. The notebook gets
every ``params.yaml`` section as a parameter (papermill injects them after the
``parameters`` cell), runs with the project root as working directory, and its
executed copy lands in ``reports/notebooks/<stage>[-<model>].ipynb`` with an HTML
rendering beside it. The executed notebook is kept even when a cell fails: it is the
failure log.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from research.config import parse_settings, read_params
from research.paths import project_root

NOTEBOOK_STAGES = ("data", "features", "train", "explain", "validate", "value", "report")
MODEL_STAGES = ("train", "explain", "validate")


def executed_notebook_path(root: Path, stage: str, model: str | None = None) -> Path:
    """Where the executed copy of a stage notebook goes."""
    name = f"{stage}-{model}" if model else stage
    return root / "reports" / "notebooks" / f"{name}.ipynb"


def run_notebook(
    stage: str,
    *,
    model: str | None = None,
    root: Path | None = None,
    params_path: Path | None = None,
    overrides: dict | None = None,
    html: bool = True,
) -> Path:
    """Execute ``notebooks/<stage>.ipynb`` with the project's parameters.

    Args:
        stage: One of ``NOTEBOOK_STAGES``.
        model: Model name for the shared model stages (``credit`` or ``churn``).
        root: Project root (found from the working directory by default).
        params_path: Alternative parameters file (tests use small ones).
        overrides: Top-level parameters replacing those of the file (tests).
        html: Also write an HTML rendering beside the executed notebook.

    Returns:
        The path of the executed notebook.
    """
    import nbformat
    import papermill

    if stage not in NOTEBOOK_STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(NOTEBOOK_STAGES)}")
    if (stage in MODEL_STAGES) != (model is not None):
        raise ValueError(f"stage {stage!r} {'needs' if stage in MODEL_STAGES else 'takes no'} --model")
    root = root or project_root()
    params = read_params(params_path or root / "params.yaml")
    params.update(overrides or {})
    parse_settings(params)  # a params typo stops here, before the notebook starts
    if model is not None:
        params["model"] = model
    notebook = root / "notebooks" / f"{stage}.ipynb"
    # Inject only the sections the notebook declares in its parameters cell.
    declared = papermill.inspect_notebook(str(notebook))
    params = {name: value for name, value in params.items() if name in declared}
    out = executed_notebook_path(root, stage, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    env_before = os.environ.get("RESEARCH_ROOT")
    os.environ["RESEARCH_ROOT"] = str(root)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(out),
            parameters=params,
            cwd=str(root),
            kernel_name="research" if _has_research_kernel() else "python3",
            progress_bar=False,
            log_output=False,
        )
    finally:
        if env_before is None:
            os.environ.pop("RESEARCH_ROOT", None)
        else:
            os.environ["RESEARCH_ROOT"] = env_before
        if html and out.exists():
            _write_html(nbformat.read(out, as_version=4), out.with_suffix(".html"))
    return out


def _has_research_kernel() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return "research" in KernelSpecManager().find_kernel_specs()


_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\ssrc=\"(?:https?:)?//[^\"]*\"[^>]*>\s*</script>", re.IGNORECASE)


def _write_html(notebook, path: Path) -> None:
    """An offline HTML copy: images embedded, no scripts fetched from a CDN.

    The lab template links require.js and MathJax from a CDN; the notebooks use neither
    widgets nor LaTeX, so those tags are dropped and the page needs no network.
    """
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab", embed_images=True).from_notebook_node(notebook)
    path.write_text(_EXTERNAL_SCRIPT.sub("", body), encoding="utf-8")


def sync_parameters_cell(notebook: Path, params: dict) -> bool:
    """Rewrite a notebook's ``parameters`` cell so every section it declares equals ``params``.

    The cell keeps its first comment line and its variables (in order); ``model`` keeps
    its value. Returns whether the notebook changed.
    """
    import ast
    import pprint

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", []))
    tree = ast.parse(cell.source)
    names = [node.targets[0].id for node in tree.body if isinstance(node, ast.Assign)]
    comments = [line for line in cell.source.splitlines() if line.startswith("#")][:1]
    lines = list(comments)
    for name in names:
        if name in params:
            value = params[name]
        else:
            value = ast.literal_eval(next(n.value for n in tree.body if n.targets[0].id == name))
        lines.append(f"{name} = {pprint.pformat(value, sort_dicts=False, width=100)}")
    source = "\n".join(lines)
    if source == cell.source:
        return False
    cell.source = source
    nbformat.write(nb, notebook)
    return True
