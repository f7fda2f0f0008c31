"""The report stage: the front page ``reports/index.html`` linking every model's reports and runs.

While a stage's last run has failed (``_stale``), the page opens with a banner naming it and
the stages whose reports are stale; the stage runner also rewrites the page at failure time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from research.paths import index_path
from research.reporting.index_page import (
    IndexContent,
    StageFailure,
    collect_index,
    index_page_html,
)
from research.stages import _io, _stale
from research.stages._context import StageContext
from research.stages._registry import notebook_names


def front_page(root: Path, models: Sequence[str], pipeline_models: Sequence[str]) -> IndexContent:
    """What the front page shows: ``models`` (the enabled ones) and the failures of the pipeline's stages.

    The pipeline's models that are not in ``models`` are listed as disabled.
    """
    failures = [StageFailure.from_record(r) for r in _stale.failures(root, pipeline_models)]
    disabled = [m for m in pipeline_models if m not in set(models)]
    return collect_index(root, models, notebook_names(models), failures, disabled)


def refresh_front_page(ctx: StageContext) -> Path | None:
    """Rewrite ``reports/index.html`` (banner included) if it exists; the runner calls it when a stage fails."""
    path = index_path(ctx.root)
    if not path.exists():
        return None
    content = front_page(ctx.root, ctx.settings.enabled_models, list(ctx.settings.models))
    return _io.write_text(path, index_page_html(content))


def run(ctx: StageContext) -> IndexContent:
    """Collect what the other stages wrote and write the front page."""
    content = front_page(ctx.root, ctx.settings.enabled_models, list(ctx.settings.models))
    if ctx.write:
        _io.write_text(index_path(ctx.root), index_page_html(content))
    return content
