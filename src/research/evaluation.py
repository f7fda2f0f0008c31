"""The model against the synthetic portfolio's oracle (``data/truth``); never used to fit anything.

The oracle score of a customer-snapshot is the event probability given the customer's
latent state at the snapshot. Its AUC on the same customer-snapshots as the model's is
the ceiling any model can reach from the data; the gap says how much the features miss.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from research.models.metrics import auc

KEYS = ["customer_id", "snapshot_date"]


def oracle_comparison(
    scores: pd.DataFrame,
    oracle: pd.DataFrame,
    *,
    label: str,
    oracle_column: str,
    split: str = "oot",
    score: str = "score",
) -> dict[str, Any]:
    """Model and oracle AUC on the ``split`` rows of ``scores`` that the oracle covers.

    Args:
        scores: Scored rows with ``customer_id, snapshot_date, split``, the outcome column
            ``label`` and the model's ``score``.
        oracle: ``customer_id, snapshot_date`` and ``oracle_column``.
        label: Outcome column of ``scores`` (1/0).
        oracle_column: The oracle probability to compare (``oracle_default``, ``oracle_churn``).
        split: Which rows to compare.
        score: The model's score column.

    Returns:
        ``auc`` (model), ``oracle_auc``, ``gap`` (oracle minus model), ``n``, ``events``,
        and ``unmatched`` (rows of the split the oracle lacks; excluded).
    """
    missing = [c for c in (*KEYS, oracle_column) if c not in oracle.columns]
    if missing:
        raise KeyError(f"oracle table lacks columns {missing}; it has {list(oracle.columns)}")
    rows = scores.loc[(scores["split"] == split) & scores[label].notna(), [*KEYS, label, score]]
    truth = oracle[[*KEYS, oracle_column]].drop_duplicates(KEYS)
    truth = truth.assign(snapshot_date=pd.to_datetime(truth["snapshot_date"]).astype("datetime64[ns]"))
    rows = rows.assign(snapshot_date=pd.to_datetime(rows["snapshot_date"]).astype("datetime64[ns]"))
    joined = rows.merge(truth, on=KEYS, how="inner", validate="one_to_one")
    if joined.empty:
        raise ValueError(f"no {split!r} customer-snapshot of the scores is in the oracle table")
    model_auc, oracle_auc = auc(joined[label], joined[score]), auc(joined[label], joined[oracle_column])
    return {
        "auc": model_auc,
        "oracle_auc": oracle_auc,
        "gap": None if model_auc is None or oracle_auc is None else oracle_auc - model_auc,
        "n": len(joined),
        "events": int(joined[label].sum()),
        "unmatched": len(rows) - len(joined),
    }
