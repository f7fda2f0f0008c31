"""SHAP values of an XGBoost booster on the log-odds (margin) scale, by three exact paths.

* ``native``: XGBoost's own TreeSHAP (``pred_contribs``), float32, multithreaded.
* ``shap``: ``shap.TreeExplainer`` in its path-dependent mode. For an XGBoost model this
  mode hands the work to XGBoost's ``pred_contribs`` (shap's own C++ engine does not take
  XGBoost's categorical splits), so it agrees with ``native`` by construction.
* ``woodelf``: the WOODELF algorithm (``woodelf-explainer``), path-dependent like the
  other two. woodelf's own XGBoost parser refuses categorical splits and keeps float32
  matrices, so ``_woodelf`` reads the trees from the booster's JSON itself (categorical
  splits included), computes woodelf's s-vectors in float64 and looks them up by blocks
  of leaves, the rows split over ``nthread`` threads: 25 to 35 times faster than
  ``shap.TreeExplainer`` at 100,000 rows on two (busy) cores, within about 1e-6 of
  ``native`` (its float32) as before (``benchmarks/bench_explain.py``).

All three explain the margin: SHAP values sum, with the base value, to the log-odds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.models.train import dmatrix, predict_margin

SCALE = "log-odds"
METHODS = ("woodelf", "native", "shap")


@dataclass(frozen=True)
class ShapValues:
    """SHAP values (rows x features, log-odds) with the base value and how they were computed."""

    values: np.ndarray
    base_value: float
    feature_names: list[str]
    method: str
    seconds: float

    def frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """The values as a DataFrame with one column per feature."""
        return pd.DataFrame(self.values, columns=self.feature_names, index=index)


# The booster's raw output (log-odds) for each row: the training stage's helper.
model_margin = predict_margin


def base_value(booster, frame: pd.DataFrame, *, nthread: int = 2) -> float:
    """The expected margin under the trees' covers (the SHAP base value, log-odds)."""
    contribs = booster.predict(dmatrix(frame.iloc[:1], nthread=nthread), pred_contribs=True)
    return float(contribs[0, -1])


def native_shap(booster, frame: pd.DataFrame, *, nthread: int = 2) -> ShapValues:
    """SHAP values from XGBoost's own TreeSHAP (``pred_contribs``)."""
    start = time.perf_counter()
    contribs = booster.predict(dmatrix(frame, nthread=nthread), pred_contribs=True)
    seconds = time.perf_counter() - start
    return ShapValues(
        values=contribs[:, :-1].astype(np.float64),
        base_value=float(contribs[0, -1])
        if len(contribs)
        else base_value(booster, frame, nthread=nthread),
        feature_names=list(frame.columns),
        method="native",
        seconds=seconds,
    )


def shap_tree_explainer(booster, frame: pd.DataFrame, *, nthread: int = 2) -> ShapValues:
    """SHAP values from ``shap.TreeExplainer`` (path-dependent, raw margin output)."""
    import shap

    start = time.perf_counter()
    explainer = shap.TreeExplainer(
        booster, feature_perturbation="tree_path_dependent", model_output="raw"
    )
    values = explainer.shap_values(dmatrix(frame, nthread=nthread), check_additivity=False)
    seconds = time.perf_counter() - start
    return ShapValues(
        values=np.asarray(values, dtype=np.float64),
        base_value=float(np.ravel(explainer.expected_value)[0]),
        feature_names=list(frame.columns),
        method="shap",
        seconds=seconds,
    )


def woodelf_shap(booster, frame: pd.DataFrame, *, nthread: int = 2) -> ShapValues:
    """SHAP values from WOODELF's path-dependent s-vectors (float64), rows over ``nthread`` threads.

    The values do not depend on ``nthread`` (the same operations per row, bit for bit).
    """
    from research.explain import _woodelf

    start = time.perf_counter()
    x = woodelf_matrix(frame)
    engine = _woodelf.BlockedPathDependentShap(booster, x.shape[1], x.shape[0])
    values = engine.values(x, nthread=nthread)
    seconds = time.perf_counter() - start
    return ShapValues(
        values=values,
        base_value=base_value(booster, frame, nthread=nthread),
        feature_names=list(frame.columns),
        method="woodelf",
        seconds=seconds,
    )


def woodelf_matrix(frame: pd.DataFrame) -> np.ndarray:
    """``woodelf_input`` as a (rows x features) float64 array, stored feature by feature."""
    columns = np.empty((len(frame.columns), len(frame)), dtype=np.float64)
    for i, name in enumerate(frame.columns):
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy()
            columns[i] = codes
            columns[i][codes < 0] = np.nan
        else:
            columns[i] = column.to_numpy(dtype=np.float64).astype(np.float32)
    return columns.T


def woodelf_input(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric float64 copy of a model frame as XGBoost sees it: category codes, float32-rounded values.

    XGBoost compares float32 inputs with float32 thresholds; rounding here first makes
    the float64 comparisons inside woodelf route every row exactly as XGBoost does.
    """
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            columns[name] = codes
        else:
            columns[name] = column.to_numpy(dtype=np.float64).astype(np.float32).astype(np.float64)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def compute_shap(booster, frame: pd.DataFrame, *, method: str, nthread: int = 2) -> ShapValues:
    """SHAP values (log-odds) by ``method``: ``woodelf``, ``native`` or ``shap``."""
    engines = {"woodelf": woodelf_shap, "native": native_shap, "shap": shap_tree_explainer}
    if method not in engines:
        raise ValueError(f"explain.method must be one of {', '.join(METHODS)}, got {method!r}")
    return engines[method](booster, frame, nthread=nthread)


def interaction_values(
    booster,
    frame: pd.DataFrame,
    *,
    method: str = "native",
    nthread: int = 2,
    main: np.ndarray | None = None,
) -> np.ndarray:
    """SHAP interaction values (rows x features x features, log-odds), without the bias term.

    Off-diagonal cells hold half of each pair's interaction (shap's convention), the
    diagonal the main effects; a row sums to its SHAP values. ``native`` and ``shap``
    use XGBoost's ``pred_interactions`` (about two TreeSHAP passes per feature);
    ``woodelf`` is much faster on the same rows; given ``main``, the woodelf SHAP values of
    the same rows (rows x features) already computed, it skips its second pass and fills
    the diagonal from them.
    """
    if method == "woodelf":
        return _woodelf_interactions(booster, frame, main=main)
    values = booster.predict(dmatrix(frame, nthread=nthread), pred_interactions=True)
    return values[:, :-1, :-1].astype(np.float64)


def _woodelf_interactions(
    booster, frame: pd.DataFrame, *, main: np.ndarray | None = None
) -> np.ndarray:
    from woodelf import WoodelfExplainer
    from woodelf.core.cube_metric import ShapleyInteractionValues, ShapleyValues

    from research.explain import _woodelf

    names = list(frame.columns)
    ensemble = _woodelf.ensemble_from_booster(booster, names)
    depth = max(ensemble.max_depth, 1)
    explainer = WoodelfExplainer(ensemble)
    data = woodelf_input(frame)
    # Each metric needs its own calculator (woodelf's shap_interaction_values would reuse one).
    pairs = explainer.calc_metric(
        data,
        ShapleyInteractionValues(),
        as_df=True,
        verbose=False,
        path_to_matrices_calculator=_woodelf.Float64PathToSVectors(
            ShapleyInteractionValues(), max_depth=depth
        ),
    )
    if main is None:
        main = explainer.calc_metric(
            data,
            ShapleyValues(),
            as_df=False,
            verbose=False,
            path_to_matrices_calculator=_woodelf.Float64PathToSVectors(
                ShapleyValues(), max_depth=depth
            ),
        )
    elif np.shape(main) != (len(frame), len(names)):
        raise ValueError(
            f"main SHAP values of shape {np.shape(main)} do not match {len(frame)} rows x "
            f"{len(names)} features"
        )
    cube = np.array(pairs.to_numpy(dtype=np.float64), copy=True).reshape(
        len(frame), len(names), len(names)
    )
    diagonal = np.arange(len(names))
    cube[:, diagonal, diagonal] = 0.0
    cube[:, diagonal, diagonal] = np.asarray(main, dtype=np.float64) - cube.sum(axis=2)
    return cube
