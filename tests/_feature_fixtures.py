"""Small hand-made and random input tables for the feature and label tests.

``table(name, rows)`` builds a table of the input contract with canonical dtypes from
a few row dicts (missing columns get neutral defaults). ``random_portfolio`` and
``perturb_after`` drive the point-in-time property test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.data.contract import (
    COLLATERAL_TYPES,
    DECISIONS,
    INDUSTRIES,
    INTERACTION_CHANNELS,
    INTERACTION_TYPES,
    PRODUCTS,
    REGIONS,
    REPAYMENT_TYPES,
    SEGMENTS,
    TABLES,
    TRANSACTION_CATEGORIES,
    TRANSACTION_CHANNELS,
)
from research.features.snapshot import STANDARD_FEATURE_SETTINGS

PARAMS = {
    **STANDARD_FEATURE_SETTINGS,
    "default_dpd": 90,
    "horizons_months": [12],
}
FEATURE_PARAMS = {
    k: PARAMS[k]
    for k in ("windows_months", "long_window_months", "trend_recent_months", "dpd_thresholds")
}

_DEFAULTS = {
    "customers": {
        "segment": "small",
        "industry": "manufacturing",
        "region": "north",
        "relationship_end_date": None,
        "green_flag": False,
        "inclusive_flag": False,
        "rm_id": "RM1",
    },
    "facilities": {
        "product": "term_loan",
        "maturity_date": "2030-01-01",
        "close_date": None,
        "limit_amount": 1000.0,
        "interest_rate": 0.05,
        "fee_rate": 0.01,
        "repayment_type": "amortising",
        "collateral_type": "unsecured",
        "green_loan": False,
    },
    "facility_balances": {"facility_id": "F1"},
    "repayments": {
        "facility_id": "F1",
        "amount_due": 100.0,
        "paid_date": None,
        "amount_paid": None,
    },
    "transactions": {"channel": "branch", "category": "other_inflow"},
    "interactions": {
        "channel": "phone",
        "interaction_type": "inquiry",
        "response_hours": None,
        "satisfaction_score": None,
    },
    "financials": {
        "revenue": 1000.0,
        "ebitda": 100.0,
        "total_debt": 300.0,
        "interest_expense": 20.0,
        "current_assets": 200.0,
        "current_liabilities": 100.0,
        "cash": 50.0,
        "cfads": None,
        "debt_service": None,
    },
    "applications": {
        "product": "term_loan",
        "amount": 100.0,
        "decision": None,
        "decided_date": None,
    },
}


def table(name: str, rows: list[dict] | None = None) -> pd.DataFrame:
    """A contract table from row dicts, with canonical dtypes (str, datetime64[ns], float64, bool)."""
    spec = TABLES[name]
    rows = rows or []
    defaults = _DEFAULTS.get(name, {})
    data = {}
    for column in spec.columns:
        values = [row.get(column.name, defaults.get(column.name)) for row in rows]
        data[column.name] = _typed(values, column.kind)
    for row in rows:
        unknown = set(row) - set(spec.column_names)
        if unknown:
            raise KeyError(f"{name}: unknown columns {sorted(unknown)}")
    return pd.DataFrame(data)


def _typed(values: list, kind: str) -> pd.Series:
    if kind in ("id", "category"):
        return pd.Series(values, dtype="str")
    if kind in ("date", "timestamp"):
        return pd.Series(
            pd.to_datetime(pd.Series(values, dtype=object), format="mixed"), dtype="datetime64[ns]"
        )
    if kind == "bool":
        return pd.Series(values, dtype=bool)
    return pd.Series(values, dtype="float64")


def customers(*ids: str, onboarding: str = "2018-01-01", **extra) -> pd.DataFrame:
    """Customers onboarded on the same day (keyword overrides apply to all)."""
    return table(
        "customers", [{"customer_id": c, "onboarding_date": onboarding, **extra} for c in ids]
    )


def at_snapshot(family, frame, people: pd.DataFrame, snapshot: str, **kwargs) -> pd.DataFrame:
    """One family's features at one snapshot, indexed by customer_id (every customer onboarded before it)."""
    from research.features._grid import make_grid

    grid = make_grid(people, [pd.Timestamp(snapshot)], months_back=24)
    out = family(frame, grid, **kwargs)
    out.index = pd.Index(grid.keys()["customer_id"], name="customer_id")
    return out


# --------------------------------------------------------------------------- random portfolios

DAY = pd.Timedelta(days=1)


def _dates(
    rng: np.random.Generator, start: pd.Timestamp, end: pd.Timestamp, size: int
) -> pd.DatetimeIndex:
    days = rng.integers(0, max((end - start).days, 1), size)
    return pd.DatetimeIndex(start + pd.to_timedelta(days, unit="D")).as_unit("ns")


def _stamps(
    rng: np.random.Generator, start: pd.Timestamp, end: pd.Timestamp, size: int
) -> pd.DatetimeIndex:
    seconds = rng.integers(0, max(int((end - start).total_seconds()), 1), size)
    # Some records fall exactly at midnight, where the snapshot boundary is.
    seconds = np.where(rng.random(size) < 0.2, seconds // 86_400 * 86_400, seconds)
    return pd.DatetimeIndex(start + pd.to_timedelta(seconds, unit="s")).as_unit("ns")


def _pick(rng, values, size):
    return pd.Series(
        np.asarray(values, dtype=object)[rng.integers(0, len(values), size)], dtype="str"
    )


def random_portfolio(
    rng: np.random.Generator,
    *,
    n_customers: int = 6,
    start: str = "2019-01-01",
    end: str = "2022-01-01",
) -> dict[str, pd.DataFrame]:
    """A small, internally consistent random portfolio with every table of the contract."""
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    ids = [f"C{i:03d}" for i in rng.permutation(n_customers * 3)[:n_customers]]
    onboarding = _dates(rng, t0 - pd.Timedelta(days=400), t1 - pd.Timedelta(days=60), n_customers)
    ended = [
        o + pd.Timedelta(days=int(rng.integers(30, 900))) if rng.random() < 0.4 else pd.NaT
        for o in onboarding
    ]
    ended = [e if pd.notna(e) and e < t1 else pd.NaT for e in ended]
    cust = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "segment": _pick(rng, SEGMENTS, n_customers),
            "industry": _pick(rng, INDUSTRIES, n_customers),
            "region": _pick(rng, REGIONS, n_customers),
            "onboarding_date": pd.Series(onboarding, dtype="datetime64[ns]"),
            "relationship_end_date": pd.Series(ended, dtype="datetime64[ns]"),
            "green_flag": rng.random(n_customers) < 0.3,
            "inclusive_flag": rng.random(n_customers) < 0.3,
            "rm_id": _pick(rng, ["RM1", "RM2"], n_customers),
        }
    )
    fac_rows, bal_rows, rep_rows = [], [], []
    for c, o in zip(ids, onboarding, strict=True):
        for _ in range(int(rng.integers(0, 3))):
            fid = f"F{len(fac_rows):03d}{c}"
            orig = o + pd.Timedelta(days=int(rng.integers(0, 500)))
            if orig >= t1:  # every event lies inside the data
                continue
            maturity = orig + pd.Timedelta(days=int(rng.integers(200, 1500)))
            close = maturity if rng.random() < 0.5 and maturity < t1 else pd.NaT
            limit = float(rng.integers(1, 50) * 1000)
            fac_rows.append(
                {
                    "facility_id": fid,
                    "customer_id": c,
                    "product": PRODUCTS[rng.integers(len(PRODUCTS))],
                    "origination_date": orig,
                    "maturity_date": maturity,
                    "close_date": close,
                    "limit_amount": limit,
                    "interest_rate": float(rng.uniform(0.01, 0.1)),
                    "fee_rate": 0.01,
                    "repayment_type": REPAYMENT_TYPES[rng.integers(len(REPAYMENT_TYPES))],
                    "collateral_type": COLLATERAL_TYPES[rng.integers(len(COLLATERAL_TYPES))],
                    "green_loan": bool(rng.random() < 0.2),
                }
            )
            month_ends = pd.date_range(orig, min(t1, maturity), freq="ME")
            for m in month_ends:
                bal_rows.append(
                    {
                        "facility_id": fid,
                        "customer_id": c,
                        "month_end": m,
                        "drawn_amount": float(rng.uniform(0, limit)),
                        "limit_amount": limit,
                    }
                )
            due_dates = pd.date_range(orig + pd.Timedelta(days=30), min(t1, maturity), freq="MS")
            for d in due_dates:
                u = rng.random()
                paid = (
                    pd.NaT
                    if u < 0.03
                    else d - pd.Timedelta(days=int(rng.integers(0, 5)))
                    if u < 0.6
                    else d + pd.Timedelta(days=int(rng.integers(1, 40 if u < 0.95 else 130)))
                )
                paid = paid if pd.isna(paid) or paid < t1 else pd.NaT
                amount = float(rng.integers(1, 20) * 100)
                paid_amount = (
                    np.nan if pd.isna(paid) else amount * (0.5 if rng.random() < 0.1 else 1.0)
                )
                rep_rows.append(
                    {
                        "facility_id": fid,
                        "customer_id": c,
                        "due_date": d,
                        "amount_due": amount,
                        "paid_date": paid,
                        "amount_paid": paid_amount,
                    }
                )
    n_tx = int(rng.integers(0, 30 * n_customers))
    tx = pd.DataFrame(
        {
            "customer_id": _pick(rng, ids, n_tx),
            "timestamp": pd.Series(_stamps(rng, t0, t1, n_tx), dtype="datetime64[ns]"),
            "amount": np.round(rng.normal(0, 1000, n_tx), 2),
            "channel": _pick(rng, TRANSACTION_CHANNELS, n_tx),
            "category": _pick(rng, TRANSACTION_CATEGORIES, n_tx),
        }
    )
    n_int = int(rng.integers(0, 10 * n_customers))
    inter = pd.DataFrame(
        {
            "customer_id": _pick(rng, ids, n_int),
            "timestamp": pd.Series(_stamps(rng, t0, t1, n_int), dtype="datetime64[ns]"),
            "channel": _pick(rng, INTERACTION_CHANNELS, n_int),
            "interaction_type": _pick(rng, INTERACTION_TYPES, n_int),
            "response_hours": np.where(rng.random(n_int) < 0.5, rng.uniform(0, 72, n_int), np.nan),
            "satisfaction_score": np.where(
                rng.random(n_int) < 0.4, rng.integers(1, 6, n_int).astype(float), np.nan
            ),
        }
    )
    fin_rows = []
    for c in ids:
        for year in range(t0.year - 1, t1.year):
            period = pd.Timestamp(f"{year}-12-31")
            reported = period + pd.Timedelta(days=int(rng.integers(20, 300)))
            if rng.random() < 0.8 and reported < t1:
                fin_rows.append(_statement(rng, c, period, reported))
    app_rows = []
    for i in range(int(rng.integers(0, 4 * n_customers))):
        sub = _dates(rng, t0, t1, 1)[0]
        decided = (
            sub + pd.Timedelta(days=int(rng.integers(0, 60))) if rng.random() < 0.85 else pd.NaT
        )
        decided = decided if pd.isna(decided) or decided < t1 else pd.NaT
        app_rows.append(
            {
                "application_id": f"A{i:04d}",
                "customer_id": ids[rng.integers(n_customers)],
                "submitted_date": sub,
                "product": PRODUCTS[rng.integers(len(PRODUCTS))],
                "amount": float(rng.integers(1, 100) * 1000),
                "decision": None if pd.isna(decided) else DECISIONS[rng.integers(len(DECISIONS))],
                "decided_date": decided,
            }
        )
    return {
        "customers": cust,
        "facilities": table("facilities", fac_rows),
        "facility_balances": table("facility_balances", bal_rows),
        "repayments": table("repayments", rep_rows),
        "transactions": tx,
        "interactions": inter,
        "financials": table("financials", fin_rows),
        "applications": table("applications", app_rows),
        # Drawn last, so the other tables are the ones the same seed always gave.
        "account_balances": _account_balances(rng, ids, onboarding, ended, t1),
    }


def _account_balances(rng, ids, onboarding, ended, t1) -> pd.DataFrame:
    """Month-end balances while on the books plus a few other days; some overdrawn."""
    rows = []
    for c, o, e in zip(ids, onboarding, ended, strict=True):
        stop = min(t1, e) if pd.notna(e) else t1
        days = set(pd.date_range(o, stop, freq="ME", inclusive="left"))
        days |= set(_dates(rng, o, stop, int(rng.integers(0, 8))))
        level = float(rng.normal(500, 800))
        for day in sorted(days):
            rows.append(
                {
                    "customer_id": c,
                    "balance_date": day,
                    "balance": round(level + rng.normal(0, 600), 2),
                }
            )
    return table("account_balances", rows)


def _statement(rng, customer_id, period, reported) -> dict:
    revenue = float(rng.integers(1, 100) * 1000)
    pf = rng.random() < 0.3
    return {
        "customer_id": customer_id,
        "period_end": period,
        "reported_date": reported,
        "revenue": revenue,
        "ebitda": float(revenue * rng.uniform(-0.1, 0.3)),
        "total_debt": float(rng.integers(0, 200) * 1000),
        "interest_expense": float(rng.integers(0, 50) * 100),
        "current_assets": float(rng.integers(0, 100) * 1000),
        "current_liabilities": float(rng.integers(0, 100) * 1000),
        "cash": float(rng.integers(0, 50) * 1000),
        "cfads": float(rng.integers(0, 100) * 100) if pf else np.nan,
        "debt_service": float(rng.integers(0, 100) * 100) if pf else np.nan,
    }


# --------------------------------------------------------------------------- perturbations


def _on_or_after(rng: np.random.Generator, s: pd.Timestamp, size: int, *, timestamps: bool = False):
    """Random dates (or timestamps) on or after ``s``; a fifth of them exactly ``s``."""
    if timestamps:
        offset = pd.to_timedelta(rng.integers(0, 400 * 86_400, size), unit="s")
    else:
        offset = pd.to_timedelta(rng.integers(0, 400, size), unit="D")
    offset = offset.where(rng.random(size) >= 0.2, pd.Timedelta(0))
    return pd.Series(pd.DatetimeIndex(s + offset).as_unit("ns"), dtype="datetime64[ns]")


def _maybe_missing(rng, dates: pd.Series, share: float = 0.3) -> pd.Series:
    return dates.where(rng.random(len(dates)) >= share, pd.NaT)


def _alter(frame: pd.DataFrame, rows: np.ndarray, values: dict) -> pd.DataFrame:
    out = frame.copy()
    for column, new in values.items():
        column_values = out[column].copy()
        column_values.iloc[rows] = (
            np.asarray(new, dtype=object) if out[column].dtype == "str" else np.asarray(new)
        )
        out[column] = column_values.astype(frame[column].dtype)
    return out


def _split(rng, frame: pd.DataFrame, late: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions among the ``late`` rows to alter and to delete (disjoint, random)."""
    where = np.flatnonzero(late)
    choice = rng.random(len(where))
    return where[choice < 0.4], where[choice > 0.7]


def _drop(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    return frame.drop(index=frame.index[rows]).reset_index(drop=True)


def _add(frame: pd.DataFrame, name: str, rows: list[dict]) -> pd.DataFrame:
    return pd.concat([frame, table(name, rows)], ignore_index=True) if rows else frame


def perturb_after(
    tables: dict[str, pd.DataFrame], s: pd.Timestamp, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Add, alter and delete records of every table whose event time is on or after ``s``.

    Also alters the later events of earlier records: the payment of an instalment due
    before ``s``, the close of a facility opened before it, the end of a relationship,
    and the decision on a request submitted before it; and adds statements reported on
    or after ``s`` for periods that ended before it.
    """
    out = dict(tables)
    ids = list(tables["customers"]["customer_id"])

    def some_ids(k):
        return [ids[i] for i in rng.integers(0, len(ids), k)]

    # customers: late onboarders entirely; earlier ones only their (future) end date
    c = tables["customers"]
    late = (c["onboarding_date"] >= s).to_numpy()
    alter, delete = _split(rng, c, late)
    onboard = _on_or_after(rng, s, len(alter))
    c = _alter(
        c,
        alter,
        {
            "segment": [SEGMENTS[i] for i in rng.integers(0, len(SEGMENTS), len(alter))],
            "region": [REGIONS[i] for i in rng.integers(0, len(REGIONS), len(alter))],
            "industry": [INDUSTRIES[i] for i in rng.integers(0, len(INDUSTRIES), len(alter))],
            "inclusive_flag": rng.random(len(alter)) < 0.5,
            "green_flag": rng.random(len(alter)) < 0.5,
            "onboarding_date": onboard,
            "relationship_end_date": _maybe_missing(rng, onboard + pd.Timedelta(days=10)),
        },
    )
    open_ = np.flatnonzero(
        (~late) & (c["relationship_end_date"].isna() | (c["relationship_end_date"] >= s)).to_numpy()
    )
    c = _alter(
        c,
        open_,
        {"relationship_end_date": _maybe_missing(rng, _on_or_after(rng, s, len(open_)), 0.5)},
    )
    c = _drop(c, delete)
    new = [f"{p}{i:02d}" for i, p in enumerate(rng.choice(list("ABDZ"), int(rng.integers(0, 3))))]
    c = _add(
        c,
        "customers",
        [
            {"customer_id": n, "onboarding_date": d, "segment": "micro"}
            for n, d in zip(new, _on_or_after(rng, s, len(new)), strict=True)
        ],
    )
    out["customers"] = c

    # facilities: late originations entirely; earlier ones only their close date
    f = tables["facilities"]
    late = (f["origination_date"] >= s).to_numpy()
    alter, delete = _split(rng, f, late)
    orig = _on_or_after(rng, s, len(alter))
    f = _alter(
        f,
        alter,
        {
            "origination_date": orig,
            "maturity_date": orig + pd.Timedelta(days=200),
            "close_date": _maybe_missing(rng, orig + pd.Timedelta(days=100)),
            "limit_amount": rng.uniform(1, 1e5, len(alter)),
            "interest_rate": rng.uniform(0, 0.2, len(alter)),
            "product": [PRODUCTS[i] for i in rng.integers(0, len(PRODUCTS), len(alter))],
            "repayment_type": ["revolving"] * len(alter),
            "collateral_type": ["unsecured"] * len(alter),
        },
    )
    open_ = np.flatnonzero((~late) & (f["close_date"].isna() | (f["close_date"] >= s)).to_numpy())
    f = _alter(f, open_, {"close_date": _maybe_missing(rng, _on_or_after(rng, s, len(open_)), 0.5)})
    f = _drop(f, delete)
    k = int(rng.integers(0, 3))
    orig = _on_or_after(rng, s, k)
    f = _add(
        f,
        "facilities",
        [
            {
                "facility_id": f"NEWF{i}",
                "customer_id": cid,
                "origination_date": d,
                "maturity_date": d + pd.Timedelta(days=400),
                "repayment_type": "revolving",
                "product": "revolver",
            }
            for i, (cid, d) in enumerate(zip(some_ids(k), orig, strict=True))
        ],
    )
    out["facilities"] = f

    # facility balances: month ends on or after s, also for facilities opened before s
    b = tables["facility_balances"]
    alter, delete = _split(rng, b, (b["month_end"] >= s).to_numpy())
    b = _alter(
        b,
        alter,
        {
            "month_end": _on_or_after(rng, s, len(alter)),
            "drawn_amount": rng.uniform(0, 1e5, len(alter)),
            "limit_amount": rng.uniform(0, 1e5, len(alter)),
        },
    )
    b = _drop(b, delete)
    facs = tables["facilities"]
    k = min(int(rng.integers(0, 4)), len(facs))
    picks = rng.integers(0, max(len(facs), 1), k)
    b = _add(
        b,
        "facility_balances",
        [
            {
                "facility_id": facs["facility_id"].iloc[p],
                "customer_id": facs["customer_id"].iloc[p],
                "month_end": d,
                "drawn_amount": 5e4,
                "limit_amount": 6e4,
            }
            for p, d in zip(picks, _on_or_after(rng, s, k), strict=True)
        ],
    )
    out["facility_balances"] = b

    # repayments: instalments due on or after s entirely; payments on or after s of earlier ones
    r = tables["repayments"]
    late = (r["due_date"] >= s).to_numpy()
    alter, delete = _split(rng, r, late)
    due = _on_or_after(rng, s, len(alter))
    r = _alter(
        r,
        alter,
        {
            "due_date": due,
            "amount_due": rng.uniform(1, 1e4, len(alter)),
            "paid_date": _maybe_missing(rng, due + pd.Timedelta(days=5)),
            "amount_paid": rng.uniform(0, 1e4, len(alter)),
        },
    )
    unsettled = np.flatnonzero((~late) & (r["paid_date"].isna() | (r["paid_date"] >= s)).to_numpy())
    r = _alter(
        r,
        unsettled,
        {
            "paid_date": _maybe_missing(rng, _on_or_after(rng, s, len(unsettled)), 0.4),
            "amount_paid": rng.uniform(0, 1e4, len(unsettled)),
        },
    )
    r = _drop(r, delete)
    k = int(rng.integers(0, 4))
    r = _add(
        r,
        "repayments",
        [
            {"facility_id": "NEWF", "customer_id": cid, "due_date": d, "amount_due": 999.0}
            for cid, d in zip(some_ids(k), _on_or_after(rng, s, k), strict=True)
        ],
    )
    out["repayments"] = r

    # transactions and interactions: timestamps on or after s
    for name, values in (
        (
            "transactions",
            lambda m: {"amount": rng.normal(0, 5e3, m), "channel": ["mobile_app"] * m},
        ),
        (
            "interactions",
            lambda m: {
                "channel": ["rm_visit"] * m,
                "interaction_type": ["complaint"] * m,
                "satisfaction_score": rng.integers(1, 6, m).astype(float),
                "response_hours": rng.uniform(0, 100, m),
            },
        ),
    ):
        t = tables[name]
        alter, delete = _split(rng, t, (t["timestamp"] >= s).to_numpy())
        t = _alter(
            t,
            alter,
            {**values(len(alter)), "timestamp": _on_or_after(rng, s, len(alter), timestamps=True)},
        )
        t = _drop(t, delete)
        k = int(rng.integers(0, 5))
        extra = values(k)
        rows = [
            {"customer_id": cid, "timestamp": ts, **{key: v[i] for key, v in extra.items()}}
            for i, (cid, ts) in enumerate(
                zip(some_ids(k), _on_or_after(rng, s, k, timestamps=True), strict=True)
            )
        ]
        out[name] = _add(t, name, rows)

    # financials: statements reported on or after s, whatever their period
    fi = tables["financials"]
    alter, delete = _split(rng, fi, (fi["reported_date"] >= s).to_numpy())
    reported = _on_or_after(rng, s, len(alter))
    fi = _alter(
        fi,
        alter,
        {
            "revenue": rng.uniform(0, 1e6, len(alter)),
            "ebitda": rng.normal(0, 1e5, len(alter)),
            "cfads": rng.uniform(0, 1e5, len(alter)),
            "debt_service": rng.uniform(1, 1e5, len(alter)),
            "reported_date": reported,
            # any period, also one that ended before the snapshot
            "period_end": reported - pd.to_timedelta(rng.integers(1, 700, len(alter)), unit="D"),
        },
    )
    fi = _drop(fi, delete)
    k = int(rng.integers(0, 3))
    fi = _add(
        fi,
        "financials",
        [
            {**_statement(rng, cid, s - pd.Timedelta(days=int(rng.integers(1, 500))), d)}
            for cid, d in zip(some_ids(k), _on_or_after(rng, s, k), strict=True)
        ],
    )
    out["financials"] = fi

    # applications: requests submitted on or after s entirely; decisions on or after s of earlier ones
    a = tables["applications"]
    late = (a["submitted_date"] >= s).to_numpy()
    alter, delete = _split(rng, a, late)
    sub = _on_or_after(rng, s, len(alter))
    a = _alter(
        a,
        alter,
        {
            "submitted_date": sub,
            "amount": rng.uniform(0, 1e6, len(alter)),
            "decided_date": sub + pd.Timedelta(days=3),
            "decision": ["declined"] * len(alter),
        },
    )
    pending = np.flatnonzero(
        (~late) & (a["decided_date"].isna() | (a["decided_date"] >= s)).to_numpy()
    )
    decided = _maybe_missing(rng, _on_or_after(rng, s, len(pending)), 0.3)
    a = _alter(
        a,
        pending,
        {
            "decided_date": decided,
            "decision": [
                None if pd.isna(d) else DECISIONS[rng.integers(len(DECISIONS))] for d in decided
            ],
        },
    )
    a = _drop(a, delete)
    k = int(rng.integers(0, 3))
    a = _add(
        a,
        "applications",
        [
            {
                "application_id": f"NEWA{i}",
                "customer_id": cid,
                "submitted_date": d,
                "decision": "withdrawn",
                "decided_date": d + pd.Timedelta(days=1),
            }
            for i, (cid, d) in enumerate(zip(some_ids(k), _on_or_after(rng, s, k), strict=True))
        ],
    )
    out["applications"] = a

    # account balances: balances dated on or after s
    bal = tables["account_balances"]
    alter, delete = _split(rng, bal, (bal["balance_date"] >= s).to_numpy())
    bal = _alter(
        bal,
        alter,
        {
            "balance_date": _on_or_after(rng, s, len(alter)),
            "balance": rng.normal(-5e3, 5e3, len(alter)),
        },
    )
    bal = _drop(bal, delete)
    k = int(rng.integers(0, 4))
    bal = _add(
        bal,
        "account_balances",
        [
            {"customer_id": cid, "balance_date": d, "balance": -7e3}
            for cid, d in zip(some_ids(k), _on_or_after(rng, s, k), strict=True)
        ],
    )
    out["account_balances"] = bal
    return out
