"""What every parameter object shares: the error type and the checks it runs on itself.

Each science package owns the dataclass of its settings (``research.value.params``,
``research.models.params``, ...); ``research.config`` composes them from ``params.yaml``.
This module is the bottom layer: it imports nothing from ``research``.

A value that cannot work (a run would fail later or build empty, all-NaN or all-zero
columns) is a ``ParamsError``; a value that works but does less than it says (early
stopping that can never stop, say) is a ``ParamsWarning``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import warnings
from collections.abc import Iterable, Mapping, Sequence


class ParamsError(ValueError):
    """A ``params.yaml`` key is unknown, missing or has a bad value."""


class ParamsWarning(UserWarning):
    """A ``params.yaml`` value that works but is probably not what was meant."""


def check(ok: bool, key: str, rule: str) -> None:
    """Raise ``ParamsError`` naming ``key`` and the ``rule`` it breaks unless ``ok``."""
    if not ok:
        raise ParamsError(f"params.yaml: {key} {rule}")


def warn(key: str, rule: str) -> None:
    """Warn (``ParamsWarning``) that ``key`` works but ``rule``."""
    warnings.warn(f"params.yaml: {key} {rule}", ParamsWarning, stacklevel=3)


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
    check_known(weights, allowed, key, "has unknown components")
    check(all(w >= 0 for w in weights.values()), key, "must be >= 0")
    check(sum(weights.values()) > 0, key, "must not all be zero")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``name``, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_known(names: Iterable[str], allowed: Sequence[str], key: str, what: str) -> None:
    """Every one of ``names`` must be in ``allowed``; the error names the first stranger and its fix."""
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ParamsError(
            f"params.yaml: {key} {what} {unknown}{did_you_mean(unknown[0], allowed)}; "
            f"allowed: {', '.join(map(str, allowed))}"
        )


def increasing(values: Sequence[float]) -> bool:
    """Whether ``values`` increase strictly (so no value repeats)."""
    return all(a < b for a, b in zip(values, values[1:], strict=False))


def add_months(date: str | dt.date, months: int) -> dt.date:
    """``date`` (ISO text or a date) plus ``months`` calendar months, the day clipped to the month's end."""
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
