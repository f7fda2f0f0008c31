"""Batch scoring: a registered model scores new data at one date, without the training pipeline.

``research score <model> --data <tables> --as-of <date> --out <file> [--version N|alias]``

1. The model: the registry version of ``models.<model>.registry_name`` that ``--version``
   names (a number or an alias; default ``champion``), loaded from its training run
   (``load_scoring_model``: the booster and the ``model_files`` artifacts).
2. The rows. A model on the panel: ``--data`` is what ``data.source`` accepts (a folder of
   contract tables, or a source mapping ``.yaml``), read, cleared of open-end placeholders and
   validated as the data stage does; the panel is built for the snapshot ``--as-of`` with the
   feature code and ``features`` settings of the pipeline (``research.features.snapshot.build_panel``).
   Point in time: a snapshot sees only the records strictly before it, so ``--as-of
   2025-01-01`` uses the records up to 2024-12-31 and reproduces the pipeline's rows of that
   snapshot. A model on a flat table: ``--data`` is a Parquet or CSV file with the table's
   columns, prepared as training prepared it (the run's ``table_preparation``: renamed
   columns, numbers held as text); rows dated after ``--as-of`` are left out.
3. The checks, before anything is written: the data's tables against the input contract, the
   snapshot against the data's range, then the model's inputs: every feature present and of
   its type (``ScoringInputError`` names the columns and the fix).
4. The output (``--out``, ``.parquet`` or ``.csv``): ``customer_id, snapshot_date,
   probability`` (calibrated), ``grade`` (master scale) or ``decile``, the top reason codes
   (``reason_features``, ``reasons``: SHAP values of ``explain.method``, the explain stage's
   route, turned into sentences by ``research.explain.reasons``), and for a model on the panel
   the early-warning triggers of ``research.value.watch`` at the snapshot: all of them for a
   PD model (the PD rise and downgrade against the model's own score one grid step,
   ``features.snapshots.every_months``, earlier), the data triggers (days past due, inflow
   drop, DSCR, overdue statement, complaints) for any other.
5. The stability report beside it (``<out stem>_stability.json``): the score's PSI and each
   feature's CSI against the development population (``research.validation.stability``'s
   binning: ``validation.psi_bins`` quantile bins of development, missing values apart).

The development reference is the model's train and valid rows, as the validate stage compares
them: read from the project (``data/scores/<model>.parquet`` and the panel, or the flat
table) when the project's trained model is this version (same content hash), and then
attached to the version's training run as ``scoring/reference.json`` (bin edges and shares
only, no rows), so that later scoring needs the MLflow store alone. Without either, the
report says why and gives no PSI.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from research import registry
from research.models.params import ModelSpec
from research.models.scoring import ScoringModel
from research.models.train import FeatureLayout

DEFAULT_VERSION = "champion"
REFERENCE_ARTIFACT = "scoring/reference.json"
KEYS = ["customer_id", "snapshot_date"]
PD_TASK = "pd"
OUT_SUFFIXES = (".parquet", ".csv")
MISSING_BIN = "missing"  # research.validation.stability's bin of missing values
_EXAMPLES = 3


class ScoringInputError(ValueError):
    """The data do not fit the model's inputs; the message names the columns and the fix."""


# --------------------------------------------------------------------------- the model


@dataclasses.dataclass(frozen=True)
class LoadedVersion:
    """A registry version and its scoring model."""

    model: ScoringModel
    registry_name: str
    version: str
    asked: str  # what --version said (a number or an alias)
    run_id: str
    content_hash: str  # the version's content_hash tag ("" when it has none)
    preparation: dict[str, Any] | None  # a flat table's table_preparation, from the run


def load_scoring_model(root: Path, version: Any, dst: Path) -> ScoringModel:
    """The scoring model of a registry version, from the packaged model the registry hands out.

    The same files ``mlflow.pyfunc.load_model("models:/<name>/<version>")`` scores with
    (``research.models.package``): what was validated is what scores here.
    """
    from research.models.package import load_package_scoring_model

    return load_package_scoring_model(f"models:/{version.name}/{version.version}")


def _run_preparation(run_id: str, model: str, dst: Path) -> dict[str, Any] | None:
    """The ``table_preparation`` the train stage recorded in the run's ``diagnostics/train.json``.

    A run logged before the headline metrics were split from the record has it in
    ``metrics/<model>.json``; a run with neither renamed nothing.
    """
    import mlflow

    for artifact, name in (("diagnostics", "train.json"), ("metrics", f"{model}.json")):
        try:
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact, dst_path=str(dst / artifact)
            )
        except Exception:  # no such artifact in this run
            continue
        path = Path(folder) / name
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8")).get("table_preparation")
    return None


def load_version(root: Path, model: str, spec: ModelSpec, version: str) -> LoadedVersion:
    """Resolve and load the registry version of ``model`` that ``version`` names."""
    from research import tracking

    tracking.configure(root)
    found = registry.resolve_version(spec.registry_name, version, model=model)
    with tempfile.TemporaryDirectory(prefix="research-score-") as tmp:
        scoring = load_scoring_model(root, found, Path(tmp) / "model")
        preparation = (
            None if spec.uses_panel else _run_preparation(found.run_id, model, Path(tmp) / "run")
        )
    return LoadedVersion(
        model=scoring,
        registry_name=spec.registry_name,
        version=str(found.version),
        asked=str(version),
        run_id=str(found.run_id),
        content_hash=str((found.tags or {}).get(tracking.CONTENT_HASH_TAG, "")),
        preparation=preparation,
    )


# --------------------------------------------------------------------------- the inputs


def _examples(values: pd.Series) -> str:
    shown = values.dropna().astype(str).drop_duplicates().head(_EXAMPLES).tolist()
    return ", ".join(repr(v) for v in shown)


def check_inputs(
    frame: pd.DataFrame,
    layout: FeatureLayout,
    *,
    source_names: Mapping[str, object] | None = None,
    why_missing: Sequence[str] = (),
    fix: str = "",
) -> tuple[pd.DataFrame, list[str]]:
    """The model's features of ``frame`` under their model names, numbers as floats; or a clear stop.

    A numeric feature takes numbers, booleans, or text whose every non-blank value is a
    number (read as one, as training reads a flat table). A categorical feature takes text
    or numbers; a level the model never saw scores as missing (noted), and a column none
    of whose values is a known level is refused as mistyped.

    Args:
        frame: The rows, with the features under their names in the data.
        layout: The model's inputs.
        source_names: Each feature's name in the data when it differs (a renamed column).
        why_missing: Notes that explain missing columns (a table absent from the data).
        fix: What to do, said after the columns.

    Returns:
        The features (model names, layout order) and notes on unseen categorical levels.

    Raises:
        ScoringInputError: Naming every missing and mistyped column, their types and the fix.
    """
    names = {f: str((source_names or {}).get(f, f)) for f in layout.features}
    missing = [names[f] for f in layout.features if names[f] not in frame.columns]
    mistyped: list[str] = []
    notes: list[str] = []
    columns: dict[str, Any] = {}
    for feature in layout.features:
        name = names[feature]
        if name not in frame.columns:
            continue
        column = frame[name]
        if feature in layout.categories:
            levels = set(layout.categories[feature])
            present = column.notna()
            unseen = present & ~column.astype(str).isin(levels)
            if present.any() and unseen[present].all():
                mistyped.append(
                    f"{name} (the model's categories {sorted(levels)[:6]}; found "
                    f"{_examples(column[unseen])})"
                )
                continue
            if unseen.any():
                notes.append(
                    f"{name}: {int(unseen.sum()):,} rows hold a level the model never saw "
                    f"({_examples(column[unseen])}): scored as missing"
                )
            columns[feature] = column
            continue
        if pd.api.types.is_bool_dtype(column) or (
            pd.api.types.is_numeric_dtype(column)
            and not pd.api.types.is_datetime64_any_dtype(column)
        ):
            columns[feature] = column.astype("float64")
            continue
        if pd.api.types.is_datetime64_any_dtype(column):
            mistyped.append(f"{name} (a number expected, found dates such as {_examples(column)})")
            continue
        text = column.astype("string").str.strip()
        blank = text.isna() | text.eq("").fillna(True).astype(bool)
        numbers = pd.to_numeric(text.where(~blank), errors="coerce")
        bad = ~blank & numbers.isna()
        if bad.any():
            mistyped.append(
                f"{name} (a number expected, found {column.dtype} such as {_examples(column[bad])})"
            )
            continue
        columns[feature] = numbers.astype("float64")
    if missing or mistyped:
        parts = []
        if missing:
            shown = ", ".join(missing[:12]) + (
                f" and {len(missing) - 12} more" if len(missing) > 12 else ""
            )
            parts.append(f"{len(missing)} missing column(s): {shown}")
        if mistyped:
            parts.append(f"{len(mistyped)} mistyped column(s): {'; '.join(mistyped)}")
        why = f" ({'; '.join(why_missing)})" if missing and why_missing else ""
        raise ScoringInputError(
            f"the data do not fit the model's {len(layout.features)} inputs: "
            f"{'; '.join(parts)}{why}. Nothing was written. Fix: {fix or 'give the data the model was trained on, with the same columns and types'}"
        )
    return pd.DataFrame(columns, index=frame.index)[list(layout.features)], notes


def read_tables(data: Path) -> tuple[dict[str, pd.DataFrame], list[str], Any]:
    """A folder of contract tables or a source mapping, read and validated as the data stage does.

    Returns:
        The validated tables, notes (what was read differently), and the data's as-of date
        (``research.data.asof.AsOf``: a mapping's ``as_of``, else derived from the dates).

    Raises:
        FileNotFoundError: No such folder or mapping.
        SchemaError: The tables break the input contract (every failure named).
    """
    from research.data.asof import clear_placeholders, resolve_as_of
    from research.data.mapping import read_source

    if not data.exists():
        raise FileNotFoundError(f"--data {data}: no such folder or mapping file")
    read = read_source(data)
    raw, cleared = clear_placeholders(read.frames)
    tables = read.validated(raw)
    configured = read.mapping.as_of if read.mapping is not None else ""
    as_of = resolve_as_of(
        configured or "", tables, None, configured_as=f"as_of of the source mapping {data.name}"
    )
    return tables, [*read.notes, *cleared], as_of


def previous_snapshot(snapshot: pd.Timestamp, every_months: int) -> pd.Timestamp:
    """The snapshot one step of the calendar grid (``features.snapshots.every_months``) earlier."""
    return (snapshot - pd.DateOffset(months=every_months)).as_unit("ns")


def check_snapshot(snapshot: pd.Timestamp, as_of: Any, history_months: int) -> list[str]:
    """Refuse a snapshot after the data; note one with less history than the longest window.

    Raises:
        ValueError: The snapshot lies after the day after the data's as-of date: its windows
            would count months without records as months without activity.
    """
    end = as_of.observation_end
    if snapshot > end:
        raise ValueError(
            f"--as-of {snapshot:%Y-%m-%d} lies after the data: their as-of date is {as_of}, so "
            f"the latest snapshot they support is {end:%Y-%m-%d} (a snapshot sees the records "
            "strictly before it). Nothing was written. Fix: pass an earlier --as-of, or data "
            "extracted later"
        )
    notes = []
    if as_of.data_from is not None:
        start = pd.Timestamp(as_of.data_from)
        if snapshot - pd.DateOffset(months=history_months) < start:
            notes.append(
                f"the data start {as_of.data_from}, less than {history_months} months (the "
                f"longest feature window) before {snapshot:%Y-%m-%d}: window sums start before "
                "the data"
            )
    return notes


# --------------------------------------------------------------------------- stability


@dataclasses.dataclass(frozen=True)
class Reference:
    """The development population as bins: per column its bins and development shares.

    Numeric columns: ``edges`` (the development's quantiles, ties merged; values at an edge
    fall in the upper bin) and one share per bin plus the missing bin. Categorical columns:
    ``levels`` (``missing`` for missing values) and their shares. The binning is
    ``research.validation.stability.population_shares``'s, so a PSI from here equals
    ``stability.psi`` on the development rows.
    """

    bins: int
    rows: int
    source: str
    columns: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Reference:
        return cls(int(raw["bins"]), int(raw["rows"]), str(raw["source"]), dict(raw["columns"]))


def _numeric(values: Any) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def _numeric_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin of ``edges`` and in the missing bin (last)."""
    index = np.where(
        np.isfinite(values), np.searchsorted(edges, values, side="right"), edges.size + 1
    )
    return np.bincount(index, minlength=edges.size + 2).astype(float) / max(values.size, 1)


def _levels(values: Any) -> pd.Series:
    series = pd.Series(values, dtype=object)
    return series.where(pd.notna(series), MISSING_BIN).astype(str)


def column_reference(values: Any, *, bins: int, categorical: bool) -> dict[str, Any]:
    """One column's development bins and shares (see ``Reference``)."""
    if categorical:
        shares = _levels(values).value_counts(normalize=True)
        return {
            "kind": "categorical",
            "levels": [str(v) for v in shares.index],
            "shares": [float(s) for s in shares.to_numpy()],
        }
    numbers = _numeric(values)
    finite = numbers[np.isfinite(numbers)]
    edges = (
        np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
        if finite.size
        else np.array([])
    )
    return {
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "shares": [float(s) for s in _numeric_bins(numbers, edges)],
    }


def shares_against(reference: Mapping[str, Any], values: Any) -> tuple[np.ndarray, np.ndarray]:
    """The development and the actual shares of ``values`` in one column's bins."""
    if reference["kind"] == "categorical":
        expected = pd.Series(reference["shares"], index=reference["levels"], dtype=float)
        actual = _levels(values).value_counts(normalize=True)
        order = sorted(set(expected.index) | set(actual.index), key=lambda v: (v == MISSING_BIN, v))
        return (
            expected.reindex(order, fill_value=0.0).to_numpy(),
            actual.reindex(order, fill_value=0.0).to_numpy(),
        )
    edges = np.asarray(reference["edges"], dtype=float)
    return np.asarray(reference["shares"], dtype=float), _numeric_bins(_numeric(values), edges)


def build_reference(
    development: pd.DataFrame,
    columns: Sequence[str],
    categorical: Sequence[str],
    *,
    bins: int,
    source: str,
) -> Reference:
    """The reference of ``columns`` of the development rows (``score`` is numeric)."""
    return Reference(
        bins=bins,
        rows=len(development),
        source=source,
        columns={
            c: column_reference(
                development[c],
                bins=bins,
                categorical=c in categorical or not pd.api.types.is_numeric_dtype(development[c]),
            )
            for c in columns
        },
    )


def stability(
    reference: Reference,
    scores: pd.Series,
    rows: pd.DataFrame,
    features: Sequence[str],
    bands: Sequence[float],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The score's PSI and each feature's CSI against the reference, worst feature first."""
    from research.validation._base import band_light
    from research.validation.stability import psi_from_shares

    expected, actual = shares_against(reference.columns["score"], scores)
    score_psi = psi_from_shares(expected, actual)
    score = {
        "psi": score_psi,
        "light": band_light(score_psi, bands, higher_is_better=False),
        "n_development": reference.rows,
        "n": int(len(scores)),
    }
    table = []
    for feature in features:
        if feature not in reference.columns or feature not in rows.columns:
            continue
        ref = reference.columns[feature]
        value = psi_from_shares(*shares_against(ref, rows[feature]))
        table.append(
            {
                "feature": feature,
                "kind": ref["kind"],
                "csi": value,
                "light": band_light(value, bands, higher_is_better=False),
            }
        )
    csi = pd.DataFrame(table, columns=["feature", "kind", "csi", "light"])
    return score, csi.sort_values("csi", ascending=False, kind="stable").reset_index(drop=True)


def _cached_reference(run_id: str, bins: int) -> Reference | None:
    """The reference attached to the run, when it has one of ``bins`` bins."""
    import mlflow
    from mlflow import MlflowClient

    folder, name = REFERENCE_ARTIFACT.rsplit("/", 1)
    try:
        listed = {Path(a.path).name for a in MlflowClient().list_artifacts(run_id, folder)}
        if name not in listed:
            return None
        with tempfile.TemporaryDirectory(prefix="research-ref-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp
            )
            reference = Reference.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except Exception:  # an unreadable cache is no cache
        return None
    return reference if reference.bins == bins else None


def _project_reference(
    ctx: Any, model: str, loaded: LoadedVersion, bins: int
) -> tuple[Reference | None, str]:
    """The reference from the project's scores and rows, when its trained model is this version."""
    from research.models.io import FEATURES, content_hash
    from research.paths import model_dir, scores_path
    from research.stages._model_rows import model_rows
    from research.validation._base import DEVELOPMENT_SETS

    folder = model_dir(ctx.root, model)
    where = f"models/{model}"
    if not (folder / FEATURES).is_file() or not scores_path(ctx.root, model).is_file():
        return None, f"the project has no trained {model} ({where}, data/scores/{model}.parquet)"
    if not loaded.content_hash or content_hash(folder) != loaded.content_hash:
        return None, (
            f"the project's trained {model} ({where}) is not {loaded.registry_name} version "
            f"{loaded.version} (their content hashes differ)"
        )
    layout = loaded.model.layout
    scores = pd.read_parquet(scores_path(ctx.root, model), columns=[*KEYS, "split", "score"])
    development = scores[scores["split"].isin(DEVELOPMENT_SETS)].drop(columns="split")
    rows = model_rows(ctx, model, layout.features)
    keys = KEYS if development["snapshot_date"].notna().any() else ["customer_id"]
    joined = development.merge(
        rows[[*keys, *(f for f in layout.features if f in rows.columns)]], on=keys, how="inner"
    )
    if len(joined) != len(development):
        return None, (
            f"the project's development rows of {model} ({len(development):,}) do not all join "
            f"its {'panel' if ctx.spec(model).uses_panel else 'table'} rows: rebuild the pipeline"
        )
    source = (
        f"the train and valid rows of data/scores/{model}.parquet and their "
        f"{'panel' if ctx.spec(model).uses_panel else ctx.spec(model).source} rows, "
        f"{loaded.registry_name} version {loaded.version}"
    )
    reference = build_reference(
        joined,
        ["score", *layout.features],
        list(layout.categories),
        bins=bins,
        source=source,
    )
    return reference, ""


def development_reference(
    ctx: Any, model: str, loaded: LoadedVersion, bins: int
) -> tuple[Reference | None, str, list[str]]:
    """The development reference of the version: attached to its run, else from the project (then attached).

    Returns:
        The reference (None when there is none), where it came from (or why there is
        none), and notes.
    """
    from research import tracking

    cached = _cached_reference(loaded.run_id, bins)
    if cached is not None:
        return cached, f"{REFERENCE_ARTIFACT} of run {loaded.run_id} ({cached.source})", []
    reference, why = _project_reference(ctx, model, loaded, bins)
    if reference is None:
        return (
            None,
            (
                f"no development reference: the version's run has no {REFERENCE_ARTIFACT} and {why}; "
                "score once in the project that trained this version to attach it"
            ),
            [],
        )
    notes = []
    try:
        tracking.log_to_finished_run(
            ctx.root,
            loaded.run_id,
            texts={REFERENCE_ARTIFACT: json.dumps(reference.to_dict(), allow_nan=False)},
        )
        notes.append(
            f"development reference attached to run {loaded.run_id} as {REFERENCE_ARTIFACT}"
        )
    except Exception as err:  # a read-only store: the report still has its PSI
        notes.append(f"development reference not attached to the run ({err})")
    return reference, reference.source, notes


# --------------------------------------------------------------------------- reasons and triggers


def reason_table(
    loaded: LoadedVersion, rows: pd.DataFrame, keys: pd.DataFrame, settings: Any, wording: str
) -> pd.DataFrame:
    """The top ``explain.reason_codes`` reasons per row (SHAP by ``explain.method``), as the explain stage words them."""
    from research.explain.reasons import reason_codes
    from research.explain.values import compute_shap
    from research.features.catalog import catalog_for
    from research.models.train import model_matrix

    layout = loaded.model.layout
    catalog = {
        s.name: s
        for s in catalog_for(
            layout.features, trend_recent_months=settings.features.trend_recent_months
        )
        if s.family != "other"
    }
    matrix = model_matrix(rows, layout).reset_index(drop=True)
    values = compute_shap(
        loaded.model.booster,
        matrix,
        method=settings.explain.method,
        nthread=settings.compute.nthread,
    )
    return reason_codes(
        keys.reset_index(drop=True),
        matrix,
        values.values,
        catalog,
        n=settings.explain.reason_codes,
        outcome=wording,
    )


def watch_columns(
    tables: Mapping[str, pd.DataFrame],
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    codes: pd.DataFrame,
    *,
    task: str,
    grades: Sequence[str],
    params: Any,
) -> pd.DataFrame:
    """The early-warning triggers of ``research.value.watch`` at the snapshot of ``current``.

    A PD model gets every trigger (its PD rise and downgrade from ``previous``, the same
    model's scores one grid step earlier); any other model the triggers read from the data
    (days past due, inflow drop, DSCR, overdue statement, complaints).

    Args:
        tables: The validated tables.
        current: ``customer_id, snapshot_date, score`` and ``grade`` (graded models).
        previous: The same at the previous snapshot, or None.
        codes: The reason codes of ``current`` (their top ``value.watch.reason_codes`` are not kept).
        task: ``models.<model>.task``.
        grades: The master scale's grades, best first (empty for deciles).
        params: ``value.watch``.
    """
    from research.value.watch import TRIGGERS, build_watch_flags, early_warning_inputs

    pd_model = task == PD_TASK
    applies = [
        t
        for t in TRIGGERS
        if (t != "pd_rise" or pd_model) and (t != "grade_downgrade" or (pd_model and grades))
    ]
    snapshot = current["snapshot_date"].iloc[0]
    frames = [current] if previous is None else [previous, current]
    scores = pd.concat(frames, ignore_index=True)[KEYS + ["score", *(["grade"] if grades else [])]]
    if not grades:  # no grade change to judge: one constant grade
        scores = scores.assign(grade="")
    if not pd_model:  # a probability of another event is no PD
        scores = scores.assign(score=np.nan)
    inputs = early_warning_inputs(
        tables, sorted(scores["snapshot_date"].unique()), window_months=params.window_months
    )
    flags = build_watch_flags(
        scores, inputs, codes.iloc[0:0], grades=list(grades) or [""], params=params
    )
    flags = flags[flags["snapshot_date"] == snapshot]
    renamed = {"previous_score": "previous_probability"}
    kept = [
        *KEYS,
        *(["previous_score", "pd_change"] if pd_model else []),
        *(["previous_grade", "grade_change"] if "grade_downgrade" in applies else []),
        "days_past_due",
        "inflow_recent",
        "inflow_previous",
        "dscr",
        "days_since_statement",
        "complaints",
        *(f"trigger_{t}" for t in applies),
        "triggers",
        "on_watch",
    ]
    return flags[kept].rename(columns=renamed).reset_index(drop=True)


# --------------------------------------------------------------------------- the run


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """What ``score_batch`` scored and wrote."""

    model: str
    loaded: LoadedVersion
    snapshot: pd.Timestamp | None
    scores: pd.DataFrame  # the output table
    score_stability: dict[str, Any]
    csi: pd.DataFrame
    reference: str  # where the development reference came from, or why there is none
    out: Path
    report: Path
    seconds: float
    notes: list[str]


def stability_path(out: Path) -> Path:
    """``<out stem>_stability.json`` beside the output."""
    return out.with_name(f"{out.stem}_stability.json")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _panel_rows(
    ctx: Any, model: str, loaded: LoadedVersion, data: Path, snapshot: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, pd.DataFrame], list[str]]:
    """The panel rows at the snapshot and one grid step before (PD models), and the tables."""
    from research.features.snapshot import build_panel

    settings = ctx.settings
    if data.is_file() and data.suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(
            f"model {model} is trained on the panel: --data must be a folder of contract tables "
            f"(as data/raw) or a source mapping (.yaml), not the file {data}"
        )
    if settings.features.snapshots.mode != "calendar":
        raise ValueError(
            f"features.snapshots.mode is {settings.features.snapshots.mode}: the model is trained "
            "on event-anchored rows, which research score does not build; score at a calendar "
            "snapshot with features.snapshots.mode: calendar"
        )
    tables, notes, as_of = read_tables(data)
    notes += check_snapshot(snapshot, as_of, settings.features.history_months)
    previous = previous_snapshot(snapshot, settings.features.snapshots.every_months)
    with_previous = ctx.spec(model).task == PD_TASK and (
        as_of.data_from is None or previous > pd.Timestamp(as_of.data_from)
    )
    snapshots = [previous, snapshot] if with_previous else [snapshot]
    panel, built = build_panel(
        tables,
        snapshots,
        default_dpd=settings.labels.default_dpd,
        horizons_months=settings.labels.horizons_months,
        observation_end=snapshot,  # labels are not scored: every window is censored
        **settings.features.panel_settings(),
    )
    absent = [n for n in built if "table absent" in n]
    current = panel[panel["snapshot_date"] == snapshot].reset_index(drop=True)
    check_inputs(
        current,
        loaded.model.layout,
        why_missing=absent,
        fix=(
            "give --data the tables the model's features come from (docs/input_contract.md), "
            "and keep the features settings of params.yaml (windows_months, long_window_months, "
            "trend_recent_months, dpd_thresholds) as they were when the model was trained"
        ),
    )
    before = (
        panel[panel["snapshot_date"] == previous].reset_index(drop=True) if with_previous else None
    )
    return current, before, tables, notes


def _flat_rows(
    spec: ModelSpec, loaded: LoadedVersion, data: Path, snapshot: pd.Timestamp | None
) -> tuple[pd.DataFrame, list[str]]:
    """A flat file's rows, keyed as the scores are, with the model's features prepared."""
    from research.models.flat import read_modeling_table

    if data.is_dir() or data.suffix.lower() in (".yaml", ".yml"):
        raise ValueError(
            f"the model is trained on the flat table {spec.source}: --data must be a Parquet "
            f"or CSV file of the same columns, not {data}"
        )
    frame = read_modeling_table(data)
    renamed = dict((loaded.preparation or {}).get("renamed") or {})
    fix = (
        f"give --data the columns of the model's table {spec.source} (the id "
        f"{spec.id_column!r}{', the date ' + repr(spec.date_column) if spec.date_column else ''} "
        "and the features), with the same types"
    )
    if spec.id_column not in frame.columns:
        raise ScoringInputError(
            f"the data have no id column {spec.id_column!r} (models.<name>.id_column); their "
            f"columns: {list(frame.columns)[:12]}. Nothing was written. Fix: {fix}"
        )
    notes: list[str] = []
    if spec.date_column and spec.date_column in frame.columns:
        dates = pd.to_datetime(frame[spec.date_column], errors="coerce").astype("datetime64[ns]")
        if snapshot is not None:
            later = dates > snapshot
            if later.any():
                notes.append(
                    f"{int(later.sum()):,} rows dated after --as-of {snapshot:%Y-%m-%d} left out"
                )
                frame, dates = frame[~later], dates[~later]
    else:
        dates = pd.Series(snapshot if snapshot is not None else pd.NaT, index=frame.index)
        dates = dates.astype("datetime64[ns]")
    features, unseen = check_inputs(frame, loaded.model.layout, source_names=renamed, fix=fix)
    keys = pd.DataFrame({"customer_id": frame[spec.id_column], "snapshot_date": dates})
    return pd.concat([keys, features], axis=1).reset_index(drop=True), [*notes, *unseen]


def score_batch(
    root: Path,
    model: str,
    *,
    data: Path,
    as_of: str | None,
    out: Path,
    version: str = DEFAULT_VERSION,
) -> BatchResult:
    """Score ``data`` at ``as_of`` with the registry version of ``model``; write ``out`` and its stability report.

    Every check runs before anything is written (see the module docstring).

    Raises:
        ValueError: An unknown model, version or alias, an output that is neither Parquet nor
            CSV, a snapshot after the data, tables that break the contract
            (``SchemaError``), or inputs that do not fit the model (``ScoringInputError``).
    """
    from research.stages._context import stage_context
    from research.stages.explain import WORDING

    start = time.perf_counter()
    out, data = Path(out), Path(data)
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(f"--out {out}: write .parquet or .csv")
    ctx = stage_context(root, write=False)
    settings = ctx.settings
    spec = ctx.spec(model)
    snapshot = pd.Timestamp(as_of).as_unit("ns") if as_of else None
    if spec.uses_panel and snapshot is None:
        raise ValueError(f"model {model} is trained on the panel: pass --as-of, the snapshot date")
    loaded = load_version(root, model, spec, version)
    layout = loaded.model.layout
    nthread = settings.compute.nthread
    if spec.uses_panel:
        assert snapshot is not None
        rows, before, tables, notes = _panel_rows(ctx, model, loaded, data, snapshot)
    else:
        rows, notes = _flat_rows(spec, loaded, data, snapshot)
        before, tables = None, {}
    if rows.empty:
        when = f" at {snapshot:%Y-%m-%d}" if snapshot is not None else ""
        why = (
            ": no customer was on the books then (onboarded before it, not gone, not in default)"
            if spec.uses_panel
            else ""
        )
        raise ValueError(f"no row to score in {data}{when}{why}; nothing was written")
    scored = loaded.model.score(rows, nthread=nthread)
    column = "grade" if loaded.model.master_scale is not None else "decile"
    output = pd.concat(
        [
            rows[KEYS].reset_index(drop=True),
            scored[["score", column]]
            .rename(columns={"score": "probability"})
            .reset_index(drop=True),
        ],
        axis=1,
    )
    codes = reason_table(loaded, rows, output[KEYS], settings, WORDING[spec.task].outcome)
    from research.value.watch import reason_summary

    reasons = reason_summary(codes, top=settings.explain.reason_codes)
    output = output.merge(
        reasons[[*KEYS, "reason_features", "reasons"]], on=KEYS, how="left", validate="one_to_one"
    )
    if spec.uses_panel and len(output):
        current = output[KEYS].assign(score=output["probability"])
        grades: list[str] = []
        if loaded.model.master_scale is not None:
            current["grade"] = output["grade"]
            grades = list(loaded.model.master_scale.names)
        previous = None
        if before is not None:
            earlier = loaded.model.score(before, nthread=nthread)
            previous = before[KEYS].assign(score=earlier["score"].to_numpy())
            if grades:
                previous["grade"] = earlier["grade"].to_numpy()
        watch = watch_columns(
            tables,
            current,
            previous,
            codes,
            task=spec.task,
            grades=grades,
            params=settings.value.watch,
        )
        output = output.merge(watch, on=KEYS, how="left", validate="one_to_one")
    thresholds = settings.validation.thresholds()
    reference, source, more = development_reference(ctx, model, loaded, thresholds.psi_bins)
    notes += more
    if reference is not None:
        score_psi, csi = stability(
            reference, output["probability"], rows, layout.features, thresholds.psi_bands
        )
    else:
        score_psi = {"psi": math.nan, "light": "grey", "n_development": 0, "n": len(output)}
        csi = pd.DataFrame(columns=["feature", "kind", "csi", "light"])
    seconds = time.perf_counter() - start
    report = stability_path(out)
    content = {
        "model": model,
        "registry_name": loaded.registry_name,
        "version": loaded.version,
        "asked": loaded.asked,
        "run_id": loaded.run_id,
        "data": str(data),
        "snapshot_date": f"{snapshot:%Y-%m-%d}" if snapshot is not None else None,
        "rows": int(len(output)),
        "seconds": round(seconds, 3),
        "reference": source,
        "psi_bins": thresholds.psi_bins,
        "psi_bands": list(thresholds.psi_bands),
        "score": {k: _finite(v) for k, v in score_psi.items()},
        "features": [
            {k: _finite(v) for k, v in row.items()} for row in csi.to_dict(orient="records")
        ],
        "on_watch": int(output["on_watch"].sum()) if "on_watch" in output else None,
        "notes": notes,
    }
    from research.stages import _io

    _io.write_json(report, content, indent=1)
    if out.suffix.lower() == ".csv":
        _io.write_csv(out, output)
    else:
        _io.write_parquet(out, output)
    return BatchResult(
        model=model,
        loaded=loaded,
        snapshot=snapshot,
        scores=output,
        score_stability=score_psi,
        csi=csi,
        reference=source,
        out=out,
        report=report,
        seconds=seconds,
        notes=notes,
    )


def summary_lines(result: BatchResult, *, top: int = 5) -> list[str]:
    """What ``research score`` prints: rows, time, score PSI with its light, the drifting features."""
    loaded = result.loaded
    when = f" at {result.snapshot:%Y-%m-%d}" if result.snapshot is not None else ""
    asked = f", {loaded.asked}" if not loaded.asked.isdigit() else ""
    lines = [
        f"scored {len(result.scores):,} rows with {loaded.registry_name} version "
        f"{loaded.version}{asked}{when} in {result.seconds:.1f} s -> {result.out}"
    ]
    score = result.score_stability
    if math.isfinite(score["psi"]):
        lines.append(
            f"score PSI {score['psi']:.3f} ({score['light']}) against {score['n_development']:,} "
            "development rows"
        )
        shown = [f"{r.feature} {r.csi:.3f} ({r.light})" for r in result.csi.head(top).itertuples()]
        if shown:
            lines.append(f"top drifting features (CSI): {', '.join(shown)}")
    else:
        lines.append(f"score PSI: none ({result.reference})")
    if "on_watch" in result.scores:
        watched = int(result.scores["on_watch"].sum())
        share = watched / max(len(result.scores), 1)
        lines.append(f"watch list: {watched:,} rows ({share:.1%})")
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"stability report: {result.report}")
    return lines
