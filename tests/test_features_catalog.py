"""The feature catalog covers exactly the panel's features, and every entry is usable."""

from __future__ import annotations

import numpy as np
import pytest

from _feature_fixtures import FEATURE_PARAMS, PARAMS, random_portfolio
from research.features.catalog import (
    CATEGORICAL_FEATURES,
    FAMILIES,
    FeatureSpec,
    catalog_for,
    catalog_table,
    feature_catalog,
    is_label_column,
)
from research.features.snapshot import build_panel

CATALOG = feature_catalog(**FEATURE_PARAMS, financials_overdue_days=180)


@pytest.mark.parametrize(
    "params",
    [
        PARAMS,
        {**PARAMS, "windows_months": [1, 24], "long_window_months": 6, "dpd_thresholds": [15, 45]},
    ],
)
def test_every_panel_feature_has_an_entry_and_every_entry_a_column(params):
    tables = random_portfolio(np.random.default_rng(2), n_customers=5)
    panel, _ = build_panel(tables, ["2020-06-01"], **params)
    features = [
        c
        for c in panel.columns
        if c not in ("customer_id", "snapshot_date") and not is_label_column(c)
    ]
    catalog = feature_catalog(
        params["windows_months"],
        params["long_window_months"],
        params["dpd_thresholds"],
        params["trend_recent_months"],
    )
    assert features == list(catalog)
    assert [spec.name for spec in catalog_for(panel.columns, strict=True)] == features


def test_entries_are_complete_and_reasons_format():
    for name, spec in CATALOG.items():
        assert isinstance(spec, FeatureSpec) and spec.name == name
        assert spec.family in FAMILIES and spec.description and spec.unit
        assert spec.risk_direction in (-1, 0, 1)
        text = spec.reason.format(value=3.0)
        assert "{" not in text and "}" not in text, name
        if name in CATEGORICAL_FEATURES:
            assert spec.risk_direction == 0 and spec.reason.format(value="micro").endswith("micro")
    assert "180 days" in CATALOG["fin_statement_overdue"].description
    assert (
        CATALOG["rep_max_dpd_12m"].reason.format(value=45.0)
        == "Maximum days past due over the last 12 months is 45"
    )


def test_directions_where_the_effect_is_known():
    assert CATALOG["rep_max_dpd_12m"].risk_direction == 1
    assert CATALOG["fin_interest_cover"].risk_direction == -1
    assert CATALOG["segment"].risk_direction == 0


def test_catalog_for_reads_window_lengths_from_names():
    specs = catalog_for(
        ["customer_id", "cf_inflow_amount_24m", "rep_dpd45_count_6m", "default_12m", "mystery"]
    )
    assert [s.name for s in specs] == ["cf_inflow_amount_24m", "rep_dpd45_count_6m", "mystery"]
    assert "24 months" in specs[0].description and specs[0].risk_direction == -1
    assert "45 or more days" in specs[1].description and "6 months" in specs[1].description
    assert specs[2].family == "other" and specs[2].risk_direction == 0
    with pytest.raises(KeyError, match="mystery"):
        catalog_for(["mystery"], strict=True)


def test_catalog_table_for_the_docs():
    frame = catalog_table(CATALOG)
    assert list(frame.columns[:6]) == [
        "name",
        "family",
        "description",
        "unit",
        "risk_direction",
        "reason",
    ]
    assert len(frame) == len(CATALOG) and frame["name"].is_unique
    assert (
        frame.loc[frame["name"] == "rep_max_dpd_12m", "effect_on_default_risk"].item()
        == "raises risk"
    )
