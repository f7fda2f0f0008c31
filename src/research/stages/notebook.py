"""Run a stage notebook with papermill (what ``dvc repro`` calls), plus an offline HTML copy.

DVC stage commands call ``research notebook <stage> [--model NAME]``. The notebook's
parameters cell holds only the model name, which papermill injects; the stage reads
everything else from ``params.yaml`` itself. ``RESEARCH_PIPELINE=1`` tells the stage to
write its outputs and register. The executed copy lands in
``reports/notebooks/<stage>[-<model>].ipynb`` with an HTML rendering beside it, and is
kept even when a cell fails: it is the failure log.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from research.paths import executed_notebook_path, notebooks_dir
from research.stages import check_stage, stage_context
from research.stages._context import PIPELINE_ENV


def run_notebook(
    stage: str, *, model: str | None = None, root: Path | None = None, html: bool = True
) -> Path:
    """Execute ``notebooks/<stage>.ipynb`` for the pipeline and return the executed copy's path.

    A bad stage or model name, or a params error, stops here before a kernel starts.
    """
    ctx = stage_context(root, write=True)
    check_stage(stage, model, ctx)
    import nbformat
    import papermill

    root = ctx.root
    out = executed_notebook_path(root, stage, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = {name: os.environ.get(name) for name in ("RESEARCH_ROOT", PIPELINE_ENV)}
    os.environ["RESEARCH_ROOT"] = str(root)
    os.environ[PIPELINE_ENV] = "1"
    try:
        papermill.execute_notebook(
            str(notebooks_dir(root) / f"{stage}.ipynb"),
            str(out),
            parameters={"model": model} if model is not None else {},
            cwd=str(root),
            kernel_name="research" if _has_research_kernel() else "python3",
            progress_bar=False,
            log_output=False,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if html and out.exists():
            _write_html(nbformat.read(out, as_version=4), out.with_suffix(".html"))
    return out


def _has_research_kernel() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return "research" in KernelSpecManager().find_kernel_specs()


_EXTERNAL_SCRIPT = re.compile(
    r"<script[^>]*\ssrc=\"(?:https?:)?//[^\"]*\"[^>]*>\s*</script>", re.IGNORECASE
)


def _write_html(notebook, path: Path) -> None:
    """An offline HTML copy: images embedded, no scripts fetched from a CDN.

    The lab template links require.js and MathJax from a CDN; the notebooks use neither
    widgets nor LaTeX, so those tags are dropped and the page needs no network.
    """
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab", embed_images=True).from_notebook_node(notebook)
    path.write_text(_EXTERNAL_SCRIPT.sub("", body), encoding="utf-8")
