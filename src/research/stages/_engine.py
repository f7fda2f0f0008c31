"""Where the heavy steps run: this machine or a Dask cluster (``compute.engine``).

The only place that dispatches on the engine. Both engines run the same science code
and return the same objects, so a stage calls ``engine.build_panel(...)`` without
knowing which one it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from research.config import ComputeParams


class Engine(Protocol):
    """The heavy steps of the features, train and explain stages."""

    def build_panel(
        self, raw_folder: Path, tables: Any, snapshots: Sequence[pd.Timestamp], **panel_kwargs: Any
    ) -> tuple[pd.DataFrame, list[str]]: ...

    def fit(self, table: pd.DataFrame, split: pd.Series, **fit_kwargs: Any) -> Any: ...

    def score(
        self, model: Any, table: pd.DataFrame, split: pd.Series, **score_kwargs: Any
    ) -> pd.DataFrame: ...

    def shap(self, booster: Any, matrix: pd.DataFrame) -> Any: ...

    @property
    def needs_tables(self) -> bool: ...


class LocalEngine:
    """Everything in this process (XGBoost on ``compute.nthread`` threads)."""

    needs_tables = True

    def __init__(self, compute: ComputeParams) -> None:
        self.compute = compute

    def build_panel(self, raw_folder, tables, snapshots, **panel_kwargs):
        from research.features.snapshot import build_panel

        return build_panel(tables, snapshots, **panel_kwargs)

    def fit(self, table, split, **fit_kwargs):
        from research.models.scoring import fit_scoring_model

        return fit_scoring_model(table, split, **fit_kwargs)

    def score(self, model, table, split, **score_kwargs):
        from research.models.scoring import score_table

        return score_table(model, table, split, nthread=self.compute.nthread, **score_kwargs)

    def shap(self, booster, matrix):
        return None  # the explain step computes SHAP values itself by explain.method


class DaskEngine:
    """The same steps on a Dask cluster (``research.distributed``): per customer partition."""

    needs_tables = False  # workers read the raw tables partition by partition

    def __init__(self, compute: ComputeParams) -> None:
        self.compute = compute

    def _client(self):
        from research import distributed

        return distributed.client_for(self.compute)

    def build_panel(self, raw_folder, tables, snapshots, **panel_kwargs):
        from research import distributed

        with self._client() as client:
            return distributed.build_panel_from_folder(
                raw_folder, snapshots, client=client, **panel_kwargs
            )

    def fit(self, table, split, **fit_kwargs):
        from research import distributed

        # Boosting through XGBoost's Dask interface; calibration and the challenger stay here.
        with self._client() as client:
            return distributed.fit_scoring_model_dask(table, split, client=client, **fit_kwargs)

    def score(self, model, table, split, **score_kwargs):
        from research import distributed

        with self._client() as client:
            return distributed.score_table_dask(model, table, split, client=client, **score_kwargs)

    def shap(self, booster, matrix):
        from research import distributed

        # The whole population's SHAP values per partition with XGBoost's native path.
        with self._client() as client:
            return distributed.native_shap_dask(booster, matrix, client=client)


def engine_for(compute: ComputeParams) -> LocalEngine | DaskEngine:
    """The engine ``compute.engine`` names."""
    return DaskEngine(compute) if compute.engine == "dask" else LocalEngine(compute)
