"""Benchmark: the whole pipeline at several portfolio sizes, per stage wall time and peak memory.

For each size (firms, ``data.synthetic.n_customers``) it copies the project (the files git
tracks or would track) into a temporary folder, sets the size in the copy's params.yaml and
runs every stage's command in pipeline order, as ``dvc repro`` would (``research
source-fingerprint``, then ``research notebook <stage> [--model m]`` for data, features, and
train, explain, validate of each enabled model, then value and report). While a stage runs, the
resident memory of its whole process tree (the stage's process, the notebook kernel and any
worker) is summed every ``--interval`` seconds (psutil); the peak is that sum's maximum. It
prints one Markdown table: per stage, seconds and peak GiB at each size, and the growth factor
of the time between consecutive sizes (next to the growth of the firms).

The stages run the copy's code (``PYTHONPATH``) in the current interpreter's environment, one
size after another (never two at once: a 100,000-firm stage needs several GiB). The machine's
load average before each size is printed beside the table: other work on the machine slows the
stages down.

Run: ``python benchmarks/bench_scale.py [SIZE ...]`` (default 16000 50000 100000);
``--stage-runner`` runs ``research stage`` (the stage's code without its notebook) instead of
``research notebook``; ``--stages a,b`` runs only those (in pipeline order; a model stage by
its kind, ``train``, or one model's, ``train@credit``); ``--keep`` leaves the copies; ``--tiny``
runs source, data and features at 300 firms without the notebooks (a smoke test of the
benchmark's machinery, no figures to compare: the model stages need more firms than that for
their event floors; 199 s on a machine with a load average of 17, mostly interpreter start-up).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (16_000, 50_000, 100_000)
# The test suite's small pipeline (tests/_pipeline_build.py), for --tiny.
TINY_FIRMS = 300
TINY_STAGES = ("source", "data", "features")
GIB = 2**30


def copy_project(dest: Path) -> Path:
    """Copy every file git tracks or would track (not ignored) into ``dest``, tests excluded."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in files:
        if name and (ROOT / name).is_file() and not name.startswith(("tests/", "benchmarks/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def set_params(path: Path, values: dict[str, object]) -> None:
    """Set dotted keys of params.yaml in place, line by line (comments and anchors kept).

    Each key's leaf is replaced on the first line naming it under its parents' indentation;
    a key not found stops the benchmark.
    """
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for dotted, value in values.items():
        parts, start, indent = dotted.split("."), 0, -1
        for depth, part in enumerate(parts):
            pattern = re.compile(rf"^(\s*){re.escape(part)}:(\s*)(.*?)(\s*#.*)?$")
            for i in range(start, len(lines)):
                found = pattern.match(lines[i].rstrip("\n"))
                if found and len(found.group(1)) > indent:
                    indent, start = len(found.group(1)), i + 1
                    if depth == len(parts) - 1:
                        comment = found.group(4) or ""
                        lines[i] = f"{found.group(1)}{part}: {value}{comment}\n"
                    break
            else:
                raise SystemExit(f"bench_scale: params.yaml has no {dotted}")
    path.write_text("".join(lines), encoding="utf-8")


def stage_commands(root: Path, runner: str) -> list[tuple[str, list[str]]]:
    """``(name, command)`` of every stage in pipeline order, the model stages per enabled model."""
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    models = [name for name, spec in params["models"].items() if spec.get("enabled", True)]

    def stage(name: str, model: str | None = None) -> tuple[str, list[str]]:
        extra = ["--model", model] if model else []
        return (f"{name}@{model}" if model else name, ["research", runner, name, *extra])

    return [
        ("source", ["research", "source-fingerprint"]),
        stage("data"),
        stage("features"),
        *(stage(kind, m) for kind in ("train", "explain", "validate") for m in models),
        stage("value"),
        stage("report"),
    ]


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants (0 for those already gone)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def run_measured(
    command: Sequence[str], cwd: Path, env: dict[str, str], interval: float
) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run ``command``; its wall seconds and the peak resident memory of its process tree."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        process, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            peak = max(peak, tree_rss(process))
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=interval)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    return seconds, peak, subprocess.CompletedProcess(command, child.returncode, text, "")


def project_env(root: Path) -> dict[str, str]:
    """The stages' environment: the copy's code and DVC site cache, this interpreter's tools."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_NUM"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root / "src"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / ".dvc" / "site-cache"),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    env.pop("RESEARCH_ROOT", None)
    return env


def run_size(
    size: int, runner: str, interval: float, keep: bool, only: Sequence[str] = ()
) -> dict[str, tuple[float, int]]:
    """Every stage at one size: ``{stage: (seconds, peak bytes)}``."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
    try:
        root = copy_project(folder / "project")
        set_params(root / "params.yaml", {"data.synthetic.n_customers": size})
        env = project_env(root)
        figures: dict[str, tuple[float, int]] = {}
        for name, command in stage_commands(root, runner):
            if only and name not in only and name.split("@")[0] not in only:
                continue
            seconds, peak, result = run_measured(command, root, env, interval)
            if result.returncode != 0:
                raise SystemExit(
                    f"bench_scale: {' '.join(command)} failed at {size:,} firms:\n"
                    f"{result.stdout[-4000:]}"
                )
            figures[name] = (seconds, peak)
            print(
                f"  {size:>7,} firms  {name:<18} {seconds:7.1f} s  {peak / GIB:5.2f} GiB",
                flush=True,
            )
        return figures
    finally:
        if keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def table(sizes: Sequence[int], figures: dict[int, dict[str, tuple[float, int]]]) -> str:
    """The Markdown table: seconds and peak GiB per size, time growth between consecutive sizes."""
    sizes = sorted(sizes)
    stages = list(dict.fromkeys(name for size in sizes for name in figures[size]))
    head = ["stage"]
    head += [f"s at {s:,}" for s in sizes]
    head += [f"GiB at {s:,}" for s in sizes]
    head += [f"time x ({b / a:.2f}x firms)" for a, b in zip(sizes, sizes[1:], strict=False)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = {s: sum(v[0] for v in figures[s].values()) for s in sizes}
    for name in [*stages, "total"]:
        if name == "total":
            secs = [totals[s] for s in sizes]
            peaks = [max(v[1] for v in figures[s].values()) for s in sizes]
        else:
            secs = [figures[s][name][0] for s in sizes]
            peaks = [figures[s][name][1] for s in sizes]
        cells = [name, *(f"{x:.1f}" for x in secs), *(f"{p / GIB:.2f}" for p in peaks)]
        cells += [f"{b / a:.2f}x" if a > 0 else "-" for a, b in zip(secs, secs[1:], strict=False)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sizes", nargs="*", type=int, help="firms per run (default 16000 50000 100000)"
    )
    parser.add_argument("--tiny", action="store_true", help="source, data, features at 300 firms")
    parser.add_argument("--stage-runner", action="store_true", help="research stage, not notebook")
    parser.add_argument("--stages", default="", help="comma-separated stages to run (default all)")
    parser.add_argument("--interval", type=float, default=0.5, help="memory sampling period (s)")
    parser.add_argument("--keep", action="store_true", help="keep the project copies")
    args = parser.parse_args(argv)
    only = [s for s in args.stages.split(",") if s]
    if args.tiny:
        sizes, only = [TINY_FIRMS], only or list(TINY_STAGES)
    else:
        sizes = args.sizes or list(DEFAULT_SIZES)
    runner = "stage" if args.tiny or args.stage_runner else "notebook"
    print(f"# bench_scale: research {runner}, sizes {', '.join(f'{s:,}' for s in sizes)}")
    figures, loads = {}, {}
    for size in sizes:
        loads[size] = os.getloadavg()
        available = psutil.virtual_memory().available / GIB
        print(
            f"{size:,} firms: load average {loads[size][0]:.2f} {loads[size][1]:.2f} "
            f"{loads[size][2]:.2f}, {available:.1f} GiB available, {os.cpu_count()} CPUs",
            flush=True,
        )
        figures[size] = run_size(size, runner, args.interval, args.keep, only)
    print()
    print(table(sizes, figures))


if __name__ == "__main__":
    main()
