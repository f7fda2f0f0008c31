"""The features stage: the point-in-time panel of every customer-snapshot, its labels and its profile.

Labels censor at the as-of date of the data (``_inputs.as_of``, resolved as the data stage
resolved it), never at the latest date found. Snapshots outside the data's range, or none
with a label window inside it, stop the stage before the panel is built.

The snapshots (``features.snapshots``) are a calendar grid, configured or, where ``first`` or
``last`` is empty, derived from the data's range (``research.features.snapshot.calendar_snapshots``);
or, with ``mode: events``, one row per anchor event (``research.features.anchored``). The
stage writes what it used, and the out-of-time start the data suggests
(``research.models.splits.derive_oot_first_snapshot``), to ``data/features/snapshots.json``
(``SnapshotPlan``): the train stage takes the out-of-time start from there when
``split.oot_first_snapshot`` is empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from research.config import Settings
from research.data.asof import AsOf, check_after_as_of
from research.data.contract import SEGMENTS
from research.data.io import read_validated
from research.features import anchored, catalog, profile
from research.features.params import SNAPSHOT_PLAN_FILE, SnapshotPlan
from research.features.snapshot import SnapshotRangeError, calendar_snapshots
from research.labels import EVENTS_TABLE, label_names, label_sources
from research.models.splits import derive_oot_first_snapshot
from research.paths import feature_dir, panel_path, raw_dir
from research.stages import _inputs, _io
from research.stages._context import StageContext
from research.stages._engine import engine_for

# What the panel does not read of the raw tables, dropped once a table is validated
# (``features.inputs.INPUTS``: the column feeds nothing), and the text columns of a few
# distinct values held as categoricals (the families read them as codes): at 100,000
# customers about 1.8 of the 6 GiB the validated tables took as text.
UNUSED_COLUMNS: dict[str, tuple[str, ...]] = {"transactions": ("category",)}
CATEGORICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("channel",),
    "interactions": ("channel", "interaction_type"),
}

__all__ = [
    "FeaturesNotBuilt",
    "FeaturesResult",
    "SnapshotRangeError",
    "check_snapshots",
    "label_rates",
    "oot_plan",
    "resolve_snapshots",
    "run",
]


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
    plan: SnapshotPlan  # the snapshots used and the derived out-of-time start (snapshots.json)


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


def resolve_snapshots(settings: Settings, as_of: AsOf) -> tuple[list[pd.Timestamp], list[str]]:
    """The calendar snapshots of ``features.snapshots``, derived where ``first``/``last`` are empty, checked.

    Raises:
        SnapshotRangeError: When they do not fit the data (``check_snapshots``) or the data
            holds no snapshot with the longest feature window's history.
    """
    features, horizons = settings.features, settings.labels.horizons_months
    grid = features.snapshots
    snapshots, notes = calendar_snapshots(
        grid.first,
        grid.last,
        grid.every_months,
        data_from=as_of.data_from,
        observation_end=as_of.observation_end,
        history_months=features.history_months,
    )
    check_snapshots(snapshots, as_of, horizons)
    return snapshots, notes


def oot_plan(
    dates: Sequence[pd.Timestamp] | pd.Series, as_of: AsOf, horizons_months: Sequence[int]
) -> tuple[str, str]:
    """The derived out-of-time start (ISO, or empty) for the panel's dates, and how (or why not).

    The longest label window decides which dates are fully labelled: every model on the
    panel uses one of ``labels.horizons_months`` (``research.config``), so its out-of-time
    labels are observed in full.
    """
    try:
        oot, how = derive_oot_first_snapshot(
            dates, observation_end=as_of.observation_end, horizon_months=max(horizons_months)
        )
    except ValueError as err:
        return "", str(err)
    return f"{oot:%Y-%m-%d}", how


def label_rates(panel: pd.DataFrame, labels: list[str], *, by_month: bool = False) -> pd.DataFrame:
    """Rows, event rate per label and censored share (of the first label) per snapshot.

    ``by_month`` groups by calendar month instead (event-anchored rows, one date each).
    """
    dates = panel["snapshot_date"]
    key = dates.dt.to_period("M").dt.start_time.rename("snapshot_month") if by_month else dates
    aggregations = {"rows": ("customer_id", "size")} | {
        f"{name}_rate": (name, "mean") for name in labels
    }
    grouped = panel.groupby(key)
    by_snapshot = grouped.agg(**aggregations)
    by_snapshot["censored"] = grouped[labels[0]].agg(lambda s: s.isna().mean())
    return by_snapshot


def _label_sources(ctx: StageContext, tables) -> dict[str, str]:
    """Where each label event's dates come from, decided on the whole events table."""
    if tables is None:  # the Dask engine: only the (small) events table is read here
        path = raw_dir(ctx.root) / f"{EVENTS_TABLE}.parquet"
        tables = {EVENTS_TABLE: pd.read_parquet(path)} if path.is_file() else {}
    return label_sources(tables)


def _anchored_panel(ctx: StageContext, tables, as_of: AsOf) -> tuple[pd.DataFrame, list[str]]:
    """The event-anchored panel (``mode: events``), built here whichever the engine."""
    settings = ctx.settings
    grid, features, label_settings = (
        settings.features.snapshots,
        settings.features,
        settings.labels,
    )
    anchors, notes = anchored.anchors_from(grid.anchors, tables, root=ctx.root)
    first = pd.Timestamp(as_of.data_from) if as_of.data_from is not None else None
    after = first
    if grid.first:
        before_first = pd.Timestamp(grid.first) - pd.Timedelta(days=1)
        after = before_first if after is None else max(after, before_first)
    through = as_of.observation_end
    if grid.last:
        through = min(through, pd.Timestamp(grid.last).as_unit("ns"))
    bounds = "the data and features.snapshots.first/last" if grid.first or grid.last else "the data"
    anchors, dropped = anchored.select_anchors(anchors, after=after, through=through, what=bounds)
    notes += dropped
    if first is not None:
        full = first + pd.DateOffset(months=features.history_months)
        short = int((anchors["snapshot_date"] < full).sum())
        if short:
            notes.append(
                f"anchors: {short:,} lie less than {features.history_months} months (the longest "
                f"feature window) after the first record date {as_of.data_from}: their window "
                "sums start before the data"
            )
    panel, built = anchored.build_anchored_panel(
        tables,
        anchors,
        label_sources=label_sources(tables),
        observation_end=as_of.observation_end,
        default_dpd=label_settings.default_dpd,
        horizons_months=label_settings.horizons_months,
        **features.panel_settings(),
    )
    if panel.empty:
        raise SnapshotRangeError(
            f"features.snapshots.anchors ({grid.anchors}): no anchor makes a panel row "
            f"({'; '.join(notes + built) or 'no anchors'}). Fix: check the anchors, or use "
            "features.snapshots.mode: calendar"
        )
    shortest = min(label_settings.horizons_months)
    if (panel["snapshot_date"] + pd.DateOffset(months=shortest) > as_of.observation_end).all():
        raise SnapshotRangeError(
            f"features.snapshots.anchors ({grid.anchors}): no anchored row has a labelled "
            f"window: every anchor lies within {shortest} months of the as-of date {as_of}"
        )
    return panel, [*notes, *built]


def _segments(panel: pd.DataFrame) -> list[str]:
    """The panel's segments: the contract's in order, then any other (other, unknown)."""
    present = set(panel["segment"].dropna().astype(str)) if "segment" in panel else set()
    return [*(s for s in SEGMENTS if s in present), *sorted(present - set(SEGMENTS))]


@dataclasses.dataclass(frozen=True)
class FeaturesNotBuilt:
    """The features stage's placeholder: no enabled model is trained on the panel."""

    note: str
    plan: SnapshotPlan


def _write_not_built(ctx: StageContext) -> FeaturesNotBuilt:
    """No model needs the panel: an empty panel (its key columns) and a plan saying why.

    Every model's train, explain and validate stage lists the panel as a DVC dependency (the
    foreach gives all models the same deps); a flat model never reads it. The files are the
    same bytes on every run, so rewriting them reruns nothing downstream.
    """
    note = ctx.settings.no_panel_note()
    plan = SnapshotPlan(
        mode="none",
        first="",
        last="",
        every_months=0,
        snapshots=[],
        oot_first_snapshot="",
        notes=[note],
        oot_note=note,
    )
    if ctx.write:
        panel = pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype="int64"),
                "snapshot_date": pd.Series([], dtype="datetime64[ns]"),
            }
        )
        folder = feature_dir(ctx.root)
        for stale in folder.glob("*") if folder.is_dir() else []:
            if stale.is_file():  # a previous panel's catalog, quality and power tables
                stale.unlink()
        _io.write_parquet(panel_path(ctx.root), panel)
        _io.write_json(folder / SNAPSHOT_PLAN_FILE, dataclasses.asdict(plan), indent=1)
    return FeaturesNotBuilt(note=note, plan=plan)


def run(ctx: StageContext) -> FeaturesResult | FeaturesNotBuilt:
    """Build the panel (locally or on Dask), write it and its catalog, quality and power tables.

    When no enabled model is trained on the panel, the raw tables are not read: the stage
    writes its placeholder (``FeaturesNotBuilt``) instead.
    """
    settings = ctx.settings
    if not settings.needs_panel:
        return _write_not_built(ctx)
    feature_settings, label_settings = settings.features, settings.labels
    grid = feature_settings.snapshots
    engine = engine_for(settings.compute)
    events = grid.mode == "events"
    # Under the Dask engine the workers read the tables partition by partition instead;
    # event anchors are built here, on the whole tables.
    needs_tables = engine.needs_tables or events
    tables = (
        read_validated(raw_dir(ctx.root), drop=UNUSED_COLUMNS, categorical=CATEGORICAL_COLUMNS)
        if needs_tables
        else None
    )
    as_of = _inputs.as_of(ctx, tables)  # the data stage's as-of date, resolved the same way
    if tables is not None:  # data/raw older than data.as_of: refuse, as the data stage would
        check_after_as_of(tables, as_of)
    horizons = label_settings.horizons_months
    if events:
        panel, notes = _anchored_panel(ctx, tables, as_of)
        snapshots = sorted(panel["snapshot_date"].unique())
        oot, oot_note = oot_plan(panel["snapshot_date"], as_of, horizons)
        plan = SnapshotPlan(
            mode="events",
            first=f"{snapshots[0]:%Y-%m-%d}",
            last=f"{snapshots[-1]:%Y-%m-%d}",
            every_months=0,
            snapshots=[],
            oot_first_snapshot=oot,
            notes=[f"anchors: {grid.anchors}, {len(panel):,} rows on {len(snapshots):,} days"],
            oot_note=oot_note,
        )
    else:
        snapshots, derived = resolve_snapshots(settings, as_of)
        panel, notes = engine.build_panel(
            raw_dir(ctx.root),
            tables,
            snapshots,
            # decided on the whole events table: the Dask engine builds customer partitions
            label_sources=_label_sources(ctx, tables),
            default_dpd=label_settings.default_dpd,
            horizons_months=horizons,
            observation_end=as_of.observation_end,
            **feature_settings.panel_settings(),
        )
        oot, oot_note = oot_plan(snapshots, as_of, horizons)
        plan = SnapshotPlan(
            mode="calendar",
            first=f"{snapshots[0]:%Y-%m-%d}",
            last=f"{snapshots[-1]:%Y-%m-%d}",
            every_months=grid.every_months,
            snapshots=[f"{s:%Y-%m-%d}" for s in snapshots],
            oot_first_snapshot=oot,
            notes=derived,
            oot_note=oot_note,
        )
    tables = None  # the raw tables are not needed past the panel: free them before profiling
    labels = label_names(horizons)
    catalog_frame = catalog.catalog_table(
        catalog.feature_catalog(**feature_settings.panel_settings())
    )
    profiled = panel.drop(columns=[c for c in anchored.ANCHOR_ID_COLUMNS if c in panel])
    quality = profile.feature_quality(profiled, feature_settings.max_missing_share)
    flag_cols = [c for c in quality.columns if c.startswith("flag")]
    flagged = quality[quality[flag_cols].any(axis=1)] if flag_cols else quality.iloc[0:0]
    power = profile.univariate_power(profiled, labels)
    if ctx.write:
        folder = feature_dir(ctx.root)
        _io.write_parquet(panel_path(ctx.root), panel)
        _io.write_csv(folder / "catalog.csv", catalog_frame)
        _io.write_csv(folder / "quality.csv", quality)
        _io.write_csv(folder / "univariate_power.csv", power)
        _io.write_json(folder / SNAPSHOT_PLAN_FILE, dataclasses.asdict(plan), indent=1)
    return FeaturesResult(
        panel=panel,
        notes=notes,
        snapshots=list(snapshots),
        labels=labels,
        by_snapshot=label_rates(panel, labels, by_month=events),
        catalog=catalog_frame,
        quality=quality,
        flagged=flagged,
        power=power,
        segments=_segments(panel),
        as_of=as_of,
        plan=plan,
    )
