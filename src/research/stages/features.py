"""The features stage: the point-in-time panel of every customer-snapshot, its labels and its profile."""

from __future__ import annotations

import dataclasses

import pandas as pd

from research.data.contract import SEGMENTS
from research.data.io import read_tables
from research.data.schema import validate_tables
from research.features import catalog, profile
from research.features.snapshot import snapshot_dates
from research.labels import label_names
from research.paths import feature_dir, panel_path, raw_dir
from research.stages import _io
from research.stages._context import StageContext
from research.stages._engine import engine_for


@dataclasses.dataclass(frozen=True)
class FeaturesResult:
    """The panel and what the features notebook shows of it."""

    panel: pd.DataFrame
    notes: list[str]
    snapshots: list[pd.Timestamp]
    labels: list[str]
    by_snapshot: pd.DataFrame
    catalog: pd.DataFrame
    quality: pd.DataFrame
    flagged: pd.DataFrame
    power: pd.DataFrame
    segments: list[str]


def label_rates(panel: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Rows, event rate per label and censored share (of the first label) per snapshot."""
    aggregations = {"rows": ("customer_id", "size")} | {
        f"{name}_rate": (name, "mean") for name in labels
    }
    by_snapshot = panel.groupby("snapshot_date").agg(**aggregations)
    by_snapshot["censored"] = panel.groupby("snapshot_date")[labels[0]].agg(
        lambda s: s.isna().mean()
    )
    return by_snapshot


def run(ctx: StageContext) -> FeaturesResult:
    """Build the panel (locally or on Dask), write it and its catalog, quality and power tables."""
    settings = ctx.settings
    feature_settings, label_settings = settings.features, settings.labels
    engine = engine_for(settings.compute)
    # Under the Dask engine the workers read the tables partition by partition instead.
    tables = validate_tables(read_tables(raw_dir(ctx.root))) if engine.needs_tables else None
    snapshots = snapshot_dates(**vars(feature_settings.snapshots))
    panel, notes = engine.build_panel(
        raw_dir(ctx.root),
        tables,
        snapshots,
        default_dpd=label_settings.default_dpd,
        horizons_months=label_settings.horizons_months,
        **feature_settings.panel_settings(),
    )
    labels = label_names(label_settings.horizons_months)
    catalog_frame = catalog.catalog_table(
        catalog.feature_catalog(**feature_settings.panel_settings())
    )
    quality = profile.feature_quality(panel, feature_settings.max_missing_share)
    flag_cols = [c for c in quality.columns if c.startswith("flag")]
    flagged = quality[quality[flag_cols].any(axis=1)] if flag_cols else quality.iloc[0:0]
    power = profile.univariate_power(panel, labels)
    if ctx.write:
        folder = feature_dir(ctx.root)
        _io.write_parquet(panel_path(ctx.root), panel)
        _io.write_csv(folder / "catalog.csv", catalog_frame)
        _io.write_csv(folder / "quality.csv", quality)
        _io.write_csv(folder / "univariate_power.csv", power)
    return FeaturesResult(
        panel=panel,
        notes=notes,
        snapshots=snapshots,
        labels=labels,
        by_snapshot=label_rates(panel, labels),
        catalog=catalog_frame,
        quality=quality,
        flagged=flagged,
        power=power,
        segments=[s for s in SEGMENTS if s in set(panel["segment"].astype(str))]
        if "segment" in panel
        else [],
    )
