"""A model's modelling table, read and prepared once for every stage that needs its rows.

The train stage fits on it; the explain and validate stages explain and validate the same
rows: the panel's for a model on the panel, the model's own flat table (read and prepared
exactly as training prepared it: the label's event value, numbers held as text, dropped and
renamed columns) for a model with a ``source`` of its own. A separate module from
``_inputs`` so that the data and features stages do not depend on the flat-table code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from research.features.params import ANCHOR_ID_COLUMNS, SNAPSHOT_PLAN_FILE, SnapshotPlan
from research.labels import label_names
from research.models import flat
from research.models.params import ModelSpec
from research.paths import feature_dir, panel_path
from research.stages._context import StageContext
from research.stages._inputs import CONTEXT_COLUMNS, panel_rows

# The key columns of the scores table (``research.models.scoring.score_table``).
KEYS = ("customer_id", "snapshot_date")


def modeling_table(ctx: StageContext, spec: ModelSpec) -> tuple[pd.DataFrame, Path]:
    """The panel or the model's flat table, as read (before preparation), and where it came from."""
    if spec.uses_panel:
        path = panel_path(ctx.root)
        return pd.read_parquet(path), path
    path = Path(spec.source)
    path = path if path.is_absolute() else ctx.root / path
    return flat.read_modeling_table(path), path


def other_labels(ctx: StageContext) -> list[str]:
    """Columns that are some model's outcome: never a feature of any model."""
    settings = ctx.settings
    return list(
        dict.fromkeys(
            [
                *label_names(settings.labels.horizons_months),
                *(s.label for s in settings.models.values()),
            ]
        )
    )


@dataclasses.dataclass(frozen=True)
class ModelTable:
    """A model's table as the train stage fits on it, and every decision taken on the way."""

    table: (
        pd.DataFrame
    )  # label as 1/0/missing, dates parsed; a flat table's columns converted and renamed
    source_path: Path
    date_column: str | None
    features: list[str]  # the model's candidate features (renamed for a flat table)
    preparation: flat.TablePreparation | None  # flat tables only


def model_table(ctx: StageContext, spec: ModelSpec) -> ModelTable:
    """Read and prepare the model's table the one way training, explaining and validating share."""
    raw_table, source_path = modeling_table(ctx, spec)
    table, date_column = flat.prepare_modeling_table(
        raw_table,
        id_column=spec.id_column,
        date_column=spec.date_column,
        label=spec.label,
        event_value=spec.event_value,
    )
    candidates = flat.modeling_features(
        table,
        id_column=spec.id_column,
        date_column=date_column,
        # an event-anchored panel's anchor id (application_id) is an id, never a feature
        labels=[*other_labels(ctx), *(ANCHOR_ID_COLUMNS if spec.uses_panel else ())],
    )
    feature_names = spec.features.select(candidates)
    preparation = None
    if not spec.uses_panel:  # a flat table: numbers as text, ids, constants, protected, names
        table, feature_names, preparation = flat.prepare_features(
            table,
            feature_names,
            allow_protected=spec.allow_protected,
            label_mapping=flat.label_mapping(raw_table[spec.label], table[spec.label]),
        )
    return ModelTable(table, source_path, date_column, list(feature_names), preparation)


def model_rows(ctx: StageContext, model: str, features: Sequence[str]) -> pd.DataFrame:
    """The rows ``model`` is explained and validated on, keyed as its scores table.

    A model on the panel: the panel's ``customer_id, snapshot_date``, ``features`` and the
    segment columns it has (:func:`panel_rows`). A model on a flat table: that table read
    and prepared as the train stage did (:func:`model_table`), its id as ``customer_id``,
    its date (or, without one, an empty date, as in the scores) as ``snapshot_date``, the
    model's ``features`` under their prepared names and the segment columns it has.
    """
    spec = ctx.settings.model(model)
    if spec.uses_panel:
        return panel_rows(ctx.root, features)
    prepared = model_table(ctx, spec)
    table = prepared.table
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise KeyError(
            f"model {model!r}: features {missing[:5]} are not in its table {spec.source} as "
            "prepared now; the table changed since training: rerun the train stage"
        )
    dates = (
        pd.to_datetime(table[prepared.date_column])
        if prepared.date_column
        else pd.Series(pd.NaT, index=table.index)
    )
    keys = pd.DataFrame(
        {"customer_id": table[spec.id_column], "snapshot_date": dates.astype("datetime64[ns]")},
        index=table.index,
    )
    extra = [c for c in dict.fromkeys([*features, *CONTEXT_COLUMNS]) if c in table.columns]
    extra = [c for c in extra if c not in KEYS]
    return pd.concat([keys, table[extra]], axis=1).reset_index(drop=True)


def table_preparation(ctx: StageContext, model: str) -> dict | None:
    """What preparing ``model``'s flat table did, as the train stage recorded it (``None``: the panel).

    ``metrics/diagnostics/<model>/train.json`` → ``table_preparation``
    (``TablePreparation.as_dict``): its ``renamed`` maps each renamed feature to its name in
    the table.
    """
    import json

    from research.paths import diagnostics_path

    if ctx.settings.model(model).uses_panel:
        return None
    path = diagnostics_path(ctx.root, model, "train.json")
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("table_preparation")


def preparation_notes(record: dict | None) -> list[str]:
    """One sentence on what preparing a flat table left out (empty for the panel)."""
    if not record:
        return []
    table = flat.preparation_table(record)
    left_out = table[table["treatment"].str.startswith(("excluded", "dropped", "INCLUDED"))]
    parts = [f"{r.column} ({r.treatment})" for r in left_out.itertuples()]
    renamed = record.get("renamed") or {}
    notes = []
    if parts:
        notes.append("Columns of the table not modelled as they are: " + "; ".join(parts) + ".")
    if renamed:
        notes.append(
            "Features renamed for XGBoost are shown under their names in the table: "
            + ", ".join(f"{old} (modelled as {new})" for new, old in renamed.items())
            + "."
        )
    return notes


def oot_first_snapshot(
    ctx: StageContext, model: str, spec: ModelSpec, date_column: str | None
) -> str:
    """``split.oot_first_snapshot``, or (empty) the one the features stage derived for the panel.

    The train stage splits on it and the validate stage's report states it.

    Raises:
        ValueError: It is empty for a dated flat table (only the panel's is derived).
    """
    configured = ctx.settings.split.oot_first_snapshot
    plan = feature_dir(ctx.root) / SNAPSHOT_PLAN_FILE  # written with the panel
    if spec.uses_panel and (not configured or plan.is_file()):
        return SnapshotPlan.read(plan.parent).oot_for(configured)
    if date_column and not configured:
        raise ValueError(
            f"split.oot_first_snapshot is empty, and only the panel's is derived: set it in "
            f"params.yaml for models.{model}'s dated flat table ({spec.source})"
        )
    return configured
