"""Committed notebooks are thin: a parameters cell, one call into their stage, display cells."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from research.stages import MODEL_STAGES, STAGES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# What only a stage module may do: I/O, tracking, params, engine and model dispatch.
FORBIDDEN = (
    "import mlflow",
    "mlflow.",
    "tracking.",
    "to_parquet",
    "to_csv",
    "write_text",
    "open(",
    "read_parquet",
    "parse_section",
    "load_settings",
    "read_params",
    "client_for",
    "distributed",
    "paths import",
    "def ",
)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_every_stage_has_a_notebook_and_no_notebook_lacks_a_stage():
    assert {p.stem for p in NOTEBOOKS} == set(STAGES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "research"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} has execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_holds_only_what_papermill_injects(path):
    cells = _code_cells(nbformat.read(path, as_version=4))
    params = cells[0]
    assert "parameters" in params.metadata.get("tags", []), (
        "the first code cell is the parameters cell"
    )
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1
    namespace: dict = {}
    exec(
        compile(ast.parse(params.source), path.name, "exec"), namespace
    )  # a committed literal cell
    values = {k: v for k, v in namespace.items() if not k.startswith("__")}
    assert values == ({"model": None} if path.stem in MODEL_STAGES else {}), values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_stage_call_then_display_cells(path):
    cells = _code_cells(nbformat.read(path, as_version=4))[1:]
    code = "\n".join(c.source for c in cells)
    call = f'run_stage("{path.stem}"' + (", model)" if path.stem in MODEL_STAGES else ")")
    assert code.count("run_stage(") == 1 and call in cells[0].source, call
    for needle in FORBIDDEN:
        assert needle not in code, f"{path.name}: {needle!r} belongs in research.stages.{path.stem}"
    assert max(len(c.source.splitlines()) for c in cells) <= 25, "display cells stay short"


def test_executed_notebook_html_needs_no_network(tmp_path):
    from research.reporting.html import external_references
    from research.stages.notebook import _write_html

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("1 + 1")]
    out = tmp_path / "t.html"
    _write_html(nb, out)
    assert external_references(out.read_text()) == []
