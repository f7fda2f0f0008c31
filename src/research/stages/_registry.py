"""The pipeline's stages in order, and which of them run once per model."""

from __future__ import annotations

from collections.abc import Sequence

STAGES = ("data", "features", "train", "explain", "validate", "value", "report")
MODEL_STAGES = ("train", "explain", "validate")


def notebook_names(models: Sequence[str]) -> list[str]:
    """Executed notebook names in pipeline order (``train-<model>`` for each model, ...)."""
    names: list[str] = []
    for stage in STAGES:
        if stage in MODEL_STAGES:
            names.extend(f"{stage}-{m}" for m in models)
        else:
            names.append(stage)
    return names
