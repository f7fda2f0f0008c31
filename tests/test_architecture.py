"""Conventions checked, not remembered: layering, DVC dependencies, models as data.

- A lower layer never imports a higher one; science code never imports the edge
  (config, tracking, the stage layer, the CLI).
- Every ``research`` module a stage imports (transitively) is a dependency of its DVC
  stage, so editing it makes ``dvc status`` report the stage as changed.
- No source file or notebook names a model: ``credit`` and ``churn`` are entries of
  ``params.yaml``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

import nbformat
import pytest
import yaml

from _imports import SRC, direct_imports, imported_files, module_file

ROOT = SRC.parent
# Low to high. Utilities (rank 0) import nothing of research; the edge may import anything.
LAYERS = {
    "research._params": 0,
    "research._lazy": 0,
    "research.paths": 0,
    "research.data": 1,
    "research.labels": 2,
    "research.features": 3,
    "research.models": 4,
    "research.explain": 5,
    "research.validation": 5,
    "research.value": 5,
    "research.evaluation": 5,
    "research.reporting": 6,
    "research.distributed": 7,
}
EDGE = ("research.config", "research.tracking", "research.stages", "research.cli", "research")


def layer_of(module: str) -> tuple[str, int] | None:
    """The layer a module belongs to (its longest matching prefix), or None for the edge."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    return None


def layering_violations(imports: dict[str, set[str]]) -> list[str]:
    """``module -> imported`` pairs that go upward, sideways between packages of a rank, or to the edge."""
    found = []
    for module, targets in sorted(imports.items()):
        mine = layer_of(module)
        if mine is None:
            continue  # the edge may import anything
        for target in sorted(targets):
            theirs = layer_of(target)
            if theirs is None:
                if target != "research":
                    found.append(f"{module} imports the edge module {target}")
            elif theirs[1] > mine[1] or (theirs[1] == mine[1] and theirs[0] != mine[0]):
                found.append(f"{module} (layer {mine[0]}) imports {target} (layer {theirs[0]})")
    return found


def all_modules() -> list[str]:
    names = []
    for path in sorted((SRC / "research").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_no_layer_imports_upward_and_science_never_imports_the_edge():
    imports = {name: direct_imports(name) for name in all_modules()}
    assert layering_violations(imports) == []


def test_the_layering_check_catches_an_upward_import():
    planted = {
        "research.data.io": {"research.features.snapshot"},
        "research.models.train": {"research.config"},
        "research.value.watch": {"research.explain.reasons"},
        "research.reporting.html": {"research.stages"},
    }
    assert len(layering_violations(planted)) == 4


def test_data_imports_neither_features_nor_labels():
    for name in all_modules():
        if name.startswith("research.data"):
            assert not [
                t
                for t in direct_imports(name)
                if t.startswith(("research.features", "research.labels"))
            ], name


# ----------------------------------------------------------------------------- DVC dependencies


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _deps(stage: dict) -> list[str]:
    body = stage.get("do", stage)
    return [d for d in body["deps"] if isinstance(d, str)]


def missing_dependencies(stage_name: str, deps: list[str]) -> list[str]:
    """Source files the stage module imports that no entry of ``deps`` covers (file or folder)."""
    needed = {str(p.relative_to(ROOT)) for p in imported_files(f"research.stages.{stage_name}")}
    return sorted(
        f for f in needed if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)
    )


@pytest.mark.parametrize(
    "stage_name", ["data", "features", "train", "explain", "validate", "value", "report"]
)
def test_dvc_yaml_lists_every_module_the_stage_imports(stage_name):
    stage = _stages()[stage_name]
    assert missing_dependencies(stage_name, _deps(stage)) == []
    assert f"notebooks/{stage_name}.ipynb" in _deps(stage)


def test_the_deps_check_fails_when_an_import_is_removed_from_dvc_yaml():
    deps = _deps(_stages()["features"])
    trimmed = [d for d in deps if d != "src/research/stages/_engine.py"]
    assert missing_dependencies("features", trimmed) == ["src/research/stages/_engine.py"]
    trimmed = [d for d in deps if d != "src/research/features"]
    assert "src/research/features/snapshot.py" in missing_dependencies("features", trimmed)


def test_model_stages_iterate_over_params_models_and_list_params_per_key():
    stages = _stages()
    for name in ("train", "explain", "validate"):
        assert stages[name]["foreach"] == "${models}", name
        assert "--model ${key}" in stages[name]["do"]["cmd"]
    assert "compute" not in stages["features"]["params"], (
        "dask worker settings must not rerun features"
    )
    assert "compute.engine" in stages["features"]["params"]


def test_stage_modules_exist_for_every_dvc_stage():
    for name in _stages():
        assert module_file(f"research.stages.{name}") is not None, name


# ----------------------------------------------------------------------------- models as data

MODEL_NAMES = {"credit", "churn"}


def string_literals(source: str) -> list[tuple[int, str]]:
    """Every string literal of Python source, with its line (f-string parts included)."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                continue
            found.append((token.start[0], value))
        elif token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            found.append((token.start[0], token.string))
    return found


EVENT_NAMES_MARK = "# label events"  # a line naming label events (default, churn), not models


def model_names_in(source: str) -> list[tuple[int, str]]:
    marked = {n for n, text in enumerate(source.splitlines(), 1) if EVENT_NAMES_MARK in text}
    return [
        (line, value)
        for line, value in string_literals(source)
        if value in MODEL_NAMES and line not in marked
    ]


def test_no_source_file_or_notebook_names_a_model():
    hits = []
    for path in sorted((SRC / "research").rglob("*.py")):
        hits += [
            f"{path.relative_to(ROOT)}:{line}: {value!r}"
            for line, value in model_names_in(path.read_text())
        ]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                hits += [f"{path.name}: {value!r}" for _, value in model_names_in(cell.source)]
    assert hits == []


def test_the_literal_check_sees_both_quote_styles():
    assert model_names_in("x = 'credit'\ny = \"churn\"\nz = 'credit_pd'") == [
        (1, "credit"),
        (2, "churn"),
    ]
    assert re.search("churn", "credit_pd churn_12m") and model_names_in("a = 'churn_12m'") == []


def test_folder_dependencies_hash_no_bytecode():
    """A stage's folder dep (src/research/models, ...) is hashed without __pycache__: the stage's
    own imports write .pyc files there (their bytes hold the sources' mtimes), and a fresh clone's
    repro would otherwise rewrite dvc.lock."""
    ignored = (ROOT / ".dvcignore").read_text(encoding="utf-8").splitlines()
    assert {"__pycache__/", "*.pyc"} <= set(ignored)
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    folders = {
        dep["path"]: dep["nfiles"]
        for stage in lock["stages"].values()
        for dep in stage.get("deps", [])
        if dep["path"].startswith("src/") and "nfiles" in dep
    }
    assert folders, "dvc.lock lists no source folder"
    for folder, nfiles in folders.items():
        sources = [
            p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
        assert nfiles == len(sources), (folder, nfiles, len(sources))


def test_dvc_parses_yaml_with_the_c_parser():
    """DVC reads dvc.yaml, dvc.lock and params.yaml with ruamel.yaml's safe loader several times per
    command: in pure Python that was about 1 s of a 3 s no-op ``dvc repro`` (issue 18)."""
    from ruamel.yaml import YAML

    assert "clib" in YAML(typ="safe").Parser.__module__
