"""Value tiers, the value-risk matrix with its treatments, and portfolio slices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

SLICES: dict[str, tuple[str, str, str]] = {
    # flag column -> (slice name, label of flagged customers, label of the rest)
    "green_flag": ("green_finance", "green", "rest"),
    "inclusive_flag": ("inclusive_finance", "inclusive (micro and small)", "rest"),
}


def value_tiers(clv: pd.Series, *, cuts: Sequence[float], names: Sequence[str]) -> pd.Series:
    """Tier of each customer by the quantile of its CLV: ``names[i]`` when ``cuts[i-1] < q <= cuts[i]``.

    ``q`` is the customer's average rank over ``n``; the lowest tier is ``names[0]``.
    """
    if len(names) != len(cuts) + 1:
        raise ValueError(
            "value tiers need one more name than cut points (value.tier_names, value.value_tiers)"
        )
    quantile = clv.rank(method="average") / max(int(clv.notna().sum()), 1)
    position = np.searchsorted(
        np.asarray(cuts, dtype=float), quantile.to_numpy() - 1e-12, side="left"
    )
    return pd.Series(np.asarray(names, dtype=object)[position], index=clv.index, dtype="str")


def grade_order(credit_scores: pd.DataFrame) -> list[str]:
    """Rating grades from best to worst, ordered by their median PD in the scores."""
    medians = credit_scores.groupby("grade", sort=True)["score"].median().sort_values(kind="stable")
    return [str(g) for g in medians.index]


def risk_band(grades: pd.Series, risk_bands: Mapping[str, Sequence[str]]) -> pd.Series:
    """The risk band (e.g. ``low_risk``) of each rating grade.

    Raises:
        ValueError: If a grade is in no band of ``value.risk_bands``.
    """
    lookup = {str(g): band for band, members in risk_bands.items() for g in members}
    bands = grades.astype("str").map(lookup)
    unknown = sorted(set(grades[bands.isna() & grades.notna()].astype(str)))
    if unknown:
        raise ValueError(
            f"rating grade(s) {unknown} of data/scores/credit.parquet are in no band of value.risk_bands; "
            "Fix: list every grade of models.credit.grades.names under one band in params.yaml"
        )
    return bands.astype("str")


def treatment(
    tiers: pd.Series, bands: pd.Series, treatments: Mapping[str, Mapping[str, str]]
) -> pd.Series:
    """The treatment of each customer: ``treatments[tier][risk band]``."""
    pairs = pd.DataFrame({"tier": tiers.astype(str), "band": bands.astype(str)})
    chosen = [treatments.get(t, {}).get(b) for t, b in pairs.itertuples(index=False)]
    return pd.Series(chosen, index=tiers.index, dtype="str")


def value_risk_matrix(
    customer_value: pd.DataFrame,
    *,
    tier_names: Sequence[str],
    grades: Sequence[str],
    risk_bands: Mapping[str, Sequence[str]],
    treatments: Mapping[str, Mapping[str, str]],
) -> pd.DataFrame:
    """One row per (value tier, rating grade) cell, empty cells included.

    Columns: ``value_tier``, ``grade``, ``risk_band``, ``treatment``, ``customers``,
    ``exposure``, ``clv``, ``expected_loss_1y`` (sums over the cell's customers).
    """
    cells = pd.MultiIndex.from_product(
        [list(tier_names)[::-1], list(grades)], names=["value_tier", "grade"]
    )
    sums = customer_value.groupby(["value_tier", "grade"], sort=False).agg(
        customers=("customer_id", "size"),
        exposure=("exposure", "sum"),
        clv=("clv", "sum"),
        expected_loss_1y=("expected_loss_1y", "sum"),
    )
    matrix = sums.reindex(cells).fillna(0.0).astype({"customers": "int64"}).reset_index()
    matrix.insert(2, "risk_band", risk_band(matrix["grade"], risk_bands).to_numpy())
    matrix.insert(
        3, "treatment", treatment(matrix["value_tier"], matrix["risk_band"], treatments).to_numpy()
    )
    return matrix


def tier_summary(customer_value: pd.DataFrame, *, tier_names: Sequence[str]) -> pd.DataFrame:
    """Customers, exposure and CLV per value tier (top tier first) with each tier's share of the total CLV."""
    summary = (
        customer_value.groupby("value_tier", sort=False)
        .agg(
            customers=("customer_id", "size"),
            exposure=("exposure", "sum"),
            clv=("clv", "sum"),
            clv_min=("clv", "min"),
            clv_max=("clv", "max"),
        )
        .reindex(list(tier_names)[::-1])
    )
    summary = summary.fillna({"customers": 0, "exposure": 0.0, "clv": 0.0}).astype(
        {"customers": "int64"}
    )
    total = summary["clv"].sum()
    summary["clv_share"] = summary["clv"] / total if total else np.nan
    summary["customer_share"] = summary["customers"] / max(int(summary["customers"].sum()), 1)
    return summary.reset_index()


def high_value_share(customer_value: pd.DataFrame, high_tiers: Sequence[str]) -> float:
    """Share of the portfolio's total CLV held by customers in ``high_tiers``."""
    total = float(customer_value["clv"].sum())
    held = float(
        customer_value.loc[customer_value["value_tier"].isin(list(high_tiers)), "clv"].sum()
    )
    return held / total if total else float("nan")


def _slice_figures(group: pd.DataFrame) -> dict[str, float]:
    exposure = float(group["exposure"].sum())
    return {
        "customers": len(group),
        "exposure": exposure,
        "clv": float(group["clv"].sum()),
        "clv_per_customer": float(group["clv"].mean()) if len(group) else np.nan,
        "mean_pd": float(group["pd"].mean()) if len(group) else np.nan,
        "exposure_weighted_pd": float((group["pd"] * group["exposure"]).sum() / exposure)
        if exposure
        else np.nan,
        "expected_loss_1y": float(group["expected_loss_1y"].sum()),
        "loss_rate": float(group["expected_loss_1y"].sum() / exposure) if exposure else np.nan,
        "mean_churn_probability": float(group["churn_probability"].mean())
        if len(group)
        else np.nan,
        "watch_share": float(group["on_watch"].mean()) if len(group) else np.nan,
    }


def portfolio_slices(customer_value: pd.DataFrame) -> pd.DataFrame:
    """Green-finance and inclusive-finance customers side by side with the rest.

    For each slice and group: customers, exposure, CLV and their shares of the
    portfolio, CLV per customer, mean and exposure-weighted PD, one-year expected loss
    (PD x LGD x EAD) and its rate on exposure, mean churn probability and the share
    on the watch list.
    """
    totals = {k: float(customer_value[k].sum()) for k in ("exposure", "clv")}
    rows = []
    for flag, (name, flagged, rest) in SLICES.items():
        member = customer_value[flag].astype(bool)
        for label, group in ((flagged, customer_value[member]), (rest, customer_value[~member])):
            figures = _slice_figures(group)
            figures["customer_share"] = figures["customers"] / max(len(customer_value), 1)
            figures["exposure_share"] = (
                figures["exposure"] / totals["exposure"] if totals["exposure"] else np.nan
            )
            figures["clv_share"] = figures["clv"] / totals["clv"] if totals["clv"] else np.nan
            rows.append({"slice": name, "group": label, **figures})
    order = [
        "slice",
        "group",
        "customers",
        "customer_share",
        "exposure",
        "exposure_share",
        "clv",
        "clv_share",
    ]
    frame = pd.DataFrame(rows)
    return frame[order + [c for c in frame.columns if c not in order]]
