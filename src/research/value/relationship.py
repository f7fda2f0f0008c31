"""The relationship's business with a customer at a snapshot, point in time.

Every function here sees only records whose event time is strictly before the
snapshot date (midnight), following ``research.data.contract.EVENT_TIME``:
transactions and interactions by their timestamp, balances by their month end,
facilities by their origination date (and close date for closing), repayments by
the due date for the obligation and the paid date for the payment, financials by
the reported date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import pandas as pd

from research.data.contract import TABLES
from research.value.params import LGDParams

SnapshotLike: TypeAlias = pd.Timestamp | str


def table_or_empty(tables: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """The table ``name``, or an empty frame with the contract's columns when it is not given."""
    if name in tables and tables[name] is not None:
        return tables[name]
    kinds = {
        "date": "datetime64[ns]",
        "timestamp": "datetime64[ns]",
        "float": "float64",
        "int": "int64",
        "bool": "bool",
    }
    return pd.DataFrame(
        {c.name: pd.Series(dtype=kinds.get(c.kind, "str")) for c in TABLES[name].columns}
    )


def window(
    frame: pd.DataFrame,
    column: str,
    snapshot: SnapshotLike,
    months: int | None = None,
    *,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Rows whose ``column`` lies in ``[snapshot - months, snapshot)`` (all earlier rows when ``months`` is None).

    ``columns`` keeps only those columns (the copy of a large table's rows is then smaller).
    """
    snapshot = pd.Timestamp(snapshot)
    mask = frame[column] < snapshot
    if months is not None:
        mask &= frame[column] >= snapshot - pd.DateOffset(months=months)
    return frame.loc[mask] if columns is None else frame.loc[mask, columns]


def open_facilities(facilities: pd.DataFrame, snapshot: SnapshotLike) -> pd.DataFrame:
    """Facilities originated before the snapshot and not closed before it."""
    snapshot = pd.Timestamp(snapshot)
    closed = facilities["close_date"].notna() & (facilities["close_date"] < snapshot)
    return facilities.loc[(facilities["origination_date"] < snapshot) & ~closed]


RATE_COLUMNS = ("interest_rate", "fee_rate")


def priced_facilities(facilities: pd.DataFrame, snapshot: SnapshotLike) -> pd.DataFrame:
    """The facilities with every empty rate estimated, point in time.

    A bank's export may lack a facility's interest or fee rate (empty: not known, never
    zero). Such a facility is priced at the median rate of the facilities of the same
    product originated before the snapshot whose rate is known, else at the median of all
    of them: the best estimate the book gives without inventing a price. When no facility
    originated before the snapshot has a fee rate (no fees recorded), fee income is left out
    (value is then understated, never overstated).

    Raises:
        ValueError: If a facility originated before the snapshot has no interest rate and
            none of the book's facilities has one to estimate it from.
    """
    snapshot = pd.Timestamp(snapshot)
    missing = {c: facilities[c].isna() for c in RATE_COLUMNS if c in facilities.columns}
    if not any(m.any() for m in missing.values()):
        return facilities
    seen = facilities["origination_date"] < snapshot
    out = facilities.copy()
    for column, empty in missing.items():
        if not empty.any():
            continue
        known = facilities.loc[seen & ~empty, ["product", column]]
        estimate = facilities["product"].map(known.groupby("product")[column].median())
        estimate = estimate.astype("float64").fillna(known[column].median())
        if column == "interest_rate" and (seen & empty & estimate.isna()).any():
            raise ValueError(
                f"facilities.interest_rate is empty for every facility originated before "
                f"{snapshot.date()}, so customer value has no interest income to go on; "
                "Fix: give the facilities' interest rates (the source mapping's facilities "
                "columns), or leave the value stage out"
            )
        out[column] = facilities[column].fillna(estimate.fillna(0.0))
    return out


def facility_lgd(facilities: pd.DataFrame, lgd: LGDParams) -> pd.Series:
    """Loss given default of each facility: its collateral's LGD plus its product's adjustment, in [0, 1].

    Raises:
        ValueError: If a facility's collateral type has no LGD.
    """
    base = facilities["collateral_type"].map(dict(lgd.collateral)).astype(float)
    unknown = facilities.loc[base.isna(), "collateral_type"].unique()
    if len(unknown):
        raise ValueError(
            f"value.lgd.collateral has no LGD for collateral type(s) {sorted(map(str, unknown))} "
            "found in facilities.collateral_type; Fix: add them to params.yaml value.lgd.collateral"
        )
    shift = facilities["product"].map(dict(lgd.product_adjustment)).astype(float).fillna(0.0)
    return (base + shift).clip(0.0, 1.0)


def facility_exposure(
    facilities: pd.DataFrame,
    balances: pd.DataFrame,
    snapshot: SnapshotLike,
    *,
    ccf: float,
) -> pd.DataFrame:
    """Open facilities at the snapshot with their last known drawn amount, limit and exposure at default.

    The drawn amount is the last month-end balance before the snapshot (0 when none is
    known yet); the limit is that balance's limit, else the facility's. Exposure at
    default is ``drawn + ccf * undrawn``.
    """
    current = open_facilities(facilities, snapshot)
    known = window(balances, "month_end", snapshot).sort_values("month_end", kind="stable")
    last = known.drop_duplicates("facility_id", keep="last")[
        ["facility_id", "drawn_amount", "limit_amount"]
    ]
    out = current.merge(
        last.rename(columns={"limit_amount": "balance_limit"}), on="facility_id", how="left"
    )
    limit = out["balance_limit"].fillna(out["limit_amount"])
    drawn = out["drawn_amount"].fillna(0.0)
    return out.assign(
        drawn=drawn,
        limit=limit,
        undrawn=(limit - drawn).clip(lower=0.0),
        exposure=drawn + ccf * (limit - drawn).clip(lower=0.0),
    ).drop(columns=["drawn_amount", "balance_limit"])


def trailing_income(
    facilities: pd.DataFrame, balances: pd.DataFrame, snapshot: SnapshotLike, *, months: int
) -> pd.DataFrame:
    """Interest and fee income per customer over the months before the snapshot.

    Each month-end balance in the window earns a month of interest on the drawn amount
    (``interest_rate / 12``) and a month of fees on the limit (``fee_rate / 12``); the
    rates are yearly (empty ones estimated: ``priced_facilities``).
    """
    facilities = priced_facilities(facilities, snapshot)
    rows = window(balances, "month_end", snapshot, months)
    rates = facilities[["facility_id", "interest_rate", "fee_rate"]]
    rows = rows.merge(rates, on="facility_id", how="inner")
    income = pd.DataFrame(
        {
            "customer_id": rows["customer_id"],
            "interest_income": rows["drawn_amount"] * rows["interest_rate"] / 12.0,
            "fee_income": rows["limit_amount"] * rows["fee_rate"] / 12.0,
        }
    )
    return income.groupby("customer_id", sort=True).sum()


def cash_flow_activity(
    transactions: pd.DataFrame, snapshot: SnapshotLike, *, months: int
) -> pd.DataFrame:
    """Account activity per customer: days since the last movement, movements and turnover in the window.

    ``recency_days`` counts fractional days from the last movement before the snapshot
    (whatever its age); ``frequency`` and ``turnover`` (sum of absolute amounts) cover the
    trailing ``months``.
    """
    snapshot = pd.Timestamp(snapshot)
    before = window(transactions, "timestamp", snapshot, columns=["customer_id", "timestamp"])
    last = before.groupby("customer_id", sort=True)["timestamp"].max()
    del before
    recent = window(
        transactions, "timestamp", snapshot, months, columns=["customer_id", "timestamp", "amount"]
    )
    grouped = recent.assign(turnover=recent["amount"].abs()).groupby("customer_id", sort=True)
    out = pd.DataFrame({"recency_days": (snapshot - last).dt.total_seconds() / 86_400.0})
    out["frequency"] = grouped.size()
    out["turnover"] = grouped["turnover"].sum()
    return out.fillna({"frequency": 0, "turnover": 0.0}).astype({"frequency": "int64"})


def relationship_business(
    tables: Mapping[str, pd.DataFrame],
    customer_ids: pd.Series | list[str],
    snapshot: SnapshotLike,
    *,
    window_months: int,
    funding_cost: float,
    payments_margin: float,
    ccf: float,
    lgd: LGDParams,
) -> pd.DataFrame:
    """What each customer brings the bank at the snapshot: activity, income, exposure and margin.

    Columns: ``recency_days``, ``frequency``, ``turnover`` (trailing window),
    ``interest_income``, ``fee_income``, ``monetary`` (their sum, trailing window),
    ``drawn``, ``limit``, ``exposure`` (EAD), ``lgd`` (EAD-weighted),
    ``loss_exposure`` (sum of LGD x EAD over facilities), ``facilities``, ``products``
    (distinct products open) and ``yearly_margin``: drawn x (rate - funding cost) +
    limit x fee rate over open facilities, plus yearly turnover x ``payments_margin``.
    LGD by collateral and product comes from ``lgd`` (``facility_lgd``); empty rates are
    estimated from the book (``priced_facilities``).
    """
    facilities = priced_facilities(table_or_empty(tables, "facilities"), snapshot)
    balances = table_or_empty(tables, "facility_balances")
    ids = pd.Index(pd.unique(pd.Series(customer_ids, dtype="str")), name="customer_id")
    exposure = facility_exposure(facilities, balances, snapshot, ccf=ccf)
    exposure = exposure.assign(
        lgd=facility_lgd(exposure, lgd).to_numpy(),
        facility_margin=exposure["drawn"] * (exposure["interest_rate"] - funding_cost)
        + exposure["limit"] * exposure["fee_rate"],
    )
    exposure["loss_exposure"] = exposure["lgd"] * exposure["exposure"]
    per_customer = exposure.groupby("customer_id", sort=True).agg(
        drawn=("drawn", "sum"),
        limit=("limit", "sum"),
        exposure=("exposure", "sum"),
        loss_exposure=("loss_exposure", "sum"),
        facility_margin=("facility_margin", "sum"),
        facilities=("facility_id", "size"),
        products=("product", "nunique"),
    )
    activity = cash_flow_activity(
        table_or_empty(tables, "transactions"), snapshot, months=window_months
    )
    income = trailing_income(facilities, balances, snapshot, months=window_months)
    out = pd.concat([activity, income, per_customer], axis=1).reindex(ids)
    zero_when_absent = [c for c in out.columns if c != "recency_days"]
    out[zero_when_absent] = out[zero_when_absent].fillna(0.0)
    out = out.astype({"frequency": "int64", "facilities": "int64", "products": "int64"})
    out["monetary"] = out["interest_income"] + out["fee_income"]
    out["lgd"] = out["loss_exposure"] / out["exposure"].where(out["exposure"] > 0)
    yearly_turnover = out["turnover"] * 12.0 / window_months
    out["yearly_margin"] = out.pop("facility_margin") + yearly_turnover * payments_margin
    return out.reset_index()
