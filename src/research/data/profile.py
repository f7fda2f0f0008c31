"""The first profile a quant checks: counts, segment mix, event rates, informativeness."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from research.data.contract import SEGMENTS, TABLES


def table_counts(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows, customers and date range of every table present."""
    rows = []
    for name, frame in tables.items():
        date_cols = [c.name for c in TABLES[name].columns if c.kind in ("date", "timestamp")]
        first = min((frame[c].min() for c in date_cols), default=pd.NaT)
        last = max((frame[c].max() for c in date_cols), default=pd.NaT)
        rows.append(
            {
                "table": name,
                "rows": len(frame),
                "customers": frame["customer_id"].nunique(),
                "first_date": first,
                "last_date": last,
            }
        )
    return pd.DataFrame(rows)


def folder_counts(folder: str | Path) -> pd.DataFrame:
    """``table_counts`` of the contract's tables written to ``<folder>/<table>.parquet``.

    Reads a table's ids and dates only, one table at a time, column-wise with Arrow: the
    same figures as ``table_counts`` of the frames without holding the tables.
    """
    rows = []
    for name, spec in TABLES.items():
        path = Path(folder) / f"{name}.parquet"
        if not path.is_file():
            continue
        date_cols = [c.name for c in spec.columns if c.kind in ("date", "timestamp")]
        file = pq.ParquetFile(path)
        present = set(file.schema_arrow.names)
        table = file.read(columns=[c for c in ("customer_id", *date_cols) if c in present])
        bounds = [(pc.min_max(table[c]), table[c].type.unit) for c in date_cols if c in present]
        lows = [pd.Timestamp(b["min"].value, unit=u) for b, u in bounds if b["min"].is_valid]
        highs = [pd.Timestamp(b["max"].value, unit=u) for b, u in bounds if b["max"].is_valid]
        rows.append(
            {
                "table": name,
                "rows": file.metadata.num_rows,
                "customers": pc.count_distinct(table["customer_id"]).as_py(),
                "first_date": min(lows, default=pd.NaT),
                "last_date": max(highs, default=pd.NaT),
            }
        )
        del table
    return pd.DataFrame(rows)


def segment_profile(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Customers per segment with green and inclusive shares and facility counts."""
    customers = tables["customers"]
    out = customers.groupby("segment").agg(
        customers=("customer_id", "size"),
        green_share=("green_flag", "mean"),
        inclusive_share=("inclusive_flag", "mean"),
        churned_share=("relationship_end_date", lambda s: s.notna().mean()),
    )
    if "facilities" in tables:
        facilities = tables["facilities"].merge(
            customers[["customer_id", "segment"]], on="customer_id"
        )
        out["facilities"] = facilities.groupby("segment").size()
        out["median_limit"] = facilities.groupby("segment")["limit_amount"].median()
    # the contract's segments first, then any other (the open levels other/unknown)
    return out.reindex(
        [*(s for s in SEGMENTS if s in out.index), *(s for s in out.index if s not in SEGMENTS)]
    )
