"""The report stage: the front page ``reports/index.html`` linking every model's reports and runs."""

from __future__ import annotations

from research.paths import index_path
from research.reporting.index_page import IndexContent, collect_index, index_page_html
from research.stages import _io
from research.stages._context import StageContext
from research.stages._registry import notebook_names


def run(ctx: StageContext) -> IndexContent:
    """Collect what the other stages wrote and write the front page."""
    models = ctx.settings.enabled_models
    content = collect_index(ctx.root, models, notebook_names(models))
    if ctx.write:
        _io.write_text(index_path(ctx.root), index_page_html(content))
    return content
