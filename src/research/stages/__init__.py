"""The edge of the package: one module per DVC stage, each with ``run(ctx[, model])``.

A stage reads its inputs and names its outputs through ``research.paths``, calls the
science packages, writes atomically (``_io``) and logs to MLflow through
``research.tracking``. Engine dispatch (local or Dask) lives in ``_engine``, model
dispatch in ``research.config.Settings.model``. Notebooks call ``run_stage`` and display
what it returns; ``research notebook`` executes them with papermill for DVC.
Science packages never import this package.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from research.stages._context import PIPELINE_ENV, StageContext, stage_context
from research.stages._registry import MODEL_STAGES, STAGES, notebook_names

__all__ = [
    "MODEL_STAGES",
    "PIPELINE_ENV",
    "STAGES",
    "StageContext",
    "check_stage",
    "notebook_names",
    "run_stage",
    "stage_context",
]


def check_stage(stage: str, model: str | None, ctx: StageContext) -> None:
    """Refuse an unknown stage, a missing or superfluous model, or an unknown model name."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    if (stage in MODEL_STAGES) != (model is not None):
        raise ValueError(
            f"stage {stage!r} {'needs' if stage in MODEL_STAGES else 'takes no'} --model"
        )
    if model is not None:
        ctx.spec(model)  # an unknown model stops here, naming the known ones


def run_stage(
    stage: str,
    model: str | None = None,
    *,
    root: Path | None = None,
    write: bool | None = None,
    ctx: StageContext | None = None,
) -> Any:
    """Run one stage in this process with the current ``params.yaml`` and return its result.

    Args:
        stage: One of ``STAGES``.
        model: The model name (``params.yaml`` → ``models``) for the model stages; None in an
            interactive session means the first enabled model.
        root: Project root (found from the working directory by default).
        write: Write DVC outputs and register (default: only when the pipeline runs it).
        ctx: A ready context (tests pass one with overridden params).
    """
    ctx = ctx or stage_context(root, write=write)
    if model is None and stage in MODEL_STAGES and ctx.interactive:
        model = ctx.settings.enabled_models[0]  # a notebook opened in JupyterLab: the first model
    check_stage(stage, model, ctx)
    module = importlib.import_module(f"research.stages.{stage}")
    return module.run(ctx, model) if model is not None else module.run(ctx)
