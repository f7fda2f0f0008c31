"""A copy of the project (its tracked and new files) for tests that run stages in a temporary folder."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(dest: Path, *, skip: Sequence[str] = ("tests/", "benchmarks/")) -> Path:
    """Copy every file git tracks or would track (not ignored) into ``dest``, except under ``skip``."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(tuple(skip)):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest
