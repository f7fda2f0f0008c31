"""``research repro`` runs independent stages side by side through DVC's own reproduction.

The scheduler is checked on a fake plan (order, overlap, the limit, failures), then on a real DVC
project: two independent stages overlap in time, what depends on both starts after both, dvc.lock
records every stage as ``dvc repro`` would (a second run is a no-op, ``dvc status`` is clean), and
a failing stage stops what depends on it while the stage beside it is still recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import networkx as nx
import pytest
import yaml

from research.cli import _jobs_option
from research.stages._repro import _schedule


class _Stage:
    def __init__(self, name: str) -> None:
        self.addressing = name

    def __repr__(self) -> str:
        return self.addressing


def _plan(edges: dict[str, list[str]]) -> tuple[list[_Stage], nx.DiGraph, dict[str, _Stage]]:
    """DVC's graph (an edge from a stage to each stage it depends on) and its plan order."""
    stages = {name: _Stage(name) for name in edges}
    graph = nx.DiGraph()
    graph.add_nodes_from(stages.values())
    for name, needs in edges.items():
        for need in needs:
            graph.add_edge(stages[name], stages[need])
    return list(nx.dfs_postorder_nodes(graph)), graph, stages


DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


class _Recorder:
    """A stand-in for DVC's stage reproduction that records when each stage ran."""

    def __init__(self, seconds: float = 0.2, fail: str | None = None) -> None:
        self.seconds, self.fail = seconds, fail
        self.spans: dict[str, tuple[float, float]] = {}
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, stage: _Stage, upstream: list, force: bool) -> _Stage:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        began = time.monotonic()
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
            self.spans[stage.addressing] = (began, time.monotonic())
        if stage.addressing == self.fail:
            raise RuntimeError(f"{stage.addressing} failed")
        return stage


def _schedule_with_released_gate(stages, graph, recorder, **kwargs):
    """``_schedule`` with a gate the fake stage releases, as the patched command run does."""
    import dvc.repo.reproduce as dvc_reproduce

    gate = threading.Lock()

    def reproduce(stage, upstream, force):
        gate.release()
        try:
            return recorder(stage, upstream, force)
        finally:
            gate.acquire()

    return _schedule(stages, graph, gate=gate, dvc=dvc_reproduce, repro_fn=reproduce, **kwargs)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_independent_stages_overlap_and_a_stage_waits_for_what_it_needs():
    stages, graph, _ = _plan(DIAMOND)
    recorder = _Recorder()
    done = _schedule_with_released_gate(stages, graph, recorder, jobs=2)
    spans = recorder.spans
    assert [s.addressing for s in done] == [s.addressing for s in stages]  # plan order
    assert _overlap(spans["b"], spans["c"])
    assert spans["a"][1] <= min(spans["b"][0], spans["c"][0])
    assert spans["d"][0] >= max(spans["b"][1], spans["c"][1])
    assert recorder.most == 2


def test_no_more_than_jobs_stages_run_at_once():
    stages, graph, _ = _plan({name: [] for name in "abcde"})
    recorder = _Recorder(seconds=0.1)
    _schedule_with_released_gate(stages, graph, recorder, jobs=2)
    assert recorder.most == 2 and len(recorder.spans) == 5
    recorder = _Recorder(seconds=0.05)
    _schedule_with_released_gate(stages, graph, recorder, jobs=3)
    assert recorder.most == 3


def test_a_failure_stops_what_follows_and_lets_the_stage_beside_it_finish():
    from dvc.exceptions import ReproductionError

    stages, graph, _ = _plan(DIAMOND)
    recorder = _Recorder(fail="c")
    with pytest.raises(ReproductionError, match="'c'"):
        _schedule_with_released_gate(stages, graph, recorder, jobs=2)
    assert set(recorder.spans) == {"a", "b", "c"}  # b ran to its end, d never started


def test_keep_going_skips_only_what_depends_on_the_failure():
    from dvc.exceptions import ReproductionError

    stages, graph, _ = _plan({**DIAMOND, "e": ["b"]})
    recorder = _Recorder(seconds=0.05, fail="c")
    with pytest.raises(ReproductionError):
        _schedule_with_released_gate(stages, graph, recorder, jobs=2, on_error="keep-going")
    assert set(recorder.spans) == {"a", "b", "c", "e"}


def test_the_jobs_option_is_taken_out_of_dvcs_arguments():
    assert _jobs_option(["-j", "1", "-f", "train@credit"]) == (1, ["-f", "train@credit"])
    assert _jobs_option(["--jobs=3"]) == (3, [])
    assert _jobs_option(["--jobs", "2", "value"]) == (2, ["value"])
    with pytest.raises(ValueError, match="whole number"):
        _jobs_option(["-j", "0"])
    with pytest.raises(ValueError, match="needs a number"):
        _jobs_option(["-j"])


# ------------------------------------------------------------------------- a real DVC project


def _stamp(name: str, needs: list[str], *, fail: bool = False) -> dict:
    """A stage that writes when it started and ended (a second apart) into ``<name>.txt``."""
    script = (
        "import sys, time; began = time.time(); time.sleep(1.0); "
        f"open('{name}.txt', 'w').write(f'{{began}} {{time.time()}}')"
        + ("; sys.exit(3)" if fail else "")
    )
    return {
        "cmd": f'"{sys.executable}" -c "{script}"',
        "deps": [f"{n}.txt" for n in needs],
        "outs": [{f"{name}.txt": {"cache": False}}],
    }


def _project(tmp_path: Path, fail: str | None = None) -> Path:
    stages = {
        "a": _stamp("a", [], fail=fail == "a"),
        "b": _stamp("b", ["a"], fail=fail == "b"),
        "c": _stamp("c", ["a"], fail=fail == "c"),
        "d": _stamp("d", ["b", "c"], fail=fail == "d"),
    }
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run([dvc, "init", "-q"], cwd=tmp_path, check=True, env=env)
    return tmp_path


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / ".dvc" / "site-cache"),
    }
    env.pop("RESEARCH_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "research.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )


def _span(root: Path, name: str) -> tuple[float, float]:
    began, ended = (root / f"{name}.txt").read_text().split()
    return float(began), float(ended)


@pytest.mark.slow
def test_research_repro_overlaps_independent_stages_and_locks_them_as_dvc_does(tmp_path):
    root = _project(tmp_path)
    done = _run(root, "repro", "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    b, c, d = (_span(root, n) for n in "bcd")
    assert _overlap(b, c)
    assert d[0] >= max(b[1], c[1]) and _span(root, "a")[1] <= min(b[0], c[0])
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert sorted(lock) == ["a", "b", "c", "d"]
    again = _run(root, "repro")
    assert again.returncode == 0 and _span(root, "d") == d  # nothing ran again
    dvc = Path(sys.executable).parent / "dvc"
    status = subprocess.run([dvc, "status", "-q"], cwd=root, capture_output=True, text=True)
    assert status.returncode == 0, status.stdout


@pytest.mark.slow
def test_one_job_is_dvcs_order(tmp_path):
    root = _project(tmp_path)
    done = _run(root, "repro", "-j", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _overlap(_span(root, "b"), _span(root, "c"))


@pytest.mark.slow
def test_a_failing_stage_stops_what_depends_on_it_and_the_stage_beside_it_is_recorded(tmp_path):
    root = _project(tmp_path, fail="c")
    done = _run(root, "repro", "-j", "2")
    assert done.returncode != 0
    assert "failed to reproduce 'c'" in done.stderr
    assert done.stdout.splitlines()[-1].startswith("repro: failed after ")
    assert not (root / "d.txt").exists()
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert sorted(lock) == ["a", "b"]  # b ran beside c and is recorded; c and d are not
