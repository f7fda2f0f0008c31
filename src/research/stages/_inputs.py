"""Inputs several stages read the same way: the panel's rows, and the as-of date of the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from research.data import asof as _asof
from research.data.contract import EVENT_TIME
from research.data.params import configured_as_of
from research.paths import panel_path, raw_dir
from research.stages._context import StageContext

# Panel columns a model's explained or validated rows carry besides its features (segments).
CONTEXT_COLUMNS = ("segment", "green_flag", "inclusive_flag")
_BATCH_ROWS = 1 << 22  # rows of a date column counted at a time when reading data/raw


def panel_rows(root: Path, features: Sequence[str]) -> pd.DataFrame:
    """The panel's keys, the given features and the segment columns (those the panel has)."""
    import pyarrow.parquet as pq

    path = panel_path(root)
    in_panel = set(pq.read_schema(path).names)
    wanted = ["customer_id", "snapshot_date", *features, *CONTEXT_COLUMNS]
    return pd.read_parquet(path, columns=[c for c in dict.fromkeys(wanted) if c in in_panel])


def as_of(ctx: StageContext, tables: Mapping[str, pd.DataFrame] | None = None) -> _asof.AsOf:
    """The as-of date of the data, resolved the same way in every stage.

    ``params.yaml`` → ``data.as_of`` or the ``as_of`` of the source mapping ``data.source``
    names (both only when equal) when set, else the end of the synthetic history for
    ``data.source: synthetic``, else derived from the tables' dates
    (``research.data.asof.resolve_as_of``). Deterministic from the params and the data, so
    the data stage, which refuses records after it, and the features stage, whose labels
    censor at it, agree.

    Args:
        ctx: The stage run (its params, and its root for ``data/raw``).
        tables: The validated tables; None reads the event-time columns of ``data/raw``
            batch by batch (the Dask engine does not load the tables here).
    """
    data = ctx.settings.data
    synthetic_end = (
        _asof.synthetic_as_of(data.synthetic.start, data.synthetic.months)
        if data.source == "synthetic"
        else None
    )
    counts = (
        _asof.event_time_counts(tables) if tables is not None else raw_counts(raw_dir(ctx.root))
    )
    configured, configured_as = configured_as_of(data.source, ctx.root, data.as_of)
    return _asof.resolve_as_of(
        configured, None, synthetic_end, counts=counts, configured_as=configured_as
    )


def raw_counts(folder: Path) -> pd.Series:
    """Daily record counts over the event-time columns of the Parquet tables in ``folder``."""
    import pyarrow.parquet as pq

    parts = []
    for table, roles in EVENT_TIME.items():
        path = folder / f"{table}.parquet"
        if not path.is_file():
            continue
        source = pq.ParquetFile(path)
        names = set(source.schema_arrow.names)
        for column in dict.fromkeys(roles.values()):
            if column not in names:
                continue
            for batch in source.iter_batches(batch_size=_BATCH_ROWS, columns=[column]):
                values = batch.column(0).to_pandas(date_as_object=False)
                parts.append(_asof.daily_counts(values))
    return _asof.add_counts(parts)
