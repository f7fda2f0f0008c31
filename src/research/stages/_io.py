"""Atomic writes: a reader (or a killed run) never sees half a file.

Each writer writes a hidden sibling and renames it over the target in one step.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, content: Any, *, indent: int = 2) -> Path:
    """Write JSON atomically (NaN and infinity refused: they are not JSON)."""
    return write_text(path, json.dumps(content, indent=indent, allow_nan=False) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write a frame as Parquet (no index) atomically."""
    return _atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a frame as CSV (no index) atomically."""
    return _atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
