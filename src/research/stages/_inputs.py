"""Inputs several stages read the same way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from research.paths import panel_path

# Panel columns a model's explained or validated rows carry besides its features (segments).
CONTEXT_COLUMNS = ("segment", "green_flag", "inclusive_flag")


def panel_rows(root: Path, features: Sequence[str]) -> pd.DataFrame:
    """The panel's keys, the given features and the segment columns (those the panel has)."""
    import pyarrow.parquet as pq

    path = panel_path(root)
    in_panel = set(pq.read_schema(path).names)
    wanted = ["customer_id", "snapshot_date", *features, *CONTEXT_COLUMNS]
    return pd.read_parquet(path, columns=[c for c in dict.fromkeys(wanted) if c in in_panel])
