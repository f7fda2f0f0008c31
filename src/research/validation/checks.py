"""The checks table: one row per judged figure with its value, threshold, light and reason.

Every area of the evidence pack contributes rows: discrimination (AUC per set and
against the challenger), calibration (per class, Hosmer-Lemeshow, portfolio rate),
stability (score PSI, CSI), backtest (per out-of-time snapshot), overfitting (the train
against out-of-time AUC gap), segments and concentration (HHI over classes).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from research.validation._base import (
    Thresholds,
    _band_reason,
    _bound,
    band_light,
    band_threshold,
    p_value_light,
    p_value_threshold,
)

if TYPE_CHECKING:
    from research.validation.pack import ValidationResult


def _check(
    area: str, check: str, subject: object, value: float, threshold: str, light: str, reason: str
) -> dict:
    return {
        "area": area,
        "check": check,
        "subject": str(subject),
        "value": value,
        "threshold": threshold,
        "light": light,
        "reason": reason,
    }


def _effective_phrase(row: Any, before: str, after: str) -> str:
    """``effective n = … of …, design effect …`` between ``before`` and ``after``; empty when unadjusted."""
    if not row.design_effect > 1:
        return ""
    return f"{before}effective n = {row.n_effective} of {row.n}, design effect {row.design_effect:.2f}{after}"


def _p_reason(p_adjusted: float, light: str, what: str, *, alpha: float, amber_alpha: float) -> str:
    if light == "grey":
        return f"{what}: not judged"
    low, high = _bound(alpha), _bound(amber_alpha)
    relation = {"green": f"≥ {high}", "amber": f"in [{low}, {high})", "red": f"< {low}"}[light]
    return f"{what}: p = {p_adjusted:.3g} {relation}"


def checks_table(
    result: ValidationResult, t: Thresholds, *, oot_hhi: float = math.nan
) -> pd.DataFrame:
    """One row per judged figure: area, check, subject, value, threshold, light and reason.

    Args:
        result: The evidence tables (its ``checks`` is not read).
        t: The thresholds the tables were judged against.
        oot_hhi: HHI over classes of the out-of-time rows; NaN leaves concentration out.

    Returns:
        Columns ``area, check, subject, value, threshold, light, reason``, by area.
    """
    rows: list[dict] = []
    auc_threshold = band_threshold(t.auc_bands, higher_is_better=True)
    pv: dict[str, Any] = {"alpha": t.calibration_alpha, "amber_alpha": t.calibration_amber_alpha}
    for r in result.discrimination.itertuples():
        reason = _band_reason("AUC", r.auc, t.auc_bands, higher_is_better=True)
        rows.append(
            _check(
                "discrimination",
                "AUC",
                r.set,
                r.auc,
                auc_threshold,
                band_light(r.auc, t.auc_bands, higher_is_better=True),
                f"{reason} (95% CI {r.auc_ci_low:.3f}–{r.auc_ci_high:.3f}, {result.ci_method})",
            )
        )
    oot_challenger = result.challenger[result.challenger["set"] == "oot"]
    for r in oot_challenger.itertuples():
        if not np.isfinite(r.auc_diff):
            light, reason = "grey", "challenger AUC could not be computed"
        elif r.auc_diff >= 0:
            light, reason = (
                "green",
                f"model AUC ≥ challenger's by {r.auc_diff:.3f} (DeLong p = {r.p_value:.3g})",
            )
        elif r.p_value < t.challenger_alpha:
            light, reason = (
                "red",
                f"challenger better by {-r.auc_diff:.3f}, significant (DeLong p = {r.p_value:.3g} < {t.challenger_alpha:g})",
            )
        else:
            light, reason = (
                "amber",
                f"challenger better by {-r.auc_diff:.3f}, not significant (DeLong p = {r.p_value:.3g})",
            )
        rows.append(
            _check(
                "discrimination",
                "AUC − challenger AUC",
                "oot",
                r.auc_diff,
                f"red when negative with DeLong p < {_bound(t.challenger_alpha)}",
                light,
                reason,
            )
        )
    for r in result.calibration.itertuples():
        if r.n == 0:
            rows.append(
                _check(
                    "calibration",
                    f"observed vs predicted per {result.rating_column}",
                    r[1],
                    math.nan,
                    p_value_threshold(tests=r.tests, **pv),
                    "grey",
                    "no out-of-time rows in this class",
                )
            )
            continue
        reason = (
            f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%} (n = {r.n}, {r.events} events"
            + _effective_phrase(r, "; ", "")
            + "); "
            + _p_reason(r.binomial_p_adj, r.binomial_light, "binomial", **pv)
            + "; "
            + _p_reason(r.jeffreys_p_adj, r.jeffreys_light, "Jeffreys", **pv)
        )
        rows.append(
            _check(
                "calibration",
                f"observed vs predicted per {result.rating_column}",
                r[1],
                min(r.binomial_p_adj, r.jeffreys_p_adj),
                p_value_threshold(tests=r.tests, **pv),
                r.light,
                reason,
            )
        )
    for r in result.calibration_summary[result.calibration_summary["set"] == "oot"].itertuples():
        light = p_value_light(r.hl_p, **pv)
        rows.append(
            _check(
                "calibration",
                "Hosmer-Lemeshow",
                "oot",
                r.hl_p,
                p_value_threshold(**pv),
                light,
                _p_reason(r.hl_p, light, f"χ² = {r.hl_statistic:.1f} on {r.hl_df:.0f} df", **pv),
            )
        )
        light = p_value_light(r.central_p, **pv)
        rows.append(
            _check(
                "calibration",
                "portfolio rate (binomial)",
                "oot",
                r.central_p,
                p_value_threshold(**pv),
                light,
                _p_reason(
                    r.central_p,
                    light,
                    f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%}"
                    + _effective_phrase(r, " (", ")"),
                    **pv,
                ),
            )
        )
    psi_threshold = band_threshold(t.psi_bands, higher_is_better=False)
    for r in result.score_stability.itertuples():
        rows.append(
            _check(
                "stability",
                "score PSI",
                f"development → {r.population}",
                r.psi,
                psi_threshold,
                r.light,
                _band_reason("PSI", r.psi, t.psi_bands, higher_is_better=False),
            )
        )
    for r in result.csi.itertuples():
        rows.append(
            _check(
                "stability",
                "CSI",
                r.feature,
                r.csi,
                psi_threshold,
                r.light,
                _band_reason("CSI (development → oot)", r.csi, t.psi_bands, higher_is_better=False),
            )
        )
    for r in result.backtest[result.backtest["judged"]].itertuples():
        date = pd.Timestamp(r.snapshot_date).date()
        rows.append(
            _check(
                "backtest",
                "AUC per snapshot",
                date,
                r.auc,
                auc_threshold,
                r.auc_light,
                _band_reason("AUC", r.auc, t.auc_bands, higher_is_better=True),
            )
        )
        rows.append(
            _check(
                "backtest",
                "rate per snapshot (binomial)",
                date,
                r.binomial_p_adj,
                p_value_threshold(tests=r.tests, **pv),
                r.calibration_light,
                _p_reason(
                    r.binomial_p_adj,
                    r.calibration_light,
                    f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%}",
                    **pv,
                ),
            )
        )
    for r in result.overfit[result.overfit["light"] != "grey"].itertuples():
        rows.append(
            _check(
                "overfitting",
                "AUC gap",
                r.comparison,
                r.auc_gap,
                band_threshold(t.overfit_gap_bands, higher_is_better=False),
                r.light,
                _band_reason(
                    "train − oot AUC gap", r.auc_gap, t.overfit_gap_bands, higher_is_better=False
                ),
            )
        )
    for r in result.segments.itertuples():
        if not r.judged:
            rows.append(
                _check("segments", "AUC and rate", r.segment, r.auc, auc_threshold, "grey", r.note)
            )
            continue
        rows.append(
            _check(
                "segments",
                "AUC",
                r.segment,
                r.auc,
                auc_threshold,
                r.auc_light,
                _band_reason("AUC", r.auc, t.auc_bands, higher_is_better=True)
                + f" (n = {r.n}, {r.events} events)",
            )
        )
        rows.append(
            _check(
                "segments",
                "rate (binomial)",
                r.segment,
                r.binomial_p_adj,
                p_value_threshold(tests=r.tests, **pv),
                r.calibration_light,
                _p_reason(
                    r.binomial_p_adj,
                    r.calibration_light,
                    f"observed {r.observed_rate:.2%} against predicted {r.predicted_rate:.2%}"
                    + _effective_phrase(r, " (", ")"),
                    **pv,
                ),
            )
        )
    if np.isfinite(oot_hhi):
        rows.append(
            _check(
                "concentration",
                f"HHI over {result.rating_column}s",
                "oot",
                oot_hhi,
                band_threshold(t.hhi_bands, higher_is_better=False),
                band_light(oot_hhi, t.hhi_bands, higher_is_better=False),
                _band_reason("HHI", oot_hhi, t.hhi_bands, higher_is_better=False),
            )
        )
    columns = ["area", "check", "subject", "value", "threshold", "light", "reason"]
    return pd.DataFrame(rows, columns=columns)
