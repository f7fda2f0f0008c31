"""The source stage: a fingerprint of what ``data.source`` reads, so that a changed export reruns the data stage.

DVC cannot make a file that a param names, or the files a mapping names, a dependency
(``${data.source}`` as a dep fails for ``synthetic``, and would miss the export a mapping
points to). This stage runs on every ``dvc repro`` (``always_changed``) and writes
``data/source.json``: for ``synthetic`` only the kind; for a folder every file's path,
size and md5; for a source mapping the mapping's md5 and every file its tables name
(``research.data.mapping.source_fingerprint``). The data stage depends on that file, so it
reruns exactly when a source file or the mapping changes (DVC compares the file's md5, so
rewriting the same fingerprint reruns nothing). Run by ``research source-fingerprint``; not a notebook stage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from research.data.mapping import source_fingerprint
from research.stages._context import StageContext

FINGERPRINT = Path("data") / "source.json"


def fingerprint_path(root: Path) -> Path:
    """``data/source.json``: the source's fingerprint, a dependency of the data stage."""
    return root / FINGERPRINT


def run(ctx: StageContext) -> dict[str, Any]:
    """Fingerprint ``data.source`` and write it (when ``ctx.write`` and it changed)."""
    fingerprint = source_fingerprint(ctx.settings.data.source, ctx.root)
    if ctx.write:
        path = fingerprint_path(ctx.root)
        text = json.dumps(fingerprint, indent=2, sort_keys=True) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    return fingerprint
