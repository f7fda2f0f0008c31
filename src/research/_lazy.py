"""Lazy re-exports for a package's ``__init__`` (PEP 562).

``from research.explain import explain_model`` keeps working, but importing the package
(for its small ``params`` module, say) no longer imports every submodule: a stage starts
faster, and the modules a stage really uses are the ones it names. The deps test reads
the same ``_EXPORTS`` mapping to follow a name to its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
