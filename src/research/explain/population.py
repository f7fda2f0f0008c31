"""The rows the explain stage explains, and each customer's previous score.

The model's input frame comes from ``research.models.train.model_matrix`` (the one
loader, shared with training and scoring), so categoricals carry the trained levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["customer_id", "snapshot_date"]
# What the explained rows of an undated table are: its random test split, standing in for
# the out-of-time set and the latest snapshot.
UNDATED_POPULATION = "test"


def explain_population(scores: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Score rows to explain (out-of-time plus the latest snapshot) joined to their panel rows.

    Returns one row per (customer, snapshot), ordered by snapshot and customer, with the
    score columns, a ``population`` column (``oot`` or ``latest``) and the panel columns.
    Rows without snapshot dates (a flat table without a date column) have neither an
    out-of-time set nor a latest snapshot: their random ``test`` split stands in, and every
    explained row's ``population`` is ``test`` (:data:`UNDATED_POPULATION`).
    ``panel`` is the model's own rows keyed the same way (``research.stages._model_rows``).
    """
    lacking = sorted({*KEYS, "split", "score", "margin"} - set(scores.columns))
    if lacking:
        raise ValueError(f"scores table lacks columns {lacking}; rerun the train stage")
    if scores["snapshot_date"].notna().any():
        latest = scores["snapshot_date"].max()
        chosen = scores[
            (scores["split"] == "oot") | (scores["snapshot_date"] == latest)
        ].drop_duplicates(KEYS)
        chosen = chosen.assign(
            population=np.where(chosen["snapshot_date"] == latest, "latest", "oot")
        )
    else:
        holdout = "oot" if (scores["split"] == "oot").any() else UNDATED_POPULATION
        chosen = scores[scores["split"] == holdout].drop_duplicates(KEYS)
        chosen = chosen.assign(population=UNDATED_POPULATION)
    panel_columns = [c for c in panel.columns if c not in chosen.columns or c in KEYS]
    joined = chosen.merge(
        panel[panel_columns], on=KEYS, how="left", validate="one_to_one", indicator=True
    )
    orphans = joined[joined["_merge"] == "left_only"]
    if len(orphans):
        raise ValueError(
            f"{len(orphans)} scored rows have no panel row, e.g. {orphans[KEYS].head(3).to_dict('records')}; "
            "rebuild the features and train stages together"
        )
    joined = joined.drop(columns="_merge")
    return joined.sort_values(["snapshot_date", "customer_id"], kind="stable").reset_index(
        drop=True
    )


def previous_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Each row's score at the preceding snapshot date: ``customer_id, snapshot_date, previous_score``.

    The preceding snapshot is the portfolio's previous snapshot date; a customer not
    scored then (new that quarter) gets a missing previous score.
    """
    rows = scores.drop_duplicates(KEYS)[[*KEYS, "score"]]
    if rows["snapshot_date"].isna().all():  # an undated table: no row has a previous score
        return rows[KEYS].assign(previous_score=np.nan).reset_index(drop=True)
    dates = np.sort(rows["snapshot_date"].unique())
    before = pd.Series(dates[:-1], index=dates[1:])
    keyed = rows[KEYS].assign(previous_date=rows["snapshot_date"].map(before))
    earlier = rows.rename(columns={"snapshot_date": "previous_date", "score": "previous_score"})
    merged = keyed.merge(
        earlier, on=["customer_id", "previous_date"], how="left", validate="many_to_one"
    )
    return merged[[*KEYS, "previous_score"]]
