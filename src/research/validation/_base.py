"""What every validation area shares: the labelled sets, the label/score arrays, thresholds, lights.

A traffic light is green, amber or red; grey when a figure is missing or a sample is too
small to judge. ``Thresholds`` holds the bands every check is judged against; the stage
reads them from the ``validation`` section of ``params.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where arrays are judged: params.yaml reads Thresholds
    import numpy as np
    from numpy.typing import ArrayLike

LABELLED_SETS = ("train", "valid", "oot")
DEVELOPMENT_SETS = ("train", "valid")
LIGHT_ORDER = ("green", "amber", "red", "grey")
KEYS = ("customer_id", "snapshot_date")


# ---------------------------------------------------------------------------------------
# Labels and scores
# ---------------------------------------------------------------------------------------


def _as_arrays(label: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The rows where both are finite: labels as ``int8`` (0 or 1) and scores as floats.

    Raises:
        ValueError: When the two differ in length or a label is neither 0 nor 1.
    """
    import numpy as np

    y = np.asarray(label, dtype=float)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"label and score differ in length ({y.size} against {s.size})")
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (or NaN for rows without a label)")
    return y.astype(np.int8), s


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < y.sum() < y.size


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------------------------------
# Thresholds and traffic lights
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The bands every check is judged against (defaults equal ``params.yaml``)."""

    psi_bands: tuple[float, float] = (0.10, 0.25)
    auc_bands: tuple[float, float] = (0.70, 0.60)
    overfit_gap_bands: tuple[float, float] = (0.03, 0.06)
    calibration_alpha: float = 0.01
    calibration_amber_alpha: float = 0.05
    challenger_alpha: float = 0.05
    hl_groups: int = 10
    psi_bins: int = 10
    hhi_bands: tuple[float, float] = (0.20, 0.30)
    min_segment_events: int = 20
    cluster_adjust: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Thresholds:
        """The thresholds among ``values`` (e.g. the ``validation`` settings as a dict).

        Args:
            values: Settings by name; lists become tuples, other keys are ignored.

        Returns:
            The thresholds, defaults for those ``values`` lacks.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        picked: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names
        }
        return cls(**picked)


def _bound(value: float) -> str:
    """A threshold as shown: two decimals unless it needs more."""
    return f"{value:.2f}" if round(value, 2) == value else f"{value:g}"


def band_light(value: float, bands: Sequence[float], *, higher_is_better: bool) -> str:
    """Green, amber or red for ``value`` against two bounds; grey when it is missing.

    Higher is better (AUC): green at or above ``bands[0]``, red below ``bands[1]``.
    Lower is better (PSI, gaps): green below ``bands[0]``, red at or above ``bands[1]``.

    Args:
        value: The figure judged (None or NaN gives grey).
        bands: The two bounds, green's first.
        higher_is_better: Which way the figure improves.

    Returns:
        ``green``, ``amber``, ``red`` or ``grey``.
    """
    import numpy as np

    if value is None or not np.isfinite(value):
        return "grey"
    first, second = bands
    if higher_is_better:
        return "green" if value >= first else "amber" if value >= second else "red"
    return "green" if value < first else "amber" if value < second else "red"


def band_threshold(bands: Sequence[float], *, higher_is_better: bool) -> str:
    """The bands as the text shown beside a figure.

    Args:
        bands: The two bounds, green's first.
        higher_is_better: Which way the figure improves.

    Returns:
        E.g. ``green ≥ 0.70, red < 0.60``.
    """
    first, second = bands
    if higher_is_better:
        return f"green ≥ {_bound(first)}, red < {_bound(second)}"
    return f"green < {_bound(first)}, red ≥ {_bound(second)}"


def p_value_light(p_value: float, *, alpha: float, amber_alpha: float) -> str:
    """Red below ``alpha``, amber below ``amber_alpha``, else green (grey when missing).

    Args:
        p_value: The (adjusted) p-value of a test.
        alpha: Red below this.
        amber_alpha: Amber below this.

    Returns:
        ``green``, ``amber``, ``red`` or ``grey``.
    """
    import numpy as np

    if p_value is None or not np.isfinite(p_value):
        return "grey"
    return "red" if p_value < alpha else "amber" if p_value < amber_alpha else "green"


def p_value_threshold(*, alpha: float, amber_alpha: float, tests: int = 1) -> str:
    """The p-value bands as the text shown beside a test (with the Bonferroni factor).

    Args:
        alpha: Red below this.
        amber_alpha: Amber below this.
        tests: How many tests the p-value is adjusted over (shown when above one).

    Returns:
        E.g. ``green p ≥ 0.05, red p < 0.01 (Bonferroni ×7)``.
    """
    adjust = f" (Bonferroni ×{tests})" if tests > 1 else ""
    return f"green p ≥ {_bound(amber_alpha)}, red p < {_bound(alpha)}{adjust}"


def worst_light(lights: Iterable[str]) -> str:
    """The worst of several lights (red > amber > green); grey only when all are grey.

    Args:
        lights: Colours.

    Returns:
        The worst colour among them.
    """
    found = set(lights)
    for colour in ("red", "amber", "green"):
        if colour in found:
            return colour
    return "grey"


def light_counts(lights: Iterable[str]) -> dict[str, int]:
    """How many checks got each light.

    Args:
        lights: Colours, each one of ``LIGHT_ORDER``.

    Returns:
        Counts by colour in ``LIGHT_ORDER`` (zeros included).
    """
    counts = dict.fromkeys(LIGHT_ORDER, 0)
    for colour in lights:
        counts[colour] += 1
    return counts


def _band_reason(
    name: str, value: float, bands: Sequence[float], *, higher_is_better: bool, fmt: str = ".3f"
) -> str:
    light = band_light(value, bands, higher_is_better=higher_is_better)
    if light == "grey":
        return f"{name} could not be computed"
    first, second = _bound(bands[0]), _bound(bands[1])
    shown = format(value, fmt)
    if higher_is_better:
        relation = {"green": f"≥ {first}", "amber": f"in [{second}, {first})", "red": f"< {second}"}
    else:
        relation = {"green": f"< {first}", "amber": f"in [{first}, {second})", "red": f"≥ {second}"}
    return f"{name} {shown} {relation[light]}"
