"""What a source reads, fingerprinted: every file's path, size and md5 (the ``source`` stage).

Kept apart from ``research.data.mapping`` so that ``research source-fingerprint``, which DVC
runs on every ``dvc repro``, reads a mapping file as plain YAML (the files its tables name)
without importing pandas or pyarrow. Lenient: the data stage reads the source and reports
its problems; the fingerprint only says which bytes it will read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

from research.data.params import source_kind, source_path

_CHUNK = 1 << 20


def source_fingerprint(source: str, root: Path) -> dict[str, Any]:
    """What the data stage reads from ``data.source``, as a JSON-ready fingerprint.

    For ``synthetic`` only the kind (its settings are params of the data stage); for a
    folder every file under it (names starting with '.' or '_' skipped, as the reader
    skips them); for a mapping the mapping file and every file or part folder its tables
    name. Each file with its path (relative to the source folder), size and md5: the same
    files give the same fingerprint wherever the project lives. Lenient: a mapping that
    cannot be read, or a file that is missing, is fingerprinted as far as it goes; the
    data stage reports the problem.
    """
    kind = source_kind(source)
    out: dict[str, Any] = {"kind": kind, "source": source}
    if kind == "synthetic":
        return out
    path = source_path(source, root)
    if kind == "folder":
        out["files"] = _files(path, path)
        return out
    out["mapping_md5"] = file_md5(path) if path.is_file() else None
    folder, files = _mapped_files(path)
    out["files"] = [entry for file in files for entry in _files(file, folder)] if folder else []
    return out


def _mapped_files(path: Path) -> tuple[Path | None, list[Path]]:
    """The export folder and the files or part folders a mapping's tables name (lenient)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, []
    if not isinstance(doc, dict) or not isinstance(doc.get("folder"), str):
        return None, []
    folder = Path(doc["folder"]).expanduser()
    folder = folder if folder.is_absolute() else path.parent / folder
    tables = doc.get("tables")
    if not isinstance(tables, dict):
        return folder, []
    files = sorted(
        {
            folder / entry["file"]
            for entry in tables.values()
            if isinstance(entry, dict) and isinstance(entry.get("file"), str)
        }
    )
    return folder, files


def _files(path: Path, base: Path) -> list[dict[str, Any]]:
    """Path (relative to ``base``), size and md5 of ``path`` or of every file under it."""
    if path.is_file():
        found = [path]
    elif path.is_dir():
        found = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            found += [Path(dirpath, f) for f in sorted(filenames) if not f.startswith((".", "_"))]
    else:
        return [{"path": _relative(path, base), "missing": True}]
    return [
        {"path": _relative(file, base), "size": file.stat().st_size, "md5": file_md5(file)}
        for file in found
    ]


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def file_md5(path: Path) -> str:
    """The MD5 of a file's bytes (a fingerprint, not security), read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
