"""Static import graph of ``src/research``: which source files a module pulls in.

Follows every ``import``/``from ... import`` at any depth of a module (function-level
lazy imports included, so the Dask engine counts), skips ``if TYPE_CHECKING:`` blocks,
and follows a package's lazy re-exports (its ``_EXPORTS`` mapping) to the module that
defines the name.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` under ``src`` (None for third-party modules)."""
    path = SRC / Path(*name.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            continue
        yield node
        yield from _walk(node)


@functools.cache
def _lazy_exports(package: str) -> dict[str, str]:
    path = module_file(package)
    if path is None or path.name != "__init__.py":
        return {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", "") == "_EXPORTS" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return {}


def direct_imports(name: str) -> set[str]:
    """The ``research`` modules that module ``name`` imports (lazy re-exports resolved)."""
    path = module_file(name)
    if path is None:
        return set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            found.add(base)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(
                    target if module_file(target) else _lazy_exports(base).get(alias.name, base)
                )
    return {m for m in found if m.split(".")[0] == "research" and module_file(m)}


def imported_files(name: str) -> set[Path]:
    """Every source file that importing module ``name`` (and the packages above each) can run."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(direct_imports(module))
    return {module_file(m) for m in seen}  # type: ignore[misc]


def stage_dependencies(module: str) -> list[str]:
    """The files ``module`` imports as dvc.yaml deps: a package folder when every file of it is imported."""
    root = SRC.parent
    files = {p.relative_to(root) for p in imported_files(module)}
    out: set[str] = set()
    for path in files:
        folder = path.parent
        package_files = {p.relative_to(root) for p in (root / folder).glob("*.py")}
        if folder != Path("src/research") and package_files <= files:
            out.add(str(folder))
        else:
            out.add(str(path))
    return sorted(out)
