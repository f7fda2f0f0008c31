"""One scoring model from one modeling table: booster, calibrator, grading and challenger.

``fit_scoring_model`` fits every part on the development splits (trees on ``train``,
early stopping and calibration on ``valid``, grade or decile cut points from the
master scale or the development margins, the challenger on ``train``);
``score_table`` scores every row of the table; ``model_metrics`` measures each split.
Nothing here reads files, logs or prints.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from research.models.calibration import (
    Calibrator,
    DecileScale,
    MasterScale,
    fit_calibrator,
    fit_deciles,
)
from research.models.challenger import Challenger, fit_challenger
from research.models.metrics import binary_metrics
from research.models.params import ModelSpec
from research.models.splits import FITTED, TRAIN, VALID, holdout_name
from research.models.train import (
    BOOSTER_KEYS,
    IMBALANCE,
    FeatureLayout,
    booster_params,
    fit_booster,
    model_matrix,
    predict_margin,
    resolve_xgb_settings,
    round_cap_note,
    sigmoid,
)

XGB_KEYS = ("n_estimators", *BOOSTER_KEYS, "early_stopping_rounds")


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """What a fit needs besides the data: the label, booster settings, calibration and grading.

    ``grade_names`` empty means risk deciles instead of a master scale.
    """

    label: str
    xgb: Mapping[str, Any]
    calibration_method: str = "platt"
    grade_names: Sequence[str] = ()
    grade_upper_pd: Sequence[float] = ()
    challenger_c: float = 1.0
    model: str = "model"  # names the model in notes (``models.<model>.xgb...``)

    @classmethod
    def from_spec(cls, spec: ModelSpec, model: str = "model") -> FitSettings:
        """The fit settings of a model specification (``params.yaml`` → ``models.<name>``)."""
        return cls(
            label=spec.label,
            xgb=spec.xgb.as_dict(),
            calibration_method=spec.calibration.method,
            grade_names=tuple(spec.grades.names) if spec.graded else (),
            grade_upper_pd=tuple(spec.grades.upper_pd) if spec.graded else (),
            model=model,
        )


@dataclasses.dataclass(frozen=True)
class ScoringModel:
    """Everything needed to score a row: inputs, trees, calibration, grading and the challenger."""

    layout: FeatureLayout
    booster: xgb.Booster
    calibrator: Calibrator
    challenger: Challenger
    master_scale: MasterScale | None = None
    deciles: DecileScale | None = None

    def score(self, frame: pd.DataFrame, *, nthread: int = 0) -> pd.DataFrame:
        """``raw_score, margin, score, challenger_score`` and ``grade`` or ``decile`` per row."""
        x = model_matrix(frame, self.layout)
        margin = predict_margin(self.booster, x, nthread=nthread)
        calibrated = self.calibrator.apply(margin)
        scores = pd.DataFrame(
            {
                "raw_score": sigmoid(margin),
                "margin": margin,
                "score": calibrated,
                "challenger_score": self.challenger.predict(x),
            },
            index=frame.index,
        )
        if self.master_scale is not None:
            scores["grade"] = self.master_scale.grade(calibrated)
        else:
            assert self.deciles is not None, "a scoring model has a master scale or deciles"
            scores["decile"] = self.deciles.decile(margin)
        return scores


@dataclasses.dataclass(frozen=True)
class FitReport:
    """How the fit went: best round, loss by round and seconds per part.

    ``xgb`` holds the booster settings used (``auto`` ones resolved), ``resolved`` the
    values ``auto`` stood for (empty when none), ``notes`` warnings for the stage to show
    (the round cap hit, with the setting to raise) and ``imbalance`` how the event rate
    was handled.
    """

    best_iteration: int
    loss: dict[str, list[float]]
    seconds: dict[str, float]
    xgb: dict[str, Any] = dataclasses.field(default_factory=dict)
    resolved: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    imbalance: str = IMBALANCE

    @property
    def round_cap_hit(self) -> bool:
        """Whether early stopping never stopped: the best round is the last one allowed."""
        cap = int(self.xgb.get("n_estimators", 0))
        return bool(cap) and self.best_iteration >= cap - 1


def fit_scoring_model(
    table: pd.DataFrame,
    split: pd.Series,
    *,
    settings: FitSettings,
    layout: FeatureLayout,
    nthread: int,
    seed: int,
    boost: Callable[..., tuple[xgb.Booster, dict]] | None = None,
    margins: Callable[[xgb.Booster, pd.DataFrame], np.ndarray] | None = None,
) -> tuple[ScoringModel, FitReport]:
    """Fit booster, calibrator, grading and challenger on the ``train`` and ``valid`` rows.

    Args:
        table: The modeling table (features and ``label``), one row per customer-snapshot.
        split: Split name per row (``research.models.splits``).
        settings: The label (1/0 column), ``models.<name>.xgb`` (the keys in ``XGB_KEYS``), the
            calibration method (``isotonic`` or ``platt``), the master scale (names and upper PD
            bounds; empty for risk deciles) and the challenger's inverse L2 strength.
        layout: Feature order, categorical levels and monotone constraints.
        nthread: XGBoost threads.
        seed: Seed of row and column subsampling.
        boost: Replaces ``fit_booster`` (same signature); the Dask engine boosts on its cluster.
        margins: Replaces ``predict_margin(booster, x)`` for the development margins.
    """
    label = settings.label
    grade_names, grade_upper_pd = settings.grade_names, settings.grade_upper_pd
    boost = boost or fit_booster
    margins = margins or (lambda booster, x: predict_margin(booster, x, nthread=nthread))
    unknown = sorted(set(settings.xgb) ^ set(XGB_KEYS))
    if unknown:
        raise KeyError(
            f"xgb settings must hold exactly {', '.join(XGB_KEYS)}; mismatched: {unknown}"
        )
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    x = model_matrix(table.loc[split.isin(FITTED)], layout)
    y = table.loc[x.index, label].to_numpy(dtype=float)
    is_train = (split.loc[x.index] == TRAIN).to_numpy()
    # ``auto`` settings from the rows the trees grow on
    xgb_settings, resolved = resolve_xgb_settings(settings.xgb, y[is_train])
    params = booster_params(
        **{
            k: xgb_settings[k]
            for k in XGB_KEYS
            if k not in ("n_estimators", "early_stopping_rounds")
        },
        constraints=layout.constraints(),
        nthread=nthread,
        seed=seed,
    )
    seconds["prepare"], clock = time.perf_counter() - clock, time.perf_counter()
    booster, loss = boost(
        x[is_train],
        y[is_train],
        x[~is_train],
        y[~is_train],
        params=params,
        n_estimators=int(xgb_settings["n_estimators"]),
        early_stopping_rounds=int(xgb_settings["early_stopping_rounds"]),
    )
    seconds["boost"], clock = time.perf_counter() - clock, time.perf_counter()
    margin = margins(booster, x)
    calibrator = fit_calibrator(margin[~is_train], y[~is_train], method=settings.calibration_method)
    master_scale = MasterScale(tuple(grade_names), tuple(grade_upper_pd)) if grade_names else None
    deciles = None if grade_names else fit_deciles(margin)
    seconds["calibrate"], clock = time.perf_counter() - clock, time.perf_counter()
    challenger = fit_challenger(
        x[is_train],
        y[is_train],
        numeric=layout.numeric,
        categorical=tuple(layout.categories),
        c=settings.challenger_c,
    )
    seconds["challenger"] = time.perf_counter() - clock
    model = ScoringModel(layout, booster, calibrator, challenger, master_scale, deciles)
    best = booster.num_boosted_rounds() - 1
    cap_note = round_cap_note(
        settings.model,
        best_iteration=best,
        n_estimators=int(xgb_settings["n_estimators"]),
        learning_rate=float(xgb_settings["learning_rate"]),
    )
    report = FitReport(
        best_iteration=best,
        loss=loss,
        seconds=seconds,
        xgb=dict(xgb_settings),
        resolved=resolved,
        notes=(cap_note,) if cap_note else (),
    )
    return model, report


def score_table(
    model: ScoringModel,
    table: pd.DataFrame,
    split: pd.Series,
    *,
    id_column: str,
    date_column: str | None,
    label: str,
    nthread: int = 0,
) -> pd.DataFrame:
    """Scores of every row under the contract's names (``customer_id, snapshot_date, split, label, ...``).

    A table without a date column gets an empty (NaT) ``snapshot_date``.
    """
    dates = (
        pd.to_datetime(table[date_column]) if date_column else pd.Series(pd.NaT, index=table.index)
    )
    keys = pd.DataFrame(
        {
            "customer_id": table[id_column],
            "snapshot_date": dates.astype("datetime64[ns]"),
            "split": split.astype(str),
            "label": table[label].astype(float),
        },
        index=table.index,
    )
    return pd.concat([keys, model.score(table, nthread=nthread)], axis=1).reset_index(drop=True)


def model_metrics(scores: pd.DataFrame) -> dict[str, Any]:
    """Metrics per split on the calibrated score, the challenger's on valid and the holdout.

    Sections ``train``, ``valid`` and ``oot`` (``test`` for an undated table) hold
    ``n, events, auc, gini, ks, brier, logloss`` and ``auc_uncalibrated`` (the booster's
    raw ranking, before calibration ties); ``challenger`` holds the challenger's holdout
    figures with its ``valid`` ones nested.
    """
    holdout = holdout_name(scores["split"])
    sections: dict[str, Any] = {"holdout": holdout}
    for name in (TRAIN, VALID, holdout):
        rows = scores[scores["split"] == name]
        sections[name] = binary_metrics(rows["label"], rows["score"])
        sections[name]["auc_uncalibrated"] = binary_metrics(rows["label"], rows["raw_score"])["auc"]
    challenger = {}
    for name in (holdout, VALID):
        rows = scores[scores["split"] == name]
        challenger[name] = binary_metrics(rows["label"], rows["challenger_score"])
    sections["challenger"] = {**challenger[holdout], "valid": challenger[VALID]}
    return sections


def feature_importance(model: ScoringModel) -> pd.DataFrame:
    """Total gain per feature (features never split on get zero), largest first."""
    gain = model.booster.get_score(importance_type="total_gain")
    table = pd.DataFrame({"feature": model.layout.features})
    table["total_gain"] = table["feature"].map(gain).fillna(0.0)
    table["share"] = table["total_gain"] / max(table["total_gain"].sum(), np.finfo(float).tiny)
    table["monotone"] = table["feature"].map(model.layout.monotone).fillna(0).astype(int)
    return table.sort_values("total_gain", ascending=False, kind="stable").reset_index(drop=True)
