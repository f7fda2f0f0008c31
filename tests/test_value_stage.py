"""The value stage's wiring: its params section, its DVC block and its notebook."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
import yaml

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
        (lambda v: v["treatments"].pop("core"), r"value\.treatments needs an entry for tier 'core'"),
        (lambda v: v["treatments"]["top"].pop("high_risk"), r"value\.treatments\.top needs a treatment"),
        (lambda v: v["risk_bands"]["high_risk"].append("A"), r"value\.risk_bands lists a grade in more than one band"),
        (lambda v: v.__setitem__("value_tiers", [0.8, 0.5, 0.95]), r"value\.value_tiers must be quantiles"),
        (lambda v: v.__setitem__("tier_names", ["low", "top"]), r"value\.tier_names needs one more name"),
        (lambda v: v["satisfaction"]["weights"].__setitem__("nps", 1.0), r"value\.satisfaction\.weights has unknown"),
        (lambda v: v["lgd"]["collateral"].__setitem__("unsecured", 1.5), r"value\.lgd\.collateral\.unsecured must lie"),
        (lambda v: v["watch"].__setitem__("inflow_drop", 1.4), r"value\.watch\.inflow_drop must lie in \(0, 1\)"),
        (lambda v: v["watch"].__setitem__("complaint", 2), r"unknown key 'value\.watch\.complaint'"),
    ],
)
def test_bad_value_params_name_the_key(value_params, edit, message):
    broken = copy.deepcopy(value_params)
    edit(broken)
    with pytest.raises(ParamsError, match=message):
        parse_section("value", broken)


def test_dvc_value_stage_reads_only_its_own_params():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    value = stages["value"]
    assert "value" in value["params"]
    assert {"notebooks/value.ipynb", "src/research/value", "data/scores/credit.parquet",
            "data/scores/churn.parquet", "reports/credit/reason_codes.parquet", "data/raw"} <= set(value["deps"])
    outs = [o if isinstance(o, str) else next(iter(o)) for o in value["outs"]]
    assert {"reports/value.html", "data/value"} <= set(outs)
    assert value["metrics"] == ["metrics/value.json"]
    for name, stage in stages.items():
        if name == "value":
            continue
        params = (stage.get("do", stage)).get("params", [])
        keys = [p if isinstance(p, str) else next(iter(p)) for p in params]
        assert not any(k == "value" or k.startswith("value.") for k in keys), f"stage {name} reads value params"


def test_value_notebook_uses_the_package_and_writes_the_outputs():
    nb = nbformat.read(ROOT / "notebooks" / "value.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for needed in ("rv.customer_value(", "rv.build_watch_flags(", "rv.watch_backtest(", "value_report(",
                   "metrics_path(root, \"value\")", "customer_value.parquet", "watch_list.parquet",
                   "value_risk_matrix.parquet"):
        assert needed in source, needed
