"""The pipeline's heavy steps on Dask: features per customer partition, XGBoost's Dask trainer,
scores and SHAP per partition.

pandas stays the interface: each step runs the local engine's own functions
(``build_panel``, ``score_table``, ``native_shap``) on partitions that each hold whole
customers, so there is no second copy of the logic and the results equal the local ones.
A customer's records go to partition ``customer_partition(customer_id)``: a keyed SipHash
of the id, the same in every process and run (unlike Python's ``hash``), modulo the
partition count. The input tables are read as Dask DataFrames and written once to disk
split by customer partition (``partition_tables``), so a worker holds one partition at a
time however large the tables are; inside a partition every table keeps its input row
order, so sums add up in the same order as on one machine and the features are
bit-identical.

Nothing here reads ``params.yaml``, logs to MLflow or prints; the stages pass the
``compute`` settings in (see ``dask_client``).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from research import labels
from research.data.contract import EVENT_TIME
from research.data.schema import validate_tables
from research.features.peers import add_peer_relative
from research.features.snapshot import build_panel

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client

    from research.explain.values import ShapValues
    from research.models.scoring import FitReport, ScoringModel

PARTITION = "_partition"  # index of a partitioned table: the customer's partition number
ROW = "_row"  # input order: (input partition << ROW_BITS) + position inside it
ROW_BITS = 40
HASH_KEY = (
    "customer-part-v1"  # SipHash key (16 bytes); changing it moves customers between partitions
)
PANEL_SORT = ["snapshot_date", "customer_id"]
SPLIT, LABEL, BASE_VALUE = (
    "__split__",
    "__label__",
    "__base_value__",
)  # helper columns of distributed frames
# Parquet bytes of one customer partition per byte of a worker thread's memory. Building a
# partition peaks at about 20x its Parquet bytes (4x into pandas, the copies that restore
# the row order and validate, build_panel's arrays; bench_dask.py), which keeps a worker
# near half its limit with Dask's own memory, below the 60% where it starts to spill.
PARQUET_SHARE_OF_WORKER_MEMORY = 1 / 64


# --------------------------------------------------------------------------- the cluster


@contextmanager
def dask_client(
    scheduler: str = "",
    *,
    n_workers: int,
    memory_limit: str,
    threads_per_worker: int,
    local_directory: str | None = None,
) -> Iterator[Client]:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, or of a new ``LocalCluster``.

    Args:
        scheduler: Address of a running scheduler (``tcp://host:8786``); empty starts a
            ``LocalCluster`` of worker processes on this machine, closed on exit.
        n_workers: Workers of the local cluster (``compute.dask_workers``).
        memory_limit: Memory limit of each local worker, e.g. ``"2GiB"`` (``compute.dask_worker_memory``).
        threads_per_worker: Threads of each local worker (``local_threads_per_worker``).
        local_directory: Where local workers spill to disk (Dask's temporary folder by default).

    The sizing arguments apply to the local cluster only; a running cluster keeps its own.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    if n_workers < 1 or threads_per_worker < 1:
        raise ValueError(
            f"dask_client: n_workers and threads_per_worker must be >= 1, got {n_workers} and {threads_per_worker}"
        )
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            memory_limit=memory_limit,
            processes=True,
            dashboard_address=None,
            local_directory=local_directory,
            silence_logs=logging.ERROR,
            # OpenMP threads (XGBoost) sleep when idle instead of spinning on a shared machine.
            env={"OMP_WAIT_POLICY": "PASSIVE"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def client_for(compute: Any) -> Iterator[Client]:
    """The Dask client a stage uses, from its ``compute`` settings (``research.config.ComputeParams``)."""
    with dask_client(
        compute.scheduler,
        n_workers=compute.dask_workers,
        memory_limit=compute.dask_worker_memory,
        threads_per_worker=local_threads_per_worker(compute.nthread, compute.dask_workers),
    ) as client:
        yield client


def local_threads_per_worker(nthread: int, n_workers: int) -> int:
    """Threads per local worker when ``nthread`` (``compute.nthread``) is the machine's budget."""
    return max(1, nthread // max(n_workers, 1))


def cluster_resources(client: Client) -> dict[str, int]:
    """``workers``, ``threads`` (all workers) and ``memory_limit`` (bytes, the smallest worker's), asked live."""
    threads = client.nthreads()
    if not threads:
        raise RuntimeError(
            "the Dask cluster has no workers; start some (dask worker <scheduler address>)"
        )
    limits = client.run(_memory_limit).values()
    return {"workers": len(threads), "threads": sum(threads.values()), "memory_limit": min(limits)}


def _memory_limit(dask_worker: Any) -> int:
    """A worker's memory limit in bytes (0: none)."""
    return int(dask_worker.memory_manager.memory_limit or 0)


def auto_partitions(
    parquet_bytes: int, *, n_workers: int, memory_limit: int, threads_per_worker: int = 1
) -> int:
    """Customer partitions for ``parquet_bytes`` of input: each fits a worker thread's memory, two per worker at least."""
    per_partition = (
        max(memory_limit, 2**28) / max(threads_per_worker, 1) * PARQUET_SHARE_OF_WORKER_MEMORY
    )
    return max(2 * n_workers, math.ceil(parquet_bytes / per_partition))


# --------------------------------------------------------------------------- partitioning


def customer_partition(customer_ids: pd.Series, n_partitions: int) -> np.ndarray:
    """The partition (0 .. n_partitions - 1) of each customer id: keyed SipHash of the id text."""
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    codes, distinct = pd.factorize(pd.Series(customer_ids).astype("str"), use_na_sentinel=False)
    hashed = pd.util.hash_array(
        np.asarray(distinct, dtype=object), hash_key=HASH_KEY, categorize=False
    )
    return (hashed % np.uint64(n_partitions)).astype(np.int64)[codes]


def partition_by_customer(
    tables: Mapping[str, pd.DataFrame], n_partitions: int, *, id_column: str = "customer_id"
) -> list[dict[str, pd.DataFrame]]:
    """Co-partition tables in memory: partition ``i`` holds every record of the customers hashed to ``i``.

    Rows keep their input order (and index) inside each partition.
    """
    out: list[dict[str, pd.DataFrame]] = [{} for _ in range(n_partitions)]
    for name, frame in tables.items():
        _require_id(name, frame.columns, id_column)
        part = customer_partition(frame[id_column], n_partitions)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(n_partitions + 1))
        for i in range(n_partitions):
            out[i][name] = frame.iloc[order[bounds[i] : bounds[i + 1]]]
    return out


def _require_id(name: str, columns: Sequence[str], id_column: str) -> None:
    if id_column not in columns:
        raise KeyError(
            f"table {name!r} has no {id_column!r} column, so it cannot be partitioned by customer; "
            "Fix: only tables of the input contract (all keyed by customer_id) go to the Dask engine"
        )


def _keyed(
    frame: pd.DataFrame, n_partitions: int, id_column: str, partition_info=None
) -> pd.DataFrame:
    """Add the customer partition and the input order (one input partition of a Dask DataFrame)."""
    number = partition_info["number"] if partition_info else 0
    if len(frame) >= 1 << ROW_BITS:
        raise ValueError(f"an input partition holds {len(frame)} rows, more than 2**{ROW_BITS}")
    return frame.assign(
        **{
            ROW: (np.int64(number) << ROW_BITS) + np.arange(len(frame), dtype=np.int64),
            PARTITION: customer_partition(frame[id_column], n_partitions),
        }
    )


# --------------------------------------------------------------------------- input tables


def read_tables_dask(folder: str | Path) -> dict[str, Any]:
    """Every ``<table>.parquet`` of a folder as a lazy Dask DataFrame (row groups as partitions), unvalidated.

    Raises:
        FileNotFoundError: If ``folder`` is not a folder.
        ValueError: If it holds CSV tables (the Dask engine reads the Parquet the data stage writes).
    """
    import dask.dataframe as dd

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"table folder {root} does not exist; Fix: run the data stage (dvc repro data) first"
        )
    csv = sorted(p.name for p in root.glob("*.csv"))
    if csv:
        raise ValueError(
            f"{root} holds CSV tables {csv}; the Dask engine reads Parquet only. "
            "Fix: point it at data/raw, which the data stage writes as Parquet"
        )
    files = sorted(p for p in root.glob("*.parquet") if not p.name.startswith("."))
    with _pandas_dtypes():
        return {p.stem: dd.read_parquet(str(p), split_row_groups=True) for p in files}


def observation_end_dask(tables: Mapping[str, Any]) -> pd.Timestamp:
    """``labels.observation_end`` over whole Dask tables (one partition alone would see an earlier end)."""
    import dask

    wanted = [
        (table, column)
        for table, columns in EVENT_TIME.items()
        if table in tables
        for column in columns.values()
        if column in tables[table].columns
    ]
    latest = dask.compute(*[tables[table][column].max() for table, column in wanted])
    frames: dict[str, pd.DataFrame] = {}
    for (table, column), value in zip(wanted, latest, strict=True):
        frames.setdefault(table, pd.DataFrame(index=[0]))[column] = pd.Series(
            [value], dtype="datetime64[ns]"
        )
    return labels.observation_end(frames)


@dataclass(frozen=True)
class CustomerPartitions:
    """Tables written as Parquet by customer partition: ``folder/<table>/_partition=<i>/``.

    ``read(i)`` returns partition ``i`` of every table, each in its input row order.
    """

    folder: Path
    n_partitions: int
    schemas: dict[str, pd.DataFrame]  # an empty frame per table, for partitions without rows

    def read(self, number: int) -> dict[str, pd.DataFrame]:
        """The tables of partition ``number`` (rows in input order, index 0..n-1)."""
        out = {}
        for name, schema in self.schemas.items():
            where = self.folder / name / f"{PARTITION}={number}"
            frame = pd.read_parquet(where) if where.is_dir() else schema
            out[name] = (
                frame.sort_values(ROW, kind="stable").drop(columns=ROW).reset_index(drop=True)
            )
        return out


def partition_tables(
    tables: Mapping[str, Any],
    n_partitions: int,
    folder: str | Path,
    *,
    id_column: str = "customer_id",
) -> CustomerPartitions:
    """Write every Dask table to ``folder`` split by customer partition (Dask's ``to_parquet``).

    Each input partition writes its rows of every customer partition to that partition's
    folder, so no worker ever holds more than one input partition: this is the shuffle,
    through disk, of tables larger than the cluster's memory. ``folder`` must be reachable
    by every worker (beside the input tables, on a cluster) and is replaced.
    """
    import dask

    root = Path(folder)
    if root.exists():
        shutil.rmtree(root)
    writes, schemas = [], {}
    for name, frame in tables.items():
        _require_id(name, frame.columns, id_column)
        keyed = frame.map_partitions(_keyed, n_partitions, id_column)
        schemas[name] = keyed._meta.drop(columns=PARTITION)
        writes.append(
            keyed.to_parquet(
                root / name, partition_on=[PARTITION], write_index=False, compute=False
            )
        )
    dask.compute(*writes)
    return CustomerPartitions(root, n_partitions, schemas)


# --------------------------------------------------------------------------- the panel


def build_panel_dask(
    partitions: CustomerPartitions,
    snapshots: Sequence[pd.Timestamp],
    *,
    observation_end: pd.Timestamp,
    **panel_kwargs: Any,
) -> tuple[Any, list[str]]:
    """``build_panel`` on every customer partition: a lazy Dask panel and the notes.

    Args:
        partitions: The tables by customer partition (``partition_tables``).
        snapshots: Snapshot dates.
        observation_end: First day after the data over the whole tables (``observation_end_dask``).
        **panel_kwargs: The keyword arguments of ``research.features.snapshot.build_panel``
            (windows, thresholds, label horizons).

    Returns:
        The panel as a Dask DataFrame, one partition per customer partition (rows of a
        partition sorted by snapshot and customer, index unknown), and build_panel's notes.
        The features compared with peers are still raw here (peers span partitions);
        ``collect_panel`` turns them into the peer-relative ones.
        Each partition is checked against the input contract first (``validate_tables``),
        which also gives its columns the canonical dtypes the local engine sees.
    """
    import dask.dataframe as dd

    if "customers" not in partitions.schemas:
        raise ValueError(
            "build_panel_dask: the customers table is required (no customers table was partitioned)"
        )
    empty = validate_tables(
        {name: schema.drop(columns=ROW) for name, schema in partitions.schemas.items()}
    )
    # Peers span partitions: the peer-relative features are added to the collected panel.
    panel_kwargs = {**panel_kwargs, "peer_relative": False}
    meta, notes = build_panel(empty, snapshots, observation_end=observation_end, **panel_kwargs)
    with _pandas_dtypes():
        panel = dd.from_map(
            _partition_panel,
            range(partitions.n_partitions),
            partitions=partitions,
            snapshots=list(snapshots),
            observation_end=observation_end,
            panel_kwargs=panel_kwargs,
            meta=meta,
            enforce_metadata=False,
        )
    return panel, notes


def _partition_panel(
    number: int,
    *,
    partitions: CustomerPartitions,
    snapshots: list[pd.Timestamp],
    observation_end: pd.Timestamp,
    panel_kwargs: dict[str, Any],
) -> pd.DataFrame:
    """The panel rows of one customer partition."""
    tables = validate_tables(partitions.read(number))
    panel, _ = build_panel(tables, snapshots, observation_end=observation_end, **panel_kwargs)
    return panel


def collect_panel(panel: Any) -> pd.DataFrame:
    """A Dask panel as one pandas frame in the local engine's row order, peer-relative features added."""
    frame = panel.compute()
    return add_peer_relative(frame.sort_values(PANEL_SORT, kind="stable").reset_index(drop=True))


def build_panel_from_folder(
    folder: str | Path,
    snapshots: Sequence[pd.Timestamp],
    *,
    n_partitions: int = 0,
    client: Client | None = None,
    staging: str | Path | None = None,
    observation_end: pd.Timestamp | None = None,
    **panel_kwargs: Any,
) -> tuple[pd.DataFrame, list[str]]:
    """The features stage on Dask: read a folder of Parquet tables, partition by customer, build, collect.

    Args:
        folder: The validated raw tables (``data/raw``).
        snapshots: Snapshot dates.
        n_partitions: Customer partitions; 0 sizes them from the input and the cluster
            (``auto_partitions``).
        client: The Dask client (the current default client when None).
        staging: Folder for the tables by customer partition, reachable by every worker;
            by default a hidden folder beside ``folder``. Removed at the end.
        observation_end: Where labels censor: the day after the as-of date the stage
            resolved (``research.data.asof``); None computes ``observation_end_dask``.
        **panel_kwargs: The keyword arguments of ``build_panel``.

    Returns:
        The panel, equal to ``build_panel(validate_tables(read_tables(folder)), ...)``, and the notes.
    """
    from distributed import default_client

    client = client or default_client()
    root = Path(folder)
    raw = read_tables_dask(root)
    if "label_sources" not in panel_kwargs:  # decided once on the whole book, not per partition
        events = raw.get(labels.EVENTS_TABLE)
        found = {} if events is None else {labels.EVENTS_TABLE: events.compute()}
        panel_kwargs["label_sources"] = labels.label_sources(found)
    if n_partitions <= 0:
        resources = cluster_resources(client)
        n_partitions = auto_partitions(
            sum(p.stat().st_size for p in root.glob("*.parquet")),
            n_workers=resources["workers"],
            memory_limit=resources["memory_limit"],
            threads_per_worker=math.ceil(resources["threads"] / resources["workers"]),
        )
    staging = (
        Path(staging)
        if staging
        else root.parent / f".{root.name}-by-customer-{uuid.uuid4().hex[:8]}"
    )
    try:
        with client.as_current():
            end = observation_end_dask(raw) if observation_end is None else observation_end
            partitions = partition_tables(raw, n_partitions, staging)
            panel, notes = build_panel_dask(
                partitions, snapshots, observation_end=end, **panel_kwargs
            )
            return collect_panel(panel), notes
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- in-memory frames


def default_partitions(client: Client) -> int:
    """Two partitions per worker thread: enough to keep every thread busy."""
    return 2 * cluster_resources(client)["threads"]


def distribute_by_customer(
    frame: pd.DataFrame,
    *,
    client: Client,
    id_column: str = "customer_id",
    n_partitions: int | None = None,
) -> Any:
    """A pandas frame as a Dask DataFrame partitioned by customer, on the workers.

    Each partition keeps its rows in frame order and carries their frame positions in a
    ``ROW`` column, so ``gather_in_order`` puts results back in the frame's order.
    """
    import dask.dataframe as dd

    n = n_partitions or default_partitions(client)
    positioned = frame.assign(**{ROW: np.arange(len(frame), dtype=np.int64)})
    pieces = [
        part["frame"]
        for part in partition_by_customer({"frame": positioned}, n, id_column=id_column)
    ]
    with _pandas_dtypes():
        return dd.from_delayed(
            _scatter_round_robin(client, pieces), meta=positioned.iloc[:0], verify_meta=False
        )


def gather_in_order(results: Any, client: Client) -> pd.DataFrame:
    """Compute a Dask result that carries ``ROW``; return it in input order without ``ROW`` (index 0..n-1)."""
    frame = client.compute(results).result()
    return frame.sort_values(ROW, kind="stable").drop(columns=ROW).reset_index(drop=True)


# --------------------------------------------------------------------------- training


def fit_booster_dask(
    x_train: pd.DataFrame | Any,
    y_train: Sequence[float] | Any,
    x_valid: pd.DataFrame | Any,
    y_valid: Sequence[float] | Any,
    *,
    params: Mapping[str, Any],
    n_estimators: int,
    early_stopping_rounds: int,
    client: Client,
    n_partitions: int | None = None,
) -> tuple[xgb.Booster, dict[str, list[float]]]:
    """``research.models.train.fit_booster`` through XGBoost's Dask interface.

    Boost on train, stop early on valid; return the booster cut to its best round and the
    valid loss by round. Takes pandas inputs (spread over the workers) or Dask ones (X a Dask
    DataFrame, y a Dask Series with the same partitions). ``params`` are the local
    trainer's (``booster_params``); ``nthread`` is dropped, each worker boosts with its
    own threads.
    """
    from xgboost import dask as dxgb

    train_x, train_y = _as_dask(x_train, y_train, client=client, n_partitions=n_partitions)
    valid_x, valid_y = _as_dask(x_valid, y_valid, client=client, n_partitions=n_partitions)
    d_train = dxgb.DaskQuantileDMatrix(client, train_x, train_y, enable_categorical=True)
    d_valid = dxgb.DaskQuantileDMatrix(
        client, valid_x, valid_y, enable_categorical=True, ref=d_train
    )
    result = dxgb.train(
        client,
        {k: v for k, v in params.items() if k != "nthread"},
        d_train,
        num_boost_round=n_estimators,
        evals=[
            (d_valid, "valid")
        ],  # as the local trainer: no training-set curve (a third more time)
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    booster = result["booster"]
    metric = params.get("eval_metric", "logloss")
    loss = {name: list(values[metric]) for name, values in result["history"].items()}
    return booster[: booster.best_iteration + 1], loss


def _as_dask(x: Any, y: Any, *, client: Any, n_partitions: int | None) -> tuple[Any, Any]:
    """X and y as aligned Dask collections (pandas inputs are spread over the workers in row chunks)."""
    import dask.dataframe as dd

    if isinstance(x, dd.DataFrame):
        return x, y
    frame = x.assign(**{LABEL: np.asarray(y, dtype=np.float64)})
    spread = _spread_rows(frame, client=client, n_partitions=n_partitions).drop(columns=ROW)
    return spread.drop(columns=LABEL), spread[LABEL]


def fit_scoring_model_dask(
    table: pd.DataFrame,
    split: pd.Series,
    *,
    client: Client,
    n_partitions: int | None = None,
    **fit_kwargs: Any,
) -> tuple[ScoringModel, FitReport]:
    """``research.models.scoring.fit_scoring_model`` with the trees boosted on the Dask cluster.

    ``fit_kwargs`` are that function's keyword arguments; the same parts are fitted the
    same way (trees on ``train``, early stopping and calibration on ``valid``, grading,
    the challenger on ``train``); only the boosting runs through ``xgboost.dask`` and the
    development margins are predicted on the workers. Calibration and the challenger stay
    local: they see one score and a few dozen columns per row.
    """
    from research.models.scoring import fit_scoring_model

    return fit_scoring_model(
        table,
        split,
        boost=partial(fit_booster_dask, client=client, n_partitions=n_partitions),
        margins=lambda booster, x: predict_margin_dask(
            booster, x, client=client, n_partitions=n_partitions
        ),
        **fit_kwargs,
    )


# --------------------------------------------------------------------------- scores and SHAP


def predict_margin_dask(
    booster: xgb.Booster,
    frame: pd.DataFrame,
    *,
    client: Client,
    n_partitions: int | None = None,
    nthread: int = 1,
) -> np.ndarray:
    """The booster's log-odds for every row of a model frame, predicted per partition on the workers."""
    meta = pd.DataFrame({"margin": pd.Series(dtype="float64"), ROW: pd.Series(dtype="int64")})
    spread = _spread_rows(frame, client=client, n_partitions=n_partitions)
    result = spread.map_partitions(
        _partition_margin, _on_workers(booster), nthread=nthread, meta=meta
    )
    return gather_in_order(result, client)["margin"].to_numpy()


def _partition_margin(part: pd.DataFrame, booster: Any, *, nthread: int) -> pd.DataFrame:
    from research.models.train import predict_margin

    margin = predict_margin(booster, part.drop(columns=ROW), nthread=nthread)
    return pd.DataFrame({"margin": margin, ROW: part[ROW].to_numpy()}, index=part.index)


def score_table_dask(
    model: ScoringModel,
    table: pd.DataFrame,
    split: pd.Series,
    *,
    client: Client,
    id_column: str,
    date_column: str | None,
    label: str,
    nthread: int = 1,
    n_partitions: int | None = None,
) -> pd.DataFrame:
    """``research.models.scoring.score_table`` run per customer partition on the workers (same result)."""
    from research.models.scoring import score_table

    keys = [id_column, *([date_column] if date_column else []), label]
    frame = table[list(dict.fromkeys([*keys, *model.layout.features]))].assign(
        **{SPLIT: split.astype(str).to_numpy()}
    )
    kwargs: dict[str, Any] = {"id_column": id_column, "date_column": date_column, "label": label}
    # The schema from one row: XGBoost warns about an empty matrix.
    meta = score_table(model, frame.iloc[:1], frame[SPLIT].iloc[:1], **kwargs).iloc[:0]
    meta[ROW] = pd.Series(dtype="int64")
    spread = distribute_by_customer(
        frame, client=client, id_column=id_column, n_partitions=n_partitions
    )
    result = spread.map_partitions(
        _partition_scores, _on_workers(model), nthread=nthread, meta=meta, **kwargs
    )
    return gather_in_order(result, client)


def _partition_scores(
    part: pd.DataFrame, model: Any, *, nthread: int, **kwargs: Any
) -> pd.DataFrame:
    from research.models.scoring import score_table

    scores = score_table(model, part, part[SPLIT], nthread=nthread, **kwargs)
    return scores.assign(**{ROW: part[ROW].to_numpy()})


def native_shap_dask(
    booster: xgb.Booster,
    frame: pd.DataFrame,
    *,
    client: Client,
    n_partitions: int | None = None,
    nthread: int = 1,
) -> ShapValues:
    """SHAP values (log-odds) of every row of a model frame by XGBoost's ``pred_contribs``, per partition.

    Returns the ``research.explain.ShapValues`` that ``native_shap`` returns for the whole
    frame, with the same values (TreeSHAP is computed row by row).
    """
    from research.explain.values import ShapValues, native_shap

    start = time.perf_counter()
    names = list(frame.columns)
    if not len(frame):
        return native_shap(booster, frame, nthread=nthread)
    meta = pd.DataFrame({name: pd.Series(dtype="float64") for name in [*names, BASE_VALUE]})
    meta[ROW] = pd.Series(dtype="int64")
    spread = _spread_rows(frame, client=client, n_partitions=n_partitions)
    result = gather_in_order(
        spread.map_partitions(_partition_shap, _on_workers(booster), nthread=nthread, meta=meta),
        client,
    )
    return ShapValues(
        values=result[names].to_numpy(dtype=np.float64),
        base_value=float(result[BASE_VALUE].iloc[0]),
        feature_names=names,
        method="native",
        seconds=time.perf_counter() - start,
    )


def _partition_shap(part: pd.DataFrame, booster: Any, *, nthread: int) -> pd.DataFrame:
    from research.explain.values import native_shap

    values = native_shap(booster, part.drop(columns=ROW), nthread=nthread)
    return values.frame(index=part.index).assign(
        **{BASE_VALUE: values.base_value, ROW: part[ROW].to_numpy()}
    )


def _spread_rows(frame: pd.DataFrame, *, client: Any, n_partitions: int | None) -> Any:
    """A frame spread over the workers in consecutive row chunks, with ``ROW`` positions."""
    import dask.dataframe as dd

    positioned = frame.assign(**{ROW: np.arange(len(frame), dtype=np.int64)})
    n = max(1, min(n_partitions or default_partitions(client), len(frame)))
    bounds = np.linspace(0, len(frame), n + 1).astype(int)
    pieces = [positioned.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with _pandas_dtypes():
        return dd.from_delayed(
            _scatter_round_robin(client, pieces), meta=positioned.iloc[:0], verify_meta=False
        )


def _scatter_round_robin(client: Any, pieces: Sequence[pd.DataFrame]) -> list[Any]:
    """Send piece ``i`` to worker ``i mod workers``: every worker holds data, the same way every run."""
    workers = sorted(client.nthreads())
    return [
        client.scatter(piece, workers=[workers[i % len(workers)]]) for i, piece in enumerate(pieces)
    ]


def _pandas_dtypes() -> Any:
    """Keep pandas' own dtypes in the Dask collections built inside (Dask would turn ``str`` into
    ``string[pyarrow]``, which differs in its missing value), so outputs equal the local engine's."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def _on_workers(obj: Any) -> Any:
    """``obj`` as one task of the graph, sent to each worker once instead of with every partition."""
    import dask

    return dask.delayed(obj, traverse=False)
