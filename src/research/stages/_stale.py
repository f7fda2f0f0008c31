"""A failed stage leaves the reports after it stale: record it, take them down, let the front page say so.

``reports/.stale.json`` holds what the stage runner (``research notebook``) knows:

- ``running``: the stages running now, each with its process (pid, host id, start token);
- ``failures``: the stages whose last run failed or was interrupted, each with the time, the
  error's first line, the stages downstream of it (their reports no longer match their
  inputs) and the reports removed.

When a stage fails, the HTML reports it and the stages downstream of it build are removed
(``reports/<model>/shap.html``, ``reports/<model>/validation.html``, ``reports/value.html``):
nothing links a previous dataset's report as if it were current, and as DVC outputs that are
missing they are rebuilt by the next ``dvc repro``. A stage killed outright (SIGKILL) cannot
record anything; the next stage run finds its ``running`` entry with its process gone and
records it then. A successful run of the stage clears its entries.

``DOWNSTREAM`` is the stage graph of ``dvc.yaml`` (which stage reads another's outputs);
``tests/test_faults.py`` checks it against the deps and outs there.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from research import _process
from research.paths import report_dir, shap_report_path, validation_report_path, value_report_path
from research.stages import _io

MARKER = ".stale.json"
_LOCK = ".stale.lock"
ALL_MODELS = "*"  # a target of every model's stage
SAME_MODEL = "="  # a target of the same model's stage

# stage -> the stages that read its outputs (``(stage, which model)``; None: not a model stage)
DOWNSTREAM: dict[str, tuple[tuple[str, str | None], ...]] = {
    "source": (("data", None), ("train", ALL_MODELS)),
    "data": (("features", None), ("train", ALL_MODELS), ("value", None), ("report", None)),
    "features": (("train", ALL_MODELS), ("explain", ALL_MODELS), ("validate", ALL_MODELS)),
    "train": (("explain", SAME_MODEL), ("validate", SAME_MODEL), ("value", None), ("report", None)),
    "explain": (("value", None), ("report", None)),
    "validate": (("report", None),),
    "value": (("report", None),),
    "report": (),
}
_ORDER = ("source", "data", "features", "train", "explain", "validate", "value", "report")


def address(stage: str, model: str | None = None) -> str:
    """The stage as DVC names it: ``train@credit`` for a model stage, else the stage."""
    return f"{stage}@{model}" if model else stage


def _split(name: str) -> tuple[str, str | None]:
    stage, _, model = name.partition("@")
    return stage, model or None


def downstream(stage: str, model: str | None, models: Sequence[str]) -> list[str]:
    """Every stage that reads, directly or not, what ``stage`` (of ``model``) writes, in pipeline order."""
    found: set[str] = set()
    todo: list[tuple[str, str | None]] = [(stage, model)]
    while todo:
        current, current_model = todo.pop()
        for target, which in DOWNSTREAM[current]:
            targets: list[tuple[str, str | None]]
            if which == ALL_MODELS:
                targets = [(target, m) for m in models]
            elif which == SAME_MODEL:
                targets = [(target, current_model)]
            else:
                targets = [(target, None)]
            for pair in targets:
                name = address(*pair)
                if name not in found:
                    found.add(name)
                    todo.append(pair)
    return sorted(found, key=lambda n: _position(n, models))


def _position(name: str, models: Sequence[str]) -> tuple[int, int]:
    stage, model = _split(name)
    return _ORDER.index(stage), list(models).index(model) if model and model in models else -1


def stage_reports(root: Path, name: str) -> list[Path]:
    """The HTML reports (DVC outputs) that stage ``name`` builds."""
    stage, model = _split(name)
    if stage == "explain" and model:
        return [shap_report_path(root, model)]
    if stage == "validate" and model:
        return [validation_report_path(root, model)]
    if stage == "value":
        return [value_report_path(root)]
    return []


def marker_path(root: Path) -> Path:
    return report_dir(root) / MARKER


def read(root: Path) -> dict[str, Any]:
    """The marker's content (``running`` and ``failures``, empty when there is none)."""
    path = marker_path(root)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        content = {}
    return {"running": dict(content.get("running", {})), "failures": content.get("failures", {})}


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[dict[str, Any]]:
    """The marker's content, read and written back under a file lock."""
    folder = report_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a+") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        content = read(root)
        yield content
        path = marker_path(root)
        if content["running"] or content["failures"]:
            _io.write_json(path, content, indent=1)
        else:
            path.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def first_line(error: BaseException) -> str:
    """The error as one line: its type and the first line of its message."""
    ename = getattr(error, "ename", None)  # papermill's error carries the cell's exception
    evalue = getattr(error, "evalue", None)
    kind, text = (ename, str(evalue)) if ename else (type(error).__name__, str(error))
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{kind}: {line}"[:300] if line else kind


def _fail(
    root: Path, content: dict[str, Any], name: str, models: Sequence[str], error: str
) -> None:
    stage, model = _split(name)
    stale = downstream(stage, model, models)
    removed = []
    for report in [p for n in (name, *stale) for p in stage_reports(root, n)]:
        if report.exists():
            report.unlink()
            removed.append(report.relative_to(root).as_posix())
    content["running"].pop(name, None)
    content["failures"][name] = {
        "stage": name,
        "time": _now(),
        "error": error,
        "stale": stale,
        "removed": removed,
    }


def begin(root: Path, stage: str, model: str | None, models: Sequence[str]) -> list[str]:
    """Record that the stage runs in this process; first record as failed the stages whose process died.

    Returns the stages found dead (their reports are removed now).
    """
    name = address(stage, model)
    with _locked(root) as content:
        dead = [
            other
            for other, owner in content["running"].items()
            if _process.is_gone(owner.get("pid"), owner.get("host"), owner.get("start"))
        ]
        for other in dead:
            _fail(root, content, other, models, "the stage's process was killed")
        content["running"][name] = {**_process.this_process(), "time": _now()}
    return dead


def fail(root: Path, stage: str, model: str | None, models: Sequence[str], error: str) -> dict:
    """Record the stage as failed and remove its reports and those downstream; return the record."""
    name = address(stage, model)
    with _locked(root) as content:
        _fail(root, content, name, models, error)
        return dict(content["failures"][name])


def succeed(root: Path, stage: str, model: str | None) -> None:
    """The stage ran: its entries go (and the marker with them when nothing else is recorded)."""
    name = address(stage, model)
    with _locked(root) as content:
        content["running"].pop(name, None)
        content["failures"].pop(name, None)


def failures(root: Path, models: Sequence[str]) -> list[dict[str, Any]]:
    """The recorded failures of stages that are still in the pipeline (a removed model's are not)."""
    found = []
    for name, record in read(root)["failures"].items():
        stage, model = _split(name)
        if stage in DOWNSTREAM and (model is None or model in models):
            found.append(record)
    return sorted(found, key=lambda r: r.get("time", ""))
