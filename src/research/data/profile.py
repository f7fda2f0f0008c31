"""The first profile a quant checks: counts, segment mix, event rates, informativeness."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

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
        facilities = tables["facilities"].merge(customers[["customer_id", "segment"]], on="customer_id")
        out["facilities"] = facilities.groupby("segment").size()
        out["median_limit"] = facilities.groupby("segment")["limit_amount"].median()
    return out.reindex([s for s in SEGMENTS if s in out.index])


def event_rates_by_year(tables: dict[str, pd.DataFrame], *, default_dpd: int) -> pd.DataFrame:
    """Annual default and churn rates per segment among customers active on 1 January.

    A customer counts for year Y when onboarded before Y, not gone and not in default
    on 1 January; the default rate is the share whose first default date falls in Y,
    the churn rate the share whose relationship ends in Y. Years without a complete
    calendar of data are left out.
    """
    from research.labels import default_dates, observation_end

    customers = tables["customers"].set_index("customer_id")
    data_end = observation_end(tables)  # first day after the data; later defaults are not observed
    first_default = (
        default_dates(tables["repayments"], default_dpd) if "repayments" in tables else pd.Series(dtype="datetime64[ns]")
    )
    first_default = first_default.reindex(customers.index).where(lambda d: d < data_end)
    ends = customers["relationship_end_date"]
    # Years from the first one with repayment history (records before it are not in the data).
    history_start = (tables["repayments"]["due_date"].min() if "repayments" in tables else customers["onboarding_date"].min()).to_period("M").start_time
    first_year = history_start.year if history_start == pd.Timestamp(history_start.year, 1, 1) else history_start.year + 1
    years = range(first_year, data_end.year + 1)
    rows = []
    for year in years:
        start, stop = pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1)
        if stop > data_end:
            continue
        active = (
            (customers["onboarding_date"] < start)
            & ~(ends < start)
            & ~(first_default < start)
        )
        frame = pd.DataFrame(
            {
                "segment": customers["segment"],
                "default": first_default.between(start, stop, inclusive="left"),
                "churn": ends.between(start, stop, inclusive="left"),
            }
        )[active]
        grouped = frame.groupby("segment").agg(
            customers=("default", "size"), default_rate=("default", "mean"), churn_rate=("churn", "mean")
        )
        grouped.loc["all"] = [len(frame), frame["default"].mean(), frame["churn"].mean()]
        rows.append(grouped.reset_index().assign(year=year))
    return pd.concat(rows, ignore_index=True)[["year", "segment", "customers", "default_rate", "churn_rate"]]


def oriented_auc(label: pd.Series, values: pd.Series) -> float:
    """AUC of a single quantity in its better direction (missing values ranked lowest)."""
    mask = label.notna()
    y = label[mask].to_numpy()
    x = values[mask].astype(float).fillna(values[mask].min() - 1 if values[mask].notna().any() else 0.0)
    if len(np.unique(y)) < 2 or x.nunique() < 2:
        return 0.5
    auc = roc_auc_score(y, x.to_numpy())
    return float(max(auc, 1.0 - auc))


def informativeness(
    tables: dict[str, pd.DataFrame],
    truth: dict[str, pd.DataFrame],
    *,
    default_dpd: int,
    default_horizon_months: int,
    churn_horizon_months: int,
    n_snapshots: int = 4,
    top: int = 5,
) -> pd.DataFrame:
    """Oracle AUC against the best single observables, per event, on the latest full windows.

    The snapshots are the last ``n_snapshots`` quarter starts whose label windows lie
    inside the data (the out-of-time period of the default settings). Every feature the
    panel builds counts as an observable; the table lists the oracle and the ``top``
    best single features by oriented AUC, with their gap to the oracle.
    """
    from research.features.snapshot import STANDARD_FEATURE_SETTINGS, build_panel
    from research.labels import label_columns, observation_end

    end = observation_end(tables)
    horizon = max(default_horizon_months, churn_horizon_months)
    last = (end - pd.DateOffset(months=horizon)).to_period("Q").start_time
    snapshots = [last - pd.DateOffset(months=3 * k) for k in reversed(range(n_snapshots))]
    panel, _ = build_panel(
        tables,
        snapshots,
        default_dpd=default_dpd,
        default_horizon_months=default_horizon_months,
        churn_horizon_months=churn_horizon_months,
        observation_end=end,
        **STANDARD_FEATURE_SETTINGS,  # independent of the feature stage's parameters
    )
    oracle = truth["oracle"]
    panel = panel.merge(oracle, on=["customer_id", "snapshot_date"], how="left", validate="one_to_one")
    default_col, churn_col = label_columns(default_horizon_months, churn_horizon_months)
    features = [
        c
        for c in panel.columns
        if c not in ("customer_id", "snapshot_date", default_col, churn_col, "oracle_default", "oracle_churn")
        and pd.api.types.is_numeric_dtype(panel[c])
    ]
    rows = []
    for event, label, oracle_col in (("default", default_col, "oracle_default"), ("churn", churn_col, "oracle_churn")):
        subset = panel[panel[label].notna() & panel[oracle_col].notna()]
        oracle_auc = roc_auc_score(subset[label], subset[oracle_col])
        rows.append(
            {"event": event, "quantity": "oracle (latent state)", "auc": oracle_auc, "gap_to_oracle": 0.0,
             "rows": len(subset), "events": int(subset[label].sum())}
        )
        single = sorted(((oriented_auc(subset[label], subset[f]), f) for f in features), reverse=True)[:top]
        rows.extend(
            {"event": event, "quantity": name, "auc": auc, "gap_to_oracle": oracle_auc - auc,
             "rows": len(subset), "events": int(subset[label].sum())}
            for auc, name in single
        )
    return pd.DataFrame(rows)
