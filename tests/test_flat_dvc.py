"""The flat-table route through DVC: per-model source fingerprints, and no portfolio or panel when no model needs them.

In-process and small (a params.yaml and a 300-row CSV in a temporary folder): the source
stage writes ``data/sources/<model>.json`` that changes exactly when that model's flat
table changes; with every enabled model on a flat table the data and features stages write
their placeholders without generating, reading or building anything, and the value stage
says why it computed nothing. The DVC graph itself (train@<model> depending on its own
fingerprint) is checked in ``tests/test_architecture.py`` / ``tests/test_faults.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from research.stages import source, stage_context

ROOT = Path(__file__).resolve().parents[1]


def _flat_table(path: Path, seed: int = 1, n: int = 300) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    pd.DataFrame(
        {
            "loan_no": np.arange(1, n + 1),
            "utilisation": x.round(3),
            "income": rng.normal(size=n).round(3),
            "bad": np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-x)), "Yes", "No"),
        }
    ).to_csv(path, index=False)


def _project(tmp_path: Path, *, churn: str = "disabled") -> Path:
    """params.yaml with models.credit on ``data/flat.csv``; churn ``disabled`` or on the ``panel``."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    credit = params["models"]["credit"]
    credit.update(
        source="data/flat.csv",
        id_column="loan_no",
        date_column="",
        label="bad",
        event_value="Yes",
        grading="deciles",
        grades={"names": [], "upper_pd": []},
    )
    params["models"]["credit2"] = copy.deepcopy(credit) | {
        "source": "data/flat2.csv",
        "registry_name": "credit2",
    }
    params["models"]["churn"]["enabled"] = churn != "disabled"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _flat_table(root / "data" / "flat.csv")
    _flat_table(root / "data" / "flat2.csv", seed=2)
    return root


def _files(root: Path) -> dict[str, str]:
    folder = root / "data" / "sources"
    return {p.name: p.read_text() for p in sorted(folder.glob("*.json"))}


def test_each_model_has_its_own_fingerprint_that_changes_with_its_flat_table(tmp_path):
    root = _project(tmp_path)
    ctx = stage_context(root, write=True)
    source.run(ctx)
    first = _files(root)
    assert set(first) == {"credit.json", "credit2.json", "churn.json"}
    assert json.loads(first["churn.json"]) == {"enabled": False}
    credit = json.loads(first["credit.json"])
    md5 = hashlib.md5((root / "data" / "flat.csv").read_bytes()).hexdigest()
    assert credit == {
        "source": "data/flat.csv",
        "files": [
            {"path": "data/flat.csv", "size": (root / "data/flat.csv").stat().st_size, "md5": md5}
        ],
    }
    assert str(tmp_path) not in json.dumps(first)  # no machine paths
    # no enabled model on the panel: data.source is neither read nor fingerprinted
    assert json.loads(source.fingerprint_path(root).read_text())["panel"] is False

    # unchanged inputs: the same bytes, files not even rewritten (DVC sees nothing new)
    mtimes = {p: p.stat().st_mtime_ns for p in (root / "data" / "sources").glob("*.json")}
    source.run(ctx)
    assert _files(root) == first
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    # one row of one table changes: that model's fingerprint changes, no other
    table = pd.read_csv(root / "data" / "flat.csv")
    table.loc[0, "income"] += 1
    table.to_csv(root / "data" / "flat.csv", index=False)
    source.run(ctx)
    second = _files(root)
    assert second["credit.json"] != first["credit.json"]
    assert {k: v for k, v in second.items() if k != "credit.json"} == {
        k: v for k, v in first.items() if k != "credit.json"
    }

    # a model removed from params leaves no fingerprint; a panel model says panel
    params = yaml.safe_load((root / "params.yaml").read_text())
    del params["models"]["credit2"]
    params["models"]["churn"]["enabled"] = True
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    fingerprint = source.run(stage_context(root, write=True))
    assert set(_files(root)) == {"credit.json", "churn.json"}
    assert json.loads(_files(root)["churn.json"]) == {"source": "panel"}
    assert fingerprint["kind"] == "synthetic" and "panel" not in fingerprint


def test_flat_only_data_and_features_write_placeholders_without_building_anything(
    tmp_path, monkeypatch
):
    from research.stages import data, features, value
    from research.stages.notebook import skip_note

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may be generated or read when no model needs the panel")

    monkeypatch.setattr(data, "generate_portfolio", refuse)
    monkeypatch.setattr(data, "read_source", refuse)
    monkeypatch.setattr(features, "read_validated", refuse)
    root = _project(tmp_path)
    ctx = stage_context(root, write=True)
    for stage in ("data", "features", "value"):  # the notebook runner writes placeholders
        assert "flat table" in skip_note(ctx, stage, None) or "panel" in skip_note(ctx, stage, None)

    built = data.run(ctx)
    assert isinstance(built, data.DataNotBuilt)
    raw = root / "data" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == ["_source.json"]
    info = json.loads((raw / "_source.json").read_text())
    assert info["kind"] == "flat" and info["panel"] is False
    assert info["tables"] == {"credit": "data/flat.csv", "credit2": "data/flat2.csv"}
    assert "bad = Yes" in info["default_definition"]
    truth = root / "data" / "truth"  # no tables, one note (an empty folder output makes DVC warn)
    assert [p.name for p in truth.iterdir()] == ["_no_truth.txt"]
    assert "No ground truth" in (truth / "_no_truth.txt").read_text()

    panel_file = root / "data" / "features" / "panel.parquet"
    placeholder = features.run(ctx)
    assert isinstance(placeholder, features.FeaturesNotBuilt)
    panel = pd.read_parquet(panel_file)
    assert panel.empty and list(panel.columns) == ["customer_id", "snapshot_date"]
    plan = json.loads((root / "data" / "features" / "snapshots.json").read_text())
    assert plan["mode"] == "none" and "credit reads data/flat.csv" in plan["notes"][0]
    before = panel_file.read_bytes()
    features.run(ctx)  # the same bytes every run: a rerun reruns nothing downstream
    assert panel_file.read_bytes() == before

    done = value.run(ctx)
    assert isinstance(done, value.ValueNotComputed)
    assert done.missing == {"pd": "credit", "attrition": "churn"}
    assert "reads its own table data/flat.csv" in done.note
    assert json.loads((root / "metrics" / "value.json").read_text()) == {"computed": False}


def test_a_panel_model_beside_a_flat_one_keeps_the_panel_and_value_names_the_flat_one(tmp_path):
    from research.stages import value
    from research.stages.notebook import skip_note

    root = _project(tmp_path, churn="panel")
    ctx = stage_context(root, write=False)
    assert ctx.settings.needs_panel
    assert skip_note(ctx, "data", None) is None and skip_note(ctx, "features", None) is None
    assert value.disabled_sources(ctx) == {"pd": "credit"}  # not a ParamsError any more
    assert "trained on a flat table" in skip_note(ctx, "value", None)


@pytest.mark.parametrize("stage", ["train"])
def test_train_depends_on_its_own_source_fingerprint(stage):
    stage_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "data/sources/${key}.json" in stage_yaml[stage]["do"]["deps"]
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage_yaml["source"]["outs"]]
    assert "data/sources" in outs
