"""The model card: one model's purpose, data, performance, limits and sign-off on one page.

``collect_model_card`` reads what the stages left (params, the run file, the train and
validation metrics, the validate stage's checks table, the snapshots, the booster and the
sign-offs) into a ``ModelCard`` of plain values; ``model_card_html`` renders it as a page
(``reports/<model>/model_card.html``, written by the report stage and linked from the
front page and every report of the model) and ``model_card_markdown`` as Markdown, for
the registry version's description.

Figures come from one place each (``stage_record``): AUC and Gini of every set, the
out-of-time Brier score and the light counts from the validate stage's record
(``metrics/diagnostics/<model>/validation.json``; its headline subset is
``metrics/<model>_validation.json``), the train and valid Brier scores and the fitting
facts from the train stage's (``metrics/diagnostics/<model>/train.json``). Before
validation the card takes the AUC and Gini from the train record and says so.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from research.labels import CHURN_EVENT, DEFAULT_EVENT, parse_label_name
from research.models.calibration import verdict_text
from research.paths import (
    diagnostics_path,
    feature_dir,
    metrics_path,
    model_dir,
    plots_dir,
    run_file,
)
from research.reporting.html import (
    LIGHT_RANK,
    Section,
    escape,
    light,
    note,
    page,
    paragraph,
    table,
    worst_light,
)

TOP_FEATURES = 10
NOT_SET = "not set"
CHECKS_FILE = "checks.csv"
TASK_USE = {
    "pd": "probability of default: rating grades (master scale), expected loss, credit decisions "
    "and the watch list",
    "attrition": "probability that the client leaves: retention actions and the value "
    "step's lifetime value",
    "propensity": "probability of the event: targeting and prioritisation",
}


def checks_path(root: Path, model: str) -> Path:
    """``plots/<model>/checks.csv``: the validate stage's checks (area, check, subject, value, threshold, light, reason)."""
    return plots_dir(root, model) / CHECKS_FILE


@dataclasses.dataclass(frozen=True)
class Reason:
    """A red or amber check: what was measured, against what, and why it got its light."""

    light: str
    area: str
    check: str
    subject: str
    value: str
    threshold: str
    reason: str

    def text(self) -> str:
        """``stability: CSI of fin_revenue_growth 0.2509 (green < 0.10, red ≥ 0.25)``."""
        subject = f" of {self.subject}" if self.subject and self.subject != "nan" else ""
        threshold = f" ({self.threshold})" if self.threshold else ""
        return f"{self.area}: {self.check}{subject} {self.value}{threshold}"


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """Everything a model card shows, as plain values (no file is read when rendering)."""

    model: str
    registry_name: str
    purpose: str
    intended_use: str
    task: str
    owner: str
    risk_tier: str
    target: str
    horizon_months: int | None
    population: str
    exclusions: Sequence[str]
    data_window: Mapping[str, str]
    features_count: int
    top_features: Sequence[tuple[str, float]]  # (feature, share of the total gain)
    importance_basis: str
    performance: pd.DataFrame  # set, rows, events, AUC, Gini, Brier
    performance_source: str
    calibration: str
    lights: Mapping[str, int] | None
    reasons: Sequence[Reason]
    known_limits: Sequence[str]
    model_version: str = ""
    run_id: str = ""
    signoff: str = ""
    holdout: str = "oot"

    @property
    def verdict(self) -> str:
        """The overall light: red if any check is red, amber if any is amber, else green."""
        return worst_light(self.lights) if self.lights else "grey"


# ----------------------------------------------------------------------------- reading


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def stage_record(root: Path, model: str, stage: str) -> dict[str, Any]:
    """Every figure a stage (``train``, ``validation``) recorded for ``model``.

    The record ``metrics/diagnostics/<model>/<stage>.json`` when the stage wrote one, else
    its DVC metrics file (``metrics/<model>.json``, ``metrics/<model>_validation.json``),
    which holds the headline subset of the same values; {} before the stage ran.
    """
    record = _read_json(diagnostics_path(root, model, f"{stage}.json"))
    if record:
        return record
    return _read_json(metrics_path(root, model if stage == "train" else f"{model}_{stage}"))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_reasons(root: Path, model: str) -> list[Reason]:
    """The red and amber checks of the validate stage's checks table, red first, worst figure first.

    Empty when the stage wrote no table (``checks_path``: ``plots/<model>/checks.csv``).
    """
    path = checks_path(root, model)
    if not path.is_file():
        return []
    try:
        checks = pd.read_csv(path, keep_default_na=False)
    except (OSError, ValueError):
        return []
    if "light" not in checks.columns:
        return []
    flagged = checks[checks["light"].isin(["red", "amber"])].copy()
    flagged["_rank"] = flagged["light"].map(LIGHT_RANK)
    flagged = flagged.sort_values("_rank", kind="stable")
    reasons = []
    for row in flagged.to_dict("records"):
        value = row.get("value", "")
        number = _number(value) if not isinstance(value, str) else None
        if number is None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
        reasons.append(
            Reason(
                light=str(row["light"]),
                area=str(row.get("area", "")),
                check=str(row.get("check", "")),
                subject=str(row.get("subject", "")),
                value=f"{round(number, 6):.4g}" if number is not None else str(value),
                threshold=str(row.get("threshold", "")),
                reason=str(row.get("reason", "")),
            )
        )
    return reasons


_UBJ_SCALARS = {
    b"i": ">i1",
    b"U": ">u1",
    b"I": ">i2",
    b"l": ">i4",
    b"L": ">i8",
    b"d": ">f4",
    b"D": ">f8",
}


class _UBJReader:
    """A UBJSON document (XGBoost's ``model.ubj``) as Python values; numeric arrays as numpy."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def _take(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        if len(chunk) != size:
            raise ValueError("model.ubj: truncated")
        self.at += size
        return chunk

    def _scalar(self, marker: bytes) -> Any:
        import numpy as np

        dtype = np.dtype(_UBJ_SCALARS[marker])
        return np.frombuffer(self._take(dtype.itemsize), dtype=dtype)[0].item()

    def _length(self) -> int:
        return int(self._scalar(self._take(1)))

    def value(self, marker: bytes | None = None) -> Any:
        marker = marker or self._take(1)
        if marker in _UBJ_SCALARS:
            return self._scalar(marker)
        if marker in (b"S", b"H"):
            return self._take(self._length()).decode("utf-8")
        if marker == b"C":
            return self._take(1).decode("utf-8")
        if marker in (b"T", b"F", b"Z"):
            return {b"T": True, b"F": False, b"Z": None}[marker]
        if marker == b"[":
            return self._container(b"]", keyed=False)
        if marker == b"{":
            return self._container(b"}", keyed=True)
        raise ValueError(f"model.ubj: unknown marker {marker!r}")

    def _container(self, end: bytes, *, keyed: bool) -> Any:
        import numpy as np

        kind = count = None
        if self.data[self.at : self.at + 1] == b"$":
            self.at += 1
            kind = self._take(1)
        if self.data[self.at : self.at + 1] == b"#":
            self.at += 1
            count = self._length()
        if not keyed and kind in _UBJ_SCALARS and count is not None:
            dtype = np.dtype(_UBJ_SCALARS[kind])
            return np.frombuffer(self._take(dtype.itemsize * count), dtype=dtype)
        items: list[Any] = []
        while (count is None and self.data[self.at : self.at + 1] != end) or (
            count is not None and len(items) < count
        ):
            key = self._take(self._length()).decode("utf-8") if keyed else None
            items.append((key, self.value(kind)))
        if count is None:
            self.at += 1  # the closing marker
        return dict(items) if keyed else [item for _, item in items]


def _total_gain(path: Path) -> dict[str, float]:
    """``Booster.get_score(importance_type="total_gain")`` of a saved booster, without XGBoost.

    XGBoost sums each split's ``loss_changes`` per feature in float32, walking every tree
    depth first from its root (a stack: the right child first), and reports the sums for
    the features split on, in feature order; the same sums in the same order here give
    the same bits (the tests compare them with XGBoost's). Importing xgboost (which imports
    sklearn and scipy.stats) costs about 2 s of CPU; this reads the same numbers from
    ``model.ubj``. Another booster (dart, gblinear, vector leaves) raises ``ValueError``.
    """
    import numpy as np

    learner = _UBJReader(path.read_bytes()).value()["learner"]
    booster = learner["gradient_booster"]
    if booster.get("name") != "gbtree":  # dart weighs its trees, gblinear has none
        raise ValueError(f"booster {booster.get('name')!r}: read with XGBoost")
    model = booster["model"]
    names = [str(name) for name in learner.get("feature_names") or []]
    gain: dict[int, np.float32] = {}
    for tree in model["trees"]:
        if int(tree["tree_param"].get("size_leaf_vector", "1") or 1) > 1:
            raise ValueError("vector-leaf trees: read with XGBoost")
        left, right = tree["left_children"].tolist(), tree["right_children"].tolist()
        split, change = tree["split_indices"].tolist(), tree["loss_changes"].astype(np.float32)
        stack = [0]
        while stack:
            node = stack.pop()
            if left[node] == -1:  # a leaf
                continue
            gain[split[node]] = gain.get(split[node], np.float32(0)) + change[node]
            stack.append(left[node])
            if right[node] != -1:
                stack.append(right[node])
    return {(names[i] if i < len(names) else f"f{i}"): float(gain[i]) for i in sorted(gain)}


def top_features(root: Path, model: str, n: int = TOP_FEATURES) -> list[tuple[str, float]]:
    """The ``n`` features with the largest total gain in the booster, with their share of it."""
    path = model_dir(root, model) / "model.ubj"
    if not path.is_file():
        return []
    try:
        gain = _total_gain(path)
    except Exception:  # a booster this reader does not know: ask XGBoost
        try:
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(str(path))
            gain = {
                str(k): float(v) if not isinstance(v, list) else float(sum(v))
                for k, v in booster.get_score(importance_type="total_gain").items()
            }
        except Exception:
            return []
    total = sum(gain.values()) or 1.0
    ranked = sorted(gain.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(name, value / total) for name, value in ranked]


def target_text(spec: Any, source: Mapping[str, Any], default_dpd: int | None = None) -> str:
    """What the label counts, in words: the event, its window and its definition."""
    parsed = parse_label_name(spec.label) if spec.uses_panel else None
    if parsed is None:
        return f"{spec.label} (a column of {spec.source})" if not spec.uses_panel else spec.label
    event, horizon = parsed
    if event == DEFAULT_EVENT:
        definition = source.get("default_definition") or (
            f"{default_dpd} days past due on an instalment" if default_dpd else "a default"
        )
    elif event == CHURN_EVENT:
        definition = "the relationship ends (the bank's churn events, else the end date)"
    else:
        definition = event
    return f"{spec.label}: {event} within {horizon} months; {definition}"


def _censored(snapshots: Sequence[str], as_of: str, horizon: int | None) -> list[str]:
    """Snapshots whose label window runs past the as-of date (scored, never fitted or measured)."""
    if not snapshots or not as_of or not horizon:
        return []
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return [s for s in snapshots if pd.Timestamp(s) + pd.DateOffset(months=horizon) > end]


def _performance(
    train: Mapping[str, Any], validation: Mapping[str, Any]
) -> tuple[pd.DataFrame, str]:
    sets = [("train", "train"), ("valid", "valid"), ("oot", str(train.get("holdout") or "oot"))]
    discrimination = validation.get("discrimination") or {}
    validated = bool(discrimination)
    rows = []
    for key, train_key in sets:
        figures = discrimination.get(key) or {}
        fitted = train.get(train_key) or {}
        source = figures if validated else fitted
        brier = (
            (validation.get("calibration") or {}).get("brier")
            if key == "oot" and validated
            else fitted.get("brier")
        )
        rows.append(
            {
                "set": "out-of-time" if key == "oot" and train_key == "oot" else train_key,
                "rows": source.get("n", fitted.get("n")),
                "events": source.get("events", fitted.get("events")),
                "AUC": _number(source.get("auc")),
                "Gini": _number(source.get("gini")),
                "Brier": _number(brier),
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("rows", "events"):
        frame[column] = [
            f"{int(v):,}" if isinstance(v, (int, float)) else "" for v in frame[column]
        ]
    basis = (
        "AUC, Gini and the out-of-time Brier score from the validate stage's record "
        "(metrics/diagnostics/{m}/validation.json, whose headline is metrics/{m}_validation.json: "
        "the figures the validation report and the front page show); train and valid Brier from "
        "the train stage's (metrics/diagnostics/{m}/train.json)"
        if validated
        else "the train stage's record (metrics/diagnostics/{m}/train.json): the model is not "
        "validated yet"
    )
    return frame, basis


def _calibration_words(train: Mapping[str, Any], validation: Mapping[str, Any]) -> str:
    words = verdict_text(train.get("calibration")) or "not recorded"
    cal = validation.get("calibration") or {}
    if cal:
        parts = []
        if _number(cal.get("hl_p")) is not None:
            parts.append(f"Hosmer-Lemeshow p {cal['hl_p']:.3g}")
        if (
            _number(cal.get("observed_rate")) is not None
            and _number(cal.get("predicted_rate")) is not None
        ):
            parts.append(
                f"out-of-time observed {cal['observed_rate']:.2%} against predicted "
                f"{cal['predicted_rate']:.2%}"
            )
        if cal.get("classes_red") is not None:
            parts.append(f"{int(cal['classes_red'])} classes red")
        if parts:
            words += "; " + ", ".join(parts)
    return words


def _limits(
    train: Mapping[str, Any],
    validation: Mapping[str, Any],
    reasons: Sequence[Reason],
    censored: Sequence[str],
    horizon: int | None,
) -> list[str]:
    limits = []
    if train.get("round_cap_hit"):
        limits.append(
            f"Boosting stopped at the round cap ({train.get('best_iteration', '?')} rounds), not "
            "by early stopping: more rounds may fit better (models.<m>.xgb.n_estimators)."
        )
    for text in train.get("fit_notes") or []:
        limits.append(str(text))
    lights = validation.get("lights") or {}
    red, amber, grey = (int(lights.get(c, 0) or 0) for c in ("red", "amber", "grey"))
    if red or amber:
        named = "; ".join(r.text() for r in reasons[:3])
        limits.append(
            f"{red} red and {amber} amber validation checks"
            + (f", e.g. {named}" if named else "")
            + " (the validation report lists them all)."
        )
    if grey:
        limits.append(f"{grey} checks not judged: samples too small (grey).")
    if censored:
        limits.append(
            f"The last {len(censored)} snapshots ({censored[0]} to {censored[-1]}) have no full "
            f"{horizon}-month outcome (censored): scored, never fitted or measured."
        )
    oracle = train.get("oracle") or {}
    if _number(oracle.get("gap")) is not None:
        limits.append(
            f"Synthetic data: the oracle (the true generating probabilities) reaches AUC "
            f"{oracle['oracle_auc']:.4f}; the model is {oracle['gap']:.4f} below it."
        )
    if not validation:
        limits.append("Not validated yet: no validation pack.")
    return limits


def collect_model_card(
    root: Path,
    model: str,
    spec: Any,
    *,
    source: Mapping[str, Any] | None = None,
    default_dpd: int | None = None,
    validated: bool = True,
    signoff: str = "",
    model_version: str | None = None,
) -> ModelCard:
    """The card of ``model`` from what the stages left under ``root``.

    Args:
        root: The project folder.
        model: The model's name in params.yaml.
        spec: Its ``ModelSpec`` (``settings.model(model)``); ``owner`` and ``risk_tier``
            are read when the spec has them.
        source: ``data/raw/_source.json`` (the default definition, the as-of date).
        default_dpd: ``labels.default_dpd`` (the default definition when the source states none).
        validated: False at training time: the validation files on disk describe the
            previous version, so the card leaves them out.
        signoff: The sign-off in one sentence (``research.signoff.SignOffStatus.line``).
        model_version: The registry version (default: the run file's).
    """
    source = source or {}
    train = stage_record(root, model, "train")
    validation = stage_record(root, model, "validation") if validated else {}
    if validation.get("enabled") is False:
        validation = {}
    run = _read_json(run_file(root, model))
    features = _read_json(model_dir(root, model) / "features.json")
    reasons = read_reasons(root, model) if validated else []
    horizon = spec.horizon_months if spec.uses_panel else None
    if spec.uses_panel:
        snapshots = _read_json(feature_dir(root) / "snapshots.json")
        dates = [str(s) for s in snapshots.get("snapshots") or []]
        censored = _censored(dates, str(source.get("as_of") or ""), horizon)
        window = {
            "snapshots": f"{dates[0]} to {dates[-1]}, every {snapshots.get('every_months', '?')} months"
            if dates
            else "not built yet",
            "out-of-time from": str(snapshots.get("oot_first_snapshot") or "not derived yet"),
            "as-of date (censoring)": str(source.get("as_of") or "unknown"),
        }
        if snapshots.get("oot_note"):
            window["out-of-time"] = str(snapshots["oot_note"])
        population = (
            "every customer at each snapshot date who was onboarded before it and neither gone "
            "nor in default by then (calendar snapshots of the panel)"
            if snapshots.get("mode", "calendar") == "calendar"
            else "one row per anchor event (origination scoring) of the panel"
        )
        exclusions = [
            "customers already in default or gone at the snapshot, and those not yet onboarded",
            f"development rows whose {horizon}-month window reaches the out-of-time period (purged: "
            "scored, never fitted or measured)",
            "snapshots without a full outcome window (censored: scored only)",
        ]
    else:
        censored = []
        window = {"table": spec.source, "holdout": "a stratified random test split (no dates)"}
        population = f"the rows of the flat table {spec.source}"
        exclusions = [
            "protected attributes (sex, age, marital status, ...) unless models.<m>.allow_protected "
            "names them; id-like, constant and high-cardinality columns"
        ]
    selection = spec.features
    if selection.include or selection.exclude:
        exclusions.append(
            f"features: include {selection.include or 'all'}, exclude {selection.exclude or 'none'}"
        )
    performance, basis = _performance(train, validation)
    return ModelCard(
        model=model,
        registry_name=spec.registry_name,
        purpose=spec.description or NOT_SET,
        intended_use=TASK_USE.get(spec.task, spec.task),
        task=spec.task,
        owner=str(getattr(spec, "owner", "") or NOT_SET),
        risk_tier=str(getattr(spec, "risk_tier", "") or NOT_SET),
        target=target_text(spec, source, default_dpd),
        horizon_months=horizon,
        population=population,
        exclusions=exclusions,
        data_window=window,
        features_count=len(features.get("features") or []) or int(train.get("n_features") or 0),
        top_features=top_features(root, model),
        importance_basis="share of the booster's total split gain (XGBoost); the SHAP report "
        "ranks by mean |SHAP| on the out-of-time rows",
        performance=performance,
        performance_source=basis.format(m=model),
        calibration=_calibration_words(train, validation),
        lights={k: int(v) for k, v in (validation.get("lights") or {}).items()} or None,
        reasons=reasons,
        known_limits=_limits(train, validation, reasons, censored, horizon),
        model_version=str(
            model_version if model_version is not None else run.get("model_version", "")
        ),
        run_id=str(run.get("run_id", "")),
        signoff=signoff,
        holdout=str(train.get("holdout") or "oot"),
    )


# ----------------------------------------------------------------------------- rendering


def _figure(value: Any, digits: int) -> str:
    number = _number(value)
    return "n/a" if number is None or number != number else f"{round(number, 6):.{digits}f}"


def model_card_markdown(card: ModelCard) -> str:
    """The card as Markdown (one fact a line): the registry version's description."""
    lines = [f"**{card.registry_name}** (model `{card.model}` of params.yaml): {card.purpose}", ""]
    facts = [
        ("Intended use", card.intended_use),
        ("Owner", card.owner),
        ("Model-risk tier", card.risk_tier),
        ("Target", card.target),
        ("Population", card.population),
        ("Exclusions", "; ".join(card.exclusions)),
        ("Data window", "; ".join(f"{k} {v}" for k, v in card.data_window.items())),
        (
            "Features",
            f"{card.features_count}; top {len(card.top_features)} by gain: "
            + ", ".join(f"`{name}` {share:.1%}" for name, share in card.top_features)
            if card.top_features
            else str(card.features_count),
        ),
        ("Calibration", card.calibration),
    ]
    lines += [f"- {name}: {value}" for name, value in facts]
    lines.append("- Performance:")
    for row in card.performance.to_dict("records"):
        lines.append(
            f"  - {row['set']}: AUC {_figure(row['AUC'], 4)}, Gini {_figure(row['Gini'], 4)}, "
            f"Brier {_figure(row['Brier'], 4)} ({row['rows']} rows, {row['events']} events)"
        )
    if card.lights:
        counts = ", ".join(
            f"{c} {card.lights.get(c, 0)}" for c in ("green", "amber", "red", "grey")
        )
        lines.append(f"- Validation: {card.verdict} ({counts})")
    else:
        lines.append("- Validation: not validated yet")
    if card.known_limits:
        lines.append("- Known limits:")
        lines += [f"  - {text}" for text in card.known_limits]
    if card.signoff:
        lines.append(f"- Sign-off: {card.signoff}")
    return "\n".join(lines) + "\n"


def _facts_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(name)}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="facts">{body}</table>'


def model_card_sections(card: ModelCard) -> list[Section]:
    """The card as report sections: what the model is, its performance, features and limits."""
    verdict = (
        f"{light(card.verdict)} "
        + ", ".join(f"{c} {card.lights.get(c, 0)}" for c in ("green", "amber", "red", "grey"))
        if card.lights
        else "not validated yet"
    )
    facts = [
        ("Purpose", escape(card.purpose)),
        ("Intended use", escape(card.intended_use)),
        ("Owner", escape(card.owner)),
        ("Model-risk tier", escape(card.risk_tier)),
        ("Registry", escape(f"{card.registry_name} version {card.model_version or 'none'}")),
        ("MLflow run", f"<code>{escape(card.run_id or 'not trained yet')}</code>"),
        ("Target", escape(card.target)),
        (
            "Horizon",
            escape(f"{card.horizon_months} months" if card.horizon_months else "none (flat table)"),
        ),
        ("Population", escape(card.population)),
        (
            "Exclusions",
            "<ul>" + "".join(f"<li>{escape(e)}</li>" for e in card.exclusions) + "</ul>",
        ),
        (
            "Data window",
            "<br>".join(f"{escape(k)}: {escape(v)}" for k, v in card.data_window.items()),
        ),
        ("Validation", verdict),
        ("Calibration", escape(card.calibration)),
    ]
    if card.signoff:
        facts.append(("Sign-off", escape(card.signoff)))
    performance = table(card.performance) + note(f"Source: {card.performance_source}.")
    features = paragraph(f"{card.features_count} features.")
    if card.top_features:
        top = pd.DataFrame(
            {
                "rank": range(1, len(card.top_features) + 1),
                "feature": [name for name, _ in card.top_features],
                "share of gain": [f"{share:.1%}" for _, share in card.top_features],
            }
        )
        features += table(top) + note(f"Importance: {card.importance_basis}.")
    limits = (
        "<ul>" + "".join(f"<li>{escape(text)}</li>" for text in card.known_limits) + "</ul>"
        if card.known_limits
        else note("None recorded.")
    )
    return [
        Section("Model card", _facts_table(facts), anchor="model-card"),
        Section("Performance", performance, anchor="performance"),
        Section(f"Features: top {len(card.top_features)}", features, anchor="features"),
        Section("Known limits", limits, anchor="known-limits"),
    ]


def model_card_html(
    card: ModelCard, *, links: Sequence[tuple[str, str | None]] = (), built: str = ""
) -> str:
    """The card as its own page (``reports/<model>/model_card.html``)."""
    subtitle = " · ".join(
        part
        for part in (
            f"model {card.model}",
            f"version {card.model_version}" if card.model_version else "",
            f"built {built}" if built else "",
        )
        if part
    )
    return page(
        f"Model card: {card.model}",
        model_card_sections(card),
        subtitle=subtitle,
        links=links,
        here="Model card",
    )
