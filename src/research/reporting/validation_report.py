"""The validator's report: one self-contained HTML page per model from a ``ValidationResult``.

The plot functions return matplotlib figures, so the validate notebook shows the same
pictures the report embeds. Every judged figure appears with its threshold and light.

The page opens with a conclusion: the verdict (red if any check is red, amber if any is
amber, else green) and its three most important reasons, the date and commit it was built
from, the target definition, the out-of-time start and the latest sign-off against the
current version and validation pack. Headline figures are taken from
``summary_metrics(result)``, the dict the validate stage writes to
``metrics/<model>_validation.json``, and every table rounds its floats to the 6 decimals
that file keeps, so the front page (which reads the file) and this page show the same
digits. A bar of links leads back to the front page and across to the model's SHAP
report, model card, the value report and the executed notebook (relative links).
"""

from __future__ import annotations

import base64
import dataclasses
import html as html_text
import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from research.reporting.html import (
    Section,
    SignOffView,
    escape,
    figure,
    folded,
    light,
    note,
    page,
    paragraph,
    table,
)
from research.validation import (
    LIGHT_ORDER,
    Thresholds,
    ValidationResult,
    band_threshold,
    p_value_threshold,
    summary_metrics,
    worst_light,
)

REASONS_SHOWN = 3
CSI_SHOWN = 15  # the worst features shown; the whole table folds below them
ATTENTION_SHOWN = 12

SET_COLOURS = {"train": "#4a5568", "valid": "#3182ce", "oot": "#c05621"}
AREAS = (
    "discrimination",
    "calibration",
    "stability",
    "backtest",
    "overfitting",
    "segments",
    "concentration",
)


def plot_discrimination(result: ValidationResult):
    """ROC and CAP curves per set."""
    fig, (roc_ax, cap_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for name, part in result.roc.groupby("set", sort=False):
        roc_ax.plot(part["fpr"], part["tpr"], label=name, color=SET_COLOURS.get(name))
    for name, part in result.cap.groupby("set", sort=False):
        cap_ax.plot(
            part["population_share"], part["event_share"], label=name, color=SET_COLOURS.get(name)
        )
    roc_ax.plot([0, 1], [0, 1], ":", color="grey")
    cap_ax.plot([0, 1], [0, 1], ":", color="grey")
    roc_ax.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    cap_ax.set(
        title="CAP",
        xlabel="share of population (riskiest first)",
        ylabel="share of events captured",
    )
    roc_ax.legend()
    cap_ax.legend()
    fig.tight_layout()
    return fig


def plot_calibration(result: ValidationResult):
    """Observed against predicted per class (out-of-time) and the decile calibration curve per set."""
    fig, (class_ax, curve_ax) = plt.subplots(1, 2, figsize=(10, 4))
    cal = result.calibration[result.calibration["n"] > 0]
    x = np.arange(len(cal))
    class_ax.bar(x - 0.2, cal["predicted_rate"], width=0.4, label="predicted", color="#a0aec0")
    class_ax.bar(x + 0.2, cal["observed_rate"], width=0.4, label="observed", color="#c05621")
    class_ax.set_xticks(x, [str(c) for c in cal["class"]])
    class_ax.set(
        title=f"{_holdout_words(result).capitalize()} rate per {result.rating_column}",
        ylabel="event rate",
    )
    class_ax.legend()
    for name, part in result.calibration_curve.groupby("set", sort=False):
        curve_ax.plot(
            part["predicted"], part["observed"], "o-", label=name, color=SET_COLOURS.get(name)
        )
    top = float(
        np.nanmax(
            [
                result.calibration_curve["predicted"].max(),
                result.calibration_curve["observed"].max(),
                1e-3,
            ]
        )
    )
    curve_ax.plot([0, top], [0, top], ":", color="grey")
    curve_ax.set(
        title="Calibration curve (score deciles)", xlabel="mean predicted", ylabel="observed"
    )
    curve_ax.legend()
    fig.tight_layout()
    return fig


def plot_stability(result: ValidationResult, *, top: int = 15):
    """Score distribution of development against later populations, and the largest feature CSIs."""
    fig, (dist_ax, csi_ax) = plt.subplots(1, 2, figsize=(11, 4))
    dist = result.score_distribution
    if not dist.empty:
        first = dist[dist["population"] == dist["population"].iloc[0]]
        x = np.arange(len(first))
        dist_ax.bar(x, first["expected_share"], width=0.8, color="#cbd5e0", label="development")
        for name, part in dist.groupby("population", sort=False):
            dist_ax.plot(np.arange(len(part)), part["actual_share"], "o-", label=name)
        dist_ax.set_xticks(x, [str(i + 1) for i in x])
    dist_ax.set(
        title="Score distribution (development deciles)", xlabel="score bin", ylabel="share"
    )
    dist_ax.legend()
    shown = result.csi.head(top).iloc[::-1]
    colours = [
        {"green": "#1a7f37", "amber": "#b7791f", "red": "#c53030"}.get(c, "#718096")
        for c in shown["light"]
    ]
    csi_ax.barh(shown["feature"], shown["csi"], color=colours)
    csi_ax.set(
        title=f"Largest feature CSI (top {min(top, len(result.csi))})",
        xlabel="CSI development → oot",
    )
    fig.tight_layout()
    return fig


def plot_backtest(result: ValidationResult):
    """Observed and predicted rate and AUC per snapshot."""
    fig, (rate_ax, auc_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    bt = result.backtest
    rate_ax.plot(bt["snapshot_date"], bt["observed_rate"], "o-", label="observed", color="#c05621")
    rate_ax.plot(
        bt["snapshot_date"], bt["predicted_rate"], "s--", label="predicted", color="#4a5568"
    )
    auc_ax.plot(bt["snapshot_date"], bt["auc"], "o-", color="#3182ce")
    oot = bt[bt["period"] == "oot"]
    for ax in (rate_ax, auc_ax):
        if not oot.empty:
            ax.axvspan(
                oot["snapshot_date"].min(),
                oot["snapshot_date"].max(),
                color="#fefcbf",
                alpha=0.6,
                label="out-of-time",
            )
        ax.tick_params(axis="x", rotation=45)
    rate_ax.set(title="Event rate per snapshot", ylabel="rate")
    auc_ax.set(title="AUC per snapshot", ylabel="AUC")
    rate_ax.legend()
    fig.tight_layout()
    return fig


def plot_migration(result: ValidationResult):
    """Migration matrix between consecutive snapshots as row shares."""
    shares = result.migration.div(result.migration.sum(axis=1).replace(0, np.nan), axis=0)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    image = ax.imshow(shares.to_numpy(dtype=float), cmap="Blues", vmin=0, vmax=1)
    labels = [str(c) for c in shares.index]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(
        xlabel="to (next snapshot)",
        ylabel="from",
        title=f"{result.rating_column.title()} migration (row shares)",
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


# Each figure of the report by name, with the alt text it is embedded under.
FIGURE_ALT = {
    "discrimination": "ROC and CAP curves per set",
    "calibration": "Calibration per class and calibration curve",
    "stability": "Score distribution and feature CSI",
    "backtest": "Observed and predicted rate and AUC per snapshot",
    "migration": "Migration matrix",
}
PLOTS = {
    "discrimination": plot_discrimination,
    "calibration": plot_calibration,
    "stability": plot_stability,
    "backtest": plot_backtest,
    "migration": plot_migration,
}
_EMBEDDED_PNG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]*)">')


def embedded_figures(page_html: str) -> dict[str, bytes]:
    """The PNG pictures a report page embeds, by their alt text.

    Args:
        page_html: A page written by ``validation_report`` (or any page of ``html.figure``s).

    Returns:
        The PNG bytes of each embedded picture under its (unescaped) alt text.
    """
    return {
        html_text.unescape(alt): base64.b64decode(data)
        for alt, data in _EMBEDDED_PNG.findall(page_html)
    }


def show_figure(figures: Mapping[str, bytes], name: str, result: ValidationResult) -> None:
    """Show a figure of the report in a notebook: the page's own PNG, else drawn anew.

    The validate stage has drawn every figure once for the report; the notebook shows
    those pictures (``embedded_figures`` of the page it wrote) instead of drawing them a
    second time. A figure the page lacks is drawn from ``result`` (``PLOTS``; the inline
    backend shows it when the cell ends).

    Args:
        figures: ``embedded_figures`` of the report page (empty: draw every figure).
        name: A key of ``FIGURE_ALT``.
        result: The validation result the page was written from.
    """
    data = figures.get(FIGURE_ALT[name])
    if data is None:
        PLOTS[name](result)
        return
    from IPython.display import Image, display

    display(Image(data=data, format="png"))


OUT_OF_TIME = "out-of-time"
TEST_STANDS_IN = "test split (standing in for out-of-time)"
UNDATED_NOTE = (
    "The model's table has no snapshot date: the random stratified test split stands in for "
    "out-of-time. Wherever this report says out-of-time (oot), read the test split; "
    "backtesting per snapshot, migration and concentration need dates and are empty."
)


def _holdout_words(result: ValidationResult) -> str:
    """How the report names the holdout set: out-of-time, or the test split standing in for it."""
    return TEST_STANDS_IN if result.undated else OUT_OF_TIME


def _with_original_names(result: ValidationResult, names: Mapping[str, object]) -> ValidationResult:
    """``result`` with renamed features under their names in the table (CSI, checks)."""
    if not names:
        return result
    shown = {str(k): str(v) for k, v in names.items()}

    def name(value: object) -> object:
        return shown.get(value, value) if isinstance(value, str) else value

    csi = result.csi.assign(feature=result.csi["feature"].map(name))
    checks = result.checks
    if "subject" in checks.columns:
        checks = checks.assign(subject=checks["subject"].map(name))
    return dataclasses.replace(result, csi=csi, checks=checks)


def _preparation_section(preparation: pd.DataFrame) -> Section:
    body = [
        paragraph(
            "How the flat table's columns were read before modelling: keys and label, protected "
            "attributes excluded (or included by an explicit, recorded choice), id-like, constant and "
            "high-cardinality columns left out, numbers held as text read as numbers, names XGBoost "
            "refuses renamed (this report shows the names in the table)."
        ),
        table(preparation),
    ]
    return Section("Table preparation", "".join(body))


def _with_light(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with each light column replaced by badges (named ``shown``), moved to the end."""
    out = frame.drop(columns=list(columns))
    for column, shown in columns.items():
        out[shown] = [light(c) for c in frame[column]]
    return out


def _percent(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        out[column] = [f"{v:.2%}" if pd.notna(v) else "" for v in out[column]]
    return out


def _summary_section(
    result: ValidationResult, *, model: str, related: Mapping[str, str]
) -> Section:
    counts = result.lights
    badges = " ".join(f"{light(c)} {counts[c]}" for c in LIGHT_ORDER)
    attention = result.checks[result.checks["light"].isin(["red", "amber"])]
    order = {"red": 0, "amber": 1}
    attention = attention.sort_values("light", key=lambda s: s.map(order), kind="stable")
    worst = result.checks.groupby("area", sort=False)["light"].agg(worst_light)
    areas = pd.DataFrame(
        {
            "area": worst.index,
            "checks": result.checks.groupby("area", sort=False).size().to_numpy(),
            "light": worst.to_numpy(),
        }
    )
    related_html = " · ".join(
        f'<a href="{escape(path)}">{escape(text)}</a> (<code>{escape(path)}</code>)'
        for text, path in related.items()
    )
    body = [
        f"<p>Checks: {badges}</p>",
        paragraph(
            "Each check compares a figure with the threshold from params.yaml (validation) and gets a light: "
            "green passes, amber needs a look, red fails; grey means the sample is too small to judge."
        ),
        table(_with_light(areas, {"light": "worst light"}), raw_html_columns=["worst light"]),
    ]
    if related_html:
        body.append(f"<p>Related reports, beside this one: {related_html}</p>")
    if attention.empty:
        body.append(note(f"Every judged check of the {model} model is green."))
    else:
        body.append("<h3>What needs attention, and why</h3>")
        shown = attention[["area", "check", "subject", "value", "threshold", "light", "reason"]]
        body.append(
            table(
                _with_light(shown, {"light": "light"}),
                raw_html_columns=["light"],
                float_format="{:.4g}",
                top=ATTENTION_SHOWN,
                rest=f"all {len(shown)} red and amber checks",
            )
        )
    if result.undated:
        body.append(note(UNDATED_NOTE))
    for text in result.notes:
        body.append(note(text))
    return Section("Summary", "".join(body))


def _discrimination_section(result: ValidationResult, t: Thresholds) -> Section:
    checks = result.checks[
        (result.checks["area"] == "discrimination") & (result.checks["check"] == "AUC")
    ]
    lights = dict(zip(checks["subject"], checks["light"], strict=True))
    frame = result.discrimination.assign(
        threshold=band_threshold(t.auc_bands, higher_is_better=True),
        light=[light(lights.get(s, "grey")) for s in result.discrimination["set"]],
    )
    frame = _percent(frame, ["event_rate"])
    body = [
        paragraph(
            f"AUC with its 95% confidence interval ({result.ci_method}), Gini (= 2·AUC − 1, the accuracy ratio of the CAP) "
            "and the Kolmogorov-Smirnov statistic on the training, validation and out-of-time sets."
        ),
        table(frame, raw_html_columns=["light"]),
        figure(plot_discrimination(result), alt=FIGURE_ALT["discrimination"]),
    ]
    if not result.challenger.empty:
        lights = result.checks[result.checks["check"] == "AUC − challenger AUC"]
        ch = result.challenger.assign(light=[light("grey")] * len(result.challenger))
        if not lights.empty:
            ch.loc[ch["set"] == "oot", "light"] = light(lights["light"].iloc[0])
        body.append("<h3>Against the challenger</h3>")
        body.append(
            paragraph(
                "DeLong's paired test of the AUC difference (model minus challenger) on the same rows; "
                f"red when the challenger is better with p < {t.challenger_alpha:g} (judged out of time)."
            )
        )
        body.append(table(ch, raw_html_columns=["light"]))
    return Section("Discrimination", "".join(body))


def _calibration_section(result: ValidationResult, t: Thresholds) -> Section:
    cal = result.calibration
    tests = int(cal["tests"].iloc[0]) if len(cal) else 1
    frame = cal[
        [
            "class",
            "n",
            "events",
            "observed_rate",
            "predicted_rate",
            "binomial_p_adj",
            "jeffreys_p_adj",
            "binomial_light",
            "jeffreys_light",
            "light",
        ]
    ].rename(columns={"class": result.rating_column})
    frame = _percent(frame, ["observed_rate", "predicted_rate"])
    frame = _with_light(
        frame, {"binomial_light": "binomial", "jeffreys_light": "Jeffreys", "light": "light"}
    )
    frame.insert(
        len(frame.columns) - 3,
        "threshold",
        p_value_threshold(
            alpha=t.calibration_alpha, amber_alpha=t.calibration_amber_alpha, tests=tests
        ),
    )
    summary = result.calibration_summary.copy()
    summary = _percent(summary, ["observed_rate", "predicted_rate"])
    pv = p_value_threshold(alpha=t.calibration_alpha, amber_alpha=t.calibration_amber_alpha)
    basis = (
        "rating grade"
        if result.rating_column == "grade"
        else "score decile (the model has no rating grades)"
    )
    body = [
        paragraph(
            f"{_holdout_words(result).capitalize()} observed against predicted event rate per {basis}. The binomial test is two-sided and exact; "
            "the Jeffreys test is one-sided (p = Beta(D + ½, N − D + ½) cdf at the mean PD: small p means the PD "
            f"underestimates). Both p-values are Bonferroni-adjusted over the {tests} classes. "
            + _cluster_note(t)
        ),
        table(frame, raw_html_columns=["binomial", "Jeffreys", "light"], float_format="{:.4g}"),
        figure(plot_calibration(result), alt=FIGURE_ALT["calibration"]),
        "<h3>Brier score, Hosmer-Lemeshow and the portfolio rate</h3>",
        paragraph(
            f"Hosmer-Lemeshow over {t.hl_groups} score groups (χ² with groups − 2 degrees of freedom on the training set, "
            f"groups on independent sets{'; each group variance times its design effect' if t.cluster_adjust else ''}); "
            f"central_p is the two-sided binomial test of the whole set's rate"
            f"{' on the effective counts' if t.cluster_adjust else ''}. Judged out of time: {pv}."
        ),
        table(summary, float_format="{:.4g}"),
    ]
    return Section("Calibration", "".join(body))


def _stability_section(result: ValidationResult, t: Thresholds) -> Section:
    threshold = band_threshold(t.psi_bands, higher_is_better=False)
    psi = _with_light(result.score_stability.assign(threshold=threshold), {"light": "light"})
    csi = _with_light(result.csi.assign(threshold=threshold), {"light": "light"})
    body = [
        paragraph(
            f"Population stability index of the score between the development population (train and validation) and "
            f"later ones, on {t.psi_bins} quantile bins of the development scores; the characteristic stability index "
            "(CSI) is the same measure for each feature (categories as bins, missing values in a bin of their own)."
        ),
        table(psi, raw_html_columns=["light"]),
        figure(plot_stability(result), alt=FIGURE_ALT["stability"]),
        f"<h3>CSI per feature (development → {_holdout_words(result)}), worst first</h3>",
        table(
            csi,
            raw_html_columns=["light"],
            top=CSI_SHOWN,
            rest=f"the CSI of all {len(csi)} features",
        ),
    ]
    return Section("Stability", "".join(body))


def _backtest_section(result: ValidationResult, t: Thresholds) -> Section:
    bt = result.backtest.copy()
    bt["snapshot_date"] = pd.to_datetime(bt["snapshot_date"]).dt.date.astype(str)
    bt = _percent(bt, ["observed_rate", "predicted_rate"])
    bt = _with_light(
        bt.drop(columns=["judged", "tests"]),
        {"auc_light": "AUC light", "calibration_light": "rate light"},
    )
    shares = result.migration.div(result.migration.sum(axis=1).replace(0, np.nan), axis=0)
    shares = shares.map(lambda v: f"{v:.1%}" if pd.notna(v) else "")
    shares.index = [str(i) for i in shares.index]
    shares.columns = [str(c) for c in shares.columns]
    shares.index.name = "from \\ to"
    conc = result.concentration.copy()
    conc["snapshot_date"] = pd.to_datetime(conc["snapshot_date"]).dt.date.astype(str)
    body = [
        paragraph(
            "AUC and observed against predicted rate for every labelled snapshot. Out-of-time snapshots are judged "
            f"(AUC: {band_threshold(t.auc_bands, higher_is_better=True)}; rate: two-sided binomial test, Bonferroni over "
            "the judged snapshots); earlier snapshots are in-sample or purged and shown only."
        ),
        table(bt, raw_html_columns=["AUC light", "rate light"], float_format="{:.4g}"),
        figure(plot_backtest(result), alt=FIGURE_ALT["backtest"]),
        f"<h3>{escape(result.rating_column.title())} migration between consecutive snapshots</h3>",
        paragraph(
            "Row shares of customers rated at two consecutive snapshots (all snapshots, labels not needed); hhi is the "
            "Herfindahl index of each row (1 when every customer keeps the class, low when migrations scatter)."
        ),
        table(shares, index=True),
        table(
            result.migration_summary.assign(
                **{"class": result.migration_summary["class"].astype(str)}
            ),
            float_format="{:.3f}",
        ),
        figure(plot_migration(result), alt=FIGURE_ALT["migration"]),
        f"<h3>Concentration over {escape(result.rating_column)}s per snapshot</h3>",
        paragraph(
            f"Herfindahl index of the population over classes; the out-of-time population is judged: "
            f"{band_threshold(t.hhi_bands, higher_is_better=False)}."
        ),
        table(conc, float_format="{:.3f}"),
    ]
    return Section("Backtesting", "".join(body))


def _overfit_section(result: ValidationResult, t: Thresholds) -> Section:
    frame = _with_light(
        result.overfit.assign(
            threshold=band_threshold(t.overfit_gap_bands, higher_is_better=False)
        ),
        {"light": "light"},
    )
    body = [
        paragraph(
            "AUC gaps between sets; the train against out-of-time gap is judged, the others are shown."
        ),
        table(frame, raw_html_columns=["light"]),
    ]
    return Section("Overfitting", "".join(body))


def _cluster_note(t: Thresholds) -> str:
    if not t.cluster_adjust:
        return "Rows are treated as independent trials (cluster_adjust is off)."
    return (
        "A customer's rows in several snapshots are one cluster (one event counts in up to four rows), so the "
        "rate tests run on the counts divided by the design effect: the cluster-robust over the naive variance of "
        "the residuals (design_effect and n_effective in the table)."
    )


def _segment_section(result: ValidationResult, t: Thresholds) -> Section:
    seg = result.segments.drop(columns=["binomial_p", "judged", "tests"])
    seg = _percent(seg, ["observed_rate", "predicted_rate"])
    seg = _with_light(seg, {"auc_light": "AUC light", "calibration_light": "rate light"})
    body = [
        paragraph(
            f"{_holdout_words(result).capitalize()} performance per size class, project finance, green and inclusive lending, with sample sizes. "
            f"A segment with fewer than {t.min_segment_events} events or non-events is too small to judge (grey). "
            f"AUC: {band_threshold(t.auc_bands, higher_is_better=True)}; rate: two-sided binomial test, Bonferroni over "
            "the judged segments. " + _cluster_note(t)
        ),
        table(seg, raw_html_columns=["AUC light", "rate light"], float_format="{:.4g}"),
    ]
    return Section("Segments", "".join(body))


def _checks_section(result: ValidationResult) -> Section:
    checks = result.checks.copy()
    checks["area"] = pd.Categorical(checks["area"], categories=AREAS, ordered=True)
    checks = checks.sort_values("area", kind="stable").astype({"area": str})
    counts = (
        checks.groupby(["area", "light"], sort=False)
        .size()
        .unstack(fill_value=0)
        .reindex(columns=list(LIGHT_ORDER), fill_value=0)
        .reset_index()
    )
    counts.insert(1, "checks", counts[list(LIGHT_ORDER)].sum(axis=1))
    is_csi = (checks["area"] == "stability") & (checks["check"] == "CSI")
    rest = checks[~is_csi]
    body = (
        paragraph(
            f"Every judged figure with the threshold beside it and the reason for its light: "
            f"{len(checks)} checks, of which {int(is_csi.sum())} are per-feature CSI checks "
            "(listed in Stability)."
        )
        + table(counts)
        + folded(
            table(
                _with_light(rest, {"light": "light"}),
                raw_html_columns=["light"],
                float_format="{:.4g}",
            ),
            f"Show the {len(rest)} checks other than per-feature CSI",
        )
        + folded(
            table(
                _with_light(checks[is_csi], {"light": "light"}),
                raw_html_columns=["light"],
                float_format="{:.4g}",
            ),
            f"Show the {int(is_csi.sum())} per-feature CSI checks",
        )
    )
    return Section("All checks", body)


def _reason_items(result: ValidationResult, shown: int = REASONS_SHOWN) -> str:
    attention = result.checks[result.checks["light"].isin(["red", "amber"])]
    if attention.empty:
        return "<p>No red or amber check: every judged check is green.</p>"
    order = {"red": 0, "amber": 1}
    attention = attention.sort_values("light", key=lambda s: s.map(order), kind="stable")
    items = []
    for row in attention.head(shown).to_dict("records"):
        value = row["value"]
        figure_text = (
            f"{round(float(value), 6):.4g}" if isinstance(value, (int, float)) else str(value)
        )
        subject = (
            f" of <code>{escape(row['subject'])}</code>"
            if isinstance(row.get("subject"), str) and row["subject"]
            else ""
        )
        items.append(
            f"<li>{light(row['light'])} <strong>{escape(row['area'])}: {escape(row['check'])}"
            f"</strong>{subject} = {escape(figure_text)} (threshold {escape(row['threshold'])})</li>"
        )
    more = len(attention) - shown
    tail = (
        f'<p class="meta">{more} more red or amber checks under "What needs attention".</p>'
        if more > 0
        else ""
    )
    return f"<ol>{''.join(items)}</ol>{tail}"


def _signoff_text(signoff: SignOffView | None) -> str:
    if signoff is None:
        return "not shown (the validate stage passed no sign-off status)"
    css = "ok" if signoff.approved else "warn"
    return f'<span class="{css}">{escape(signoff.line())}</span>'


def conclusion_box(
    result: ValidationResult,
    *,
    model: str,
    built: str = "",
    git_commit: str = "",
    target: str = "",
    oot_first_snapshot: str = "",
    run_id: str = "",
    model_version: str = "",
    signoff: SignOffView | None = None,
) -> str:
    """The page's conclusion: verdict and reasons, date, commit, target, out-of-time start, sign-off."""
    counts = result.lights
    verdict = worst_light([c for c in LIGHT_ORDER for _ in range(int(counts.get(c, 0)))])
    badges = " ".join(f"{light(c)} {counts[c]}" for c in LIGHT_ORDER)
    oot = summary_metrics(result)["discrimination"].get("oot", {})
    auc = oot.get("auc")
    holdout = _holdout_words(result)
    rows = [
        ("Verdict", f"{light(verdict)} {badges}"),
        (
            f"{holdout.capitalize()} AUC",
            "n/a" if auc is None else f"{auc:.4f} (metrics/{escape(model)}_validation.json)",
        ),
        ("Sign-off", _signoff_text(signoff)),
        ("Target", escape(target or "not stated")),
        (
            "Out-of-time from",
            escape(
                "none: the test split stands in (no dates)"
                if result.undated
                else (oot_first_snapshot or "not stated")
            ),
        ),
        (
            "Model",
            escape(f"{model}, version {model_version or 'none'}, MLflow run {run_id or 'none'}"),
        ),
        ("Built", escape(built or "not stated")),
        ("Commit", f"<code>{escape(git_commit or 'not stated')}</code>"),
    ]
    facts = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    title = f"Conclusion: {verdict}"
    return (
        f'<div class="verdict {verdict}" id="conclusion"><h2>{escape(title)}</h2>'
        f"<p><strong>Why:</strong></p>{_reason_items(result)}<table>{facts}</table></div>"
    )


def report_links(model: str) -> list[tuple[str, str | None]]:
    """Back to the front page and across to the model's other pages (relative to reports/<model>/)."""
    return [
        ("Front page", "../index.html"),
        ("SHAP report", "shap.html"),
        ("Model card", "model_card.html"),
        ("Customer value report", "../value.html"),
        ("Executed notebook", f"../notebooks/validate-{model}.html"),
    ]


def validation_report(
    result: ValidationResult,
    *,
    model: str,
    thresholds: Thresholds,
    run_id: str = "",
    model_version: str = "",
    oot_first_snapshot: str = "",
    target: str = "",
    related: Mapping[str, str] | None = None,
    original_names: Mapping[str, object] | None = None,
    preparation: pd.DataFrame | None = None,
    built: str = "",
    git_commit: str = "",
    signoff: SignOffView | None = None,
    links: Sequence[tuple[str, str | None]] | None = None,
) -> str:
    """The validation report of one model as a self-contained HTML page.

    Args:
        result: The output of ``research.validation.validate_model``.
        model: Model name (``credit`` or ``churn``).
        thresholds: The thresholds the checks were judged against (shown beside each figure).
        run_id: The model's MLflow run id.
        model_version: The registered model version, if any.
        oot_first_snapshot: First out-of-time snapshot (shown in the header).
        target: The label and its definition in words (shown in the header).
        related: Name and path (relative to this report) of sibling reports, linked in
            the summary (the SHAP report, the executed notebook).
        original_names: Renamed features (a flat table's, for XGBoost) to their names in
            the table, shown instead.
        preparation: What preparing a flat table did to its columns
            (``research.models.flat.preparation_table``), shown in a section of its own.
        built: When the report was built (shown in the conclusion).
        git_commit: The commit it was built from (``research.tracking.git_commit``).
        signoff: The latest sign-off against the current version and pack
            (``research.signoff.status``), shown in the conclusion.
        links: The bar of links back and across (default ``report_links(model)``).

    Returns:
        The HTML document: images embedded, no scripts, nothing loaded from outside the
        file; relative links to the sibling reports.
    """
    t = thresholds
    result = _with_original_names(result, original_names or {})
    holdout = (
        "holdout: the random stratified test split stands in for out-of-time (no snapshot dates)"
        if result.undated
        else (f"out-of-time from {oot_first_snapshot}" if oot_first_snapshot else "")
    )
    subtitle = " · ".join(
        part
        for part in (
            f"model {model}",
            f"MLflow run {run_id}" if run_id else "",
            f"version {model_version}" if model_version else "",
            holdout,
            f"calibration by {result.rating_column}",
            f"target {target}" if target else "",
        )
        if part
    )
    sections = [
        _summary_section(result, model=model, related=related or {}),
        *([_preparation_section(preparation)] if preparation is not None else []),
        _discrimination_section(result, t),
        _calibration_section(result, t),
        _stability_section(result, t),
        _backtest_section(result, t),
        _overfit_section(result, t),
        _segment_section(result, t),
        _checks_section(result),
    ]
    lead = conclusion_box(
        result,
        model=model,
        built=built,
        git_commit=git_commit,
        target=target,
        oot_first_snapshot=oot_first_snapshot,
        run_id=run_id,
        model_version=model_version,
        signoff=signoff,
    )
    return page(
        f"Validation report: {model}",
        sections,
        subtitle=subtitle,
        links=report_links(model) if links is None else links,
        here="Validation report",
        lead=lead,
    )
