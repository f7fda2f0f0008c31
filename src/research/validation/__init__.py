"""The validator's evidence: discrimination, calibration, stability, backtesting, overfitting, segments.

Every function here is pure: DataFrames or arrays in, numbers or DataFrames out; the
thresholds arrive as keyword arguments (the stage reads them from ``params.yaml``).
``validate_model`` runs every check on a scores table (``data/scores/<model>.parquet``)
joined to the feature panel and returns a ``ValidationResult`` whose ``checks`` table
holds one row per judged figure: its value, the threshold beside it, a traffic light
(green, amber, red; grey when a sample is too small to judge) and the reason.

AUC, Gini, KS, Brier and the ROC and calibration points are the training stage's
(``research.models.metrics``), so both stages report the same figures.

The modules, by area:

- ``discrimination``: AUC, Gini, KS, DeLong and bootstrap intervals, ROC and CAP curves;
- ``calibration``: Brier, binomial and Jeffreys tests, Hosmer-Lemeshow, design effect;
- ``stability``: PSI of the score and CSI of the features;
- ``rating``: rating classes, migration and concentration (HHI);
- ``backtest``: per-snapshot backtest and the overfitting gaps;
- ``segments``: the portfolio slices judged separately;
- ``checks``: the checks table (one light per judged figure);
- ``pack``: ``validate_model``, ``ValidationResult`` and the DVC/MLflow summaries.

Conventions:
- a higher score means a higher event probability (default or churn);
- labelled sets are ``train``, ``valid`` and ``oot``; the development population is
  ``train`` plus ``valid``; rows with split ``latest`` (no label yet) count only for
  stability and migration;
- AUC confidence intervals are DeLong's (normal approximation on the DeLong standard
  error) unless a number of bootstrap resamples is given (percentile intervals); the
  paired AUC comparison with the challenger is DeLong's test;
- calibration per rating grade (credit) or score decile (churn) uses the two-sided exact
  binomial test and the one-sided Jeffreys test (ECB TRIM: p-value = Beta(D + 1/2,
  N - D + 1/2) cdf at the grade's PD; small means the PD underestimates), both
  Bonferroni-adjusted over the grades;
- the rate tests on pooled snapshots (per grade or decile, per segment, the whole set,
  and each Hosmer-Lemeshow group)
  treat a customer's rows as one cluster: with quarterly snapshots and a 12-month horizon
  one default or departure is an event in up to four rows, which a plain binomial test
  counts as four independent trials. The counts are divided by the design effect
  (cluster-robust over naive variance of the residuals, about 2.5 on the default
  portfolio) before testing; ``cluster_adjust: false`` in ``params.yaml`` turns this off.
  Each per-snapshot backtest row has one row per customer and needs no adjustment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from research._lazy import lazy_exports

if TYPE_CHECKING:  # names for type checkers; at run time __getattr__ imports them on first use
    from research.validation._base import DEVELOPMENT_SETS as DEVELOPMENT_SETS
    from research.validation._base import KEYS as KEYS
    from research.validation._base import LABELLED_SETS as LABELLED_SETS
    from research.validation._base import LIGHT_ORDER as LIGHT_ORDER
    from research.validation._base import Thresholds as Thresholds
    from research.validation._base import band_light as band_light
    from research.validation._base import band_threshold as band_threshold
    from research.validation._base import light_counts as light_counts
    from research.validation._base import p_value_light as p_value_light
    from research.validation._base import p_value_threshold as p_value_threshold
    from research.validation._base import worst_light as worst_light
    from research.validation.backtest import backtest_table as backtest_table
    from research.validation.backtest import overfit_table as overfit_table
    from research.validation.calibration import binomial_p_value as binomial_p_value
    from research.validation.calibration import brier as brier
    from research.validation.calibration import calibration_by_class as calibration_by_class
    from research.validation.calibration import calibration_curve as calibration_curve
    from research.validation.calibration import (
        calibration_summary_table as calibration_summary_table,
    )
    from research.validation.calibration import clustered_counts as clustered_counts
    from research.validation.calibration import design_effect as design_effect
    from research.validation.calibration import effective_counts as effective_counts
    from research.validation.calibration import hosmer_lemeshow as hosmer_lemeshow
    from research.validation.calibration import jeffreys_p_value as jeffreys_p_value
    from research.validation.checks import checks_table as checks_table
    from research.validation.discrimination import accuracy_ratio as accuracy_ratio
    from research.validation.discrimination import auc as auc
    from research.validation.discrimination import (
        auc_confidence_interval as auc_confidence_interval,
    )
    from research.validation.discrimination import cap_points as cap_points
    from research.validation.discrimination import challenger_table as challenger_table
    from research.validation.discrimination import delong_auc_variance as delong_auc_variance
    from research.validation.discrimination import delong_test as delong_test
    from research.validation.discrimination import discrimination_table as discrimination_table
    from research.validation.discrimination import gini as gini
    from research.validation.discrimination import ks as ks
    from research.validation.discrimination import roc_points as roc_points
    from research.validation.pack import ValidationResult as ValidationResult
    from research.validation.pack import flat_metrics as flat_metrics
    from research.validation.pack import headline_metrics as headline_metrics
    from research.validation.pack import join_panel as join_panel
    from research.validation.pack import summary_metrics as summary_metrics
    from research.validation.pack import validate_model as validate_model
    from research.validation.rating import concentration_by_snapshot as concentration_by_snapshot
    from research.validation.rating import herfindahl as herfindahl
    from research.validation.rating import migration_matrix as migration_matrix
    from research.validation.rating import migration_summary as migration_summary
    from research.validation.rating import rating_classes as rating_classes
    from research.validation.rating import rating_column as rating_column
    from research.validation.segments import segment_masks as segment_masks
    from research.validation.segments import segment_table as segment_table
    from research.validation.stability import MISSING_BIN as MISSING_BIN
    from research.validation.stability import csi_table as csi_table
    from research.validation.stability import population_shares as population_shares
    from research.validation.stability import psi as psi
    from research.validation.stability import psi_from_shares as psi_from_shares

_EXPORTS = {
    "DEVELOPMENT_SETS": "research.validation._base",
    "KEYS": "research.validation._base",
    "LABELLED_SETS": "research.validation._base",
    "LIGHT_ORDER": "research.validation._base",
    "MISSING_BIN": "research.validation.stability",
    "Thresholds": "research.validation._base",
    "ValidationResult": "research.validation.pack",
    "accuracy_ratio": "research.validation.discrimination",
    "auc": "research.validation.discrimination",
    "auc_confidence_interval": "research.validation.discrimination",
    "backtest_table": "research.validation.backtest",
    "band_light": "research.validation._base",
    "band_threshold": "research.validation._base",
    "binomial_p_value": "research.validation.calibration",
    "brier": "research.validation.calibration",
    "calibration_by_class": "research.validation.calibration",
    "calibration_curve": "research.validation.calibration",
    "calibration_summary_table": "research.validation.calibration",
    "cap_points": "research.validation.discrimination",
    "challenger_table": "research.validation.discrimination",
    "checks_table": "research.validation.checks",
    "clustered_counts": "research.validation.calibration",
    "concentration_by_snapshot": "research.validation.rating",
    "csi_table": "research.validation.stability",
    "delong_auc_variance": "research.validation.discrimination",
    "delong_test": "research.validation.discrimination",
    "design_effect": "research.validation.calibration",
    "discrimination_table": "research.validation.discrimination",
    "effective_counts": "research.validation.calibration",
    "flat_metrics": "research.validation.pack",
    "headline_metrics": "research.validation.pack",
    "gini": "research.validation.discrimination",
    "herfindahl": "research.validation.rating",
    "hosmer_lemeshow": "research.validation.calibration",
    "jeffreys_p_value": "research.validation.calibration",
    "join_panel": "research.validation.pack",
    "ks": "research.validation.discrimination",
    "light_counts": "research.validation._base",
    "migration_matrix": "research.validation.rating",
    "migration_summary": "research.validation.rating",
    "overfit_table": "research.validation.backtest",
    "p_value_light": "research.validation._base",
    "p_value_threshold": "research.validation._base",
    "population_shares": "research.validation.stability",
    "psi": "research.validation.stability",
    "psi_from_shares": "research.validation.stability",
    "rating_classes": "research.validation.rating",
    "rating_column": "research.validation.rating",
    "roc_points": "research.validation.discrimination",
    "segment_masks": "research.validation.segments",
    "segment_table": "research.validation.segments",
    "summary_metrics": "research.validation.pack",
    "validate_model": "research.validation.pack",
    "worst_light": "research.validation._base",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
