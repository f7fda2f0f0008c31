"""Load and check ``params.yaml`` into typed, frozen settings.

Only stages (notebooks, the CLI) call this module; the science functions take plain
keyword arguments. Every key is checked: an unknown key (a typo), a missing key, a
wrong type or a value outside its allowed set stops with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from research.paths import project_root


class ParamsError(ValueError):
    """A ``params.yaml`` key is unknown, missing or has a bad value."""


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
        _check(self.transactions_per_month > 0, "data.synthetic.transactions_per_month", "must be > 0")
        _check_date(self.start, "data.synthetic.start")


@dataclasses.dataclass(frozen=True)
class DataParams:
    source: str
    synthetic: SyntheticParams


@dataclasses.dataclass(frozen=True)
class SnapshotParams:
    first: str
    last: str
    every_months: int

    def __post_init__(self) -> None:
        _check_date(self.first, "features.snapshots.first")
        _check_date(self.last, "features.snapshots.last")
        _check(self.first <= self.last, "features.snapshots", "first must not be after last")
        _check(self.every_months >= 1, "features.snapshots.every_months", "must be >= 1")


@dataclasses.dataclass(frozen=True)
class FeatureParams:
    snapshots: SnapshotParams
    windows_months: list[int]
    long_window_months: int
    trend_recent_months: int
    dpd_thresholds: list[int]
    financials_overdue_days: int
    max_missing_share: float


@dataclasses.dataclass(frozen=True)
class LabelParams:
    default_dpd: int
    default_horizon_months: int
    churn_horizon_months: int


@dataclasses.dataclass(frozen=True)
class SplitParams:
    oot_first_snapshot: str
    valid_fraction: float
    test_fraction: float

    def __post_init__(self) -> None:
        _check_date(self.oot_first_snapshot, "split.oot_first_snapshot")
        _check(0 < self.valid_fraction < 1, "split.valid_fraction", "must lie in (0, 1)")
        _check(0 < self.test_fraction < 1, "split.test_fraction", "must lie in (0, 1)")


@dataclasses.dataclass(frozen=True)
class XGBParams:
    n_estimators: int
    learning_rate: float
    max_depth: int
    min_child_weight: float
    subsample: float
    colsample_bytree: float
    reg_lambda: float
    early_stopping_rounds: int


@dataclasses.dataclass(frozen=True)
class CalibrationParams:
    method: Literal["isotonic", "platt"]


@dataclasses.dataclass(frozen=True)
class GradeParams:
    names: list[str]
    upper_pd: list[float]

    def __post_init__(self) -> None:
        if self.names:
            _check(
                len(self.names) == len(self.upper_pd) + 1,
                "grades",
                "needs one more name than upper_pd bounds (the last grade takes the rest)",
            )
            _check(
                all(a < b for a, b in zip(self.upper_pd, self.upper_pd[1:], strict=False)),
                "grades.upper_pd",
                "must increase strictly",
            )


@dataclasses.dataclass(frozen=True)
class ModelParams:
    label: str
    source: str
    id_column: str
    date_column: str
    monotone: bool
    xgb: XGBParams
    calibration: CalibrationParams
    grades: GradeParams


@dataclasses.dataclass(frozen=True)
class ModelsParams:
    credit: ModelParams
    churn: ModelParams


@dataclasses.dataclass(frozen=True)
class ExplainParams:
    method: Literal["woodelf", "native", "shap"]
    reason_codes: int
    dependence_top: int
    interaction_sample: int
    agreement_sample: int
    report_sample: int


@dataclasses.dataclass(frozen=True)
class ValidationParams:
    psi_bands: list[float]
    auc_bands: list[float]
    overfit_gap_bands: list[float]
    calibration_alpha: float
    min_segment_events: int
    bootstrap: int


@dataclasses.dataclass(frozen=True)
class WatchParams:
    pd_rise: float
    grade_notches: int
    dpd_days: int
    inflow_drop: float
    dscr_covenant: float
    complaints_3m: int


@dataclasses.dataclass(frozen=True)
class ValueParams:
    rfm_quantiles: int
    horizon_years: int
    discount_rate: float
    funding_cost: float
    lgd: dict[str, float]
    value_tiers: list[float]
    treatments: dict[str, dict[str, str]]
    risk_bands: list[float]
    watch: WatchParams


@dataclasses.dataclass(frozen=True)
class ComputeParams:
    engine: Literal["local", "dask"]
    nthread: int
    scheduler: str
    dask_workers: int
    dask_worker_memory: str


@dataclasses.dataclass(frozen=True)
class Settings:
    seed: int
    data: DataParams
    features: FeatureParams
    labels: LabelParams
    split: SplitParams
    models: ModelsParams
    explain: ExplainParams
    validation: ValidationParams
    value: ValueParams
    compute: ComputeParams

    def model(self, name: str) -> ModelParams:
        """Settings of the model called ``name`` (``credit`` or ``churn``)."""
        try:
            return getattr(self.models, name)
        except AttributeError:
            raise ParamsError(f"unknown model {name!r}; expected one of credit, churn") from None


def _check(ok: bool, key: str, rule: str) -> None:
    if not ok:
        raise ParamsError(f"params.yaml: {key} {rule}")


def _check_date(value: str, key: str) -> None:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ParamsError(f"params.yaml: {key} must be an ISO date (YYYY-MM-DD), got {value!r}") from None


def _build(cls: Any, raw: Any, key: str) -> Any:
    """Build ``cls`` from ``raw``, checking keys and types recursively."""
    origin = typing.get_origin(cls)
    if dataclasses.is_dataclass(cls):
        if not isinstance(raw, Mapping):
            raise ParamsError(f"params.yaml: {key or 'top level'} must be a mapping, got {raw!r}")
        hints = typing.get_type_hints(cls)
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in raw if k not in fields]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(str(name), fields, n=1)
            hint = f" (did you mean {_join(key, close[0])!r}?)" if close else ""
            raise ParamsError(
                f"params.yaml: unknown key {_join(key, name)!r}{hint}; allowed keys: {', '.join(fields)}"
            )
        missing = [f for f in fields if f not in raw]
        if missing:
            raise ParamsError(f"params.yaml: missing key {_join(key, missing[0])!r}")
        return cls(**{f: _build(hints[f], raw[f], _join(key, f)) for f in fields})
    if origin is Literal:
        allowed = typing.get_args(cls)
        if raw not in allowed:
            raise ParamsError(
                f"params.yaml: {key} must be one of {', '.join(map(str, allowed))}, got {raw!r}"
            )
        return raw
    if origin is list:
        (item,) = typing.get_args(cls)
        if not isinstance(raw, list):
            raise ParamsError(f"params.yaml: {key} must be a list, got {raw!r}")
        return [_build(item, v, f"{key}[{i}]") for i, v in enumerate(raw)]
    if origin is dict:
        _, item = typing.get_args(cls)
        if not isinstance(raw, Mapping):
            raise ParamsError(f"params.yaml: {key} must be a mapping, got {raw!r}")
        return {str(k): _build(item, v, _join(key, str(k))) for k, v in raw.items()}
    if origin in (types.UnionType, typing.Union):
        raise TypeError("unions are not used in settings")
    if cls is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if cls is str and isinstance(raw, dt.date):
        return raw.isoformat()
    if not isinstance(raw, cls) or (cls is int and isinstance(raw, bool)):
        raise ParamsError(
            f"params.yaml: {key} must be {cls.__name__}, got {type(raw).__name__} {raw!r}"
        )
    return raw


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def parse_settings(raw: Mapping[str, Any]) -> Settings:
    """Check a params mapping (the whole ``params.yaml``) and return typed settings."""
    return _build(Settings, dict(raw), "")


def parse_section(section: str, raw: Any) -> Any:
    """Check one top-level section (as a notebook's parameters cell holds it)."""
    hints = typing.get_type_hints(Settings)
    if section not in hints:
        raise ParamsError(f"params.yaml: unknown section {section!r}")
    return _build(hints[section], raw, section)


def read_params(path: str | Path | None = None) -> dict[str, Any]:
    """The raw mapping in ``params.yaml`` (the project's, unless ``path`` is given)."""
    path = Path(path) if path else project_root() / "params.yaml"
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections")
    return raw


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and check ``params.yaml``."""
    return parse_settings(read_params(path))
