"""Settings of the data section: the synthetic portfolio (``params.yaml`` → ``data.synthetic``)
and what ``data.source`` names (the generator, a folder of tables, or a source mapping file).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Literal

import yaml

from research._params import ParamsError
from research._params import check as _check
from research._params import check_date as _check_date


@dataclasses.dataclass(frozen=True)
class SyntheticParams:
    n_customers: int
    start: str
    months: int
    scenario: Literal["baseline", "downturn"]
    transactions_per_month: float

    def __post_init__(self) -> None:
        _check(self.n_customers >= 10, "data.synthetic.n_customers", "must be at least 10")
        _check(self.months >= 36, "data.synthetic.months", "must be at least 36 (3 years)")
        _check(
            self.transactions_per_month > 0, "data.synthetic.transactions_per_month", "must be > 0"
        )
        _check_date(self.start, "data.synthetic.start")


# --- where the raw tables come from (``params.yaml`` → ``data.source``) --------------------

SYNTHETIC = "synthetic"
MAPPING_SUFFIXES = (".yaml", ".yml")  # a source mapping file (research.data.mapping)


def source_kind(source: str) -> Literal["synthetic", "folder", "mapping"]:
    """What ``data.source`` names: the embedded generator, a folder of tables, or a mapping file."""
    if source == SYNTHETIC:
        return "synthetic"
    if source.lower().endswith(MAPPING_SUFFIXES):
        return "mapping"
    return "folder"


def source_path(source: str | Path, root: Path) -> Path:
    """The path ``data.source`` names: absolute, or relative to the project root."""
    path = Path(source)
    return path if path.is_absolute() else root / path


def as_of_text(value: object) -> str:
    """An as-of date as ISO text: YAML reads ``2024-12-31`` unquoted as a date; "" when unset."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):  # a time of day: not a date, so the date check refuses it
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def mapping_as_of(path: Path) -> str:
    """The ``as_of`` of a source mapping file, as text ("" when it states none or cannot be read).

    Lenient on purpose: the data stage and ``research validate`` check the mapping in full
    (``research.data.mapping``) and report its problems; later stages only need the date.
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    return as_of_text(doc.get("as_of")) if isinstance(doc, dict) else ""


def configured_as_of(source: str, root: Path, params_as_of: str) -> tuple[str, str]:
    """The configured as-of date (ISO text, "" for none) and where it was set.

    ``params.yaml`` → ``data.as_of``, or the ``as_of`` of the source mapping that
    ``data.source`` names. Both may be set only to the same date: two places disagreeing
    about the extract date is an error, not a precedence rule to remember.

    Raises:
        ParamsError: If both are set and differ.
    """
    if source_kind(source) != "mapping":
        return params_as_of, "params.yaml data.as_of"
    stated = mapping_as_of(source_path(source, root))
    if params_as_of and stated and stated != params_as_of:
        raise ParamsError(
            f"params.yaml: data.as_of ({params_as_of}) and the as_of of the source mapping "
            f"{source} ({stated}) disagree; Fix: state the extract date in one of them only"
        )
    if params_as_of:
        return params_as_of, "params.yaml data.as_of"
    return stated, f"as_of of the source mapping {source}"
