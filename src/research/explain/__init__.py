"""SHAP values, checks, reason codes and the summaries of the validator's SHAP report.

All SHAP quantities are on the log-odds (XGBoost margin) scale. Science functions only:
no params.yaml, no MLflow, no printing (the explain notebook does those).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from research._lazy import lazy_exports

if TYPE_CHECKING:  # names for type checkers; at run time __getattr__ imports them on first use
    from research.explain.checks import additivity as additivity
    from research.explain.checks import agreement as agreement
    from research.explain.checks import monotone_signs as monotone_signs
    from research.explain.pipeline import ExplainResult as ExplainResult
    from research.explain.pipeline import explain_metrics as explain_metrics
    from research.explain.pipeline import explain_model as explain_model
    from research.explain.population import explain_population as explain_population
    from research.explain.population import previous_scores as previous_scores
    from research.explain.reasons import reason_codes as reason_codes
    from research.explain.reasons import reason_sentence as reason_sentence
    from research.explain.values import METHODS as METHODS
    from research.explain.values import SCALE as SCALE
    from research.explain.values import ShapValues as ShapValues
    from research.explain.values import compute_shap as compute_shap
    from research.explain.values import interaction_values as interaction_values
    from research.explain.values import model_margin as model_margin
    from research.explain.values import native_shap as native_shap
    from research.explain.values import shap_tree_explainer as shap_tree_explainer
    from research.explain.values import woodelf_shap as woodelf_shap

_EXPORTS = {
    "ExplainResult": "research.explain.pipeline",
    "METHODS": "research.explain.values",
    "SCALE": "research.explain.values",
    "ShapValues": "research.explain.values",
    "additivity": "research.explain.checks",
    "agreement": "research.explain.checks",
    "compute_shap": "research.explain.values",
    "explain_metrics": "research.explain.pipeline",
    "explain_model": "research.explain.pipeline",
    "explain_population": "research.explain.population",
    "interaction_values": "research.explain.values",
    "model_margin": "research.explain.values",
    "monotone_signs": "research.explain.checks",
    "native_shap": "research.explain.values",
    "previous_scores": "research.explain.population",
    "reason_codes": "research.explain.reasons",
    "reason_sentence": "research.explain.reasons",
    "shap_tree_explainer": "research.explain.values",
    "woodelf_shap": "research.explain.values",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
