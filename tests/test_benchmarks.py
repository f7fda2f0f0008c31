"""Every benchmark script runs at its tiny size, so none of them rots unnoticed.

Each ``benchmarks/bench_*.py`` must accept ``--tiny``: every step of the benchmark on a
small input, in seconds. The figures are not checked here (only that the script ends
without an error), except where a benchmark checks results itself: ``bench_features``
stops when its DuckDB reference and the panel disagree. Marked slow (tests/conftest.py):
each run starts a fresh interpreter, and some start MLflow, Jupyter or Dask workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
CHROMIUM = Path("/usr/bin/chromium")


def _run(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_WAIT_POLICY": "PASSIVE",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "PYTHONHASHSEED": "0",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_every_benchmark_is_tested():
    assert {p.stem for p in BENCHMARKS} >= {
        "bench_cv",
        "bench_dask",
        "bench_explain",
        "bench_features",
        "bench_scale",
        "bench_synthetic",
        "bench_train",
        "bench_validate",
    }


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_runs_at_its_tiny_size(script, tmp_path):
    extra = ["--out", str(tmp_path)] if script.stem == "bench_train" else []
    result = _run(str(script), "--tiny", *extra)
    assert result.returncode == 0, (
        f"{script.name} --tiny failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    assert result.stdout.strip(), f"{script.name} --tiny printed nothing"
    if script.stem == "bench_features":  # it stops on any difference; here it must have compared
        assert "reference and panel agree on" in result.stdout


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"
)
def test_report_browser_check_passes_a_clean_page_and_flags_an_outside_request(tmp_path):
    clean = tmp_path / "clean.html"
    clean.write_text("<!doctype html><html><body><h1>ok</h1><script>1 + 1;</script></body></html>")
    outside = tmp_path / "outside.html"
    outside.write_text(
        '<!doctype html><html><body><img src="http://example.invalid/x.png"></body></html>'
    )
    script = str(ROOT / "benchmarks" / "check_report_browser.py")

    result = _run(script, str(clean), "--chromium", str(CHROMIUM), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "console errors: none" in result.stdout

    result = _run(script, str(clean), str(outside), "--chromium", str(CHROMIUM), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "request outside the file: http://example.invalid/x.png" in result.stdout
