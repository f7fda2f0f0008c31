"""The whole pipeline, end to end, in a temporary copy of the project at small scale.

One `dvc repro` builds every stage from a small synthetic portfolio; the test then
checks the contract outputs, that a second repro is a no-op, that a value-only params
change reruns the value stage alone, and that bad input stops the data stage before
it writes anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from research.reporting.html import external_references

ROOT = Path(__file__).resolve().parents[1]
SMALL = {
    "data.synthetic.n_customers": 1200,
    "models.credit.xgb.n_estimators": 120,
    "models.churn.xgb.n_estimators": 120,
    "explain.report_sample": 300,
    "explain.interaction_sample": 40,
}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]


def _set(params: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = value


def _run(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    """A git copy of the project's tracked and new files, with small params."""
    dest = tmp_path_factory.mktemp("pipeline") / "project"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for key, value in SMALL.items():
        _set(params, key, value)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(dest / ".dvc" / "site-cache"),
        "OMP_WAIT_POLICY": "PASSIVE",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    env.pop("RESEARCH_ROOT", None)
    _run(["git", "init", "-q"], dest, env)
    _run(["git", "add", "-A"], dest, env)
    _run(["git", "commit", "-qm", "copy"], dest, env)
    _run(["dvc", "repro"], dest, env)
    return dest, env


def test_repro_builds_every_contract_output(project):
    root, _ = project
    for rel in [
        "data/raw/customers.parquet",
        "data/truth/oracle.parquet",
        "data/features/panel.parquet",
        "data/scores/credit.parquet",
        "data/scores/churn.parquet",
        "models/credit/model.ubj",
        "models/churn/run.json",
        "reports/credit/shap.html",
        "reports/churn/validation.html",
        "reports/value.html",
        "reports/index.html",
        "reports/notebooks/train-credit.html",
    ]:
        assert (root / rel).exists(), rel
    metrics = json.loads((root / "metrics/credit.json").read_text())
    for section in ("train", "valid", "oot", "challenger", "oracle"):
        assert "auc" in metrics[section], section
    scores = pd.read_parquet(root / "data/scores/credit.parquet")
    assert {"customer_id", "snapshot_date", "split", "score", "grade"} <= set(scores.columns)
    for report in (
        "reports/credit/shap.html",
        "reports/credit/validation.html",
        "reports/value.html",
    ):
        assert external_references((root / report).read_text()) == [], report
    assert list((root / "mlruns").glob("mlflow.db"))


def test_second_repro_is_a_no_op(project):
    root, env = project
    status = _run(["dvc", "status"], root, env).stdout
    assert "up to date" in status, status


def test_value_params_rerun_only_the_value_stage(project):
    root, env = project
    params_file = root / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["value"]["discount_rate"] = params["value"]["discount_rate"] + 0.01
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        dry = _run(["dvc", "repro", "--dry"], root, env).stdout
    finally:
        params_file.write_text(original)
    ran = {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}
    assert ran <= {"value", "report"} and "value" in ran, dry


def test_bad_input_stops_the_data_stage_before_writing(project, tmp_path):
    root, env = project
    broken = tmp_path / "tables"
    broken.mkdir()
    customers = pd.read_parquet(root / "data/raw/customers.parquet").head(20)
    customers.loc[customers.index[3], "segment"] = "mega_corp"
    customers.to_parquet(broken / "customers.parquet", index=False)
    work = tmp_path / "copy"
    generated = {"data", "mlruns", "models", "reports", "metrics", "plots"}
    shutil.copytree(
        root,
        work,
        ignore=lambda folder, names: generated & set(names) if Path(folder) == root else set(),
    )
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"]["source"] = str(broken)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = _run(
        ["dvc", "repro", "data"],
        work,
        {**env, "DVC_SITE_CACHE_DIR": str(work / ".dvc/site-cache")},
        check=False,
    )
    assert result.returncode != 0
    assert "customers.segment" in result.stdout + result.stderr
    assert "mega_corp" in result.stdout + result.stderr
    assert not (work / "data" / "raw").exists()
