"""Reading a flat table as a quant expects: the label's event value, numbers held as text,
names XGBoost refuses, id-like, constant and high-cardinality columns, protected attributes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from research.models import flat
from research.models.checks import DegenerateModelError
from research.tracking import numeric_metrics

N = 200


def mixed_table(seed: int = 3) -> pd.DataFrame:
    """A hand-made table of every kind of column a public CSV brings."""
    rng = np.random.default_rng(seed)
    income = rng.integers(1000, 9000, N).astype(str).astype(object)
    income[[3, 17, 42]] = ""  # blanks in a column of numbers held as text
    income[50] = "  "
    return pd.DataFrame(
        {
            "loan_id": [f"L{i:04d}" for i in range(N)],
            "Surname": rng.choice(["Smith", "Jones", "Brown", "Lee"], N),
            "RowNumber": np.arange(1, N + 1),
            "ref": [f"r{i}" for i in rng.permutation(N)],  # unique text per row
            "income": income,
            "employer": [f"firm {i % 80}" for i in range(N)],  # 80 levels: high cardinality
            "purpose": rng.choice(["car", "house", "business"], N),
            "country": ["NL"] * N,  # constant
            "balance<0": rng.integers(0, 2, N),
            "amount[eur]": rng.normal(size=N),
            "SEX": rng.choice([1, 2], N),
            "AGE": rng.integers(20, 70, N),
            "account_age": rng.integers(0, 20, N),
            "marital_status": rng.choice(["single", "married"], N),
            "flag": np.where(rng.random(N) < 0.5, 1.0, np.nan),  # one value or missing: kept
            "defaulted": rng.choice([" Yes", "no", "NO", "yes "], N),
        }
    )


def prepare(raw: pd.DataFrame, **kwargs):
    table, _ = flat.prepare_modeling_table(
        raw, id_column="loan_id", date_column="", label="defaulted", event_value="yes"
    )
    features = flat.modeling_features(
        table, id_column="loan_id", date_column=None, labels=["defaulted"]
    )
    mapping = flat.label_mapping(raw["defaulted"], table["defaulted"])
    return (raw, *flat.prepare_features(table, features, label_mapping=mapping, **kwargs))


def test_every_decision_is_taken_and_recorded():
    raw, table, features, record = prepare(mixed_table())
    assert table["defaulted"].tolist() == [
        1.0 if v.strip().lower() == "yes" else 0.0 for v in raw["defaulted"]
    ]
    assert record.label_mapping == {"Yes": 1.0, "yes": 1.0, "NO": 0.0, "no": 0.0}
    assert record.converted_numeric == {"income": 4}
    assert table["income"].dtype == np.float64 and table["income"].isna().sum() == 4
    assert table["income"].iloc[0] == float(raw["income"].iloc[0])
    assert set(record.dropped_id_like) == {"Surname", "RowNumber", "ref"}
    assert "unique per row" in record.dropped_id_like["ref"]
    assert record.dropped_constant == ["country"]
    assert record.dropped_high_cardinality == {"employer": 80}
    assert record.protected_excluded == {
        "SEX": "sex",
        "AGE": "age",
        "marital_status": "marital status",
    }
    assert record.protected_included == {}
    assert record.renamed == {"balance_lt_0": "balance<0", "amount_eur": "amount[eur]"}
    assert (
        features
        == record.features
        == [
            "income",
            "purpose",
            "balance_lt_0",
            "amount_eur",
            "account_age",
            "flag",
        ]
    )
    assert set(features) <= set(table.columns) and "balance<0" not in table.columns
    assert record.original("balance_lt_0") == "balance<0" and record.original("flag") == "flag"
    notes = " | ".join(record.notes)
    for part in ("'income' held numbers as text", "4 blank", "'SEX' is a protected", "80 levels"):
        assert part in notes, part


def test_the_record_is_json_and_adds_no_metric_named_by_a_column():
    record = prepare(mixed_table())[3]
    as_dict = record.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["converted_numeric"] == [{"column": "income", "blanks": 4}]
    assert as_dict["dropped_high_cardinality"] == [{"column": "employer", "levels": 80}]
    # the train stage logs numeric leaves of its metrics as MLflow metrics: none from here
    assert numeric_metrics({"table_preparation": as_dict}) == {}


def test_protected_columns_are_used_only_when_named_and_the_choice_is_recorded():
    record = prepare(mixed_table(), allow_protected=["AGE"])[3]
    assert record.protected_included == {"AGE": "age"} and "AGE" in record.features
    assert set(record.protected_excluded) == {"SEX", "marital_status"}
    assert any("'AGE'" in n and "INCLUDED" in n and "allow_protected" in n for n in record.notes)
    with pytest.raises(KeyError, match="allow_protected names columns.*'age_years'"):
        prepare(mixed_table(), allow_protected=["age_years"])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("SEX", "sex"),
        ("Gender", "sex"),
        ("applicant_gender", "sex"),
        ("AGE", "age"),
        ("Age", "age"),
        ("age_years", "age"),
        ("MARRIAGE", "marital status"),
        ("MaritalStatus", "marital status"),
        ("civil_status", "marital status"),
        ("ethnicity", "race or ethnicity"),
        ("Religion", "religion"),
        ("nationality", "nationality"),
        ("foreign_worker", "nationality"),
        ("date_of_birth", "date of birth"),
        ("DOB", "date of birth"),
        ("account_age", None),
        ("mortgage", None),
        ("page_views", None),
        ("Geography", None),
        ("usage", None),
        (3, None),
    ],
)
def test_protected_attributes_by_name(name, kind):
    assert flat.protected_kind(name) == kind


@pytest.mark.parametrize(
    ("event_value", "values", "expected"),
    [
        ("Yes", ["yes", " YES", "No", None, ""], [1, 1, 0, np.nan, np.nan]),
        ("bad", ["good", "bad", "Bad"], [0, 1, 1]),
        ("2", [1, 2, 2, 1], [0, 1, 1, 0]),
        ("2", [1.0, 2.0, np.nan], [0, 1, np.nan]),
        ("", ["1", "0", ""], [1, 0, np.nan]),
    ],
)
def test_the_label_event_value(event_value, values, expected):
    raw = pd.DataFrame({"id": range(len(values)), "y": values, "x": range(len(values))})
    table, _ = flat.prepare_modeling_table(
        raw, id_column="id", date_column=None, label="y", event_value=event_value
    )
    np.testing.assert_array_equal(table["y"].to_numpy(), np.array(expected, dtype=float))


def test_an_unknown_label_stops_naming_its_values_and_the_setting():
    raw = pd.DataFrame({"id": [1, 2, 3], "y": ["Yes", "No", "No"], "x": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"'y'.*models\.<name>\.event_value.*\['Yes', 'No'\]"):
        flat.prepare_modeling_table(raw, id_column="id", date_column=None, label="y")
    with pytest.raises(ValueError, match=r"holds no value 'bad'.*event_value.*\['Yes', 'No'\]"):
        flat.prepare_modeling_table(
            raw, id_column="id", date_column=None, label="y", event_value="bad"
        )


def test_names_xgboost_refuses_are_renamed_uniquely_and_reversibly():
    table = pd.DataFrame(
        {"a<b": [1.0, 2.0, 3.0], "a_lt_b": [3.0, 1.0, 2.0], 7: [1.0, 0.0, 1.0], "x[1]": [0, 1, 0]}
    )
    prepared, features, record = flat.prepare_features(table, list(table.columns))
    assert features == ["a_lt_b_2", "a_lt_b", "col_7", "x_1"]
    assert record.renamed == {"a_lt_b_2": "a<b", "col_7": 7, "x_1": "x[1]"}
    assert all(isinstance(f, str) and not set("[]<") & set(f) for f in features)
    assert prepared[features].to_numpy().tolist() == table.to_numpy().tolist()
    back = prepared.rename(columns=record.renamed)
    assert list(back.columns) == list(table.columns)


def test_a_table_of_nothing_but_ids_and_constants_stops():
    table = pd.DataFrame({"customer_id": range(5), "segment": ["a"] * 5, "income": [1.0] * 5})
    with pytest.raises(DegenerateModelError, match="no feature column is left.*'segment'"):
        flat.prepare_features(table, list(table.columns))


def test_a_numeric_column_read_as_text_is_not_a_high_cardinality_categorical():
    values = np.round(np.random.default_rng(0).normal(1000, 300, 5000), 2).astype(str)
    values[::97] = ""
    table = pd.DataFrame({"amount": values.astype(object), "g": ["a", "b"] * 2500})
    prepared, features, record = flat.prepare_features(table, ["amount", "g"])
    assert features == ["amount", "g"] and record.dropped_high_cardinality == {}
    assert record.converted_numeric == {"amount": len(range(0, 5000, 97))}
