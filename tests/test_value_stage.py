"""The value stage's wiring: its params section, its DVC block and its notebook."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from research.config import ParamsError, parse_section, read_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def value_params() -> dict:
    return read_params(ROOT / "params.yaml")["value"]


def test_value_section_parses(value_params):
    settings = parse_section("value", value_params)
    assert settings.watch.dpd_days == value_params["watch"]["dpd_days"]
    grades = [g for band in settings.risk_bands.values() for g in band]
    names = read_params(ROOT / "params.yaml")["models"]["credit"]["grades"]["names"]
    assert sorted(grades) == sorted(names), "every credit grade sits in exactly one risk band"
    assert set(settings.treatments) == set(settings.tier_names)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda v: v["treatments"].pop("core"),
            r"value\.treatments needs an entry for tier 'core'",
        ),
        (
            lambda v: v["treatments"]["top"].pop("high_risk"),
            r"value\.treatments\.top needs a treatment",
        ),
        (
            lambda v: v["risk_bands"]["high_risk"].append("A"),
            r"value\.risk_bands lists a grade in more than one band",
        ),
        (
            lambda v: v.__setitem__("value_tiers", [0.8, 0.5, 0.95]),
            r"value\.value_tiers must be quantiles",
        ),
        (
            lambda v: v.__setitem__("tier_names", ["low", "top"]),
            r"value\.tier_names needs one more name",
        ),
        (
            lambda v: v["satisfaction"]["weights"].__setitem__("nps", 1.0),
            r"value\.satisfaction\.weights has unknown",
        ),
        (
            lambda v: v["lgd"]["collateral"].__setitem__("unsecured", 1.5),
            r"value\.lgd\.collateral\.unsecured must lie",
        ),
        (
            lambda v: v["watch"].__setitem__("inflow_drop", 1.4),
            r"value\.watch\.inflow_drop must lie in \(0, 1\)",
        ),
        (
            lambda v: v["watch"].__setitem__("complaint", 2),
            r"unknown key 'value\.watch\.complaint'",
        ),
    ],
)
def test_bad_value_params_name_the_key(value_params, edit, message):
    broken = copy.deepcopy(value_params)
    edit(broken)
    with pytest.raises(ParamsError, match=message):
        parse_section("value", broken)


def test_tables_and_columns_the_stage_drops_are_unread_by_the_value_step():
    """The stage keeps only the raw tables and large-table columns the value step reads (memory)."""
    from research.data.contract import TABLES
    from research.stages.value import UNUSED_TABLES, USED_COLUMNS

    assert set(TABLES) >= UNUSED_TABLES
    code = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "src/research/value").glob("*.py"))
    )
    for name in UNUSED_TABLES:
        assert f'"{name}"' not in code
    for name, columns in USED_COLUMNS.items():
        names = [c.name for c in TABLES[name].columns]
        assert set(columns) <= set(names)
        for dropped in set(names) - set(columns):
            assert f'"{dropped}"' not in code, f"{name}.{dropped} is read by the value step"
