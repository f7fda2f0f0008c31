"""The Dask engine (``research.distributed``) against the local engine, on a two-worker LocalCluster.

Features must be identical (bit for bit), scores of one model identical, SHAP values
additive to 1e-5 in float32 and equal to the local TreeSHAP, and a model boosted through
XGBoost's Dask interface within 0.005 out-of-time AUC of the local model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from _feature_fixtures import PARAMS, random_portfolio
from _panel_fixtures import DIRECTIONS, GRADES, LABELS, OOT_FIRST, SMALL_XGB, make_panel
from _tables import small_valid_tables
from research import distributed, labels
from research.config import ComputeParams, ParamsError
from research.data.io import read_tables, write_tables
from research.data.schema import validate_tables
from research.explain.values import native_shap
from research.features.snapshot import build_panel, snapshot_dates
from research.models import flat, scoring, splits, train

pytestmark = pytest.mark.xdist_group("dask")

SNAPSHOTS = snapshot_dates("2019-04-01", "2021-10-01", 3)
KEYS = {"id_column": "customer_id", "date_column": "snapshot_date"}


@pytest.fixture(scope="module")
def client():
    with distributed.dask_client(
        "", n_workers=2, memory_limit="1GiB", threads_per_worker=1
    ) as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory):
    """300 random customers with every table as the data stage writes ``data/raw``, in several row groups.

    Each row group is an input partition of the Dask tables, so the customer partitions
    gather rows from many of them and must put them back in input order.
    """
    tables = validate_tables(random_portfolio(np.random.default_rng(11), n_customers=300))
    folder = tmp_path_factory.mktemp("portfolio") / "raw"
    write_tables(tables, folder)
    for name in ("transactions", "repayments", "facility_balances", "interactions"):
        pq.write_table(
            pq.read_table(folder / f"{name}.parquet"),
            folder / f"{name}.parquet",
            row_group_size=250,
        )
    return folder


# --------------------------------------------------------------------------- partitioning


def test_customer_partition_is_a_fixed_hash_of_the_id():
    ids = pd.Series(["C001", "C002", "C003", "000123", "C001"])
    expected = distributed.customer_partition(ids, 16)
    # Pinned: the same in every process, run and version (Python's hash() is salted per process).
    assert expected.tolist() == [10, 10, 2, 3, 10]
    assert distributed.customer_partition(ids.astype(object), 16).tolist() == expected.tolist()
    assert (
        distributed.customer_partition(ids.astype("string[pyarrow]"), 16).tolist()
        == expected.tolist()
    )


def test_partition_by_customer_keeps_each_customer_in_one_partition_in_input_order():
    tables = random_portfolio(np.random.default_rng(3), n_customers=40)
    parts = distributed.partition_by_customer(tables, 4)
    owner: dict[str, int] = {}
    for i, part in enumerate(parts):
        for name, frame in part.items():
            assert frame.index.is_monotonic_increasing, f"{name} rows reordered in partition {i}"
            for customer in frame["customer_id"].unique():
                assert owner.setdefault(customer, i) == i, f"{customer} split across partitions"
    for name, frame in tables.items():
        joined = pd.concat([part[name] for part in parts]).sort_index()
        pd.testing.assert_frame_equal(joined, frame)


def test_tables_without_customer_id_are_refused():
    with pytest.raises(KeyError, match="customer_id"):
        distributed.partition_by_customer({"rates": pd.DataFrame({"rate": [0.1]})}, 2)


# --------------------------------------------------------------------------- features


def test_features_are_identical_to_the_local_engine(client, raw_folder):
    local, local_notes = build_panel(validate_tables(read_tables(raw_folder)), SNAPSHOTS, **PARAMS)
    panel, notes = distributed.build_panel_from_folder(
        raw_folder, SNAPSHOTS, client=client, **PARAMS
    )
    pd.testing.assert_frame_equal(panel, local, check_exact=True)
    assert notes == local_notes


def test_observation_end_is_global(client, raw_folder):
    tables = distributed.read_tables_dask(raw_folder)
    assert distributed.observation_end_dask(tables) == labels.observation_end(
        read_tables(raw_folder)
    )


def test_empty_partitions_and_a_missing_table_as_locally(client, tmp_path):
    tables = small_valid_tables()  # 3 customers in 8 partitions: most partitions are empty
    del tables["transactions"]
    write_tables(tables, tmp_path / "raw")
    snapshots = snapshot_dates("2023-01-01", "2024-07-01", 3)
    local, local_notes = build_panel(validate_tables(tables), snapshots, **PARAMS)
    panel, notes = distributed.build_panel_from_folder(
        tmp_path / "raw", snapshots, n_partitions=8, **PARAMS
    )
    assert len(local) > 0
    pd.testing.assert_frame_equal(panel, local, check_exact=True)
    assert notes == local_notes and any(note.startswith("transactions") for note in notes)


def test_partitioned_tables_hold_each_customer_in_input_order(client, raw_folder, tmp_path):
    tables = distributed.read_tables_dask(raw_folder)
    assert tables["transactions"].npartitions > 5
    partitions = distributed.partition_tables(tables, 4, tmp_path / "staged")
    expected = distributed.partition_by_customer(read_tables(raw_folder), 4)
    for number in range(4):
        for name, frame in partitions.read(number).items():
            pd.testing.assert_frame_equal(frame, expected[number][name].reset_index(drop=True))


# --------------------------------------------------------------------------- training, scores, SHAP


@pytest.fixture(scope="module")
def modeling():
    """The small panel's credit model inputs: table, split, layout and the fit arguments."""
    label, seed = "default_12m", 7
    panel, _ = make_panel(n_customers=400)
    table, date_column = flat.prepare_modeling_table(panel, label=label, **KEYS)
    features = flat.modeling_features(
        table, id_column="customer_id", date_column=date_column, labels=LABELS
    )
    split = splits.assign_splits(
        table,
        label=label,
        oot_first_snapshot=OOT_FIRST,
        horizon_months=12,
        valid_fraction=0.2,
        test_fraction=0.2,
        seed=seed,
        **KEYS,
    )
    layout = train.feature_layout(table, features, DIRECTIONS)
    settings = scoring.FitSettings(
        label=label, xgb=SMALL_XGB, calibration_method="isotonic", **GRADES
    )
    fit = {"settings": settings, "layout": layout, "nthread": 2, "seed": seed}
    return table, split, fit


@pytest.fixture(scope="module")
def dask_model(client, modeling):
    table, split, fit = modeling
    return distributed.fit_scoring_model_dask(table, split, client=client, **fit)


def test_dask_trained_model_is_as_good_out_of_time(modeling, dask_model):
    table, split, fit = modeling
    local, local_report = scoring.fit_scoring_model(table, split, **fit)
    model, report = dask_model
    assert 0 < report.best_iteration < SMALL_XGB["n_estimators"]
    assert set(report.loss) == set(local_report.loss)
    kwargs = {"label": fit["settings"].label, **KEYS}
    by_local = scoring.model_metrics(scoring.score_table(local, table, split, **kwargs))
    by_dask = scoring.model_metrics(scoring.score_table(model, table, split, **kwargs))
    assert by_local["oot"]["events"] >= 100
    for auc in ("auc", "auc_uncalibrated"):
        assert abs(by_dask["oot"][auc] - by_local["oot"][auc]) <= 0.005, (
            auc,
            by_dask["oot"],
            by_local["oot"],
        )


def test_scores_per_partition_equal_local_scoring(client, modeling, dask_model):
    table, split, fit = modeling
    model, _ = dask_model
    kwargs = {"label": fit["settings"].label, **KEYS}
    expected = scoring.score_table(model, table, split, **kwargs)
    got = distributed.score_table_dask(model, table, split, client=client, n_partitions=5, **kwargs)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_shap_per_partition_is_additive_and_equals_local_treeshap(client, modeling, dask_model):
    table, _, fit = modeling
    booster = dask_model[0].booster
    frame = train.model_matrix(table, fit["layout"])
    values = distributed.native_shap_dask(booster, frame, client=client, n_partitions=5)
    margin = distributed.predict_margin_dask(booster, frame, client=client, n_partitions=3)
    local = native_shap(booster, frame, nthread=2)
    np.testing.assert_array_equal(values.values, local.values)
    assert values.base_value == local.base_value and values.feature_names == list(frame.columns)
    np.testing.assert_array_equal(margin, train.predict_margin(booster, frame))
    # XGBoost's contributions and margins are float32: the residual is float32 rounding.
    total = values.values.astype(np.float32).sum(axis=1, dtype=np.float32) + np.float32(
        values.base_value
    )
    assert np.abs(total - margin.astype(np.float32)).max() <= 1e-5


# --------------------------------------------------------------------------- cluster and settings


def test_connects_to_a_running_scheduler(client):
    with distributed.dask_client(
        client.scheduler.address, n_workers=1, memory_limit="1GiB", threads_per_worker=1
    ) as remote:
        assert remote.submit(sum, [1, 2]).result() == 3
        assert distributed.cluster_resources(remote)["workers"] == 2
    assert client.submit(sum, [3]).result() == 3  # leaving the context closes only its own client


def test_partition_count_fits_worker_memory():
    assert distributed.auto_partitions(10_000, n_workers=2, memory_limit=2**31) == 4
    assert distributed.auto_partitions(2**30, n_workers=2, memory_limit=2**31) == 32
    assert (
        distributed.auto_partitions(2**30, n_workers=2, memory_limit=2**31, threads_per_worker=2)
        == 64
    )
    assert (
        distributed.local_threads_per_worker(2, 2) == 1
        and distributed.local_threads_per_worker(1, 4) == 1
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dask_worker_memory": "lots"}, "dask_worker_memory"),
        ({"dask_worker_memory": "100MiB"}, "at least 256MiB"),
        ({"scheduler": "my cluster"}, "scheduler"),
        ({"dask_workers": 0}, "dask_workers"),
    ],
)
def test_compute_settings_are_checked(change, message):
    good = ComputeParams(
        engine="dask",
        nthread=2,
        scheduler="tcp://10.0.0.5:8786",
        dask_workers=2,
        dask_worker_memory="2GiB",
    )
    with pytest.raises(ParamsError, match=message):
        dataclasses.replace(good, **change)


@pytest.mark.xdist_group("dask")
def test_client_for_sizes_the_local_cluster_from_compute_settings():
    from research.config import ComputeParams
    from research.distributed import client_for

    compute = ComputeParams(
        engine="dask", nthread=2, scheduler="", dask_workers=2, dask_worker_memory="512MiB"
    )
    with client_for(compute) as client:
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == 2
        assert all(w["nthreads"] == 1 for w in workers)
