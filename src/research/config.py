"""Load and check ``params.yaml`` into typed, frozen settings.

Only stages (notebooks, the CLI) call this module; the science functions take plain
keyword arguments. Every key is checked: an unknown key (a typo), a missing key, a
wrong type or a value outside its allowed set stops with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
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
    calibration_amber_alpha: float
    challenger_alpha: float
    hl_groups: int
    psi_bins: int
    hhi_bands: list[float]
    min_segment_events: int
    bootstrap: int
    cluster_adjust: bool

    def __post_init__(self) -> None:
        for key in ("psi_bands", "overfit_gap_bands", "hhi_bands"):
            bands = getattr(self, key)
            _check(
                len(bands) == 2 and 0 <= bands[0] < bands[1],
                f"validation.{key}",
                "must be two increasing non-negative bounds [amber_from, red_from]",
            )
        _check(
            len(self.auc_bands) == 2 and 0.5 <= self.auc_bands[1] < self.auc_bands[0] <= 1,
            "validation.auc_bands",
            "must be two decreasing AUCs in [0.5, 1]: [green_from, red_below]",
        )
        _check(0 < self.calibration_alpha < 1, "validation.calibration_alpha", "must lie in (0, 1)")
        _check(
            self.calibration_alpha < self.calibration_amber_alpha < 1,
            "validation.calibration_amber_alpha",
            "must lie between calibration_alpha and 1",
        )
        _check(0 < self.challenger_alpha < 1, "validation.challenger_alpha", "must lie in (0, 1)")
        _check(self.hl_groups >= 3, "validation.hl_groups", "must be at least 3")
        _check(self.psi_bins >= 2, "validation.psi_bins", "must be at least 2")
        _check(self.min_segment_events >= 1, "validation.min_segment_events", "must be at least 1")
        _check(
            self.bootstrap == 0 or self.bootstrap >= 100,
            "validation.bootstrap",
            "must be 0 (DeLong) or at least 100 resamples",
        )


@dataclasses.dataclass(frozen=True)
class WatchParams:
    pd_rise: float
    grade_notches: int
    dpd_days: int
    window_months: int
    inflow_drop: float
    dscr_covenant: float
    statement_overdue_days: int
    complaints: int
    reason_codes: int

    def __post_init__(self) -> None:
        _check(0 < self.pd_rise < 1, "value.watch.pd_rise", "must lie in (0, 1)")
        _check(self.grade_notches >= 1, "value.watch.grade_notches", "must be >= 1")
        _check(self.dpd_days >= 1, "value.watch.dpd_days", "must be >= 1")
        _check(self.window_months >= 1, "value.watch.window_months", "must be >= 1")
        _check(0 < self.inflow_drop < 1, "value.watch.inflow_drop", "must lie in (0, 1)")
        _check(self.dscr_covenant > 0, "value.watch.dscr_covenant", "must be > 0")
        _check(self.statement_overdue_days >= 1, "value.watch.statement_overdue_days", "must be >= 1")
        _check(self.complaints >= 1, "value.watch.complaints", "must be >= 1")
        _check(self.reason_codes >= 0, "value.watch.reason_codes", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class LGDParams:
    collateral: dict[str, float]
    product_adjustment: dict[str, float]

    def __post_init__(self) -> None:
        for name, lgd in self.collateral.items():
            _check(0 <= lgd <= 1, f"value.lgd.collateral.{name}", "must lie in [0, 1]")
        for name, shift in self.product_adjustment.items():
            _check(-1 <= shift <= 1, f"value.lgd.product_adjustment.{name}", "must lie in [-1, 1]")


@dataclasses.dataclass(frozen=True)
class SatisfactionParams:
    response_target_hours: float
    weights: dict[str, float]

    def __post_init__(self) -> None:
        _check(self.response_target_hours > 0, "value.satisfaction.response_target_hours", "must be > 0")
        _check_weights(self.weights, ("survey", "complaint_free", "responsiveness"), "value.satisfaction.weights")


@dataclasses.dataclass(frozen=True)
class LoyaltyParams:
    tenure_cap_years: float
    product_breadth_cap: int
    weights: dict[str, float]

    def __post_init__(self) -> None:
        _check(self.tenure_cap_years > 0, "value.loyalty.tenure_cap_years", "must be > 0")
        _check(self.product_breadth_cap >= 1, "value.loyalty.product_breadth_cap", "must be >= 1")
        _check_weights(
            self.weights,
            ("tenure", "contact_regularity", "account_regularity", "product_breadth"),
            "value.loyalty.weights",
        )


@dataclasses.dataclass(frozen=True)
class ValueParams:
    activity_window_months: int
    rfm_quantiles: int
    horizon_years: int
    discount_rate: float
    funding_cost: float
    payments_margin: float
    ccf: float
    lgd: LGDParams
    value_tiers: list[float]
    tier_names: list[str]
    high_value_tiers: list[str]
    risk_bands: dict[str, list[str]]
    treatments: dict[str, dict[str, str]]
    satisfaction: SatisfactionParams
    loyalty: LoyaltyParams
    watch: WatchParams

    def __post_init__(self) -> None:
        _check(self.activity_window_months >= 1, "value.activity_window_months", "must be >= 1")
        _check(self.rfm_quantiles >= 2, "value.rfm_quantiles", "must be >= 2")
        _check(self.horizon_years >= 1, "value.horizon_years", "must be >= 1")
        _check(self.discount_rate > -1, "value.discount_rate", "must be > -1")
        _check(0 <= self.ccf <= 1, "value.ccf", "must lie in [0, 1]")
        _check(self.payments_margin >= 0, "value.payments_margin", "must be >= 0")
        cuts = self.value_tiers
        _check(
            all(0 < c < 1 for c in cuts) and all(a < b for a, b in zip(cuts, cuts[1:], strict=False)),
            "value.value_tiers",
            "must be quantiles in (0, 1), increasing strictly",
        )
        _check(
            len(self.tier_names) == len(cuts) + 1,
            "value.tier_names",
            "needs one more name than value_tiers cut points (lowest tier first)",
        )
        unknown = [t for t in self.high_value_tiers if t not in self.tier_names]
        _check(not unknown, "value.high_value_tiers", f"names tiers not in tier_names: {unknown}")
        grades = [g for band in self.risk_bands.values() for g in band]
        _check(len(grades) == len(set(grades)), "value.risk_bands", "lists a grade in more than one band")
        for tier in self.tier_names:
            _check(tier in self.treatments, "value.treatments", f"needs an entry for tier {tier!r}")
            missing = [b for b in self.risk_bands if b not in self.treatments[tier]]
            _check(not missing, f"value.treatments.{tier}", f"needs a treatment for risk bands {missing}")


def _check_weights(weights: Mapping[str, float], allowed: tuple[str, ...], key: str) -> None:
    unknown = [k for k in weights if k not in allowed]
    _check(not unknown, key, f"has unknown components {unknown}; allowed: {', '.join(allowed)}")
    _check(all(w >= 0 for w in weights.values()), key, "must be >= 0")
    _check(sum(weights.values()) > 0, key, "must not all be zero")


@dataclasses.dataclass(frozen=True)
class ComputeParams:
    """Where the heavy stages run: this machine (``local``) or a Dask cluster (``dask``).

    ``scheduler`` is the address of a running Dask scheduler; empty starts a
    ``LocalCluster`` of ``dask_workers`` processes, each capped at ``dask_worker_memory``
    and sharing the ``nthread`` threads (``research.distributed``).
    """

    engine: Literal["local", "dask"]
    nthread: int
    scheduler: str
    dask_workers: int
    dask_worker_memory: str

    def __post_init__(self) -> None:
        _check(self.nthread >= 1, "compute.nthread", "must be >= 1")
        _check(self.dask_workers >= 1, "compute.dask_workers", "must be >= 1")
        _check(
            not self.scheduler or re.fullmatch(r"([a-z]+://)?[^\s/:]+:\d+", self.scheduler) is not None,
            "compute.scheduler",
            f"must be empty (a LocalCluster) or a scheduler address such as tcp://host:8786, got {self.scheduler!r}",
        )
        _check(
            _memory_bytes(self.dask_worker_memory) >= 2**28,
            "compute.dask_worker_memory",
            f"must be a size of at least 256MiB such as 2GiB or 4GB, got {self.dask_worker_memory!r}",
        )


def _memory_bytes(text: str) -> int:
    """Bytes of a size such as ``2GiB`` (Dask's notation); 0 when it does not parse."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)\s*", text.lower())
    if not match:
        return 0
    number, unit = float(match.group(1)), match.group(2)
    power = "bkmgt".index(unit[0])
    return int(number * (1024 if "i" in unit else 1000) ** power)


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
