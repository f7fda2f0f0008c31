"""The validator's SHAP report: one self-contained HTML page per model.

Built from an ``research.explain.ExplainResult``: the model's identity (MLflow run,
model version, data hash, git commit), the checks, global importance and a beeswarm,
dependence plots coloured by each feature's strongest interaction, the strongest
interaction pairs, importance by segment, waterfalls of chosen customers, the
comparison with the challenger and a summary of the reason codes. Plots are drawn by
``shap`` and matplotlib and embedded as PNG data URIs, so the page needs no network.
Every SHAP value is on the log-odds (margin) scale and the page says so.

The page is a DVC output, so the same result gives the same bytes: shap shuffles the
dots and jitters them with NumPy's global generator, so each shap plot is drawn under a
fixed seed (``seeded``), and wall times are not shown (they are in the MLflow run).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from research.explain.pipeline import ExplainResult
from research.explain.reasons import reason_frequency
from research.reporting.html import Section, escape, figure, light, note, page, paragraph, table

SCALE_NOTE = (
    "All SHAP values on this page are on the log-odds scale (the XGBoost margin): a row's "
    "SHAP values plus the base value add up to the log-odds of its predicted probability "
    "before calibration. +0.1 log-odds multiplies the odds by about 1.105."
)
MONOTONE_SHOWN = 10  # rows of the monotone check shown (failures first); the rest fold
IDENTITY_FIELDS = [
    ("model", "Model"),
    ("model_version", "Registered model version"),
    ("run_id", "MLflow run id"),
    ("experiment_id", "MLflow experiment id"),
    ("tracking_uri", "MLflow tracking URI (relative to the project folder)"),
    ("data_fingerprint", "Data hash (the training run's data outputs in dvc.lock)"),
    ("git_commit", "Git commit (this report)"),
    ("training_git_commit", "Git commit (training run)"),
]


@contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Run a block under a fixed seed of NumPy's global generator, then restore its state.

    ``shap.plots.beeswarm`` shuffles the dots and breaks ties with ``np.random.randn``, and
    ``shap.plots.scatter`` shuffles the drawing order and jitters x with ``np.random``; with
    the seed fixed the same values draw the same image. The caller's random state is untouched.
    """
    state = np.random.get_state()  # noqa: NPY002 (shap draws from the legacy global generator)
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def explanation(result: ExplainResult, rows: np.ndarray, *, readable: bool = False):
    """A ``shap.Explanation`` of some population rows (numeric data; readable values on request).

    ``readable`` adds the display values (category levels, "missing") that waterfalls
    print; it is meant for a few rows, as shap's slicing inspects every object cell.
    """
    import shap

    from research.explain.values import woodelf_input

    subset = result.frame.iloc[rows]
    display = None
    if readable:
        shown = subset.astype(object)
        display = shown.where(shown.notna(), "missing").to_numpy()
    return shap.Explanation(
        values=result.shap.values[rows],
        base_values=np.full(len(rows), result.shap.base_value),
        data=woodelf_input(subset).to_numpy(),
        display_data=display,
        feature_names=list(result.frame.columns),
    )


def _feature_explanation(result: ExplainResult, rows: np.ndarray, feature: str):
    """One feature's SHAP values and data as a 1-D ``shap.Explanation`` (what ``shap.plots.scatter`` takes)."""
    import shap

    from research.explain.values import woodelf_input

    position = list(result.frame.columns).index(feature)
    return shap.Explanation(
        values=result.shap.values[rows, position],
        base_values=np.full(len(rows), result.shap.base_value),
        data=woodelf_input(result.frame.iloc[rows][[feature]]).to_numpy()[:, 0],
        feature_names=feature,
    )


def _left(text: object) -> str:
    """A left-aligned table cell body (the page's cells are right-aligned for numbers)."""
    return f'<span style="display:block;text-align:left">{escape(text)}</span>'


UNDATED_NOTE = (
    "The model's table has no snapshot date: the random stratified test split stands in for "
    "out-of-time, and the rows explained are that test split (there is no latest snapshot)."
)


def _undated(result: ExplainResult) -> bool:
    """Are the explained rows an undated table's test split (no out-of-time, no latest snapshot)?"""
    return bool(result.population["snapshot_date"].isna().all())


def relabelled(result: ExplainResult, names: Mapping[str, object]) -> ExplainResult:
    """``result`` with each feature shown under its name in the table as read.

    ``names`` maps a model feature's name to its original (a flat table's columns renamed
    for XGBoost, ``TablePreparation.renamed``); features it does not name keep theirs.
    Only the report's copy changes: the reason codes file keeps the model's names.
    """
    if not names:
        return result
    shown = {str(k): str(v) for k, v in names.items()}

    def name(value: object) -> object:
        return shown.get(value, value) if isinstance(value, str) else value

    def column(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
        out = frame.copy()
        for c in columns:
            if c in out.columns:
                out[c] = out[c].map(name)
        return out

    segments = result.segments.rename(index=name)
    return dataclasses.replace(
        result,
        frame=result.frame.rename(columns=name),
        importance=column(result.importance, "feature"),
        segments=segments,
        interactions=column(result.interactions, "feature", "partner"),
        dependence=[
            (str(name(f)), None if p is None else str(name(p))) for f, p in result.dependence
        ],
        monotone=column(result.monotone, "feature"),
        challenger=None if result.challenger is None else column(result.challenger, "feature"),
        reason_codes=column(result.reason_codes, "feature"),
    )


def shap_report(
    result: ExplainResult,
    identity: Mapping[str, str],
    *,
    original_names: Mapping[str, object] | None = None,
    notes: list[str] | tuple[str, ...] = (),
) -> str:
    """The complete HTML page for ``result``; ``identity`` holds the ``IDENTITY_FIELDS`` keys.

    ``original_names`` maps renamed features to their names in the table (shown instead);
    ``notes`` are shown under the model's identity (what the table's preparation did).
    """
    result = relabelled(result, original_names or {})
    sections = [
        _identity_section(result, identity, notes),
        _checks_section(result),
        _importance_section(result),
        _dependence_section(result),
        _interaction_section(result),
        _segment_section(result),
        _local_section(result),
        _challenger_section(result),
        _reason_section(result),
    ]
    rows = (
        "test split, standing in for out-of-time"
        if _undated(result)
        else "out-of-time and latest snapshot"
    )
    subtitle = (
        f"{len(result.frame):,} rows ({rows}), {result.frame.shape[1]} features, "
        f"SHAP by {result.method}, scale: {result.scale}"
    )
    return page(
        f"SHAP explanation report: {result.model} model",
        sections,
        subtitle=subtitle,
        links=shap_links(result.model),
        here="SHAP report",
    )


def embedded_figure(page_html: str, alt: str) -> str | None:
    """The ``<img>`` of the figure described by ``alt`` in a page this module wrote (None if absent).

    The explain notebook shows the report's beeswarm this way instead of drawing it again.
    """
    match = re.search(
        f'<img alt="{re.escape(escape(alt))}" src="data:image/png;base64,[^"]*">', page_html
    )
    return match.group(0) if match else None


BEESWARM_ALT = "beeswarm of SHAP values"


def shap_links(model: str) -> list[tuple[str, str | None]]:
    """Back to the front page and across to the model's other pages (relative to reports/<model>/)."""
    return [
        ("Front page", "../index.html"),
        ("Validation report", "validation.html"),
        ("Model card", "model_card.html"),
        ("Customer value report", "../value.html"),
        ("Executed notebook", f"../notebooks/explain-{model}.html"),
    ]


def _identity_section(
    result: ExplainResult, identity: Mapping[str, str], notes: list[str] | tuple[str, ...] = ()
) -> Section:
    rows = [(label, identity.get(key, "unknown")) for key, label in IDENTITY_FIELDS]
    counts = result.population["population"].value_counts()
    if _undated(result):
        explained = f"{int(counts.sum()):,} rows of the test split (standing in for out-of-time)"
    else:
        population = counts.reindex(["oot", "latest"]).fillna(0)
        explained = f"{int(population['oot']):,} out-of-time + {int(population['latest']):,} latest snapshot"
    rows += [
        ("SHAP method", f"{result.method} (path-dependent TreeSHAP, exact)"),
        ("Scale", result.scale),
        ("Base value (expected margin)", f"{result.shap.base_value:.6f} log-odds"),
        ("Rows explained", explained),
    ]
    body = table(pd.DataFrame(rows, columns=["item", "value"])) + note(SCALE_NOTE)
    if _undated(result):
        body += note(UNDATED_NOTE)
    for text in notes:
        body += note(text)
    return Section("Model identity", body, anchor="identity")


def _checks_section(result: ExplainResult) -> Section:
    add = result.additivity
    rows = [
        {
            "check": "Additivity: |SHAP sum + base value − margin|, max over all rows",
            "value": f"{add['max_residual']:.3g}",
            "threshold": f"≤ {add['tolerance']:g}",
            "result": light("green" if add["passed"] else "red"),
        },
        {
            "check": "Model margin against the scores table, max |difference|",
            "value": f"{result.margin_vs_scores['max_abs_difference']:.3g}",
            "threshold": "≤ 0.0001",
            "result": light("green" if result.margin_vs_scores["passed"] else "red"),
        },
    ]
    for name, agreement in result.agreement.items():
        left, right = name.split("_vs_")
        rows.append(
            {
                "check": f"Agreement {left} vs {right} on {agreement['rows']:,} sampled rows: p99 (max) |difference|",
                "value": f"{agreement['p99']:.3g} ({agreement['max']:.3g})",
                "threshold": f"p99 ≤ {agreement['tolerance_p99']:g}",
                "result": light("green" if agreement["passed"] else "red"),
            }
        )
    body = table(pd.DataFrame(rows), raw_html_columns=["result"])
    independent = (
        f"the independent check of the stage's method ({result.method}) is its agreement with the native path."
        if result.method != "native"
        else "this stage used the native path itself."
    )
    body += paragraph(
        "shap.TreeExplainer computes path-dependent SHAP values of an XGBoost model through XGBoost's own "
        f"TreeSHAP, so its agreement with the native path is expected to be exact; {independent}"
    )
    if len(result.monotone):
        failed_first = result.monotone.sort_values("passed", kind="stable")
        monotone = failed_first.assign(
            result=[light("green" if p else "red") for p in failed_first["passed"]]
        )
        body += "<h3>Monotone features: sign of the SHAP dependence</h3>"
        body += paragraph(
            "For each feature with a declared monotone direction, the Spearman correlation between the feature "
            "and its SHAP value must not point against the declared sign (tolerance 0.05). bins_against counts "
            "steps between adjacent deciles whose mean SHAP moves against it."
        )
        body += table(
            monotone.drop(columns="passed"),
            float_format="{:.3f}",
            raw_html_columns=["result"],
            top=MONOTONE_SHOWN,
            rest=f"all {len(monotone)} monotone features (failures first)",
        )
    return Section("Checks", body, anchor="checks")


def _importance_section(result: ExplainResult) -> Section:
    import shap

    top = result.importance.head(20)
    exp = explanation(result, result.report_rows)
    plt.figure()
    with seeded():
        shap.plots.beeswarm(
            exp, max_display=20, show=False, color_bar_label="Feature value (category code)"
        )
    fig = plt.gcf()
    fig.axes[0].set_xlabel("SHAP value (log-odds)")
    body = paragraph(
        "Mean |SHAP| over all explained rows, in log-odds: the average move a feature gives a customer's "
        "log-odds away from the base value."
    )
    body += table(top, float_format="{:.4f}")
    body += paragraph(
        f"Beeswarm of {len(result.report_rows):,} sampled rows: each dot is a customer."
    )
    body += figure(fig, alt=BEESWARM_ALT)
    return Section("Global importance", body, anchor="importance")


def _dependence_section(result: ExplainResult) -> Section:
    import shap

    rows = result.report_rows
    body = paragraph(
        "SHAP value (log-odds) of each top feature against its value, coloured by the feature it interacts "
        "with most strongly in the interaction sample."
    )
    for feature, partner in result.dependence:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        color = _feature_explanation(result, rows, partner) if partner else "#1E88E5"
        with seeded():
            shap.plots.scatter(
                _feature_explanation(result, rows, feature),
                color=color,
                ax=ax,
                show=False,
                ylabel="SHAP value (log-odds)",
            )
        column = result.frame[feature]
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels = list(column.cat.categories)
            ax.set_xticks(range(len(levels)), levels, rotation=30, ha="right")
        coded = partner is not None and isinstance(result.frame[partner].dtype, pd.CategoricalDtype)
        ax.set_title(
            f"{feature}" + (f" (colour: {partner}{' codes' if coded else ''})" if partner else "")
        )
        body += f"<h3>{escape(feature)}</h3>" + figure(fig, alt=f"dependence plot of {feature}")
    return Section("Dependence plots", body, anchor="dependence")


def _interaction_section(result: ExplainResult) -> Section:
    body = paragraph(
        f"Mean |interaction value| over {result.interaction_rows:,} sampled rows, both halves of each pair, "
        "in log-odds (exact path-dependent SHAP interaction values)."
    )
    body += (
        table(result.interactions, float_format="{:.4f}")
        if len(result.interactions)
        else note("No interactions.")
    )
    return Section("Strongest interactions", body, anchor="interactions")


def _segment_section(result: ExplainResult) -> Section:
    segments = result.segments
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * segments.shape[1], 0.4 * len(segments) + 1.5))
    image = ax.imshow(segments.to_numpy(), aspect="auto", cmap="Blues")
    ax.set_xticks(range(segments.shape[1]), segments.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(segments)), segments.index)
    fig.colorbar(image, ax=ax, label="mean |SHAP| (log-odds)")
    body = paragraph(
        "Mean |SHAP| (log-odds) of the overall top features within each size segment and within green and "
        "inclusive lending; a feature that dominates one column but not the others drives that group's scores."
    )
    sizes = pd.DataFrame([{"group": "rows", **result.segment_rows.to_dict()}])
    body += table(sizes)
    body += table(segments, float_format="{:.4f}", index=True)
    body += figure(fig, alt="importance by segment")
    return Section("Importance by segment", body, anchor="segments")


def _local_section(result: ExplainResult) -> Section:
    import shap

    body = paragraph(
        "Waterfalls of chosen customers at the latest snapshot: from the base value (expected log-odds) to the "
        "customer's log-odds, feature by feature, with the reason codes the customer receives."
        + (
            " Undated table: the customers are chosen from the test split."
            if _undated(result)
            else ""
        )
    )
    codes = result.reason_codes
    # one Explanation of every chosen row (a few): each waterfall takes its row
    chosen_rows = explanation(result, result.chosen["row"].to_numpy(dtype=np.int64), readable=True)
    for k, chosen in enumerate(result.chosen.itertuples()):
        exp = chosen_rows[k]
        plt.figure()
        with seeded():
            shap.plots.waterfall(exp, max_display=10, show=False)
        fig = plt.gcf()
        fig.axes[0].set_xlabel("log-odds (margin)")
        label = result.score_label
        when = (
            ""
            if pd.isna(chosen.snapshot_date)
            else f" ({pd.Timestamp(chosen.snapshot_date):%Y-%m-%d})"
        )
        title = f"{chosen.customer_id}{when}: {chosen.why}, {label} {chosen.score:.4f}"
        same_date = (
            codes["snapshot_date"].isna()
            if pd.isna(chosen.snapshot_date)
            else codes["snapshot_date"] == chosen.snapshot_date
        )
        mine = codes[(codes["customer_id"] == chosen.customer_id) & same_date]["sentence"]
        body += f"<h3>{escape(title)}</h3>"
        if len(mine):
            body += "<ol>" + "".join(f"<li>{escape(sentence)}</li>" for sentence in mine) + "</ol>"
        else:
            body += paragraph("No feature raises this customer's risk above the base value.")
        body += figure(fig, alt=f"waterfall of customer {chosen.customer_id}")
    return Section("Local explanations", body, anchor="local")


def _challenger_section(result: ExplainResult) -> Section:
    comparison = result.challenger
    if comparison is None:
        return Section(
            "Challenger comparison",
            note("No challenger.json in the model folder."),
            anchor="challenger",
        )
    fig, ax = plt.subplots(figsize=(6, 4.5))
    shown = comparison.dropna(subset=["xgb_mean_abs_shap", "challenger_abs"])
    ax.scatter(shown["challenger_abs"], shown["xgb_mean_abs_shap"], color="#1E88E5")
    for row in shown.head(10).itertuples():
        ax.annotate(row.feature, (row.challenger_abs, row.xgb_mean_abs_shap), fontsize=7)
    ax.set_xlabel("challenger |coefficient| per standard deviation (log-odds)")
    ax.set_ylabel("XGBoost mean |SHAP| (log-odds)")
    body = paragraph(
        "XGBoost's mean |SHAP| against the logistic challenger's coefficient on standardized inputs (log-odds "
        "per standard deviation; summed |coefficient| over the levels of a one-hot feature). Direction is the "
        "sign of the Spearman correlation between feature and SHAP value, against the coefficient's sign. "
        f"Rank correlation of the two importances: {result.challenger_rank_correlation:.3f}."
    )
    shown_table = pd.DataFrame(
        {
            "feature": comparison["feature"],
            "XGBoost mean |SHAP|": comparison["xgb_mean_abs_shap"],
            "XGBoost rank": _whole(comparison["xgb_rank"]),
            "XGBoost sign": _sign(comparison["xgb_direction"]),
            "challenger coefficient": comparison["challenger_coefficient"],
            "challenger |coefficient|": comparison["challenger_abs"],
            "challenger rank": _whole(comparison["challenger_rank"]),
            "missing-flag coefficient": comparison["challenger_missing_coefficient"],
            "signs agree": comparison["directions_agree"]
            .astype(object)
            .where(comparison["directions_agree"].notna(), ""),
        }
    )
    body += table(shown_table.head(30), float_format="{:.4f}")
    body += figure(fig, alt="challenger comparison")
    return Section("Challenger comparison", body, anchor="challenger")


def _whole(column: pd.Series) -> pd.Series:
    return column.map(lambda v: "" if pd.isna(v) else f"{int(v)}")


def _sign(column: pd.Series) -> pd.Series:
    return column.map(lambda v: "" if pd.isna(v) else {1.0: "+", -1.0: "−"}.get(float(v), "0"))


def _reason_section(result: ExplainResult) -> Section:
    codes = result.reason_codes
    customers = codes[["customer_id", "snapshot_date"]].drop_duplicates().shape[0]
    body = paragraph(
        f"{len(codes):,} reason codes for {customers:,} customer-snapshots (features with a positive SHAP "
        f"value, largest first, ties in model order); written to data/scores/<model>_reason_codes.parquet."
    )
    body += table(reason_frequency(codes))
    examples = codes.head(12).assign(
        snapshot_date=pd.to_datetime(codes["snapshot_date"].head(12)).dt.strftime("%Y-%m-%d"),
        sentence=codes["sentence"].head(12).map(_left),
    )
    body += "<h3>Examples</h3>" + table(
        examples[["customer_id", "snapshot_date", "rank", "feature", "shap", "sentence"]],
        float_format="{:.4f}",
        raw_html_columns=["sentence"],
    )
    return Section("Reason codes", body, anchor="reasons")
