"""What the SHAP report summarises: importance (overall and by segment), interactions,
the customers explained one by one, and the comparison with the challenger.

Every SHAP quantity is on the log-odds scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from research.data.contract import SEGMENTS
from research.explain.checks import dependence_directions


def global_importance(values: np.ndarray, feature_names: list[str]) -> pd.DataFrame:
    """Mean |SHAP| per feature (log-odds), its share of the total and its rank; ties keep model order."""
    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(feature_names))
    total = mean_abs.sum()
    order = np.argsort(-mean_abs, kind="stable")
    return pd.DataFrame(
        {
            "feature": np.asarray(feature_names)[order],
            "mean_abs_shap": mean_abs[order],
            "share": mean_abs[order] / total if total > 0 else 0.0,
            "rank": np.arange(1, len(order) + 1),
        }
    )


def segment_groups(population: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row masks of the portfolio groups a validator compares: size segments, green and inclusive lending."""
    groups: dict[str, np.ndarray] = {"all": np.ones(len(population), dtype=bool)}
    if "segment" in population.columns:
        segment = population["segment"].astype("string")
        present = [s for s in SEGMENTS if (segment == s).any()]
        present += sorted(set(segment.dropna().unique()) - set(SEGMENTS))
        for name in present:
            groups[str(name)] = (segment == name).fillna(False).to_numpy()
    for flag, name in (("green_flag", "green"), ("inclusive_flag", "inclusive")):
        if flag in population.columns:
            groups[name] = (pd.to_numeric(population[flag], errors="coerce") == 1).to_numpy()
    return {name: mask for name, mask in groups.items() if mask.any()}


def segment_importance(
    values: np.ndarray, feature_names: list[str], groups: Mapping[str, np.ndarray], *, top: int = 15
) -> pd.DataFrame:
    """Mean |SHAP| (log-odds) of the overall top features within each group (features x groups)."""
    overall = global_importance(values, feature_names)["feature"].head(top).tolist()
    positions = [feature_names.index(f) for f in overall]
    table = pd.DataFrame(
        {name: np.abs(values[mask][:, positions]).mean(axis=0) for name, mask in groups.items()},
        index=pd.Index(overall, name="feature"),
    )
    return table


def group_sizes(groups: Mapping[str, np.ndarray]) -> pd.Series:
    """Rows per group."""
    return pd.Series({name: int(mask.sum()) for name, mask in groups.items()}, name="rows")


def strongest_interactions(
    interactions: np.ndarray, feature_names: list[str], *, top: int = 10
) -> pd.DataFrame:
    """Feature pairs ranked by mean |interaction| (both halves, log-odds) over the sample."""
    strength = (
        np.abs(interactions).mean(axis=0) * 2
        if len(interactions)
        else np.zeros((len(feature_names),) * 2)
    )
    upper_i, upper_j = np.triu_indices(len(feature_names), k=1)
    pairs = pd.DataFrame(
        {
            "feature": np.asarray(feature_names)[upper_i],
            "partner": np.asarray(feature_names)[upper_j],
            "mean_abs_interaction": strength[upper_i, upper_j],
        }
    )
    pairs = pairs[pairs["mean_abs_interaction"] > 0]
    return (
        pairs.sort_values("mean_abs_interaction", ascending=False, kind="stable")
        .head(top)
        .reset_index(drop=True)
    )


def interaction_partner(
    interactions: np.ndarray, feature_names: list[str], feature: str
) -> str | None:
    """The feature interacting most strongly with ``feature`` in the sample (None if it interacts with none)."""
    i = feature_names.index(feature)
    strength = (
        np.abs(interactions[:, i, :]).mean(axis=0)
        if len(interactions)
        else np.zeros(len(feature_names))
    )
    strength[i] = 0.0
    j = int(np.argmax(strength))
    return feature_names[j] if strength[j] > 0 else None


def chosen_customers(
    population: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    *,
    grade_column: str | None = None,
    highest: int = 3,
    rises: int = 3,
    score_label: str = "PD",
) -> pd.DataFrame:
    """Latest-snapshot customers to explain one by one, with why each was chosen.

    Rows without snapshot dates (an undated table) are chosen from all of ``population``.

    Picks the ``highest`` riskiest scores, the customer closest to each boundary between
    adjacent grades (grades ordered by their mean score), and the ``rises`` largest score
    increases since the previous snapshot (``score_label`` names the score in the reasons).
    Returns ``row`` (position in ``population``),
    ``customer_id``, ``snapshot_date``, ``score`` and ``why``; a customer chosen twice is
    listed once, with the first reason.
    """
    latest_date = population["snapshot_date"].max()
    latest = (  # an undated table's explained rows (its test split) are all "latest"
        population
        if pd.isna(latest_date)
        else population[population["snapshot_date"] == latest_date]
    )
    picks: list[tuple[int, str]] = []
    ranked = latest.sort_values(["score", "customer_id"], ascending=[False, True], kind="stable")
    picks += [(row, f"highest risk #{k + 1}") for k, row in enumerate(ranked.index[:highest])]
    if grade_column and grade_column in latest.columns:
        picks += _boundary_picks(latest, grade_column, score_label)
    if previous is not None and rises > 0:
        merged = latest[["customer_id", "snapshot_date", "score"]].merge(
            previous, on=["customer_id", "snapshot_date"], how="left", validate="one_to_one"
        )
        merged.index = latest.index
        rise = (merged["score"] - merged["previous_score"]).dropna()
        rise = rise[rise > 0].sort_values(ascending=False, kind="stable")
        picks += [
            (row, f"largest {score_label} rise #{k + 1} (+{rise[row]:.4f})")
            for k, row in enumerate(rise.index[:rises])
        ]
    seen: dict[int, str] = {}
    for row, why in picks:
        seen.setdefault(int(row), why)
    chosen = population.loc[list(seen), ["customer_id", "snapshot_date", "score"]].copy()
    chosen.insert(0, "row", list(seen))
    chosen["why"] = list(seen.values())
    return chosen.reset_index(drop=True)


def _boundary_picks(
    latest: pd.DataFrame, grade_column: str, score_label: str
) -> list[tuple[int, str]]:
    grades = (
        latest.groupby(grade_column, observed=True)["score"]
        .agg(["mean", "min", "max"])
        .sort_values("mean")
    )
    picks = []
    names = grades.index.tolist()
    for lower, upper in zip(names[:-1], names[1:], strict=True):
        boundary = (grades.loc[lower, "max"] + grades.loc[upper, "min"]) / 2
        distance = (latest["score"] - boundary).abs()
        row = distance.sort_values(kind="stable").index[0]
        picks.append(
            (
                row,
                f"near the {lower}|{upper} {grade_column} boundary ({score_label} {boundary:.4f})",
            )
        )
    return picks


def challenger_comparison(
    importance: pd.DataFrame,
    frame: pd.DataFrame,
    values: np.ndarray,
    coefficients: Mapping[str, float],
    *,
    directions: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """XGBoost importance and direction next to the challenger's standardized coefficients.

    Both sides are in log-odds: mean |SHAP| for XGBoost, the coefficient per standard
    deviation for the challenger. Design columns map back to features: ``f`` is the main
    term, ``f__missing`` its missing-value indicator and ``f=level`` a one-hot level
    (their |coefficients| summed, a categorical having no single direction).
    ``directions`` holds Spearman correlations already computed
    (``checks.dependence_directions``); the others are computed here.
    """
    names = list(frame.columns)
    main: dict[str, float] = {}
    missing: dict[str, float] = {}
    levels: dict[str, float] = {}
    for term, coef in coefficients.items():
        if term.endswith("__missing") and term[: -len("__missing")] in names:
            missing[term[: -len("__missing")]] = float(coef)
        elif "=" in term and term.split("=", 1)[0] in names:
            feature = term.split("=", 1)[0]
            levels[feature] = levels.get(feature, 0.0) + abs(float(coef))
        else:
            main[term] = float(coef)
    features = list(dict.fromkeys([*importance["feature"], *main, *levels]))
    known = dict(directions or {})
    missing_directions = [f for f in features if f not in known]
    known.update(dependence_directions(frame, values, missing_directions))
    mean_abs = dict(zip(importance["feature"], importance["mean_abs_shap"], strict=True))
    rows = []
    for feature in features:
        numeric = feature in names and not isinstance(frame[feature].dtype, pd.CategoricalDtype)
        coefficient = main.get(feature, np.nan)
        rows.append(
            {
                "feature": feature,
                "xgb_mean_abs_shap": float(mean_abs[feature]) if feature in mean_abs else np.nan,
                "xgb_direction": np.sign(known[feature]) if numeric else np.nan,
                "challenger_coefficient": coefficient,
                "challenger_abs": abs(coefficient)
                if feature in main
                else levels.get(feature, np.nan),
                "challenger_direction": np.sign(coefficient),
                "challenger_missing_coefficient": missing.get(feature, np.nan),
            }
        )
    table = pd.DataFrame(rows)
    table["xgb_rank"] = table["xgb_mean_abs_shap"].rank(ascending=False, method="first")
    table["challenger_rank"] = table["challenger_abs"].rank(ascending=False, method="first")
    judged = table[["xgb_direction", "challenger_direction"]].notna().all(axis=1) & (
        table["xgb_direction"] != 0
    )
    agree = (
        (table["xgb_direction"] == table["challenger_direction"])
        .astype(object)
        .where(judged, pd.NA)
    )
    table["directions_agree"] = pd.array(agree, dtype="boolean")
    return table.sort_values(
        ["xgb_rank", "challenger_rank"], na_position="last", kind="stable"
    ).reset_index(drop=True)


def importance_rank_correlation(comparison: pd.DataFrame) -> float:
    """Spearman correlation between XGBoost and challenger importance over features both use."""
    shared = comparison.dropna(subset=["xgb_mean_abs_shap", "challenger_abs"])
    if len(shared) < 3:
        return float("nan")
    return float(shared["xgb_mean_abs_shap"].rank().corr(shared["challenger_abs"].rank()))
