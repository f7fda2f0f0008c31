"""Reason selection and wording shared by the explain stage and the registered model.

A reason is a feature with a positive SHAP value (log-odds); ``top_reasons`` keeps the
largest ``n``, ties in the model's feature order (a stable sort, deterministic), and
``reason_sentence`` words one from the feature catalog's ``reason`` template. The explain
stage's ``research.explain.reasons.reason_codes`` and the packaged model
(``research.models.package``) both use these, so the two give the same reasons for the
same SHAP values.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

# What a reason raises, by the model's task (``models.<name>.task``).
OUTCOME_BY_TASK = {"pd": "risk", "attrition": "churn risk", "propensity": "likelihood"}


class ReasonSpec(Protocol):
    """The part of a feature catalog entry (``research.features.catalog.FeatureSpec``) used here.

    Read-only, so that frozen dataclasses such as ``FeatureSpec`` match.
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def reason(self) -> str: ...


def reason_sentence(
    spec: ReasonSpec | None, feature: str, value: object, *, outcome: str = "risk"
) -> str:
    """The sentence for one reason: the catalog template filled with ``value``, then the effect.

    Raises:
        ValueError: the catalog template does not accept the value (fix the catalog entry).
    """
    effect = f"(raises {outcome})"
    if _is_missing(value):
        subject = spec.description if spec is not None else feature
        return f"{subject} is not available {effect}"
    if spec is None:
        shown = f"{value:,.4g}" if isinstance(value, (int, float, np.number)) else str(value)
        return f"{feature} is {shown} {effect}"
    try:
        text = spec.reason.format(value=value)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise ValueError(
            f"feature catalog: reason template {spec.reason!r} of {feature!r} rejects value {value!r} ({err}); "
            "fix the template in research.features.catalog"
        ) from None
    return f"{text} {effect}"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def top_reasons(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the feature positions of the ``n`` largest positive SHAP values and a validity mask.

    Ties keep the model's feature order (a stable sort), so the result is deterministic.
    """
    if n < 1:
        raise ValueError(f"explain.reason_codes must be at least 1, got {n}")
    n = min(n, values.shape[1])
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    chosen = np.take_along_axis(values, order, axis=1)
    return order, chosen > 0
