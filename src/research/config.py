"""Load and check ``params.yaml`` into typed, frozen settings.

Only stages (notebooks, the CLI) call this module; the science functions take plain
keyword arguments. Every key is checked: an unknown key (a typo), a missing key, a
wrong type or a value outside its allowed set stops with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from research._params import ParamsError, ParamsWarning
from research._params import add_months as _add_months
from research._params import check as _check
from research._params import check_date as _check_date
from research._params import check_known as _check_known
from research._params import warn as _warn
from research.data.params import SyntheticParams
from research.explain.params import ExplainParams
from research.features.params import FeatureParams, SnapshotParams
from research.labels import LABEL_EVENTS, LabelParams, label_name, label_names, parse_label_name
from research.models.params import (
    CalibrationParams,
    FeatureSelection,
    GradeParams,
    ModelSpec,
    SplitParams,
    XGBParams,
)
from research.paths import project_root
from research.validation.params import ValidationParams
from research.value.params import (
    LGDParams,
    LoyaltyParams,
    SatisfactionParams,
    ValueParams,
    WatchParams,
)

__all__ = [
    "CalibrationParams",
    "ComputeParams",
    "DataParams",
    "ExplainParams",
    "FeatureParams",
    "FeatureSelection",
    "GradeParams",
    "LGDParams",
    "LabelParams",
    "LoyaltyParams",
    "ModelSpec",
    "ParamsError",
    "ParamsWarning",
    "SatisfactionParams",
    "Settings",
    "SnapshotParams",
    "SplitParams",
    "SyntheticParams",
    "ValidationParams",
    "ValueParams",
    "WatchParams",
    "XGBParams",
    "load_settings",
    "parse_section",
    "parse_settings",
    "read_params",
]


@dataclasses.dataclass(frozen=True)
class DataParams:
    """Where the raw tables come from and the date they were extracted (the as-of date)."""

    source: str
    as_of: str
    synthetic: SyntheticParams

    def __post_init__(self) -> None:
        if self.as_of:
            _check_date(self.as_of, "data.as_of")


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
            not self.scheduler
            or re.fullmatch(r"([a-z]+://)?[^\s/:]+:\d+", self.scheduler) is not None,
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


_MODEL_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class Settings:
    seed: int
    data: DataParams
    features: FeatureParams
    labels: LabelParams
    split: SplitParams
    models: dict[str, ModelSpec]
    explain: ExplainParams
    validation: ValidationParams
    value: ValueParams
    compute: ComputeParams

    def __post_init__(self) -> None:
        _check(0 <= self.seed < 2**31, "seed", "must lie in [0, 2**31)")
        _check(bool(self.models), "models", "must hold at least one model")
        registry: dict[str, str] = {}
        for name, spec in self.models.items():
            _check(
                _MODEL_NAME.fullmatch(name) is not None,
                f"models.{name}",
                "is not a valid model name: lower-case letters, digits and _ (it names stages, files and runs)",
            )
            _check(
                spec.registry_name not in registry,
                f"models.{name}.registry_name",
                f"{spec.registry_name!r} is already the registry name of models.{registry.get(spec.registry_name)}",
            )
            registry[spec.registry_name] = name
            if spec.uses_panel:  # the label column: <event>_<horizon_months>m
                column = _panel_label(name, spec, self.labels.horizons_months)
                if column != spec.label:
                    self.models[name] = dataclasses.replace(spec, label=column)
        for name, spec in self.models.items():
            if spec.xgb.early_stopping_rounds >= spec.xgb.n_estimators:
                _warn(
                    f"models.{name}.xgb.early_stopping_rounds",
                    f"({spec.xgb.early_stopping_rounds}) is not below n_estimators "
                    f"({spec.xgb.n_estimators}): early stopping can never stop the boosting",
                )
        _check_snapshots(self)
        _check_history(self)
        _check_features_against_labels(self)
        _check_value_against_models(self)

    def model(self, name: str) -> ModelSpec:
        """The specification of the model called ``name``."""
        try:
            return self.models[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.models), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParamsError(
                f"unknown model {name!r}{hint}; params.yaml models: {', '.join(self.models)}"
            ) from None

    @property
    def enabled_models(self) -> list[str]:
        """Names of the enabled models, in params order."""
        return [name for name, spec in self.models.items() if spec.enabled]

    @property
    def needs_panel(self) -> bool:
        """Whether an enabled model is trained on the panel (``source: panel``).

        When none is, the data and features stages write placeholders instead of reading
        ``data.source`` and building the panel (every enabled model reads its own flat table).
        """
        return any(s.enabled and s.uses_panel for s in self.models.values())

    def flat_tables(self) -> dict[str, str]:
        """The enabled models on a flat table: name -> the table (``models.<name>.source``)."""
        return {n: s.source for n, s in self.models.items() if s.enabled and not s.uses_panel}

    def no_panel_note(self) -> str:
        """What the data and features stages say when no enabled model is trained on the panel."""
        tables = self.flat_tables()
        named = "; ".join(f"{n} reads {t}" for n, t in tables.items()) or "no model is enabled"
        return (
            "No enabled model is trained on the panel (models.<name>.source: panel), so "
            f"data.source is not read and no panel is built ({named}). The data and features "
            "stages write empty placeholders (data/raw/_source.json, an empty panel) that keep "
            "the pipeline's dependencies satisfied; set a model's source to panel to build them."
        )

    def model_for_task(self, task: str) -> str | None:
        """The first enabled model trained on the panel with ``task`` (``pd``, ``attrition``), if any."""
        return next(
            (n for n, s in self.models.items() if s.enabled and s.task == task and s.uses_panel),
            None,
        )


def _panel_label(name: str, spec: ModelSpec, horizons_months: list[int]) -> str:
    """The panel column a model's ``label`` names: an event (``default``) at its ``horizon_months``.

    ``label`` may name the event alone (``default``, ``churn``: the column follows
    ``horizon_months``) or the whole column (``default_12m``, whose window must then equal
    ``horizon_months``). The horizon of an enabled model must be one the panel carries
    (``labels.horizons_months``); the error names both fixes.
    """
    events = list(LABEL_EVENTS)
    if spec.label in LABEL_EVENTS:
        column = label_name(spec.label, spec.horizon_months)
    else:
        parsed = parse_label_name(spec.label)
        if parsed is None:
            close = difflib.get_close_matches(
                spec.label, [*events, *label_names(horizons_months)], n=1
            )
            raise ParamsError(
                f"params.yaml: models.{name}.label {spec.label!r} is not a label the features "
                f"stage builds: name the event ({', '.join(events)}; the column follows "
                f"horizon_months) or a column {', '.join(label_names(horizons_months))}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        _check(
            parsed[1] == spec.horizon_months,
            f"models.{name}.horizon_months",
            f"({spec.horizon_months}) must equal the window of its label {spec.label!r}; or "
            f"set models.{name}.label to {parsed[0]!r} alone and the column follows horizon_months",
        )
        column = spec.label
    if spec.enabled:
        carried = ", ".join(label_names(horizons_months))
        _check(
            spec.horizon_months in horizons_months,
            f"models.{name}.horizon_months",
            f"({spec.horizon_months}) is not among labels.horizons_months {horizons_months}, so "
            f"the panel has no column {column!r} (it carries {carried}). Fix: set "
            f"models.{name}.horizon_months to one of {horizons_months}, or add "
            f"{spec.horizon_months} to labels.horizons_months",
        )
    return column


def _check_snapshots(settings: Settings) -> None:
    """The out-of-time split against the snapshots: development rows before it, test rows in it.

    Only where both are configured: a grid derived from the data (``features.snapshots``
    ``first`` or ``last`` empty), event anchors, or an empty (derived)
    ``split.oot_first_snapshot`` are checked by the features and train stages, which know
    the data's range.
    """
    snapshots = settings.features.snapshots
    if snapshots.mode != "calendar" or snapshots.derived or not settings.split.oot_first_snapshot:
        return
    first, last = dt.date.fromisoformat(snapshots.first), dt.date.fromisoformat(snapshots.last)
    oot = dt.date.fromisoformat(settings.split.oot_first_snapshot)
    _check(
        first <= oot <= last,
        "split.oot_first_snapshot",
        f"must lie within the snapshots, features.snapshots.first ({first}) to "
        f"features.snapshots.last ({last}), got {oot}",
    )
    for name, spec in _panel_models(settings):
        development_end = _add_months(first, spec.horizon_months)
        _check(
            development_end <= oot,
            "split.oot_first_snapshot",
            f"must be at least models.{name}.horizon_months ({spec.horizon_months}) after "
            f"features.snapshots.first ({first}), i.e. on or after {development_end}: every "
            "development row's label window would reach into the out-of-time period (all purged)",
        )
    grid, k = [], 0
    while (date := _add_months(first, k * snapshots.every_months)) <= last:
        grid.append(date)
        k += 1
    following = next((d for d in grid if d >= oot), None)
    _check(
        following is not None,
        "split.oot_first_snapshot",
        f"({oot}) is after the last snapshot date ({grid[-1]}, features.snapshots every "
        f"{snapshots.every_months} months from {first}): the out-of-time test would be empty",
    )
    if following != oot:
        _warn(
            "split.oot_first_snapshot",
            f"({oot}) is not a snapshot date (features.snapshots every "
            f"{snapshots.every_months} months from {first}): the out-of-time test starts at {following}",
        )


def _data_end(data: DataParams) -> tuple[dt.date, str] | None:
    """The first day after the source's records and how the params say so (None: only the data tells)."""
    ends = []
    if data.as_of:  # records up to and including the as-of date
        as_of = dt.date.fromisoformat(data.as_of)
        ends.append((as_of + dt.timedelta(days=1), f"the day after data.as_of ({as_of})"))
    if data.source == "synthetic":
        start = dt.date.fromisoformat(data.synthetic.start).replace(day=1)
        end = _add_months(start, data.synthetic.months)
        ends.append((end, f"{end}, data.synthetic.start + data.synthetic.months"))
    return min(ends) if ends else None


def _check_history(settings: Settings) -> None:
    """The snapshots and label windows against the history the source holds (when the params tell it).

    Errors, not warnings: a snapshot after the end of the records gets features summed over
    months without records (all zero, as if every customer had gone quiet) and a label
    window past the end is censored (NaN) unless the event came; a first snapshot with
    less history than its windows sums windows that start before the records, so its
    counts and amounts come out too low, a bias no later stage can see.
    """
    snapshots = settings.features.snapshots
    calendar = snapshots.mode == "calendar"
    end = _data_end(settings.data)
    if end is not None:
        day, said = end
        if calendar and snapshots.last:
            last = dt.date.fromisoformat(snapshots.last)
            _check(
                last <= day,
                "features.snapshots.last",
                f"({last}) must not be after the end of the data ({said}): "
                "its features would sum months without records",
            )
        oot_set = settings.split.oot_first_snapshot  # empty: derived from the data
        for name, spec in _panel_models(settings) if oot_set else []:
            oot = dt.date.fromisoformat(oot_set)
            _check(
                _add_months(oot, spec.horizon_months) <= day,
                "split.oot_first_snapshot",
                f"({oot}) plus models.{name}.horizon_months ({spec.horizon_months}) must not pass the "
                f"end of the data ({said}): the out-of-time labels would be censored "
                f"(latest possible: {_add_months(day, -spec.horizon_months)})",
            )
    _check_synthetic_history(settings)


def _check_synthetic_history(settings: Settings) -> None:
    """A configured first snapshot of the synthetic portfolio leaves the longest window's history."""
    snapshots = settings.features.snapshots
    if settings.data.source == "synthetic" and snapshots.mode == "calendar" and snapshots.first:
        first = dt.date.fromisoformat(snapshots.first)
        synthetic = settings.data.synthetic
        start = dt.date.fromisoformat(synthetic.start).replace(day=1)
        months = settings.features.history_months
        earliest = _add_months(start, months)
        _check(
            earliest <= first,
            "features.snapshots.first",
            f"({first}) must leave {months} months of history after data.synthetic.start "
            f"({start}) for the longest feature window (features.windows_months, "
            f"long_window_months, twice trend_recent_months): earliest possible {earliest}",
        )


def _check_features_against_labels(settings: Settings) -> None:
    """Day counts that only mean something below the default definition."""
    default_dpd = settings.labels.default_dpd
    above = [t for t in settings.features.dpd_thresholds if t > default_dpd]
    _check(
        not above,
        "features.dpd_thresholds",
        f"{above} must not exceed labels.default_dpd ({default_dpd}): a customer past it is in "
        "default and leaves the panel, so the count would be zero throughout",
    )
    # A threshold equal to default_dpd (the shipped params: 90) also counts nothing, since reaching
    # it is a default; it is allowed so the validated default model keeps its inputs, and the
    # features stage's quality table flags the constant column.
    _check(
        settings.value.watch.dpd_days < default_dpd,
        "value.watch.dpd_days",
        f"must be below labels.default_dpd ({default_dpd}): customers in default leave the "
        "panel, so the trigger would never fire",
    )


def _check_value_against_models(settings: Settings) -> None:
    """The value step's use of the explain step's reason codes and the PD model's grades."""
    _check(
        settings.value.watch.reason_codes <= settings.explain.reason_codes,
        "value.watch.reason_codes",
        f"must not exceed explain.reason_codes ({settings.explain.reason_codes}), "
        "the reason codes the explain stage writes per row",
    )
    name = settings.model_for_task("pd")
    if name is None:
        return  # the value stage itself says which model it lacks
    spec = settings.models[name]
    _check(
        spec.graded,
        f"models.{name}.grading",
        "must be master_scale: the value stage reads the grades of the PD model (value.risk_bands)",
    )
    grades = spec.grades.names
    banded = [g for members in settings.value.risk_bands.values() for g in members]
    _check_known(
        banded, grades, "value.risk_bands", f"names grades not in models.{name}.grades.names:"
    )
    unbanded = [g for g in grades if g not in banded]
    _check(
        not unbanded,
        "value.risk_bands",
        f"puts grades {unbanded} of models.{name}.grades.names in no band",
    )
    _check(
        settings.value.watch.grade_notches < len(grades),
        "value.watch.grade_notches",
        f"must be below the number of grades of models.{name} ({len(grades)}), "
        "or the trigger can never fire",
    )


def _panel_models(settings: Settings) -> list[tuple[str, ModelSpec]]:
    """The enabled models on the panel: the ones the snapshots and the out-of-time split concern."""
    return [(n, s) for n, s in settings.models.items() if s.enabled and s.uses_panel]


def _build(cls: Any, raw: Any, key: str) -> Any:
    """Build ``cls`` from ``raw``, checking keys and types recursively."""
    origin = typing.get_origin(cls)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
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
        optional = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
        missing = [f for f in fields if f not in raw and f not in optional]
        if missing:
            raise ParamsError(f"params.yaml: missing key {_join(key, missing[0])!r}")
        values = {f: _build(hints[f], raw[f], _join(key, f)) for f in fields if f in raw}
        try:
            return cls(**values)
        except ParamsError as err:
            raise _within(err, key) from None
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
    # a union (float | Literal["auto"]): the first arm that fits
    if origin in (types.UnionType, typing.Union):
        arms = typing.get_args(cls)
        for arm in arms:
            try:
                return _build(arm, raw, key)
            except ParamsError:
                continue
        names = [
            " or ".join(map(str, typing.get_args(a)))
            if typing.get_origin(a) is Literal
            else getattr(a, "__name__", str(a))
            for a in arms
        ]
        raise ParamsError(f"params.yaml: {key} must be {' or '.join(names)}, got {raw!r}")
    if cls is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if cls is float and isinstance(raw, float) and not math.isfinite(raw):
        raise ParamsError(f"params.yaml: {key} must be a finite number, got {raw!r}")
    if cls is str and isinstance(raw, dt.date):
        return raw.isoformat()
    if not isinstance(raw, cls) or (cls is int and isinstance(raw, bool)):
        raise ParamsError(
            f"params.yaml: {key} must be {cls.__name__}, got {type(raw).__name__} {raw!r}"
        )
    return raw


def _within(err: ParamsError, key: str) -> ParamsError:
    """``err`` with its key made absolute: a parameter object names keys from its own section."""
    text = str(err)
    marker = "params.yaml: "
    if not key or not text.startswith(marker):
        return err
    named = text[len(marker) :].split(" ", 1)[0]
    parts = key.split(".")
    first = named.split(".")[0]
    if first == parts[0]:
        return err
    prefix = ".".join(parts[: parts.index(first)]) if first in parts else key
    return ParamsError(f"{marker}{_join(prefix, text[len(marker) :])}")


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
