"""SHAP values, checks, reason codes and the summaries of the validator's SHAP report.

All SHAP quantities are on the log-odds (XGBoost margin) scale. Science functions only:
no params.yaml, no MLflow, no printing (the explain notebook does those).
"""

from research.explain.checks import additivity, agreement, monotone_signs
from research.explain.pipeline import ExplainResult, explain_metrics, explain_model
from research.explain.population import explain_population, previous_scores
from research.explain.reasons import reason_codes, reason_sentence
from research.explain.values import (
    METHODS,
    SCALE,
    ShapValues,
    compute_shap,
    interaction_values,
    model_margin,
    native_shap,
    shap_tree_explainer,
    woodelf_shap,
)

__all__ = [
    "METHODS",
    "SCALE",
    "ExplainResult",
    "ShapValues",
    "additivity",
    "agreement",
    "compute_shap",
    "explain_metrics",
    "explain_model",
    "explain_population",
    "interaction_values",
    "model_margin",
    "monotone_signs",
    "native_shap",
    "previous_scores",
    "reason_codes",
    "reason_sentence",
    "shap_tree_explainer",
    "woodelf_shap",
]
