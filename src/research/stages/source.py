"""The source stage: fingerprints of what the pipeline reads, so that a changed file reruns what reads it.

DVC cannot make a file that a param names, or the files a mapping names, a dependency
(``${data.source}`` as a dep fails for ``synthetic``, and would miss the export a mapping
points to; ``${models.<name>.source}`` is ``panel`` for a panel model). This stage runs on
every ``dvc repro`` (``always_changed``) and writes:

- ``data/source.json``, a dependency of the data stage: for ``synthetic`` only the kind; for
  a folder every file's path, size and md5; for a source mapping the mapping's md5 and every
  file its tables name (``research.data.fingerprint.source_fingerprint``). When no enabled model
  is trained on the panel (``Settings.needs_panel``), ``data.source`` is not read at all: the
  file says so (``{"panel": false}``) and the data and features stages write placeholders.
- ``data/sources/<model>.json``, one per model of ``params.yaml`` ``models``, a dependency of
  that model's train stage: ``{"source": "panel"}`` for a panel model (the panel is its own
  dependency), the flat table's path (relative to the project), size and md5 for a flat
  model, ``{"enabled": false}`` for a disabled one. Changing one flat table reruns that
  model's train stage and what follows it, nothing else.

DVC compares the files' md5, so rewriting the same fingerprint reruns nothing; a file is
rewritten only when its content changes. Run by ``research source-fingerprint``; not a
notebook stage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from research.data.fingerprint import file_md5, source_fingerprint
from research.models.params import ModelSpec
from research.stages._context import StageContext

FINGERPRINT = Path("data") / "source.json"
MODEL_FINGERPRINTS = Path("data") / "sources"


def fingerprint_path(root: Path) -> Path:
    """``data/source.json``: the source's fingerprint, a dependency of the data stage."""
    return root / FINGERPRINT


def model_fingerprint_path(root: Path, model: str) -> Path:
    """``data/sources/<model>.json``: what the model trains on, a dependency of its train stage."""
    return root / MODEL_FINGERPRINTS / f"{model}.json"


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (``..`` where outside it); never a machine path inside it."""
    try:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive
        return path.name


def model_fingerprint(spec: ModelSpec, root: Path) -> dict[str, Any]:
    """What the model trains on: the panel, its flat table's files (path, size, md5), or nothing (disabled)."""
    if not spec.enabled:
        return {"enabled": False}
    if spec.uses_panel:
        return {"source": "panel"}
    path = Path(spec.source)
    path = path if path.is_absolute() else root / path
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    entries = [
        {"path": _shown(f, root), "size": f.stat().st_size, "md5": file_md5(f)}
        if f.is_file()
        else {"path": _shown(f, root), "missing": True}  # the train stage names it
        for f in files
    ]
    return {"source": _shown(path, root), "files": entries}


def model_fingerprints(ctx: StageContext) -> dict[str, dict[str, Any]]:
    """Every model's fingerprint (``model_fingerprint``), by name, in params order."""
    return {name: model_fingerprint(spec, ctx.root) for name, spec in ctx.settings.models.items()}


def _write(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` as JSON, only when it differs from what the file holds (atomically)."""
    text = json.dumps(content, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run(ctx: StageContext) -> dict[str, Any]:
    """Fingerprint ``data.source`` and every model's source; write them (when ``ctx.write``).

    Returns the data source's fingerprint (the content of ``data/source.json``); the models'
    are ``model_fingerprints``.
    """
    settings = ctx.settings
    if settings.needs_panel:
        fingerprint = source_fingerprint(settings.data.source, ctx.root)
    else:  # nothing reads data.source: its files are not read (nor fingerprinted)
        fingerprint = {
            "kind": "none",
            "panel": False,
            "note": "no enabled model is trained on the panel (models.<name>.source): "
            "data.source is not read and no panel is built",
        }
    if ctx.write:
        _write(fingerprint_path(ctx.root), fingerprint)
        models = model_fingerprints(ctx)
        for name, content in models.items():
            _write(model_fingerprint_path(ctx.root, name), content)
        for stale in (ctx.root / MODEL_FINGERPRINTS).glob("*.json"):
            if stale.stem not in models:  # a model removed from params leaves none behind
                stale.unlink()
    return fingerprint
