"""Relationship features: tenure, categories and flags, and the rows a customer appears in."""

from __future__ import annotations

import pandas as pd
import pytest

from _feature_fixtures import table
from research.features._grid import make_grid
from research.features.relationship import relationship_features


def test_tenure_categories_and_flags_over_two_snapshots():
    people = table(
        "customers",
        [
            {
                "customer_id": "B",
                "onboarding_date": "2023-01-01",
                "segment": "micro",
                "industry": "technology",
                "region": "capital",
                "green_flag": True,
                "inclusive_flag": True,
            },
            {
                "customer_id": "A",
                "onboarding_date": "2023-07-01",
                "segment": "project_spv",
                "industry": "energy_renewables",
                "region": "international",
                "relationship_end_date": "2024-01-01",
            },  # ends on the second snapshot
            {
                "customer_id": "C",
                "onboarding_date": "2024-01-01",
            },  # onboarded on the second snapshot
        ],
    )
    grid = make_grid(
        people, [pd.Timestamp("2024-01-01"), pd.Timestamp("2023-07-01")], months_back=12
    )
    out = pd.concat([grid.keys(), relationship_features(people, grid)], axis=1)
    assert out[["customer_id", "snapshot_date"]].astype(str).values.tolist() == [
        ["B", "2023-07-01"],
        ["A", "2024-01-01"],
        ["B", "2024-01-01"],
    ]
    assert out["rel_tenure_months"].tolist() == pytest.approx(
        [181 / (365.25 / 12), 184 / (365.25 / 12), 365 / (365.25 / 12)]
    )
    assert out["segment"].tolist() == ["micro", "project_spv", "micro"]
    assert out["industry"].tolist() == ["technology", "energy_renewables", "technology"]
    assert out["region"].tolist() == ["capital", "international", "capital"]
    assert out["green_flag"].tolist() == [1.0, 0.0, 1.0] and out["inclusive_flag"].tolist() == [
        1.0,
        0.0,
        1.0,
    ]
    assert out["segment"].dtype == "str" and out["green_flag"].dtype == "float64"
