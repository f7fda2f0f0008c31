"""What every stage run starts from: the project root, the checked settings, and whether to write.

A stage run by the pipeline (``research notebook`` / ``research stage``, which set
``RESEARCH_PIPELINE=1``) writes its DVC outputs and logs to MLflow. The same notebook
opened in JupyterLab runs the same code with the current ``params.yaml`` but writes and
registers nothing unless asked (``write=True``), so a quant's experiment never
overwrites what ``dvc repro`` built.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from research.config import Settings, parse_settings, read_params
from research.models.params import ModelSpec
from research.paths import project_root

PIPELINE_ENV = "RESEARCH_PIPELINE"


@dataclasses.dataclass(frozen=True)
class StageContext:
    """The root, settings and write mode of one stage run."""

    root: Path
    settings: Settings
    params: Mapping[str, Any]
    write: bool

    @property
    def interactive(self) -> bool:
        """True when not run by the pipeline (a notebook opened in JupyterLab, say)."""
        return os.environ.get(PIPELINE_ENV) != "1"

    def spec(self, model: str) -> ModelSpec:
        """The specification of ``model`` (an unknown name is an error naming the known ones)."""
        return self.settings.model(model)


def stage_context(
    root: Path | None = None,
    *,
    params_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    write: bool | None = None,
) -> StageContext:
    """Read and check ``params.yaml`` (plus ``overrides`` of whole sections) for a stage run.

    ``write`` defaults to whether the pipeline runs the stage (``RESEARCH_PIPELINE=1``).
    """
    root = Path(root) if root is not None else project_root()
    params = read_params(params_path or root / "params.yaml")
    params.update(overrides or {})
    settings = parse_settings(params)
    if write is None:
        write = os.environ.get(PIPELINE_ENV) == "1"
    return StageContext(root=root, settings=settings, params=params, write=write)
