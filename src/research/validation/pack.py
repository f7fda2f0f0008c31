"""The whole evidence pack of one model (``validate_model``) and its machine-readable summary.

``validate_model`` runs every check on a scores table (``data/scores/<model>.parquet``)
joined to the feature panel; ``summary_metrics`` holds its figures
(``metrics/diagnostics/<model>/validation.json``), ``headline_metrics`` the light counts and
key test results among them that DVC compares (``metrics/<model>_validation.json``) and
``flat_metrics`` the summary as MLflow metrics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import SupportsFloat

import numpy as np
import pandas as pd

from research.validation._base import (
    DEVELOPMENT_SETS,
    KEYS,
    LABELLED_SETS,
    LIGHT_ORDER,
    Thresholds,
    light_counts,
)
from research.validation.backtest import backtest_table, overfit_table
from research.validation.calibration import (
    calibration_by_class,
    calibration_curve,
    calibration_summary_table,
)
from research.validation.checks import checks_table
from research.validation.discrimination import (
    cap_points,
    challenger_table,
    discrimination_table,
    roc_points,
)
from research.validation.rating import (
    concentration_by_snapshot,
    herfindahl,
    migration_matrix,
    migration_summary,
    rating_classes,
    rating_column,
)
from research.validation.segments import segment_table
from research.validation.stability import csi_table, score_stability

_DEFAULT_THRESHOLDS = Thresholds()  # frozen: one shared default
# The panel's columns that slice the portfolio (``segments``), joined beside the features.
_SLICE_COLUMNS = ("segment", "green_flag", "inclusive_flag")
# Columns the checks read by name: a feature so named stays in the frame they share.
_READ_BY_NAME = frozenset(
    {*KEYS, *_SLICE_COLUMNS, "split", "label", "score", "challenger_score", "grade", "decile"}
)


def _feature_only(features: Sequence[str], scores: pd.DataFrame) -> set[str]:
    """The joined features only the CSI reads (not a column of the scores, nor read by name)."""
    return {f for f in features if f not in scores.columns and f not in _READ_BY_NAME}


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """Every table of the validation evidence for one model (see ``validate_model``)."""

    rating_column: str
    classes: list[object]
    ci_method: str
    discrimination: pd.DataFrame
    roc: pd.DataFrame
    cap: pd.DataFrame
    challenger: pd.DataFrame
    calibration: pd.DataFrame
    calibration_summary: pd.DataFrame
    calibration_curve: pd.DataFrame
    score_stability: pd.DataFrame
    score_distribution: pd.DataFrame
    csi: pd.DataFrame
    backtest: pd.DataFrame
    migration: pd.DataFrame
    migration_summary: pd.DataFrame
    concentration: pd.DataFrame
    overfit: pd.DataFrame
    segments: pd.DataFrame
    checks: pd.DataFrame
    notes: list[str] = dataclasses.field(default_factory=list)
    # An undated table: its random test split stands in for the out-of-time set ("oot" here).
    undated: bool = False

    @property
    def lights(self) -> dict[str, int]:
        """How many checks got each light."""
        return light_counts(self.checks["light"])


def join_panel(
    scores: pd.DataFrame, panel: pd.DataFrame | None, columns: Sequence[str]
) -> pd.DataFrame:
    """Scores with those of ``columns`` the panel holds attached by customer and snapshot.

    Args:
        scores: Rows with ``customer_id`` and ``snapshot_date``.
        panel: The feature panel, or None.
        columns: The panel columns wanted (those the scores already have are skipped).

    Returns:
        A new frame, one row per row of ``scores``.
    """
    wanted = [c for c in dict.fromkeys(columns) if c not in scores.columns]
    if panel is not None:
        wanted = [c for c in wanted if c in panel.columns]
    if panel is None or not wanted:
        return scores.copy()
    right = panel[[*KEYS, *wanted]]  # a new frame (copy-on-write): the panel is not changed
    right["snapshot_date"] = pd.to_datetime(right["snapshot_date"]).astype("datetime64[ns]")
    if right["customer_id"].dtype != scores["customer_id"].dtype:
        right["customer_id"] = right["customer_id"].astype(scores["customer_id"].dtype)
    left = scores.assign(
        snapshot_date=pd.to_datetime(scores["snapshot_date"]).astype("datetime64[ns]")
    )
    return left.merge(right, on=list(KEYS), how="left", validate="many_to_one")


def _check_scores(scores: pd.DataFrame) -> None:
    required = {"customer_id", "snapshot_date", "split", "label", "score"}
    missing = sorted(required - set(scores.columns))
    if missing:
        raise ValueError(
            f"scores: missing column(s) {missing}; expected the train stage's data/scores/<model>.parquet"
        )
    unknown = sorted(
        set(scores["split"].dropna().astype(str)) - {*LABELLED_SETS, "purged", "latest"}
    )
    if unknown:
        raise ValueError(
            f"scores: unknown split value(s) {unknown}; expected train, valid, oot, purged or latest"
        )
    if not (scores["split"] == "oot").any():
        raise ValueError(
            "scores: no out-of-time rows (split == 'oot'); check split.oot_first_snapshot"
        )


def validate_model(
    scores: pd.DataFrame,
    panel: pd.DataFrame | None = None,
    *,
    features: Sequence[str] = (),
    categorical: Sequence[str] = (),
    grade_names: Sequence[str] = (),
    thresholds: Thresholds = _DEFAULT_THRESHOLDS,
    bootstrap: int = 0,
    seed: int = 0,
) -> ValidationResult:
    """Run every validation check on one model's scores.

    Args:
        scores: The train stage's scores (``customer_id, snapshot_date, split, label,
            score``, optionally ``challenger_score`` and ``grade`` or ``decile``).
        panel: The feature panel (features, ``segment``, ``green_flag``, ``inclusive_flag``).
        features: The model's features (CSI is computed for each).
        categorical: Which of them are categorical.
        grade_names: The master scale's grade names, best first (empty for deciles).
        thresholds: Bands and test levels of the traffic lights.
        bootstrap: 0 for DeLong intervals, else the number of bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        The evidence tables and the ``checks`` table with one light per judged figure.
    """
    notes = []
    undated = bool(
        "split" in scores.columns
        and not (scores["split"] == "oot").any()
        and (scores["split"] == "test").any()
    )
    if undated:
        scores = scores.assign(split=scores["split"].replace("test", "oot"))
        notes.append(
            "undated modelling table: the random test split stands in for the out-of-time set; "
            "backtesting, migration and concentration need snapshot dates"
        )
    _check_scores(scores)
    t = thresholds
    wide = join_panel(scores, panel, [*features, *_SLICE_COLUMNS])
    missing = [f for f in features if f not in wide.columns]
    if missing:
        notes.append(f"features not in the panel, left out of the CSI: {', '.join(missing)}")
    csi_features = [f for f in features if f in wide.columns]
    column = rating_column(wide)
    if column == "decile":
        wide["decile"] = wide["decile"].astype("Int64")
    # Every check but the CSI reads a few columns: the frame they share leaves the features
    # out, so that selecting rows (labelled, per set, out-of-time) never copies ~120 columns.
    feature_only = _feature_only(csi_features, scores)
    frame = wide[[c for c in wide.columns if c not in feature_only]]
    classes = rating_classes(frame, column, grade_names)
    labelled_rows = frame["label"].notna() & frame["split"].isin([*LABELLED_SETS, "purged"])
    labelled = frame[labelled_rows].assign(label=lambda f: f["label"].astype(int))
    in_sets = labelled[labelled["split"].isin(LABELLED_SETS)]
    oot = in_sets[in_sets["split"] == "oot"]
    development = frame[frame["split"].isin(DEVELOPMENT_SETS)]

    discrimination = discrimination_table(in_sets, bootstrap=bootstrap, seed=seed)
    parts = {name: in_sets[in_sets["split"] == name] for name in LABELLED_SETS}
    parts = {name: part for name, part in parts.items() if not part.empty}
    roc = pd.concat(
        [roc_points(p["label"], p["score"]).assign(set=s) for s, p in parts.items()],
        ignore_index=True,
    )
    cap = pd.concat(
        [cap_points(p["label"], p["score"]).assign(set=s) for s, p in parts.items()],
        ignore_index=True,
    )
    # The same customer in several snapshots of one set: its rows are one cluster.
    cluster = "customer_id" if t.cluster_adjust else None
    calibration = calibration_by_class(
        oot,
        rating_column=column,
        classes=classes,
        alpha=t.calibration_alpha,
        amber_alpha=t.calibration_amber_alpha,
        cluster_column=cluster,
    )
    curve = pd.concat(
        [
            calibration_curve(p["label"], p["score"], bins=t.hl_groups).assign(set=s)
            for s, p in parts.items()
        ],
        ignore_index=True,
    )
    stability, distribution = score_stability(development, frame, t)
    split = wide["split"]
    csi = csi_table(
        wide.loc[split.isin(DEVELOPMENT_SETS).to_numpy(), csi_features],
        wide.loc[(split == "oot").to_numpy(), csi_features],
        features=csi_features,
        categorical=categorical,
        bins=t.psi_bins,
        bands=t.psi_bands,
    )
    matrix = migration_matrix(frame, rating_column=column, classes=classes)
    result = ValidationResult(
        rating_column=column,
        classes=classes,
        ci_method=f"bootstrap ({bootstrap} resamples, percentile)" if bootstrap else "DeLong",
        discrimination=discrimination,
        roc=roc,
        cap=cap,
        challenger=challenger_table(in_sets),
        calibration=calibration,
        calibration_summary=calibration_summary_table(
            in_sets, groups=t.hl_groups, cluster_column=cluster
        ),
        calibration_curve=curve,
        score_stability=stability,
        score_distribution=distribution,
        csi=csi,
        backtest=backtest_table(
            labelled,
            auc_bands=t.auc_bands,
            alpha=t.calibration_alpha,
            amber_alpha=t.calibration_amber_alpha,
            min_events=t.min_segment_events,
        ),
        migration=matrix,
        migration_summary=migration_summary(matrix),
        concentration=concentration_by_snapshot(frame, rating_column=column, classes=classes),
        overfit=overfit_table(discrimination, bands=t.overfit_gap_bands),
        segments=segment_table(
            oot,
            auc_bands=t.auc_bands,
            alpha=t.calibration_alpha,
            amber_alpha=t.calibration_amber_alpha,
            min_events=t.min_segment_events,
            cluster_column=cluster,
        ),
        checks=pd.DataFrame(),
        notes=notes,
        undated=undated,
    )
    hhi_oot = herfindahl(
        frame.loc[frame["split"] == "oot", column].value_counts().reindex(classes, fill_value=0)
    )
    return dataclasses.replace(result, checks=checks_table(result, t, oot_hhi=hhi_oot))


# ---------------------------------------------------------------------------------------
# The machine-readable summary (DVC metrics)
# ---------------------------------------------------------------------------------------


def _number(value: SupportsFloat | None) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def summary_metrics(result: ValidationResult) -> dict[str, dict]:
    """Every summary figure of the pack: numbers only at the leaves, lights as counts.

    Args:
        result: The output of ``validate_model``.

    Returns:
        Sections ``discrimination`` (per set), ``challenger`` (when there is one),
        ``calibration``, ``stability``, ``backtest``, ``overfit``, ``segments``,
        ``concentration`` and ``lights``; missing figures are None.
    """
    summary: dict[str, dict] = {"discrimination": {}}
    for r in result.discrimination.itertuples():
        summary["discrimination"][r.set] = {
            k: _number(getattr(r, k))
            for k in ("auc", "auc_ci_low", "auc_ci_high", "gini", "ks", "n", "events")
        }
    oot_challenger = result.challenger[result.challenger["set"] == "oot"]
    if not oot_challenger.empty:
        r = oot_challenger.iloc[0]
        summary["challenger"] = {
            k: _number(r[k]) for k in ("challenger_auc", "auc_diff", "p_value")
        }
    oot_cal = result.calibration_summary[result.calibration_summary["set"] == "oot"]
    calibration: dict[str, float | int | None] = {}
    if not oot_cal.empty:
        r = oot_cal.iloc[0]
        calibration = {
            k: _number(r[k])
            for k in (
                "observed_rate",
                "predicted_rate",
                "brier",
                "hl_statistic",
                "hl_p",
                "central_p",
            )
        }
    judged = result.calibration[result.calibration["n"] > 0]
    calibration["min_class_p_adj"] = (
        _number(judged[["binomial_p_adj", "jeffreys_p_adj"]].min().min()) if len(judged) else None
    )
    calibration["classes_red"] = int((result.calibration["light"] == "red").sum())
    summary["calibration"] = calibration
    by_population = result.score_stability.set_index("population")["psi"]
    summary["stability"] = {
        "score_psi": _number(by_population.get("oot", math.nan)),
        "score_psi_latest": _number(by_population.get("latest", math.nan)),
        "max_csi": _number(result.csi["csi"].max()) if len(result.csi) else None,
        "features_red": int((result.csi["light"] == "red").sum()),
        "features_amber": int((result.csi["light"] == "amber").sum()),
    }
    judged_bt = result.backtest[result.backtest["judged"]]
    summary["backtest"] = {
        "min_auc": _number(judged_bt["auc"].min()) if len(judged_bt) else None,
        "max_rate_gap": _number(
            (judged_bt["observed_rate"] - judged_bt["predicted_rate"]).abs().max()
        )
        if len(judged_bt)
        else None,
        "snapshots": len(result.backtest),
    }
    overfit = result.overfit.set_index("comparison")["auc_gap"]
    summary["overfit"] = {
        "auc_gap": _number(overfit.iloc[0]),
        "auc_gap_valid": _number(overfit.iloc[1]),
    }
    judged_seg = result.segments[result.segments["judged"]]
    summary["segments"] = {
        "min_auc": _number(judged_seg["auc"].min()) if len(judged_seg) else None,
        "judged": len(judged_seg),
        "too_small": int((~result.segments["judged"]).sum()),
    }
    hhi = result.checks.loc[result.checks["area"] == "concentration", "value"]
    summary["concentration"] = {"hhi_oot": _number(hhi.iloc[0]) if len(hhi) else None}
    summary["lights"] = result.lights
    return summary


# The figures of ``metrics/<model>_validation.json``: the out-of-time AUC with its interval, the
# key test results and the light counts (the out-of-time Gini, KS and Brier score are the train
# stage's, ``metrics/<model>.json``: the same rows and scores, one file each).
HEADLINE: dict[str, dict | tuple] = {
    "discrimination": {"oot": ("auc", "auc_ci_low", "auc_ci_high")},
    "challenger": ("auc_diff", "p_value"),
    "calibration": ("hl_p",),
    "stability": ("score_psi", "max_csi"),
    "overfit": ("auc_gap",),
}


def _pick(section: dict, keys: dict | tuple) -> dict:
    if isinstance(keys, dict):
        return {k: _pick(section.get(k) or {}, v) for k, v in keys.items() if k in section}
    return {k: section[k] for k in keys if k in section}


def headline_metrics(summary: dict) -> dict[str, dict]:
    """The headline of ``summary_metrics``: what ``metrics/<model>_validation.json`` holds.

    ``discrimination.oot`` (``auc`` and its interval), ``challenger`` (``auc_diff``,
    ``p_value``), ``calibration.hl_p``, ``stability`` (``score_psi``, ``max_csi``),
    ``overfit.auc_gap`` and ``lights`` (the count of each colour, zero included): 13
    figures. A section the summary lacks (no challenger) is left out.
    """
    headline = {
        name: _pick(summary[name], keys) for name, keys in HEADLINE.items() if name in summary
    }
    lights = summary.get("lights") or {}
    headline["lights"] = {colour: int(lights.get(colour, 0)) for colour in LIGHT_ORDER}
    return headline


def flat_metrics(summary: dict, prefix: str = "validation") -> dict[str, float]:
    """The summary as ``validation.a.b`` numbers (MLflow metrics are flat; missing values dropped).

    Args:
        summary: The output of ``summary_metrics`` (or any nested dict of numbers).
        prefix: The first part of every name.

    Returns:
        ``{name: value}`` in the summary's order, as floats.
    """
    flat: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, name))
        elif value is not None:
            flat[name] = float(value)
    return flat
