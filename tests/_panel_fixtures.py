"""A small synthetic feature panel for the model tests: a latent risk drives features and labels.

Each customer has a persistent risk level plus a random walk over quarterly snapshots;
a few features observe the risk with noise (with the declared directions), one observes
engagement (the churn driver), one is noise. Labels are drawn from the true
probabilities, which are returned as the oracle. The last snapshots are censored: only
their events are labelled (1), their non-events are empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIRST_SNAPSHOT = "2020-01-01"
OOT_FIRST = "2023-01-01"
SEGMENTS = ("micro", "small", "medium", "large")
DIRECTIONS = {
    "rep_dpd_max_12m": 1,
    "cf_inflow_trend_6m": -1,
    "fin_leverage": 1,
    "eng_logins_3m": 0,
    "rel_tenure_months": -1,
}
LABELS = ("default_12m", "churn_12m")


def make_panel(
    n_customers: int = 250, n_snapshots: int = 17, censored: int = 2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(panel, oracle)``: ~``n_customers * n_snapshots`` rows in the panel's layout."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(FIRST_SNAPSHOT, periods=n_snapshots, freq="QS")
    level = rng.normal(size=n_customers)
    walk = np.cumsum(rng.normal(scale=0.35, size=(n_customers, n_snapshots)), axis=1)
    risk = level[:, None] + walk
    engagement = rng.normal(size=n_customers)[:, None] + np.cumsum(
        rng.normal(scale=0.3, size=(n_customers, n_snapshots)), axis=1
    )
    segment = rng.choice(SEGMENTS, n_customers)
    segment_shift = pd.Series([0.4, 0.2, 0.0, -0.3], index=SEGMENTS)[segment].to_numpy()[:, None]
    shape = (n_customers, n_snapshots)
    p_default = 1 / (1 + np.exp(-(-3.0 + 1.3 * risk + segment_shift)))
    p_churn = 1 / (1 + np.exp(-(-2.2 - 1.0 * engagement + 0.3 * risk)))
    default = (rng.random(shape) < p_default).astype(float)
    churn = (rng.random(shape) < p_churn).astype(float)
    # Censored windows: an event seen before the data ends is known, a non-event is not (as in the panel).
    default[:, n_snapshots - censored :][default[:, n_snapshots - censored :] == 0] = np.nan
    churn[:, n_snapshots - censored :][churn[:, n_snapshots - censored :] == 0] = np.nan
    leverage = risk + rng.normal(scale=0.8, size=shape)
    leverage[rng.random(shape) < 0.15] = np.nan
    ids = np.array([f"C{i:05d}" for i in range(n_customers)])
    panel = pd.DataFrame(
        {
            "customer_id": np.repeat(ids, n_snapshots),
            "snapshot_date": np.tile(dates.to_numpy(), n_customers).astype("datetime64[ns]"),
            "segment": np.repeat(segment, n_snapshots),
            "industry": np.repeat(
                rng.choice(["energy", "retail", "tech"], n_customers), n_snapshots
            ),
            "region": np.repeat(rng.choice(["north", "south"], n_customers), n_snapshots),
            "green_flag": np.repeat((rng.random(n_customers) < 0.2).astype(float), n_snapshots),
            "rep_dpd_max_12m": np.clip(
                20 * (risk + rng.normal(scale=0.7, size=shape)), 0, None
            ).ravel(),
            "cf_inflow_trend_6m": (-0.5 * risk + rng.normal(scale=0.6, size=shape)).ravel(),
            "fin_leverage": leverage.ravel(),
            "eng_logins_3m": (5 + 2 * engagement + rng.normal(scale=1.0, size=shape)).ravel(),
            "rel_tenure_months": np.repeat(rng.integers(6, 240, n_customers), n_snapshots).astype(
                float
            )
            + np.tile(np.arange(n_snapshots) * 3.0, n_customers),
            "app_noise": rng.normal(size=shape).ravel(),
            "default_12m": default.ravel(),
            "churn_12m": churn.ravel(),
        }
    )
    oracle = panel[["customer_id", "snapshot_date"]].assign(
        oracle_default=p_default.ravel(), oracle_churn=p_churn.ravel()
    )
    return panel, oracle


def make_flat_table(n_rows: int = 2500, with_date: bool = True, seed: int = 1) -> pd.DataFrame:
    """A public-style modeling table of mixed types: strings with gaps, ints, floats with NaN, booleans."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_rows)
    purpose = rng.choice(["car", "house", "business", "education", None], n_rows)
    p = 1 / (1 + np.exp(-(-1.5 + 1.2 * x + (purpose == "business") * 0.8)))
    income = np.round(np.exp(10 + 0.5 * rng.normal(size=n_rows)) * (1 - 0.1 * x), 2)
    income[rng.random(n_rows) < 0.1] = np.nan
    table = pd.DataFrame(
        {
            "loan_id": np.arange(100_000, 100_000 + n_rows),
            "purpose": pd.Series(purpose, dtype=object),
            "home": rng.choice(["rent", "own", "mortgage"], n_rows),
            "age": rng.integers(18, 80, n_rows),
            "income": income,
            "debt_ratio": x + rng.normal(scale=0.5, size=n_rows),
            "has_guarantor": rng.random(n_rows) < 0.3,
            "bad": (rng.random(n_rows) < p).astype(int),
        }
    )
    if with_date:
        months = rng.integers(0, 36, n_rows)
        table.insert(
            1,
            "application_date",
            pd.Timestamp("2021-01-01") + pd.to_timedelta(months * 30, unit="D"),
        )
    return table


SMALL_XGB = {
    "n_estimators": 60,
    "learning_rate": 0.1,
    "max_depth": 3,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 15,
}
GRADES = {
    "grade_names": ["A", "B", "C", "D", "E", "F", "G"],
    "grade_upper_pd": [0.003, 0.007, 0.015, 0.03, 0.06, 0.12],
}


def fit_panel_model(
    label: str = "default_12m",
    *,
    monotone: bool = True,
    method: str = "isotonic",
    graded: bool = True,
    seed: int = 7,
):
    """Fit the whole scoring model on the small panel; return ``(model, table, split, scores)``."""
    from research.models import flat, scoring, splits, train

    panel, _ = make_panel()
    table, date_column = flat.prepare_modeling_table(
        panel, id_column="customer_id", date_column="snapshot_date", label=label
    )
    features = flat.modeling_features(
        table, id_column="customer_id", date_column=date_column, labels=LABELS
    )
    split = splits.assign_splits(
        table,
        id_column="customer_id",
        date_column=date_column,
        label=label,
        oot_first_snapshot=OOT_FIRST,
        horizon_months=12,
        valid_fraction=0.2,
        test_fraction=0.2,
        seed=seed,
    )
    layout = train.feature_layout(table, features, DIRECTIONS if monotone else {})
    grades = GRADES if graded else {"grade_names": [], "grade_upper_pd": []}
    settings = scoring.FitSettings(label=label, xgb=SMALL_XGB, calibration_method=method, **grades)
    model, _ = scoring.fit_scoring_model(
        table, split, settings=settings, layout=layout, nthread=2, seed=seed
    )
    scores = scoring.score_table(
        model, table, split, id_column="customer_id", date_column=date_column, label=label
    )
    return model, table, split, scores
