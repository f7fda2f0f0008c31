"""What a pipeline stage prints: one line when it starts and one when it ends.

``research notebook`` (what DVC runs) prints ``<stage>[@<model>]: started``, then one of

- ``train@credit: done in 23.4 s - OOT AUC 0.834 (challenger 0.822), calibration 0 of 7 grades
  outside, registered credit_pd v3``: the wall time and the stage's key figure,
- ``value: skipped in 0.4 s - <why>``: a stage that wrote placeholders instead of running,
- ``train@credit: failed after 12.0 s - KeyError: 'x'; the failure log is
  reports/notebooks/train-credit.ipynb``.

The key figure is read from what the stage has just written (metrics files, records, Parquet
metadata), never from the stage modules, and never fails the run: a file it cannot read leaves
the figure out.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from research import paths

REPRO_ENV = "RESEARCH_REPRO"  # set by ``research repro``, which prints the closing line itself
FRONT_PAGE = "reports/index.html"


def label(stage: str, model: str | None) -> str:
    """``train@credit``, as DVC names the stage."""
    return f"{stage}@{model}" if model else stage


def duration(seconds: float) -> str:
    """``23.4 s`` under a minute, ``5 min 02 s`` from a minute on."""
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def first_line(error: BaseException) -> str:
    """The error in one line: the cell's exception for a notebook failure, else its type and first line."""
    from research.stages._stale import first_line as stale_first_line

    return stale_first_line(error)


_REPORTED = "research_failure_reported"


def reported(error: BaseException) -> bool:
    """Whether a stage's failure line has been printed for ``error``."""
    return bool(getattr(error, _REPORTED, False))


class Console:
    """Prints a stage run's start and result lines (stdout; a failure on stderr)."""

    def __init__(self, stage: str, model: str | None, root: Path, began: float) -> None:
        self.stage, self.model, self.root, self.began = stage, model, root, began

    def _say(self, text: str, *, error: bool = False) -> None:
        # One write of the whole line: `research repro` runs stages side by side on one
        # terminal, and print() writes the text and its newline separately.
        stream = sys.stderr if error else sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def _elapsed(self) -> str:
        return duration(time.monotonic() - self.began)

    def started(self) -> None:
        self._say(f"{label(self.stage, self.model)}: started")

    def done(self) -> None:
        self._say(done_line(self.stage, self.model, self.root, self._elapsed()))

    def skipped(self, note: str) -> None:
        why = next((ln.strip() for ln in note.splitlines() if ln.strip()), "")
        self._say(f"{label(self.stage, self.model)}: skipped in {self._elapsed()} - {why}")

    def failed(self, error: BaseException, log: Path | None, *, signum: int | None = None) -> None:
        import signal

        what = f"interrupted by {signal.Signals(signum).name}" if signum else first_line(error)
        where = ""
        if log is not None and log.exists():
            where = f"; the failure log is {_relative(log, self.root)}"
        self._say(
            f"{label(self.stage, self.model)}: failed after {self._elapsed()} - {what}{where}",
            error=True,
        )
        with contextlib.suppress(AttributeError, TypeError):
            setattr(error, _REPORTED, True)


def done_line(stage: str, model: str | None, root: Path, elapsed: str) -> str:
    """The result line of a stage that ran: ``<label>: done in <elapsed> - <key figure>``."""
    figure = key_figure(stage, model, root)
    line = f"{label(stage, model)}: done in {elapsed}" + (f" - {figure}" if figure else "")
    import os

    if stage == "report" and not os.environ.get(REPRO_ENV):
        line += f"; open {FRONT_PAGE}"
    return line


def key_figure(stage: str, model: str | None, root: Path) -> str:
    """The stage's key figure from its written outputs ('' when they cannot be read)."""
    reader = _FIGURES.get(stage)
    if reader is None:
        return ""
    try:
        return reader(root, model) if model is not None else reader(root)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, ImportError):
        return ""


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _data(root: Path) -> str:
    raw = paths.raw_dir(root)
    tables = sorted(raw.glob("*.parquet"))
    if not tables:
        return ""
    rows = {p.stem: _parquet_rows(p) for p in tables}
    parts = []
    if "customers" in rows:
        parts.append(f"{rows['customers']:,} firms")
    parts.append(f"{len(rows)} tables, {sum(rows.values()):,} rows")
    info = raw / paths.SOURCE_INFO
    if info.exists():
        source = _read_json(info)
        if source.get("as_of"):
            parts.append(f"as of {source['as_of']}")
    return ", ".join(parts)


def _features(root: Path) -> str:
    panel = paths.panel_path(root)
    if not panel.exists():
        return ""
    figure = f"panel {_parquet_rows(panel):,} rows"
    catalog = panel.parent / "catalog.csv"
    if catalog.exists():
        with catalog.open(newline="", encoding="utf-8") as handle:
            features = sum(1 for _ in csv.DictReader(handle))
        figure += f" x {features} features"
    snapshots = panel.parent / "snapshots.json"
    if snapshots.exists():
        dates = _read_json(snapshots).get("snapshots") or []
        if dates:
            figure += f" ({len(dates)} snapshots, {dates[0]} to {dates[-1]})"
    return figure


def _calibration(summary: dict) -> str:
    if "grades_outside" in summary:
        return f"calibration {summary['grades_outside']} of {summary.get('grades_tested', '?')} grades outside"
    if "decile_rates_increasing" in summary:
        rising = "rising" if summary["decile_rates_increasing"] else "not rising"
        return f"calibration deciles {rising}"
    return ""


def _train(root: Path, model: str) -> str:
    record = _read_json(paths.diagnostics_path(root, model, "train.json"))
    holdout = record.get("holdout", "oot")
    auc = record[holdout]["auc"]
    parts = [f"{holdout.upper() if holdout == 'oot' else holdout} AUC {auc:.3f}"]
    challenger = (record.get("challenger") or {}).get("auc")
    if challenger is not None:
        parts[0] += f" (challenger {challenger:.3f})"
    calibration = _calibration(record.get("calibration") or {})
    if calibration:
        parts.append(calibration)
    run = paths.run_file(root, model)
    if run.exists():
        registered = _read_json(run)
        if registered.get("model_version"):
            parts.append(
                f"registered {registered.get('model_name', model)} v{registered['model_version']}"
            )
    return ", ".join(parts)


def _explain(root: Path, model: str) -> str:
    record = _read_json(paths.diagnostics_path(root, model, "explain.json"))
    figure = f"{record['rows']:,} rows explained"
    if record.get("features"):
        figure += f" ({record['features']} features)"
    top = _top_reason(paths.reason_codes_path(root, model))
    if top:
        figure += f"; top reason: {top}"
    return figure


def _top_reason(path: Path) -> str:
    """The feature most often ranked first among the reason codes, with its share."""
    if not path.exists():
        return ""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["rank", "feature"])
    first = table.filter(pc.equal(table["rank"], 1))["feature"]
    if len(first) == 0:
        return ""
    counts = sorted(
        (-int(c["counts"]), str(c["values"])) for c in pc.value_counts(first).to_pylist()
    )
    count, feature = -counts[0][0], counts[0][1]
    return f"{feature} ({count / len(first):.0%} of first reasons)"


def _validate(root: Path, model: str) -> str:
    record = _read_json(paths.metrics_path(root, f"{model}_validation"))
    record = record.get(model, record)
    lights = record["lights"]
    figure = ", ".join(f"{lights.get(c, 0)} {c}" for c in ("green", "amber", "red"))
    if lights.get("grey"):
        figure += f" ({lights['grey']} grey)"
    return f"lights {figure}"


def _value(root: Path) -> str:
    record = _read_json(paths.metrics_path(root, "value"))
    figure = f"{record['customers']:,} firms valued"
    watch = record.get("watch_list") or {}
    if watch.get("size") is not None:
        share = f" ({watch['size'] / record['customers']:.0%})" if record["customers"] else ""
        figure += f", watch list {watch['size']:,}{share}"
    return figure


def _report(root: Path) -> str:
    reports = paths.report_dir(root)
    pages = [p for p in reports.rglob("*.html") if "notebooks" not in p.relative_to(reports).parts]
    return f"{len(pages)} pages written" if pages else ""


_FIGURES: dict[str, Callable[..., str]] = {
    "data": _data,
    "features": _features,
    "train": _train,
    "explain": _explain,
    "validate": _validate,
    "value": _value,
    "report": _report,
}
