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

from research._params import ParamsError
from research._params import check as _check
from research.data.params import SyntheticParams
from research.explain.params import ExplainParams
from research.features.params import FeatureParams, SnapshotParams
from research.labels import LabelParams, label_names, parse_label_name
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
    source: str
    synthetic: SyntheticParams


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
        _check(bool(self.models), "models", "must hold at least one model")
        built = label_names(self.labels.horizons_months)
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
            if not spec.uses_panel:
                continue
            close = difflib.get_close_matches(spec.label, built, n=1)
            _check(
                spec.label in built,
                f"models.{name}.label",
                f"{spec.label!r} is not a label the features stage builds ({', '.join(built)})"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + "; add its horizon to labels.horizons_months",
            )
            parsed = parse_label_name(spec.label)
            _check(
                parsed is not None and parsed[1] == spec.horizon_months,
                f"models.{name}.horizon_months",
                f"must equal the window of its label {spec.label!r}",
            )

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

    def model_for_task(self, task: str) -> str | None:
        """The first enabled model trained on the panel with ``task`` (``pd``, ``attrition``), if any."""
        return next(
            (n for n, s in self.models.items() if s.enabled and s.task == task and s.uses_panel),
            None,
        )


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
        missing = [f for f in fields if f not in raw]
        if missing:
            raise ParamsError(f"params.yaml: missing key {_join(key, missing[0])!r}")
        values = {f: _build(hints[f], raw[f], _join(key, f)) for f in fields}
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
