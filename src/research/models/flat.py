"""Any modeling table as training input: an id, an optional snapshot date, a label and features.

The panel of the features stage is one such table; a user's own flat table (Parquet or
CSV) is another. String columns become categoricals, numbers and booleans floats,
missing values stay missing (the booster handles them; the challenger imputes).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from research.models.checks import DegenerateModelError


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


EVENT_VALUE_KEY = "models.<name>.event_value"


def _is_blank(column: pd.Series) -> pd.Series:
    """Missing values and strings of only spaces."""
    text = column.astype("string").str.strip()
    return column.isna() | text.eq("").fillna(True).astype(bool)


def _distinct(column: pd.Series, limit: int = 12) -> list[str]:
    values = column[~_is_blank(column)].astype(str).str.strip().drop_duplicates()
    listed = values.head(limit).tolist()
    return listed + ([f"... ({values.size} in all)"] if values.size > limit else [])


def _same_value(values: pd.Series, event_value: str) -> pd.Series:
    """Which values equal ``event_value``: as text (stripped, case-insensitive) or as numbers."""
    wanted = event_value.strip()
    text = values.astype(str).str.strip()
    same = text.str.casefold().eq(wanted.casefold())
    number = pd.to_numeric(pd.Series([wanted]), errors="coerce").iloc[0]
    if pd.notna(number):
        same |= pd.to_numeric(text, errors="coerce").eq(number)
    return same.astype(bool)


def _binary_label(column: pd.Series, name: str, event_value: str = "") -> pd.Series:
    """The label as float 1/0/NaN, or a clear error naming the offending values.

    ``event_value`` empty: the label holds 1/0 (or booleans) already. Otherwise the value
    that means the event (text, stripped and case-insensitive, or a number: ``2`` matches
    ``2.0``); every other non-blank value is 0 and blanks are missing (censored).
    """
    blank = _is_blank(column)
    if event_value.strip():
        event = _same_value(column, event_value)
        if not (event & ~blank).any():
            raise ValueError(
                f"label column {name!r} holds no value {event_value!r} "
                f"({EVENT_VALUE_KEY}); its values: {_distinct(column)}"
            )
        return pd.Series(np.where(blank, np.nan, event.astype(float)), index=column.index)
    if pd.api.types.is_bool_dtype(column):
        return column.astype("float64")
    values = pd.to_numeric(column.where(~blank), errors="coerce")
    bad = column[~blank & ~values.isin([0, 1])]
    if len(bad):
        raise ValueError(
            f"label column {name!r} must hold 1 (event), 0 (no event) or empty (censored), "
            f"or {EVENT_VALUE_KEY} must name the value that means the event (e.g. "
            f"{_distinct(bad, 1)[0]!r}); its values: {_distinct(column)}; found "
            f"{bad.drop_duplicates().head(5).tolist()} in {len(bad)} rows (e.g. rows {bad.index[:3].tolist()})"
        )
    return values.astype("float64")


def label_mapping(column: pd.Series, prepared: pd.Series, limit: int = 20) -> dict[str, float]:
    """Each distinct value of the label as read (as text) and what it became (1, 0)."""
    pairs = (
        pd.DataFrame({"value": column.astype(str).str.strip(), "label": prepared})
        .dropna()
        .drop_duplicates("value")
        .sort_values(["label", "value"], ascending=[False, True])
        .head(limit)
    )
    return {str(v): float(x) for v, x in zip(pairs["value"], pairs["label"], strict=True)}


def prepare_modeling_table(
    frame: pd.DataFrame,
    *,
    id_column: str,
    date_column: str | None,
    label: str,
    event_value: str = "",
) -> tuple[pd.DataFrame, str | None]:
    """Check the key, date and label columns; return a copy with a float label and parsed dates.

    ``date_column`` empty (or ``None``) means the table has no snapshot date, and the
    returned date column is ``None``. ``event_value``: see :func:`_binary_label`.
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
    table[label] = _binary_label(frame[label], label, event_value)
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


# A string column with more levels than this is excluded (``prepare_features``).
MAX_CATEGORY_LEVELS = 50
ALLOW_PROTECTED_KEY = "models.<name>.allow_protected"
# Protected attributes by the words of a column name (English and a few common spellings):
# sex, age, marital status, race or ethnicity, religion, nationality, date of birth.
PROTECTED_WORDS = {
    "sex": "sex",
    "sexe": "sex",
    "sexo": "sex",
    "gender": "sex",
    "genero": "sex",
    "geschlecht": "sex",
    "age": "age",
    "edad": "age",
    "alter": "age",
    "marriage": "marital status",
    "marital": "marital status",
    "married": "marital status",
    "maritalstatus": "marital status",
    "civilstatus": "marital status",
    "familienstand": "marital status",
    "race": "race or ethnicity",
    "racial": "race or ethnicity",
    "ethnicity": "race or ethnicity",
    "ethnic": "race or ethnicity",
    "religion": "religion",
    "religious": "religion",
    "nationality": "nationality",
    "citizenship": "nationality",
    "foreignworker": "nationality",
    "dob": "date of birth",
    "birth": "date of birth",
    "birthdate": "date of birth",
    "birthday": "date of birth",
    "birthyear": "date of birth",
}
# ``age`` beside one of these words is the age of a thing, not of a person (``account_age``).
NOT_A_PERSON = {
    "account", "loan", "file", "car", "vehicle", "history", "contract", "facility",
    "card", "business", "company", "firm", "property", "house", "home", "building", "debt",
    "relationship", "oldest", "newest", "trade", "tradeline", "line", "record", "data",
}  # fmt: skip
# Names that say "an identifier or a person's name" (never a feature).
ID_WORDS = {"id", "uuid", "guid"}
NAME_WORDS = {"name", "surname", "firstname", "lastname", "fullname", "forename", "email"}
ROW_NUMBER_WORDS = {"rownumber", "rowid", "index", "unnamed"}


def _words(name: object) -> list[str]:
    """A column name's words, lower case: ``CustomerId`` → customer, id; ``marital_status`` → marital, status."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^0-9a-zA-Z]+", text.lower()) if w]


def _word_set(name: object) -> set[str]:
    """The words and every pair of neighbours joined (``marital status`` → maritalstatus)."""
    words = _words(name)
    return {*words, *(a + b for a, b in zip(words, words[1:], strict=False)), "".join(words)}


def protected_kind(name: object) -> str | None:
    """What protected attribute a column's name says it holds (``None``: none)."""
    words = _word_set(name)
    for word in sorted(words & PROTECTED_WORDS.keys()):
        kind = PROTECTED_WORDS[word]
        if kind == "age" and words & NOT_A_PERSON:
            continue
        return kind
    return None


def _id_like_by_name(name: object) -> str | None:
    words, joined = _words(name), _word_set(name)
    if words and (words[-1] in ID_WORDS or words[0] in ID_WORDS):
        return "its name says it is an identifier"
    if joined & NAME_WORDS:
        return "its name says it holds a person's name"
    if joined & ROW_NUMBER_WORDS:
        return "its name says it is a row number"
    return None


def _is_text(column: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(column)
        or pd.api.types.is_string_dtype(column)
        or isinstance(column.dtype, pd.CategoricalDtype)
    )


def xgboost_name(name: object) -> str:
    """A name XGBoost accepts (text without ``[``, ``]``, ``<``); others are returned as they are."""
    if not isinstance(name, str):
        return f"col_{name}"
    text = name.replace("<=", "_le_").replace("<", "_lt_").replace("[", "_").replace("]", "_")
    text = re.sub(r"_+", "_", text).strip("_")
    return text or "col"


@dataclasses.dataclass(frozen=True)
class TablePreparation:
    """Every decision :func:`prepare_features` took about a flat table's columns, for the reports.

    Names are the table's own (before renaming) except the keys of ``renamed``, which maps
    each new feature name to its original.
    """

    label_mapping: dict[str, float]
    converted_numeric: dict[str, int]  # column -> blank values left missing
    renamed: dict[str, object]  # new name -> original name
    dropped_id_like: dict[str, str]  # column -> why
    dropped_constant: list[str]
    dropped_high_cardinality: dict[str, int]  # column -> distinct levels
    protected_excluded: dict[str, str]  # column -> which attribute
    protected_included: dict[str, str]
    features: list[str]  # the model's features, as renamed
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (original names as text).

        Numbers keyed by a column name or a label value become lists of records, so that
        the metrics logger (numeric leaves as ``section.name`` metrics) never turns a column
        name into a metric name.
        """
        raw = dataclasses.asdict(self)
        raw["label_mapping"] = [{"value": v, "label": x} for v, x in self.label_mapping.items()]
        raw["converted_numeric"] = [
            {"column": c, "blanks": n} for c, n in self.converted_numeric.items()
        ]
        raw["dropped_high_cardinality"] = [
            {"column": c, "levels": n} for c, n in self.dropped_high_cardinality.items()
        ]
        return json.loads(json.dumps(raw, default=str))

    def original(self, name: str) -> object:
        """A feature's name in the table as read."""
        return self.renamed.get(name, name)


def _numeric_text(column: pd.Series) -> tuple[pd.Series, int] | None:
    """The column as numbers, and its blanks, when every non-blank value parses as a number."""
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return None
    blank = _is_blank(column)
    if blank.all():
        return None
    text = column.astype("string").str.strip().where(~blank)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers[~blank].isna().any():
        return None
    return numbers.astype("float64"), int(blank.sum())


def prepare_features(
    table: pd.DataFrame,
    features: Sequence[object],
    *,
    allow_protected: Sequence[str] = (),
    label_mapping: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, list[str], TablePreparation]:
    """The flat table's ``features`` made fit to model on, and a record of every decision.

    In order, for each feature column (never the id, date or label, which the caller leaves
    out of ``features``):

    * text whose non-blank values all parse as numbers becomes numeric (blanks missing);
    * a protected attribute by its name (sex, age, marital status, race or ethnicity,
      religion, nationality, date of birth; :data:`PROTECTED_WORDS`) is excluded unless
      ``allow_protected`` names it;
    * an id-like column is dropped: its name says id, name or row number, or its values are
      unique per row (text) or count the rows (integers ``min .. min + n - 1``);
    * a constant column (one value in every row, missing counting as a value) is dropped;
    * a text column with more than :data:`MAX_CATEGORY_LEVELS` levels is excluded: its levels
      hold too few rows each for the booster's category splits or the challenger's one-hot
      columns to learn anything but the training labels; target-free encodings (frequency)
      would keep a feature no reason code can explain. Bin it into fewer levels to use it;
    * a name XGBoost refuses (``[``, ``]``, ``<``, not text) is renamed (:func:`xgboost_name`,
      unique), and :attr:`TablePreparation.renamed` keeps the original.

    Returns the table (converted, renamed), the feature names (renamed) and the record.
    """
    unknown = [c for c in allow_protected if c not in table.columns]
    if unknown:
        raise KeyError(f"{ALLOW_PROTECTED_KEY} names columns the modeling table lacks: {unknown}")
    table = table.copy()
    n_rows = len(table)
    allowed = set(allow_protected)
    converted: dict[str, int] = {}
    id_like: dict[str, str] = {}
    constant: list[str] = []
    high: dict[str, int] = {}
    excluded: dict[str, str] = {}
    included: dict[str, str] = {}
    notes: list[str] = []
    kept: list[object] = []
    for name in features:
        column = table[name]
        parsed = _numeric_text(column)
        if parsed is not None:
            table[name], blanks = parsed
            converted[str(name)] = blanks
            notes.append(
                f"column {name!r} held numbers as text: read as numeric ({blanks} blank values "
                f"left missing)"
            )
            column = table[name]
        kind = protected_kind(name)
        if kind and name not in allowed:
            excluded[str(name)] = kind
            notes.append(
                f"column {name!r} is a protected attribute ({kind}): excluded; list it in "
                f"{ALLOW_PROTECTED_KEY} to use it (a recorded choice)"
            )
            continue
        if kind:
            included[str(name)] = kind
            notes.append(
                f"column {name!r} is a protected attribute ({kind}): INCLUDED because "
                f"{ALLOW_PROTECTED_KEY} names it"
            )
        why = _id_like_by_name(name) if name not in allowed else None
        distinct = int(column.nunique(dropna=True))
        if why is None and column.notna().all() and distinct == n_rows > 1:
            if _is_text(column):
                why = "its values are unique per row"
            elif pd.api.types.is_integer_dtype(column) and (
                int(column.max()) - int(column.min()) + 1 == n_rows
            ):
                why = "its values count the rows"
        if why:
            id_like[str(name)] = why
            notes.append(f"column {name!r} looks like an id ({why}): dropped")
            continue
        if int(column.nunique(dropna=False)) <= 1:
            constant.append(str(name))
            notes.append(f"column {name!r} holds one value in every row: dropped")
            continue
        if _is_text(column) and distinct > MAX_CATEGORY_LEVELS:
            high[str(name)] = distinct
            notes.append(
                f"column {name!r} is text with {distinct} levels (more than "
                f"{MAX_CATEGORY_LEVELS}): excluded; bin it into fewer levels to use it"
            )
            continue
        kept.append(name)
    if not kept:
        raise DegenerateModelError(
            "no feature column is left to model on after dropping id-like, constant, "
            f"high-cardinality and protected columns: {'; '.join(notes) or 'no feature columns'}"
        )
    renamed: dict[str, object] = {}
    taken = {c for c in table.columns if isinstance(c, str)}
    final: list[str] = []
    for name in kept:
        new = xgboost_name(name)
        if new == name:
            final.append(new)
            continue
        base, k = new, 2
        while new in taken:
            new, k = f"{base}_{k}", k + 1
        taken.add(new)
        renamed[new] = name
        final.append(new)
        notes.append(f"column {name!r} renamed {new!r} (XGBoost refuses its name)")
    if renamed:
        table = table.rename(columns={old: new for new, old in renamed.items()})
    record = TablePreparation(
        label_mapping=dict(label_mapping or {}),
        converted_numeric=converted,
        renamed=renamed,
        dropped_id_like=id_like,
        dropped_constant=constant,
        dropped_high_cardinality=high,
        protected_excluded=excluded,
        protected_included=included,
        features=final,
        notes=notes,
    )
    return table, final, record


def preparation_table(
    record: Mapping[str, Any],
    *,
    id_column: str = "",
    date_column: str | None = None,
    label: str = "",
) -> pd.DataFrame:
    """What preparing a flat table did to each column it did not keep as it was, for the reports.

    ``record`` is :meth:`TablePreparation.as_dict` (as the train stage writes it into
    ``metrics/<model>.json``). One row per column: ``column`` (its name in the table),
    ``treatment`` and ``detail``; the key, date and label columns first when given.
    """
    rows: list[tuple[str, str, str]] = []
    if id_column:
        rows.append((id_column, "key", "the id column: a key, never a feature"))
    if label:
        mapping = ", ".join(
            f"{r['value']} → {r['label']:g}" for r in record.get("label_mapping") or []
        )
        rows.append((label, "label", f"the outcome ({mapping})" if mapping else "the outcome"))
    rows.append(
        (date_column, "date", "the snapshot date: a key, never a feature")
        if date_column
        else (
            "(none)",
            "no date",
            "no snapshot date: the random stratified test split stands in for out-of-time",
        )
    )
    for column, kind in (record.get("protected_excluded") or {}).items():
        rows.append((column, "excluded: protected", f"{kind}; {ALLOW_PROTECTED_KEY} to include"))
    for column, kind in (record.get("protected_included") or {}).items():
        rows.append((column, "INCLUDED: protected", f"{kind}; named in {ALLOW_PROTECTED_KEY}"))
    for column, why in (record.get("dropped_id_like") or {}).items():
        rows.append((column, "dropped: id-like", why))
    for column in record.get("dropped_constant") or []:
        rows.append((column, "dropped: constant", "one value in every row"))
    for item in record.get("dropped_high_cardinality") or []:
        rows.append(
            (
                item["column"],
                "excluded: high cardinality",
                f"text with {item['levels']} levels (more than {MAX_CATEGORY_LEVELS})",
            )
        )
    for item in record.get("converted_numeric") or []:
        rows.append(
            (
                item["column"],
                "numbers held as text",
                f"read as numeric; {item['blanks']} blank values left missing",
            )
        )
    for new, old in (record.get("renamed") or {}).items():
        rows.append((str(old), "renamed", f"modelled as {new} (XGBoost refuses the name)"))
    return pd.DataFrame(rows, columns=["column", "treatment", "detail"])
