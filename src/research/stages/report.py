"""The report stage: the front page ``reports/index.html`` and each model's card.

The front page gives each model's verdict, reasons, sign-off and links (``index_page``);
``reports/<model>/model_card.html`` is the model card (``model_card``). Both name the
build (date, git commit, data hash), so neither is a DVC output: the stage rewrites them
on every run. While a stage's last run has failed (``_stale``), the page opens with a
banner naming it and the stages whose reports are stale; the stage runner also rewrites
the page at failure time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from research import signoff, tracking
from research.paths import index_path, pages_path, report_dir
from research.reporting.index_page import (
    IndexContent,
    StageFailure,
    collect_index,
    index_page_html,
    source_info,
)
from research.reporting.model_card import ModelCard, collect_model_card, model_card_html
from research.stages import _io, _stale
from research.stages._context import StageContext
from research.stages._registry import notebook_names


def build_facts(root: Path) -> dict[str, str]:
    """When and from what this build ran: UTC date and time, git commit, data hash."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": tracking.git_commit(root),
        "data_hash": tracking.data_fingerprint(root, "features"),
    }


def front_page(
    root: Path,
    models: Sequence[str],
    pipeline_models: Sequence[str],
    build: Mapping[str, str] | None = None,
) -> IndexContent:
    """What the front page shows: ``models`` (the enabled ones) and the failures of the pipeline's stages.

    The pipeline's models that are not in ``models`` are listed as disabled.
    """
    failures = [StageFailure.from_record(r) for r in _stale.failures(root, pipeline_models)]
    disabled = [m for m in pipeline_models if m not in set(models)]
    return collect_index(
        root,
        models,
        notebook_names(models),
        failures,
        disabled,
        build=build if build is not None else build_facts(root),
        signoffs={m: signoff_status(root, m) for m in models},
    )


def signoff_status(root: Path, model: str) -> signoff.SignOffStatus | None:
    """The model's latest sign-off against its current version and pack (None: the file is damaged)."""
    try:
        return signoff.status(root, model)
    except ValueError:
        return None


def model_card_links(model: str) -> list[tuple[str, str | None]]:
    """The bar of a model's pages: back to the front page, across to its reports (relative to reports/<model>/)."""
    return [
        ("Front page", "../index.html"),
        ("Validation report", "validation.html"),
        ("SHAP report", "shap.html"),
        ("Customer value report", "../value.html"),
        ("Notebooks", f"../notebooks/validate-{model}.html"),
    ]


def model_cards(ctx: StageContext) -> dict[str, ModelCard]:
    """The card of every enabled model, from what the other stages left."""
    source = source_info(ctx.root)
    cards = {}
    for model in ctx.settings.enabled_models:
        status = signoff_status(ctx.root, model)
        cards[model] = collect_model_card(
            ctx.root,
            model,
            ctx.settings.model(model),
            source=source,
            default_dpd=ctx.settings.labels.default_dpd,
            signoff=status.line() if status else "the sign-off file cannot be read",
        )
    return cards


def refresh_front_page(ctx: StageContext) -> Path | None:
    """Rewrite ``reports/index.html`` (banner included) if it exists; the runner calls it when a stage fails."""
    path = index_path(ctx.root)
    if not path.exists():
        return None
    content = front_page(ctx.root, ctx.settings.enabled_models, list(ctx.settings.models))
    return _io.write_text(path, index_page_html(content))


def run(ctx: StageContext) -> IndexContent:
    """Collect what the other stages wrote; write each model card, then the front page."""
    build = build_facts(ctx.root)
    if ctx.write:
        for model, card in model_cards(ctx).items():
            _io.write_text(
                report_dir(ctx.root, model) / "model_card.html",
                model_card_html(card, links=model_card_links(model), built=build["date"]),
            )
    content = front_page(ctx.root, ctx.settings.enabled_models, list(ctx.settings.models), build)
    if ctx.write:
        _io.write_text(index_path(ctx.root), index_page_html(content))
        _io.write_json(pages_path(ctx.root), {"pages": built_pages(ctx)}, indent=1)
    return content


def built_pages(ctx: StageContext) -> list[str]:
    """The pages this stage writes, relative to ``reports/``: the front page and each model card.

    They carry the build date, commit and run ids, so they are no DVC outputs (a fresh clone's
    repro would never match the committed ``dvc.lock``). This list is: it depends on the
    settings alone, so DVC reruns the stage where it is missing (a fresh clone, a cleaned
    tree) and skips it when nothing changed.
    """
    pages = [index_path(ctx.root)] + [
        report_dir(ctx.root, model) / "model_card.html" for model in ctx.settings.enabled_models
    ]
    reports = report_dir(ctx.root)
    return [page.relative_to(reports).as_posix() for page in pages]
