"""The console of a pipeline run (issue 17): one start and one result line per stage, no noise.

- ``research.stages._summary``: the result line's wall time and key figure, read from what a
  stage wrote (hand-written outputs here, figures computed by hand).
- Bad arguments are refused before anything is imported or written.
- The kernel runs over IPC sockets in a private folder and says nothing on the console; the
  kernel's environment keeps tqdm's IProgress warning and MLflow's INFO logs out of notebooks.
- ``research repro`` shows the stages' lines and DVC's errors, not DVC's progress or hints.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from research.stages import _summary
from research.stages.notebook import QUIET_WARNINGS, _Kernels, quiet_kernel_environment

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0 s"),
        (23.44, "23.4 s"),
        (59.94, "59.9 s"),
        (59.96, "1 min 00 s"),
        (302.4, "5 min 02 s"),
    ],
)
def test_durations_read_as_seconds_then_minutes(seconds, text):
    assert _summary.duration(seconds) == text


def _write_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")


def test_each_stage_reports_its_key_figure_from_what_it_wrote(tmp_path):
    root = tmp_path
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    pd.DataFrame({"customer_id": ["a", "b", "c"]}).to_parquet(raw / "customers.parquet")
    pd.DataFrame({"x": range(10)}).to_parquet(raw / "repayments.parquet")
    _write_json(raw / "_source.json", {"as_of": "2024-12-31", "kind": "synthetic"})
    features = root / "data" / "features"
    features.mkdir(parents=True)
    pd.DataFrame({"customer_id": list("abcd"), "f1": 1.0, "f2": 2.0}).to_parquet(
        features / "panel.parquet"
    )
    # a description with a comma and a line break is still one feature
    (features / "catalog.csv").write_text('name,description\nf1,"one, two\nthree"\nf2,b\n')
    _write_json(features / "snapshots.json", {"snapshots": ["2020-01-01", "2020-04-01"]})
    diagnostics = root / "metrics" / "diagnostics" / "m"
    _write_json(
        diagnostics / "train.json",
        {
            "holdout": "oot",
            "oot": {"auc": 0.83393},
            "challenger": {"auc": 0.8223},
            "calibration": {"method": "platt", "grades_tested": 7, "grades_outside": 0},
        },
    )
    _write_json(root / "runs" / "m.json", {"model_name": "m_pd", "model_version": "3"})
    _write_json(diagnostics / "explain.json", {"rows": 46118, "features": 119})
    (root / "data" / "scores").mkdir(parents=True)
    pd.DataFrame(
        {
            "rank": [1, 2, 1, 2, 1, 1],
            "feature": ["dpd", "util", "util", "dpd", "util", "age"],
        }
    ).to_parquet(root / "data" / "scores" / "m_reason_codes.parquet")
    _write_json(
        root / "metrics" / "m_validation.json",
        {"m": {"lights": {"green": 151, "amber": 7, "red": 0, "grey": 1}}},
    )
    _write_json(root / "metrics" / "value.json", {"customers": 9059, "watch_list": {"size": 2721}})
    for page in ("index.html", "value.html", "m/validation.html", "notebooks/data.html"):
        (root / "reports" / page).parent.mkdir(parents=True, exist_ok=True)
        (root / "reports" / page).write_text("<html></html>")

    figure = _summary.key_figure
    assert figure("data", None, root) == "3 firms, 2 tables, 13 rows, as of 2024-12-31"
    assert figure("features", None, root) == (
        "panel 4 rows x 2 features (2 snapshots, 2020-01-01 to 2020-04-01)"
    )
    assert figure("train", "m", root) == (
        "OOT AUC 0.834 (challenger 0.822), calibration 0 of 7 grades outside, registered m_pd v3"
    )
    # rank-1 reasons: util twice, dpd once, age once -> util, 2 of 4
    assert figure("explain", "m", root) == (
        "46,118 rows explained (119 features); top reason: util (50% of first reasons)"
    )
    assert figure("validate", "m", root) == "lights 151 green, 7 amber, 0 red (1 grey)"
    assert figure("value", None, root) == "9,059 firms valued, watch list 2,721 (30%)"
    assert figure("report", None, root) == "3 pages written"  # the notebooks' copies not counted


def test_a_figure_that_cannot_be_read_is_left_out_and_the_line_stands(tmp_path, monkeypatch):
    monkeypatch.delenv(_summary.REPRO_ENV, raising=False)
    _write_json(tmp_path / "metrics" / "m_validation.json", {"m": {"no lights": 1}})
    assert _summary.key_figure("validate", "m", tmp_path) == ""
    assert _summary.key_figure("train", "m", tmp_path) == ""  # no file
    assert _summary.done_line("validate", "m", tmp_path, "1.0 s") == "validate@m: done in 1.0 s"
    # the report's line names the front page, unless `research repro` closes with it
    assert _summary.done_line("report", None, tmp_path, "2.0 s").endswith(
        "done in 2.0 s; open reports/index.html"
    )
    monkeypatch.setenv(_summary.REPRO_ENV, "1")
    assert _summary.done_line("report", None, tmp_path, "2.0 s") == "report: done in 2.0 s"


def test_a_failure_is_one_line_with_the_cells_error_and_the_failure_log(tmp_path, capsys):
    class CellError(Exception):  # what papermill raises: the cell's exception name and value
        ename, evalue = "KeyError", "'segment'\nmore detail"

    log = tmp_path / "reports" / "notebooks" / "train-m.ipynb"
    log.parent.mkdir(parents=True)
    log.write_text("{}")
    console = _summary.Console("train", "m", tmp_path, began=0.0)
    error = CellError("\n----\nException encountered at In [2]")
    console.failed(error, log)
    out, err = capsys.readouterr()
    assert out == ""
    line = err.strip()
    assert line.startswith("train@m: failed after ")
    assert line.endswith(
        " - KeyError: 'segment'; the failure log is reports/notebooks/train-m.ipynb"
    )
    assert _summary.reported(error)
    assert "\n" not in line


def _project(tmp_path: Path) -> Path:
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


BAD_ARGUMENTS = {
    "notebook train --model credt": "unknown model 'credt'",
    "notebook trian --model credit": "unknown stage 'trian'",
    "notebook train": "needs --model",
    "notebook report --model credit": "takes no --model",
}


@pytest.mark.slow  # a fresh Python process reads params.yaml (2-4 s on two busy cores)
def test_bad_arguments_are_refused_before_a_kernel_starts_and_leave_no_files(tmp_path):
    root = _project(tmp_path)
    before = _files(root)
    # one fresh process tries each: exit code, what it printed and what it had imported
    probe = """
import contextlib, io, json, sys
from research.cli import main
for args in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args.split())
    loaded = [m for m in ("papermill", "jupyter_client", "nbconvert") if m in sys.modules]
    print(json.dumps([code, out.getvalue(), err.getvalue(), loaded]))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("RESEARCH_ROOT", "DVC_STAGE")}
    done = subprocess.run(
        [sys.executable, "-c", probe, *BAD_ARGUMENTS],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(BAD_ARGUMENTS)
    for (args, message), (code, out, err, loaded) in zip(
        BAD_ARGUMENTS.items(), results, strict=True
    ):
        assert code == 2, args
        assert out == "", args  # no start line
        assert err.startswith("research: ") and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert loaded == [], (args, loaded)  # no kernel machinery imported, let alone started
    assert _files(root) == before


def test_the_kernel_environment_silences_tqdm_and_mlflow_info_and_keeps_other_warnings(
    monkeypatch,
):
    monkeypatch.setenv("PYTHONWARNINGS", "error::ResourceWarning")
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    env = quiet_kernel_environment()
    assert env == {
        "PYTHONWARNINGS": ",".join(("error::ResourceWarning", *QUIET_WARNINGS)),
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "DEBUG")  # a level the user chose is kept
    assert quiet_kernel_environment()["MLFLOW_LOGGING_LEVEL"] == "DEBUG"
    # a Python started with it: tqdm's warning (any category) is dropped, another one shows
    code = (
        "import warnings\n"
        "class TqdmWarning(Warning): pass\n"
        "warnings.warn('IProgress not found. Please update jupyter and ipywidgets.', TqdmWarning)\n"
        "warnings.warn('a real problem', UserWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONWARNINGS": env["PYTHONWARNINGS"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "IProgress" not in done.stderr
    assert "UserWarning: a real problem" in done.stderr


@pytest.mark.slow
def test_the_kernel_talks_over_ipc_in_a_private_folder_and_shuts_down_quietly(
    tmp_path, capfd, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    kernels = _Kernels()
    manager = kernels.manager_class()(kernel_name="python3")
    folder = Path(manager.connection_file).parent
    printed: list[str] = []

    async def run() -> dict:
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            # the startup line has filtered MLflow's pip-version warning, and only that record
            reply = await client.execute_interactive(
                "import logging\n"
                "log = logging.getLogger('mlflow.utils.environment')\n"
                "record = lambda msg: logging.makeLogRecord({'msg': msg})\n"
                "print(len(log.filters), bool(log.filter(record('Failed to resolve installed pip "
                "version. pip will be added'))), bool(log.filter(record('another warning'))))",
                timeout=60,
                output_hook=lambda msg: printed.append(msg["content"].get("text", "")),
            )
        finally:
            client.stop_channels()
        await manager.shutdown_kernel()
        return reply

    try:
        reply = asyncio.run(run())
        info = manager.get_connection_info()
        assert reply["content"]["status"] == "ok"
        assert "".join(printed) == "1 False True\n"
        assert info["transport"] == "ipc" and info["ip"].startswith(str(folder))
        assert folder.stat().st_mode & 0o777 == 0o700  # only this user reaches the sockets
        assert folder.parent != tmp_path.resolve()
    finally:
        kernels.stop()
    assert not folder.exists()
    assert _files(tmp_path) == []  # nothing in the working folder (the project)
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err
    assert "KeyboardInterrupt" not in out + err


def test_a_killed_runners_kernel_folder_is_removed_by_the_next_run(tmp_path, monkeypatch):
    from research.stages.notebook import RUNTIME_PREFIX

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    left = tmp_path / f"{RUNTIME_PREFIX}{ended.pid}-abc"  # a SIGKILLed runner's folder
    running = tmp_path / f"{RUNTIME_PREFIX}1-abc"  # pid 1 is alive
    other = tmp_path / "research-kernel-x"
    for folder in (left, running, other):
        folder.mkdir()
        (folder / "kernel-0.json").write_text("{}")
    kernels = _Kernels()
    mine = Path(kernels.connection_file()).parent
    assert mine.name.startswith(f"{RUNTIME_PREFIX}{os.getpid()}-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, running.name, other.name]
    )
    kernels.stop()
    assert not mine.exists()


def _dvc_project(tmp_path: Path, stages: dict) -> Path:
    import yaml

    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run(
        [Path(sys.executable).parent / "dvc", "init", "-q"], cwd=tmp_path, check=True, env=env
    )
    return tmp_path


def _research_repro(root: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / ".dvc" / "site-cache"),
    }
    env.pop("RESEARCH_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "research.cli", "repro"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_research_repro_prints_the_stages_lines_and_a_closing_line_not_dvcs_progress(tmp_path):
    root = _dvc_project(
        tmp_path,
        {
            "a": {
                "cmd": "echo 'a: started'; echo 'a: done in 0.1 s' && echo x > a.txt",
                "outs": ["a.txt"],
            }
        },
    )
    (root / "reports").mkdir()
    (root / "reports" / "index.html").write_text("<html></html>")
    done = _research_repro(root)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["a: started", "a: done in 0.1 s"]
    assert len(lines) == 3 and lines[2].startswith("repro: done in ")
    assert lines[2].endswith("; open reports/index.html")
    assert done.stderr == ""  # no "Running stage", no command echo, no `dvc push` hint


@pytest.mark.slow
def test_research_repro_keeps_dvcs_errors(tmp_path):
    root = _dvc_project(tmp_path, {"b": {"cmd": "echo b", "deps": ["missing.txt"]}})
    done = _research_repro(root)
    assert done.returncode != 0
    assert "missing.txt" in done.stderr  # DVC's own error, which `dvc repro --quiet` hides
    assert done.stdout.splitlines()[-1].startswith("repro: failed after ")


@pytest.mark.slow  # imports nbconvert and compiles its template (2-4 s)
def test_the_html_exporter_made_ready_in_advance_renders_as_a_new_one():
    import base64

    import nbformat
    from nbconvert import HTMLExporter

    from research.stages.notebook import _HtmlExporter

    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a")).decode()
    code = nbformat.v4.new_code_cell("print('x')\nfrom IPython.display import Image")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x\n"),
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<img>"}),
    ]
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A *page*\n\n| a | b |\n|---|---|\n| 1 | 2 |"),
            code,
        ],
        metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}},
    )
    ready = _HtmlExporter()
    threading.Thread(target=ready.prepare).start()  # as a run does, while the kernel works
    warm, _ = ready.exporter().from_notebook_node(notebook)
    new, _ = HTMLExporter(template_name="lab", embed_images=True).from_notebook_node(notebook)
    assert warm == new
    assert "A <em>page</em>" in warm and png in warm
