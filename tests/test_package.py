"""The registered model is the scoring model: one MLflow pyfunc from panel rows to PD, grade and reasons.

Fast tests save the package to a folder and load it in this process; the slow ones log it
to a SQLite store, register it with the ``champion`` alias and load it from the registry
in a fresh process (and behind ``mlflow models serve``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _panel_fixtures import GRADES, SMALL_XGB, fit_panel_model, make_flat_table
from research.models import package
from research.models.train import model_matrix

TEXT = ["segment", "industry", "region"]
KINDS = ("graded", "deciles")


@pytest.fixture(scope="module")
def fitted():
    """A graded and a decile model on the small panel: ``{kind: (model, table)}``."""
    graded = fit_panel_model()
    deciles = fit_panel_model(graded=False, method="platt")
    return {"graded": graded[:2], "deciles": deciles[:2]}


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows as the panel holds them (labels and all), with a missing and an unseen text value."""
    rows = table.iloc[::25].head(120).copy()
    assert rows["fin_leverage"].isna().any()
    rows.loc[rows.index[1], "segment"] = None
    rows.loc[rows.index[2], "industry"] = "mining"  # a level the model never saw
    return rows


def _as_category(rows: pd.DataFrame) -> pd.DataFrame:
    # category levels in another order than the model's, as a reader of another file may give
    return rows.astype(
        {c: pd.CategoricalDtype(sorted(rows[c].dropna().unique())[::-1]) for c in TEXT}
    )


def _frames(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "str": rows,
        "object": rows.astype({c: object for c in TEXT}),
        "category": _as_category(rows),
    }


def _assert_same_scores(out: pd.DataFrame, model, rows: pd.DataFrame) -> None:
    expected = model.score(rows)
    out = out.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert np.array_equal(out["probability"].to_numpy(), expected["score"].to_numpy())
    assert np.array_equal(out["raw_score"].to_numpy(), expected["raw_score"].to_numpy())
    assert np.array_equal(
        out["challenger_score"].to_numpy(), expected["challenger_score"].to_numpy()
    )
    grading = "grade" if model.master_scale is not None else "decile"
    assert grading in out.columns and ({"grade", "decile"} - {grading}).isdisjoint(out.columns)
    assert out[grading].astype(str).tolist() == expected[grading].astype(str).tolist()


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    """Each model saved as a package folder and loaded back with ``mlflow.pyfunc.load_model``."""
    import mlflow

    folder = tmp_path_factory.mktemp("packages")
    loaded = {}
    for kind, (model, table) in fitted.items():
        path = package.save_scoring_package(model, table.head(5), folder / kind)
        loaded[kind] = mlflow.pyfunc.load_model(str(path))
    return loaded


# ----------------------------------------------------------------------------- fast tier


@pytest.mark.parametrize("kind", KINDS)
def test_package_scores_str_object_and_category_rows_exactly_as_the_scoring_model(
    fitted, saved, kind
):
    model, table = fitted[kind]
    rows = _rows(table)
    for name, frame in _frames(rows).items():
        out = saved[kind].predict(frame)
        assert list(out.columns) == [
            "customer_id",
            "snapshot_date",
            "probability",
            "grade" if kind == "graded" else "decile",
            "raw_score",
            "challenger_score",
        ], name
        _assert_same_scores(out, model, rows)
        assert out["customer_id"].tolist() == rows["customer_id"].tolist()
        assert out["snapshot_date"].tolist() == rows["snapshot_date"].tolist()


def test_rows_without_keys_score_without_them(fitted, saved):
    model, table = fitted["graded"]
    rows = _rows(table)[list(model.layout.features)]
    out = saved["graded"].predict(rows)
    assert "customer_id" not in out.columns and "snapshot_date" not in out.columns
    _assert_same_scores(out, model, rows)


def test_a_missing_model_column_stops_with_a_message_naming_it(fitted, saved):
    from mlflow.exceptions import MlflowException

    model, table = fitted["graded"]
    rows = _rows(table).drop(columns="fin_leverage")
    with pytest.raises(MlflowException, match=r"missing inputs \['fin_leverage'\]"):
        saved["graded"].predict(rows)
    with pytest.raises(ValueError, match=r"lack the model input column\(s\) \['fin_leverage'\]"):
        package.package_predictions(model, rows, package.package_config())


def test_signature_takes_text_as_any_floats_as_double_keys_optional_and_a_reasons_param(saved):
    from mlflow.types import DataType
    from mlflow.types.schema import AnyType

    signature = saved["graded"].metadata.signature
    specs = {spec.name: spec for spec in signature.inputs.inputs}
    assert all(isinstance(specs[c].type, AnyType) and specs[c].required for c in TEXT)
    assert specs["fin_leverage"].type == DataType.double and specs["fin_leverage"].required
    assert not specs["customer_id"].required and not specs["snapshot_date"].required
    assert "default_12m" not in specs
    (param,) = signature.params.params
    assert (param.name, param.dtype, param.default) == ("reasons", DataType.long, 0)
    meta = saved["graded"].metadata.metadata
    assert meta["grading"] == "master_scale" and meta["research_version"]
    assert set(meta["versions"]) >= {"xgboost", "numpy", "pandas", "scipy", "mlflow"}


def test_reasons_on_request_are_the_explain_stage_reason_codes(fitted, saved):
    """Same features, SHAP values and sentences as ``reason_codes`` on XGBoost's native SHAP."""
    from research.explain.reasons import reason_codes
    from research.explain.values import native_shap

    model, table = fitted["graded"]
    rows = _rows(table)
    out = saved["graded"].predict(_as_category(rows), params={"reasons": 3})
    assert list(out.columns[-9:]) == [
        f"reason_{r}{suffix}" for r in (1, 2, 3) for suffix in ("", "_shap", "_sentence")
    ]
    frame = model_matrix(rows, model.layout)
    keys = pd.DataFrame({"customer_id": np.arange(len(rows)), "snapshot_date": 0})
    codes = reason_codes(
        keys,
        frame,
        native_shap(model.booster, frame).values,
        package.default_catalog(model.layout.features),
        n=3,
    )
    assert len(codes) > len(rows)  # most rows have three reasons, some fewer
    out = out.reset_index(drop=True)
    for rank in (1, 2, 3):
        expected = codes[codes["rank"] == rank].set_index("customer_id")
        got = out[f"reason_{rank}"]
        assert got.notna().sum() == len(expected)
        assert got[expected.index].tolist() == expected["feature"].tolist()
        assert out.loc[expected.index, f"reason_{rank}_sentence"].tolist() == (
            expected["sentence"].tolist()
        )
        assert np.array_equal(
            out.loc[expected.index, f"reason_{rank}_shap"].to_numpy(), expected["shap"].to_numpy()
        )
    assert out["reason_1_sentence"].dropna().str.endswith("(raises risk)").all()
    # the same rows give the same reasons (a stable sort, no sampling)
    again = saved["graded"].predict(rows, params={"reasons": 3}).reset_index(drop=True)
    pd.testing.assert_frame_equal(again, out)


def test_a_flat_table_keeps_its_ints_booleans_and_own_key_columns(tmp_path):
    """Integer and boolean features are ``Any``: a gap (read as float) still scores."""
    import mlflow

    from research.models import flat, scoring, splits, train

    raw = make_flat_table(n_rows=1200)
    table, date_column = flat.prepare_modeling_table(
        raw, id_column="loan_id", date_column="application_date", label="bad"
    )
    features = flat.modeling_features(
        table, id_column="loan_id", date_column=date_column, labels=["bad"]
    )
    split = splits.assign_splits(
        table,
        id_column="loan_id",
        date_column=date_column,
        label="bad",
        oot_first_snapshot="2023-01-01",
        horizon_months=6,
        valid_fraction=0.25,
        test_fraction=0.25,
        seed=4,
    )
    layout = train.feature_layout(table, features, {"debt_ratio": 1})
    settings = scoring.FitSettings(label="bad", xgb=SMALL_XGB, **GRADES)
    model, _ = scoring.fit_scoring_model(
        table, split, settings=settings, layout=layout, nthread=2, seed=4
    )
    path = package.save_scoring_package(
        model,
        table.head(5),
        tmp_path / "flat",
        id_column="loan_id",
        date_column="application_date",
        outcome="risk",
    )
    loaded = mlflow.pyfunc.load_model(str(path))
    rows = table.head(50).copy()
    assert rows["age"].dtype.kind == "i" and rows["has_guarantor"].dtype == bool
    gap = rows.astype({"age": "float64"})
    gap.loc[gap.index[0], "age"] = np.nan
    for frame in (rows, gap):
        out = loaded.predict(frame, params={"reasons": 2})
        _assert_same_scores(out, model, frame)
        assert out["customer_id"].tolist() == frame["loan_id"].tolist()
        assert out["snapshot_date"].tolist() == frame["application_date"].tolist()
        assert out["reason_1"].notna().any()


# ----------------------------------------------------------------------------- registry


def _set_store(uri: str):
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    return previous


@pytest.fixture(scope="module")
def registry(fitted, tmp_path_factory):
    """Both models logged to a SQLite store, registered and aliased ``champion``; seconds taken."""
    import mlflow
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = _set_store(uri)
    try:
        experiment = mlflow.create_experiment(
            "package", artifact_location=(root / "artifacts").as_uri()
        )
        client, names, runs, seconds = MlflowClient(), {}, {}, {}
        for kind, (model, table) in fitted.items():
            with mlflow.start_run(experiment_id=experiment, run_name=kind) as run:
                runs[kind] = run.info.run_id
                start = time.perf_counter()
                info = package.log_scoring_package(
                    model, table.head(5), name="model", extra_metadata={"model": kind}
                )
                seconds[f"log_{kind}"] = time.perf_counter() - start
            names[kind] = f"package_{kind}"
            version = mlflow.register_model(info.model_uri, names[kind]).version
            client.set_registered_model_alias(names[kind], "champion", version)
    finally:
        mlflow.set_tracking_uri(previous)
    return {"uri": uri, "root": root, "names": names, "runs": runs, "seconds": seconds}


@pytest.fixture
def store(registry):
    import mlflow

    previous = _set_store(registry["uri"])
    yield registry
    mlflow.set_tracking_uri(previous)


FRESH = """
import json, sys, time
from pathlib import Path

start = time.perf_counter()
import mlflow
import pandas as pd
import research.models.package

folder, names = Path(sys.argv[1]), json.loads(sys.argv[2])
heavy = sorted(m for m in ("xgboost", "sklearn") if m in sys.modules)
report = {"heavy_before_load": heavy, "import_seconds": time.perf_counter() - start}
rows = {k: pd.read_parquet(folder / f"rows_{k}.parquet") for k in ("str", "category")}
report["dtypes"] = {k: str(f["segment"].dtype) for k, f in rows.items()}
for kind, name in names.items():
    clock = time.perf_counter()
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    report[f"load_{kind}_seconds"] = time.perf_counter() - clock
    impl = type(model.unwrap_python_model())
    report[f"class_{kind}"] = f"{impl.__module__}.{impl.__qualname__}"
    for k, frame in rows.items():
        model.predict(frame).to_parquet(folder / f"out_{kind}_{k}.parquet")
    model.predict(rows["category"], params={"reasons": 2}).to_parquet(
        folder / f"out_{kind}_reasons.parquet"
    )
(folder / "fresh.json").write_text(json.dumps(report))
"""


@pytest.fixture(scope="module")
def fresh(fitted, registry, tmp_path_factory):
    """Each champion loaded from the registry and scored in a new Python process."""
    folder = tmp_path_factory.mktemp("fresh")
    rows = _rows(fitted["graded"][1])
    rows.to_parquet(folder / "rows_str.parquet")
    _as_category(rows).to_parquet(folder / "rows_category.parquet")
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"]}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", FRESH, str(folder), json.dumps(registry["names"])],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    report = json.loads((folder / "fresh.json").read_text())
    report["process_seconds"] = time.perf_counter() - start
    return {"folder": folder, "rows": rows, "report": report}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_champion_loaded_in_a_fresh_process_scores_exactly_as_the_scoring_model(
    fitted, fresh, kind
):
    model, _ = fitted[kind]
    report = fresh["report"]
    assert report["class_" + kind] == "research.models.package.ScoringPackage"
    assert report["heavy_before_load"] == []
    assert report["dtypes"] == {"str": "str", "category": "category"}
    for frame in ("str", "category"):
        out = pd.read_parquet(fresh["folder"] / f"out_{kind}_{frame}.parquet")
        _assert_same_scores(out, model, fresh["rows"])
        assert out["customer_id"].tolist() == fresh["rows"]["customer_id"].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_champion_in_a_fresh_process_gives_reasons_on_request(fitted, fresh, kind):
    model, _ = fitted[kind]
    out = pd.read_parquet(fresh["folder"] / f"out_{kind}_reasons.parquet")
    _assert_same_scores(out, model, fresh["rows"])
    assert {"reason_1", "reason_2_sentence"} <= set(out.columns)
    assert "reason_3" not in out.columns
    assert out["reason_1"].notna().mean() > 0.9
    assert out["reason_1"].dropna().isin(model.layout.features).all()
    in_process = package.package_predictions(
        model,
        fresh["rows"],
        package.package_config(catalog=package.default_catalog(model.layout.features)),
        reasons=2,
    ).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        out.reset_index(drop=True)[["reason_1", "reason_1_sentence", "reason_2_shap"]],
        in_process[["reason_1", "reason_1_sentence", "reason_2_shap"]],
        check_dtype=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_load_package_scoring_model_gives_back_the_scoring_model(fitted, store, kind):
    model, table = fitted[kind]
    for uri in (f"models:/{store['names'][kind]}@champion", f"runs:/{store['runs'][kind]}/model"):
        again = package.load_package_scoring_model(uri)
        assert again.layout == model.layout
        pd.testing.assert_frame_equal(again.score(table.head(200)), model.score(table.head(200)))


@pytest.mark.slow
def test_load_package_scoring_model_refuses_a_model_that_is_not_a_package(tmp_path):
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    mlflow.pyfunc.save_model(str(tmp_path / "echo"), python_model=Echo())
    with pytest.raises(ValueError, match="not a scoring package"):
        package.load_package_scoring_model(str(tmp_path / "echo"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _stop(server: subprocess.Popen) -> None:
    """End the server and the workers it started (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        try:
            server.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
def test_mlflow_models_serve_answers_one_row_with_its_probability(fitted, registry, tmp_path):
    model, table = fitted["graded"]
    port = _free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve"]
    command += ["-m", f"models:/{registry['names']['graded']}@champion"]
    command += ["--env-manager", "local", "-p", str(port), "-w", "1"]
    # MLflow starts ``uvicorn`` by name: the venv's bin folder must come first on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"], "PATH": path}
    start = time.perf_counter()
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = start + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.perf_counter() < deadline, log.read_text()
                time.sleep(0.25)
        ready = time.perf_counter() - start
        row = _rows(table).iloc[[3]]
        split = json.loads(row.to_json(orient="split", index=False, date_format="iso"))
        answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_split": split})
    finally:
        _stop(server)
    (prediction,) = answer["predictions"]
    expected = model.score(row).iloc[0]
    assert prediction["probability"] == pytest.approx(expected["score"], rel=1e-12)
    assert prediction["grade"] == expected["grade"]
    assert prediction["customer_id"] == row["customer_id"].iloc[0]
    assert ready < 60


def test_probabilities_do_not_depend_on_numpys_processor_dispatch() -> None:
    """The pipeline's kernels run numpy without AVX-512 (research.stages.notebook); a user's process
    may not. sigmoid and Platt scaling use the C library's exp, so both give the same bits."""
    import subprocess
    import sys

    script = (
        "import hashlib, numpy as np\n"
        "from research.models.train import sigmoid\n"
        "from research.models.calibration import Calibrator\n"
        "m = np.random.default_rng(0).normal(-2, 2, 200_000)\n"
        "c = Calibrator(method='platt', slope=0.93, intercept=-0.11)\n"
        "print(hashlib.sha256(sigmoid(m).tobytes() + c.apply(m).tobytes()).hexdigest())\n"
    )
    import os

    from research.stages.notebook import reproducible_numerics

    pinned = {**os.environ, **reproducible_numerics()}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        for env in (dict(os.environ), pinned)
    ]
    assert runs[0] == runs[1] != ""
