"""Any modeling table as training input: an id, an optional snapshot date, a label and features.

The panel of the features stage is one such table; a user's own flat table (Parquet or
CSV) is another. String columns become categoricals, numbers and booleans floats,
missing values stay missing (the booster handles them; the challenger imputes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def read_modeling_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV modeling table."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"modeling table {path} not found (models.<name>.source)")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
        return pd.read_csv(path)
    raise ValueError(f"modeling table {path}: expected a .parquet or .csv file, got {suffix!r}")


def _binary_label(column: pd.Series, name: str) -> pd.Series:
    """The label as float 1/0/NaN, or a clear error naming the offending values."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype("float64")
    values = pd.to_numeric(column, errors="coerce")
    bad = column[column.notna() & ~values.isin([0, 1])]
    if len(bad):
        raise ValueError(
            f"label column {name!r} must hold 1 (event), 0 (no event) or empty (censored); "
            f"found {bad.drop_duplicates().head(5).tolist()} in {len(bad)} rows (e.g. rows {bad.index[:3].tolist()})"
        )
    return values.astype("float64")


def prepare_modeling_table(
    frame: pd.DataFrame, *, id_column: str, date_column: str | None, label: str
) -> tuple[pd.DataFrame, str | None]:
    """Check the key, date and label columns; return a copy with a float label and parsed dates.

    ``date_column`` empty (or ``None``) means the table has no snapshot date, and the
    returned date column is ``None``.
    """
    columns = list(frame.columns)
    for key, name in (("id_column", id_column), ("label", label)):
        if name not in frame.columns:
            raise KeyError(
                f"modeling table has no column {name!r} (models.<name>.{key}); its columns: {columns[:12]}"
            )
    if date_column and date_column not in frame.columns:
        raise KeyError(
            f'modeling table has no date column {date_column!r}; set models.<name>.date_column to "" '
            f"for a table without snapshot dates (a stratified random test split replaces the out-of-time test)"
        )
    table = frame.copy()
    table[label] = _binary_label(frame[label], label)
    if table[id_column].isna().any():
        raise ValueError(
            f"id column {id_column!r} has {int(table[id_column].isna().sum())} empty values"
        )
    if date_column:
        try:
            table[date_column] = pd.to_datetime(frame[date_column]).astype("datetime64[ns]")
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"date column {date_column!r} does not parse as dates: {err}"
            ) from None
        if table[date_column].isna().any():
            raise ValueError(
                f"date column {date_column!r} has {int(table[date_column].isna().sum())} empty values"
            )
    return table, date_column or None


def modeling_features(
    frame: pd.DataFrame, *, id_column: str, date_column: str | None, labels: Sequence[str]
) -> list[str]:
    """Every column but the id, the date and any label column, in table order."""
    skip = {id_column, *(labels or ())}
    if date_column:
        skip.add(date_column)
    features = [c for c in frame.columns if c not in skip]
    if not features:
        raise ValueError("modeling table has no feature columns besides the id, date and label")
    return features


def describe_columns(
    frame: pd.DataFrame, features: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """How each feature is treated: categorical or numeric, missing share, distinct values."""
    return pd.DataFrame(
        {
            "feature": list(features),
            "treated_as": ["categorical" if f in set(categorical) else "numeric" for f in features],
            "dtype": [str(frame[f].dtype) for f in features],
            "missing_share": [float(frame[f].isna().mean()) for f in features],
            "distinct": [int(frame[f].nunique(dropna=True)) for f in features],
        }
    ).astype({"missing_share": np.float64})
