"""The registered model as one MLflow pyfunc: panel rows in, calibrated PD, grade and reasons out.

``log_scoring_package`` logs a scoring model (booster, calibrator, challenger, master scale
or deciles) as a single ``python_function`` model whose ``predict`` takes rows of the panel
(or of the model's flat table) as they are and returns, per row, ``probability`` (the
calibrated score, exactly ``ScoringModel.score()["score"]``), ``grade`` or ``decile``,
``raw_score`` and ``challenger_score``, with ``customer_id`` and ``snapshot_date`` passed
through when the rows hold them. ``params={"reasons": k}`` adds the top ``k`` reason codes.

The signature takes the rows' own column types. MLflow 3.x refuses a pandas ``category``
column against a ``string`` column spec ("Can not safely convert category to <U0"), and
pandas 3 reads text as ``str``, so every text feature is declared ``Any`` (no check; MLflow
hands it over as ``str``) and the model builds its own categoricals from the layout's fixed
levels (``research.models.train.model_matrix``: an unseen level is missing). Float
features are declared ``double`` (MLflow takes float32 and int32 too, refuses int64);
the other numeric features (integers, booleans) are ``Any``, so a batch where an integer
column holds a gap (read as float) still scores. ``Any`` costs MLflow about 1.5 us per
value, paid only by the text, integer and key columns. The key columns are optional
``Any`` inputs: undeclared columns (labels, other panel columns) are dropped by MLflow
before ``predict``, with a warning.

Reason codes use XGBoost's own TreeSHAP (``booster.predict(pred_contribs=True)``, the
explain stage's ``native`` path) and the same selection and sentences as
``research.explain.reasons.reason_codes``: the largest positive contributions, ties in
model feature order (a stable sort), so a row always gets the same reasons: both use
``research.models.reasons`` (``tests/test_package.py`` pins them to ``reason_codes``).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

if TYPE_CHECKING:
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo

    from research.models.scoring import ScoringModel

# The pyfunc's artifacts: the model folder (``research.models.io``) and this package's settings.
SCORING_MODEL_ARTIFACT = "scoring_model"
CONFIG_ARTIFACT = "package_config"
CONFIG_FILE = "package.json"
CONFIG_FORMAT = 1
REASONS_PARAM = "reasons"
# Output names of the keys (the scores contract), whatever the input columns are called.
ID_OUTPUT, DATE_OUTPUT = "customer_id", "snapshot_date"
# Pinned to the installed versions in the logged model's requirements and metadata.
REQUIREMENTS = ("mlflow", "xgboost", "numpy", "pandas", "scipy", "scikit-learn")
# The model is logged from code (MLflow's models-from-code), not pickled: this file, stored
# with the model, names the class, so loading imports it from the installed ``research``.
MODEL_CODE_FILE = "scoring_package.py"
MODEL_CODE = """\
# The MLflow model of research.models.package (models from code): the class comes from the
# installed research package; the scoring model is read from the artifacts in load_context.
from mlflow.models import set_model

from research.models.package import ScoringPackage

set_model(ScoringPackage())
"""


class ScoringPackage(PythonModel):
    """The whole scoring path as an MLflow pyfunc (loaded from the model folder artifact)."""

    def __init__(self) -> None:
        super().__init__()
        self._model: ScoringModel | None = None
        self._config: dict[str, Any] = {}

    def load_context(self, context: Any) -> None:
        from research.models.io import load_scoring_model

        self._model = load_scoring_model(Path(context.artifacts[SCORING_MODEL_ARTIFACT]))
        self._config = json.loads(
            Path(context.artifacts[CONFIG_ARTIFACT]).read_text(encoding="utf-8")
        )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Scores of the rows (see ``package_predictions``); ``params={"reasons": k}`` adds reasons."""
        if self._model is None:
            raise RuntimeError("ScoringPackage is not loaded: use mlflow.pyfunc.load_model")
        k = int((params or {}).get(REASONS_PARAM) or 0)
        return package_predictions(self._model, model_input, self._config, reasons=k)


def package_config(
    *,
    catalog: Mapping[str, Any] | None = None,
    outcome: str = "risk",
    id_column: str | None = ID_OUTPUT,
    date_column: str | None = DATE_OUTPUT,
) -> dict[str, Any]:
    """The package's settings: key columns, the reason wording and catalog sentences.

    Args:
        catalog: Feature catalog entries by name (objects with ``description`` and ``reason``,
            e.g. ``research.features.catalog.FeatureSpec``); a feature without one gets a
            generic sentence naming it.
        outcome: The word after "raises" in a reason ("risk", "churn risk", "likelihood").
        id_column: The input column passed through as ``customer_id`` (None: none).
        date_column: The input column passed through as ``snapshot_date`` (None: none).
    """
    return {
        "format": CONFIG_FORMAT,
        "id_column": id_column,
        "date_column": date_column,
        "outcome": outcome,
        "catalog": {
            name: {"description": str(spec.description), "reason": str(spec.reason)}
            for name, spec in (catalog or {}).items()
        },
    }


def default_catalog(features: tuple[str, ...]) -> dict[str, Any]:
    """Catalog entries of the panel features among ``features`` (as the explain stage picks them)."""
    from research.features.catalog import catalog_for

    return {s.name: s for s in catalog_for(features) if s.family != "other"}


# --------------------------------------------------------------------------- scoring


def package_predictions(
    model: ScoringModel, rows: pd.DataFrame, config: Mapping[str, Any], *, reasons: int = 0
) -> pd.DataFrame:
    """What the package returns for ``rows`` (the pyfunc's ``predict`` without MLflow around it).

    Columns: ``customer_id`` and ``snapshot_date`` (when the configured key columns are in
    the rows), ``probability``, ``grade`` or ``decile``, ``raw_score``, ``challenger_score``,
    then for each of ``reasons`` ranks ``reason_<r>`` (the feature), ``reason_<r>_shap``
    (log-odds) and ``reason_<r>_sentence`` (empty where the row has fewer positive
    contributions). The index is the rows'.

    Raises:
        ValueError: a model input column is missing, or ``reasons`` is negative.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    features = model.layout.features
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(
            f"the rows to score lack the model input column(s) {missing}; "
            f"the model needs {list(features)}"
        )
    if reasons < 0:
        raise ValueError(f"params {REASONS_PARAM!r} must be 0 or more, got {reasons}")
    scores = model.score(frame)
    out = pd.DataFrame(index=frame.index)
    id_column, date_column = config.get("id_column"), config.get("date_column")
    if id_column and id_column in frame.columns:
        out[ID_OUTPUT] = frame[id_column]
    if date_column and date_column in frame.columns:
        out[DATE_OUTPUT] = pd.to_datetime(frame[date_column]).astype("datetime64[ns]")
    out["probability"] = scores["score"]
    grading = "grade" if "grade" in scores.columns else "decile"
    out[grading] = scores[grading]
    out["raw_score"] = scores["raw_score"]
    out["challenger_score"] = scores["challenger_score"]
    if reasons:
        out = pd.concat([out, reason_columns(model, frame, config, reasons)], axis=1)
    return out


def reason_columns(
    model: ScoringModel, frame: pd.DataFrame, config: Mapping[str, Any], n: int
) -> pd.DataFrame:
    """The top ``n`` reasons per row, wide: ``reason_<r>``, ``reason_<r>_shap``, ``reason_<r>_sentence``.

    SHAP values from XGBoost's TreeSHAP on the model matrix (log-odds); the reasons and
    sentences are those of ``research.explain.reasons.reason_codes`` for the same values.
    """
    from research.models.reasons import top_reasons
    from research.models.train import dmatrix, model_matrix

    x = model_matrix(frame, model.layout)
    if len(x):
        contribs = model.booster.predict(dmatrix(x, nthread=0), pred_contribs=True)
        values = np.asarray(contribs[:, :-1], dtype=np.float64)
    else:
        values = np.empty((0, len(x.columns)))
    catalog = config.get("catalog", {})
    outcome = str(config.get("outcome", "risk"))
    take = min(n, values.shape[1])
    order, _ = top_reasons(values, n)
    chosen = np.take_along_axis(values, order, axis=1)
    columns: dict[str, Any] = {}
    names = np.asarray(x.columns, dtype=object)
    # The values the sentences show, as reason_codes shows them: floats, or a level (None if missing).
    shown = [
        x[name].astype(object).where(x[name].notna(), None).to_numpy()
        if isinstance(x[name].dtype, pd.CategoricalDtype)
        else x[name].to_numpy(dtype=np.float64)
        for name in x.columns
    ]
    for rank in range(n):
        feature = np.full(len(x), None, dtype=object)
        shap = np.full(len(x), np.nan)
        sentence = np.full(len(x), None, dtype=object)
        if rank < take:
            rows = np.flatnonzero(chosen[:, rank] > 0)
            positions = order[rows, rank]
            feature[rows] = names[positions]
            shap[rows] = chosen[rows, rank]
            for row, position in zip(rows, positions, strict=True):
                name = str(names[position])
                sentence[row] = _sentence(catalog.get(name), name, shown[position][row], outcome)
        columns[f"reason_{rank + 1}"] = feature
        columns[f"reason_{rank + 1}_shap"] = shap
        columns[f"reason_{rank + 1}_sentence"] = sentence
    return pd.DataFrame(columns, index=frame.index)


@dataclasses.dataclass(frozen=True)
class _CatalogEntry:
    """A feature catalog entry as the package keeps it (``research.models.reasons.ReasonSpec``)."""

    name: str
    description: str
    reason: str


def _sentence(spec: Mapping[str, str] | None, feature: str, value: Any, outcome: str) -> str:
    """``research.models.reasons.reason_sentence`` for a catalog entry kept as JSON."""
    from research.models.reasons import reason_sentence

    entry = None if spec is None else _CatalogEntry(feature, spec["description"], spec["reason"])
    return reason_sentence(entry, feature, value, outcome=outcome)


# --------------------------------------------------------------------------- logging


def package_signature(
    model: ScoringModel, example: pd.DataFrame, config: Mapping[str, Any]
) -> ModelSignature:
    """Inputs: every model feature (float ones ``double``, the rest ``Any``), the keys optional.

    Outputs: the keys (optional), ``probability``, ``grade`` or ``decile``, ``raw_score``
    and ``challenger_score`` (the reason columns, present on request, are not declared).
    Params: ``reasons`` (long, default 0).
    """
    from mlflow.models import ModelSignature
    from mlflow.types import DataType
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    layout = model.layout
    inputs: list[Any] = [
        ColSpec(
            DataType.double
            if name not in layout.categories and pd.api.types.is_float_dtype(example[name])
            else AnyType(),
            name,
        )
        for name in layout.features
    ]
    for key in (config.get("id_column"), config.get("date_column")):
        if key and key not in layout.features:
            inputs.append(ColSpec(AnyType(), key, required=False))
    grading = ColSpec(DataType.string, "grade")
    if model.master_scale is None:
        grading = ColSpec(DataType.long, "decile")
    outputs: list[Any] = [
        ColSpec(AnyType(), ID_OUTPUT, required=False),
        ColSpec(DataType.datetime, DATE_OUTPUT, required=False),
        ColSpec(DataType.double, "probability"),
        grading,
        ColSpec(DataType.double, "raw_score"),
        ColSpec(DataType.double, "challenger_score"),
    ]
    params = ParamSchema([ParamSpec(REASONS_PARAM, DataType.long, 0)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def package_example(model: ScoringModel, rows: pd.DataFrame) -> pd.DataFrame:
    """A few rows with only the model's inputs, text as plain strings (JSON knows no categoricals)."""
    example = rows.loc[:, list(model.layout.features)].head(5).copy()
    for name in example.columns:
        if isinstance(example[name].dtype, pd.CategoricalDtype):
            example[name] = example[name].astype(object).where(example[name].notna(), None)
    return example.reset_index(drop=True)


def installed_versions() -> dict[str, str]:
    """Installed versions of the pinned requirements and of ``research``."""
    versions = {pkg: metadata.version(pkg) for pkg in REQUIREMENTS}
    try:
        versions["research"] = metadata.version("research")
    except metadata.PackageNotFoundError:
        import research

        versions["research"] = research.__version__
    return versions


def _package_arguments(
    model: ScoringModel,
    input_example: pd.DataFrame,
    folder: Path,
    config: Mapping[str, Any],
    extra_metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What ``log_model``/``save_model`` take, with the artifacts written under ``folder``."""
    from research.models.io import save_scoring_model

    save_scoring_model(model, folder / SCORING_MODEL_ARTIFACT)
    config_path = folder / CONFIG_FILE
    config_path.write_text(json.dumps(dict(config), indent=1) + "\n", encoding="utf-8")
    example = package_example(model, input_example)
    versions = installed_versions()
    meta = {
        "research_version": versions["research"],
        "versions": versions,
        "grading": "master_scale" if model.master_scale is not None else "deciles",
        "features": list(model.layout.features),
        "reasons": "xgboost pred_contribs (TreeSHAP, log-odds); params {'reasons': k}",
        **dict(extra_metadata or {}),
    }
    code = folder / MODEL_CODE_FILE
    code.write_text(MODEL_CODE, encoding="utf-8")
    return {
        "python_model": str(code),
        "artifacts": {
            SCORING_MODEL_ARTIFACT: str(folder / SCORING_MODEL_ARTIFACT),
            CONFIG_ARTIFACT: str(config_path),
        },
        "signature": package_signature(model, example, config),
        "input_example": example,
        "conda_env": package_environment(versions),
        "metadata": meta,
    }


def package_environment(versions: Mapping[str, str]) -> dict[str, Any]:
    """The logged model's environment: this Python, ``pip``, and ``REQUIREMENTS`` pinned to ``versions``.

    What MLflow writes for ``pip_requirements``, given whole: MLflow neither infers the
    requirements (by loading the model in a subprocess) nor looks for an installed ``pip``
    to pin, which a uv-made environment lacks ("Failed to resolve installed pip version").
    """
    return {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={platform.python_version()}",
            "pip",
            {"pip": [f"{pkg}=={versions[pkg]}" for pkg in REQUIREMENTS]},
        ],
    }


def log_scoring_package(
    scoring_model: ScoringModel,
    input_example: pd.DataFrame,
    *,
    name: str = "model",
    extra_metadata: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    outcome: str = "risk",
    id_column: str | None = ID_OUTPUT,
    date_column: str | None = DATE_OUTPUT,
) -> ModelInfo:
    """Log the scoring model as one pyfunc in the active run; return MLflow's ``ModelInfo``.

    Args:
        scoring_model: The fitted scoring model.
        input_example: A few rows as the panel (or flat table) holds them; only the model's
            input columns are kept.
        name: The logged model's name (``runs:/<run>/<name>``).
        extra_metadata: Added to the MLmodel metadata (next to the package versions).
        catalog: Feature catalog entries for the reason sentences (default: the panel
            catalog's entries of the model's features, as the explain stage uses).
        outcome: What a reason raises ("risk", "churn risk", "likelihood").
        id_column: The input column returned as ``customer_id`` (None: none).
        date_column: The input column returned as ``snapshot_date`` (None: none).

    ``research`` itself is not listed in the requirements (it is no index package) and not
    shipped with ``code_paths``: loading imports ``research.models.package`` from the
    installed package. Code paths would put a copy of ``research`` first on ``sys.path`` of
    every process that loads the model, shadowing the installed one in a fresh process and
    ignored where ``research`` is already imported: two versions of the scoring code. The
    metadata records the ``research`` version instead. Serve with ``--env-manager local``
    from the project's venv (its ``bin`` on ``PATH``: MLflow starts ``uvicorn`` by name).
    """
    import mlflow

    config = package_config(
        catalog=default_catalog(scoring_model.layout.features) if catalog is None else catalog,
        outcome=outcome,
        id_column=id_column,
        date_column=date_column,
    )
    with tempfile.TemporaryDirectory() as tmp:
        arguments = _package_arguments(
            scoring_model, input_example, Path(tmp), config, extra_metadata
        )
        return mlflow.pyfunc.log_model(name=name, **arguments)


def save_scoring_package(
    scoring_model: ScoringModel,
    input_example: pd.DataFrame,
    path: Path,
    *,
    extra_metadata: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    outcome: str = "risk",
    id_column: str | None = ID_OUTPUT,
    date_column: str | None = DATE_OUTPUT,
) -> Path:
    """``log_scoring_package`` to a local folder (no run, no tracking store); return ``path``."""
    config = package_config(
        catalog=default_catalog(scoring_model.layout.features) if catalog is None else catalog,
        outcome=outcome,
        id_column=id_column,
        date_column=date_column,
    )
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        arguments = _package_arguments(
            scoring_model, input_example, Path(tmp), config, extra_metadata
        )
        mlflow.pyfunc.save_model(str(path), **arguments)
    return path


def load_package_scoring_model(model_uri: str) -> ScoringModel:
    """The ``ScoringModel`` inside a logged package (``models:/``, ``runs:/`` or a local path).

    Downloads the model, reads the model folder artifact with ``load_scoring_model`` and
    keeps nothing on disk (every part is read into memory).

    Raises:
        ValueError: the model at ``model_uri`` is not a scoring package.
    """
    import mlflow
    from mlflow.models import Model

    from research.models.io import load_scoring_model

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        flavor = Model.load(str(local)).flavors.get("python_function", {})
        artifacts = flavor.get("artifacts") or {}
        if SCORING_MODEL_ARTIFACT not in artifacts:
            raise ValueError(
                f"{model_uri} is not a scoring package (no {SCORING_MODEL_ARTIFACT!r} artifact); "
                "log it with research.models.package.log_scoring_package"
            )
        return load_scoring_model(local / artifacts[SCORING_MODEL_ARTIFACT]["path"])
