"""Facilities: number and breadth of products, limits, exposure, utilisation and maturity.

Point in time: a facility is seen from its origination date (``origination_date < s``)
and is active until its close date (closed when ``close_date < s``); its terms (product,
limit, rate, collateral, maturity) are known from origination. Balances are seen from
their month end (``month_end < s``) and only for a facility already originated then;
a balance belongs to the customer of its facility.

Open vocabulary levels: a product ``other`` or ``unknown`` counts as one product of its
own in ``fac_product_count``; collateral ``other`` counts as secured, and the limit of a
facility whose collateral is ``unknown`` is left out of ``fac_secured_share`` (its share is
of the limit whose collateral is known). An empty interest rate leaves the facility out of
the limit-weighted mean rate, which is missing when no active facility has a rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.data.contract import OPEN_LEVELS, PRODUCTS
from research.features._grid import (
    NAT,
    NEVER,
    NS_PER_MONTH,
    SnapshotGrid,
    arrow_strings,
    category_codes,
    family_frame,
    ratio,
    to_ns,
)

BALANCE_FEATURES = (
    "fac_exposure",
    "fac_utilisation",
    "fac_revolver_utilisation",
    "fac_revolver_utilisation_<w>m",
    "fac_revolver_utilisation_trend",
)


def facility_features(
    facilities: pd.DataFrame,
    grid: SnapshotGrid,
    *,
    long_window_months: int,
    trend_recent_months: int,
    windows_months: Sequence[int] = (),
    facility_balances: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Facility features (``fac_*``); the balance-based ones only when ``facility_balances`` is given.

    ``windows_months`` adds the revolving utilisation averaged over the month ends of each window.
    """
    out = _contract_features(facilities, grid, long_window_months)
    if facility_balances is not None:
        out.update(
            _balance_features(
                facilities, facility_balances, grid, trend_recent_months, windows_months
            )
        )
    return family_frame(grid, out)


def _contract_features(facilities: pd.DataFrame, grid: SnapshotGrid, long_window: int) -> dict:
    codes = grid.codes(facilities["customer_id"])
    origination = to_ns(facilities["origination_date"])
    ok = (codes >= 0) & (origination != NAT)
    codes, origination = codes[ok], origination[ok]
    close = to_ns(facilities["close_date"], missing=NEVER)[ok]
    maturity = to_ns(facilities["maturity_date"], missing=NEVER)[ok]
    limit = facilities["limit_amount"].to_numpy(dtype=np.float64)[ok]
    rate = facilities["interest_rate"].to_numpy(dtype=np.float64)[ok]
    rated = ~np.isnan(rate)  # an empty rate is not known, not zero
    rate = np.where(rated, rate, 0.0)
    product = category_codes(facilities["product"], (*PRODUCTS, *OPEN_LEVELS))[ok]
    collateral = category_codes(facilities["collateral_type"], ("unsecured", "unknown"))[ok]
    secured, collateral_known = collateral < 0, collateral != 1
    n, n_products = grid.n_customers, len(PRODUCTS) + len(OPEN_LEVELS)
    shape = (grid.n_snapshots, n)
    names = (
        "active",
        "products",
        "opened",
        "closed",
        "limit",
        "maturity",
        "rate",
        "rated_limit",
        "secured",
        "collateral_known",
    )
    f = {name: np.zeros(shape) for name in names}
    for i, s in enumerate(grid.snapshot_ns):
        seen = origination < s
        active = seen & (close >= s)
        c = codes[active]
        f["active"][i] = np.bincount(c, minlength=n)
        known = active & (product >= 0)
        held = np.bincount(codes[known] * n_products + product[known], minlength=n * n_products)
        f["products"][i] = (held.reshape(n, n_products) > 0).sum(axis=1)
        since = grid.edge(long_window)[i]
        f["opened"][i] = np.bincount(codes[seen & (origination >= since)], minlength=n)
        f["closed"][i] = np.bincount(codes[seen & (close >= since) & (close < s)], minlength=n)
        f["limit"][i] = np.bincount(c, weights=limit[active], minlength=n)
        f["rate"][i] = np.bincount(c, weights=(limit * rate)[active], minlength=n)
        f["rated_limit"][i] = np.bincount(c, weights=(limit * rated)[active], minlength=n)
        f["secured"][i] = np.bincount(c, weights=(limit * secured)[active], minlength=n)
        f["collateral_known"][i] = np.bincount(
            c, weights=(limit * collateral_known)[active], minlength=n
        )
        nearest = np.full(n, NEVER, dtype=np.int64)
        np.minimum.at(nearest, c, maturity[active])
        f["maturity"][i] = np.where(nearest == NEVER, np.nan, (nearest - s) / NS_PER_MONTH)
    return {
        "fac_active_count": f["active"],
        "fac_product_count": f["products"],
        f"fac_opened_{long_window}m": f["opened"],
        f"fac_closed_{long_window}m": f["closed"],
        "fac_total_limit": f["limit"],
        "fac_months_to_maturity": f["maturity"],
        "fac_mean_interest_rate": ratio(f["rate"], f["rated_limit"]),
        "fac_secured_share": ratio(f["secured"], f["collateral_known"]),
    }


def _balance_features(
    facilities: pd.DataFrame,
    balances: pd.DataFrame,
    grid: SnapshotGrid,
    recent: int,
    windows: Sequence[int],
) -> dict:
    """Exposure and utilisation from the month-end balances (revolving: repayment type ``revolving``)."""
    parent = pc.index_in(
        arrow_strings(balances["facility_id"]), value_set=_as_array(facilities["facility_id"])
    )
    parent = parent.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    month_end = to_ns(balances["month_end"])
    origination = to_ns(facilities["origination_date"])
    revolving_facility = category_codes(facilities["repayment_type"], ("revolving",)) == 0
    known = parent >= 0
    # A balance of a facility not yet originated is not a balance of any facility seen then.
    known[known] = origination[parent[known]] <= month_end[known]
    # The facility's customer (one lookup per facility, not per balance row).
    owner = grid.codes(facilities["customer_id"])
    codes = np.where(known, owner[np.where(known, parent, 0)] if len(owner) else -1, -1)
    revolving = np.zeros(len(known), dtype=bool)
    revolving[known] = revolving_facility[parent[known]]
    records = grid.place(codes, month_end)
    drawn = balances["drawn_amount"].to_numpy(dtype=np.float64)
    limit = balances["limit_amount"].to_numpy(dtype=np.float64)
    drawn_all, limit_all = grid.totals(records, drawn), grid.totals(records, limit)
    drawn_rev = grid.totals(records, drawn, where=revolving)
    limit_rev = grid.totals(records, limit, where=revolving)

    def utilisation(drawn_sum, limit_sum, far, near=0):
        return ratio(grid.window(drawn_sum, far, near), grid.window(limit_sum, far, near))

    out = {
        "fac_exposure": grid.window(drawn_all, 1),
        "fac_utilisation": utilisation(drawn_all, limit_all, 1),
        "fac_revolver_utilisation": utilisation(drawn_rev, limit_rev, 1),
    }
    # A single month end is a noisy reading of how stretched a borrower is; the mean over
    # several month ends averages the month-to-month swings away.
    for w in sorted(set(windows)):
        out[f"fac_revolver_utilisation_{w}m"] = utilisation(drawn_rev, limit_rev, w)
    out["fac_revolver_utilisation_trend"] = utilisation(drawn_rev, limit_rev, recent) - utilisation(
        drawn_rev, limit_rev, 2 * recent, recent
    )
    return out


def _as_array(values: pd.Series) -> pa.Array:
    array = arrow_strings(values)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
