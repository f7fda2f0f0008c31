"""Committed notebooks: a parameters cell equal to params.yaml, a kernelspec, no outputs."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from research.config import read_params
from research.stages import MODEL_STAGES, NOTEBOOK_STAGES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _parameters_cell(nb) -> str:
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one code cell tagged 'parameters'"
    return cells[0].source


def test_every_stage_has_a_notebook():
    names = {p.stem for p in NOTEBOOKS}
    assert set(NOTEBOOK_STAGES) <= names, sorted(set(NOTEBOOK_STAGES) - names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "research"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} has execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_equals_params_yaml(path):
    nb = nbformat.read(path, as_version=4)
    source = _parameters_cell(nb)
    tree = ast.parse(source)
    assert all(isinstance(node, ast.Assign) for node in tree.body), "parameters cell holds assignments only"
    namespace: dict = {}
    exec(compile(tree, path.name, "exec"), namespace)  # literals only, checked above
    values = {k: v for k, v in namespace.items() if not k.startswith("__")}
    params = read_params(ROOT / "params.yaml")
    for name, value in values.items():
        if name == "model":
            assert path.stem in MODEL_STAGES and value == "credit", "shared notebooks default to credit"
            continue
        assert name in params, f"{path.name}: parameter {name!r} is not a params.yaml section"
        assert value == params[name], f"{path.name}: parameter {name!r} differs from params.yaml"


def test_executed_notebook_html_needs_no_network(tmp_path):
    from research.reporting.html import external_references
    from research.stages import _write_html

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("1 + 1")]
    out = tmp_path / "t.html"
    _write_html(nb, out)
    assert external_references(out.read_text()) == []
