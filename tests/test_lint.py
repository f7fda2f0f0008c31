"""The project's habits hold for the whole tree: ruff lint, ruff format and mypy on src."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_is_clean():
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied():
    result = _run("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, "run `make format`:\n" + result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean_on_src():
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("mypy is not installed: make env installs the dev extra")
    result = _run("mypy", "--no-incremental", "src")
    assert result.returncode == 0, result.stdout + result.stderr
