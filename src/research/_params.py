"""What every parameter object shares: the error type and the checks it runs on itself.

Each science package owns the dataclass of its settings (``research.value.params``,
``research.models.params``, ...); ``research.config`` composes them from ``params.yaml``.
This module is the bottom layer: it imports nothing from ``research``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping


class ParamsError(ValueError):
    """A ``params.yaml`` key is unknown, missing or has a bad value."""


def check(ok: bool, key: str, rule: str) -> None:
    """Raise ``ParamsError`` naming ``key`` and the ``rule`` it breaks unless ``ok``."""
    if not ok:
        raise ParamsError(f"params.yaml: {key} {rule}")


def check_date(value: str, key: str) -> None:
    """``value`` must be an ISO date."""
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ParamsError(
            f"params.yaml: {key} must be an ISO date (YYYY-MM-DD), got {value!r}"
        ) from None


def check_weights(weights: Mapping[str, float], allowed: tuple[str, ...], key: str) -> None:
    """Weights of named components: known names, non-negative, not all zero."""
    unknown = [k for k in weights if k not in allowed]
    check(not unknown, key, f"has unknown components {unknown}; allowed: {', '.join(allowed)}")
    check(all(w >= 0 for w in weights.values()), key, "must be >= 0")
    check(sum(weights.values()) > 0, key, "must not all be zero")
