"""The whole pipeline, end to end, in a temporary copy of the project at small scale.

One `research repro` (what `make repro` runs: DVC's reproduction, independent stages side by
side) builds every stage from a small synthetic portfolio; the test then checks the contract
outputs, that a second repro is a no-op, that a value-only params change reruns the value stage
alone, that bad input stops the data stage before it writes anything, and that a forced rebuild
(`research repro -f`) gives byte-identical outputs. The stages run the copy's code (``PYTHONPATH``), not the checkout's. The build is shared
with tests/test_deterministic_outputs.py (tests/_pipeline_build.py), which clones it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _pipeline_build import GROUP
from _pipeline_build import run as _run
from research.reporting.html import external_references

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUP)]


@pytest.fixture(scope="module")
def project(pipeline_build) -> tuple[Path, dict]:
    """The shared small build (tests/_pipeline_build.py): a git copy after one ``dvc repro``."""
    return pipeline_build["root"], pipeline_build["env"]


def test_repro_builds_every_contract_output(project):
    root, _ = project
    for rel in [
        "data/raw/customers.parquet",
        "data/truth/oracle.parquet",
        "data/features/panel.parquet",
        "data/scores/credit.parquet",
        "data/scores/churn.parquet",
        "models/credit/model.ubj",
        "runs/churn.json",
        "reports/credit/shap.html",
        "reports/churn/validation.html",
        "reports/value.html",
        "reports/index.html",
        "reports/notebooks/train-credit.html",
    ]:
        assert (root / rel).exists(), rel
    metrics = json.loads((root / "metrics/credit.json").read_text())["credit"]
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
    # The source stage fingerprints the input on every run (DVC cannot list the files a
    # mapping names); nothing else is out of date.
    assert status.split() == ["source:", "always", "changed"], status


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
    assert ran <= {"source", "value", "report"} and "value" in ran, dry


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


# --------------------------------------------------------------------------- reproducible outputs
# A forced rebuild (`dvc repro -f`) of unchanged inputs must give the same bytes in every cached
# DVC output: what DVC versions is what the code and params decide, nothing of the run's moment.
# Only the MLflow identity changes (a new run id and logged-model URI per training run).


def _fingerprints(root: Path) -> dict[str, str]:
    """The data fingerprints a training run is tagged with (and the SHAP report shows), by stage."""
    from research import tracking

    return {stage: tracking.data_fingerprint(root, stage) for stage in ("data", "features")}


def _run_identity(root: Path) -> dict[bytes, bytes]:
    """Each model's MLflow run id and logged-model URI (new with every run), with placeholders."""
    tokens: dict[bytes, bytes] = {}
    for path in sorted((root / "runs").glob("*.json")):
        run = json.loads(path.read_text())
        for key in ("run_id", "model_uri"):
            if run.get(key):
                tokens[run[key].encode()] = f"<{path.stem} {key}>".encode()
    return tokens


def _dvc_outputs(root: Path) -> dict[str, bytes]:
    """The content of every file of every cached DVC output (outs, metrics, plots), by path.

    Executed notebooks (``cache: false``) are left out: they record run times. The MLflow
    run ids and model URIs, and the data fingerprints (compared on their own below), are
    replaced by placeholders.
    """
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        outs = sorted(out.def_path for out in repo.index.outs if out.use_cache)
    tokens = _run_identity(root)
    for stage, value in _fingerprints(root).items():
        tokens[value.encode()] = f"<{stage} fingerprint>".encode()
    tokens.pop(b"unknown", None)
    found: dict[str, bytes] = {}
    for out in outs:
        path = root / out
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            content = file.read_bytes()
            for token, placeholder in tokens.items():
                content = content.replace(token, placeholder)
            found[file.relative_to(root).as_posix()] = content
    return found


def _first_difference(a: bytes, b: bytes, width: int = 60) -> str:
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return f"byte {at}: {a[max(at - width, 0) : at + width]!r} | {b[max(at - width, 0) : at + width]!r}"


@pytest.fixture(scope="module")
def rebuilt(project) -> dict:
    """The outputs and fingerprints of the fixture's build, then of a forced rebuild of everything."""
    root, env = project
    first = {"outputs": _dvc_outputs(root), "fingerprints": _fingerprints(root)}
    # a fresh hash seed for the rebuild: output that follows set or dict-of-str order shows up
    # two stages at a time, as the first build: each stage through DVC's own reproduction
    _run(
        ["research", "repro", "-f", "-j", "2"],
        root,
        {k: v for k, v in env.items() if k != "PYTHONHASHSEED"},
    )
    second = {"outputs": _dvc_outputs(root), "fingerprints": _fingerprints(root)}
    return {"first": first, "second": second}


def test_forced_rebuild_gives_byte_identical_outputs(rebuilt):
    first, second = rebuilt["first"]["outputs"], rebuilt["second"]["outputs"]
    assert sorted(first) == sorted(second)
    assert any(path.endswith(".html") for path in first) and any(p.endswith(".json") for p in first)
    differ = [
        f"{path}: {_first_difference(first[path], second[path])}"
        for path in sorted(first)
        if first[path] != second[path]
    ]
    assert not differ, "outputs that differ between two builds:\n" + "\n".join(differ)


def test_data_fingerprint_survives_a_forced_rebuild(rebuilt):
    first, second = rebuilt["first"]["fingerprints"], rebuilt["second"]["fingerprints"]
    assert "unknown" not in first.values()
    assert first == second
