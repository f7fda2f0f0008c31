"""The features stage: the point-in-time panel of every customer-snapshot, its labels and its profile.

Labels censor at the as-of date of the data (``_inputs.as_of``, resolved as the data stage
resolved it), never at the latest date found. Snapshots outside the data's range, or none
with a label window inside it, stop the stage before the panel is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from research.data.asof import AsOf, check_after_as_of
from research.data.contract import SEGMENTS
from research.data.io import read_tables
from research.data.schema import validate_tables
from research.features import catalog, profile
from research.features.snapshot import snapshot_dates
from research.labels import label_names
from research.paths import feature_dir, panel_path, raw_dir
from research.stages import _inputs, _io
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
    as_of: AsOf  # the as-of date of the data: labels censor at the day after it


class SnapshotRangeError(ValueError):
    """The snapshots of ``features.snapshots`` do not fit the data's range or its labels."""


def check_snapshots(
    snapshots: Sequence[pd.Timestamp], as_of: AsOf, horizons_months: Sequence[int]
) -> None:
    """Stop when a snapshot lies outside the data, or when no snapshot can have a label.

    A snapshot sees the records strictly before it, so it lies inside the data when it
    falls after the first record date (``as_of.data_from``) and no later than the day after
    the as-of date. A label is known only when its window ends by then: when even the
    shortest window of every snapshot runs past it, the panel would carry no label.

    Raises:
        SnapshotRangeError: Naming the data's range, the offending snapshots and the params
            to change (``features.snapshots.first`` / ``last``).
    """
    if not snapshots:
        raise SnapshotRangeError(
            "features.snapshots: no snapshot date lies between first and last; "
            "Fix: set features.snapshots.first, last and every_months in params.yaml"
        )
    end = as_of.observation_end
    start = pd.Timestamp(as_of.data_from) if as_of.data_from is not None else None
    outside = [s for s in snapshots if s > end or (start is not None and s <= start)]
    if outside:
        shown = ", ".join(f"{s:%Y-%m-%d}" for s in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        since = f"from {start:%Y-%m-%d}" if start is not None else "up"
        lowest = f"after {start:%Y-%m-%d} and " if start is not None else ""
        raise SnapshotRangeError(
            f"features.snapshots: {len(outside)} of {len(snapshots)} snapshots fall outside "
            f"the data ({shown}{more}); the data's records run {since} to the as-of date "
            f"{as_of}. A snapshot must lie {lowest}no later than {end:%Y-%m-%d} (the day "
            "after the as-of date). Fix: move features.snapshots.first and/or "
            "features.snapshots.last in params.yaml into that range (or set data.as_of to "
            "the extract date)"
        )
    shortest, longest = min(horizons_months), max(horizons_months)
    if all(s + pd.DateOffset(months=shortest) > end for s in snapshots):
        fits = (end - pd.DateOffset(months=longest)).as_unit("ns")
        raise SnapshotRangeError(
            f"features.snapshots: no snapshot has a labelled row: every label window "
            f"({', '.join(f'{h}' for h in sorted(horizons_months))} months) of the snapshots "
            f"{snapshots[0]:%Y-%m-%d} .. {snapshots[-1]:%Y-%m-%d} runs past the as-of date "
            f"{as_of}. The latest snapshot whose windows fit is {fits:%Y-%m-%d} "
            f"({longest} months before {end:%Y-%m-%d}). Fix: set features.snapshots.first "
            f"in params.yaml on or before {fits:%Y-%m-%d}"
        )


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
    as_of = _inputs.as_of(ctx, tables)  # the data stage's as-of date, resolved the same way
    if tables is not None:  # data/raw older than data.as_of: refuse, as the data stage would
        check_after_as_of(tables, as_of)
    snapshots = snapshot_dates(**vars(feature_settings.snapshots))
    check_snapshots(snapshots, as_of, label_settings.horizons_months)
    panel, notes = engine.build_panel(
        raw_dir(ctx.root),
        tables,
        snapshots,
        default_dpd=label_settings.default_dpd,
        horizons_months=label_settings.horizons_months,
        observation_end=as_of.observation_end,
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
        as_of=as_of,
    )
