"""The first profile a quant checks: counts, segment mix, event rates, informativeness."""

from __future__ import annotations

import pandas as pd

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
