"""The customer-value page (``reports/value.html``): segments, CLV, indices, matrix, watch list, slices.

Self-contained: tables are inline HTML and plots are embedded PNGs (``reporting.html``).
Amounts carry their unit: the source's currency (``data/raw/_source.json``), or "units"
for the synthetic portfolio, which has none; axes count in k, m and bn, never with a
``1e9`` offset. A bar of links leads back to the front page and to each model's reports.
The page is a DVC output: nothing on it names a run, a date or a commit.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from research.reporting.html import (
    Section,
    amount_axis,
    figure,
    note,
    page,
    paragraph,
    short_amount,
    table,
)
from research.value.clv import CLV_PARTS
from research.value.indices import INDEX_DEFINITIONS
from research.value.params import ValueParams
from research.value.pipeline import ValueResult
from research.value.rfm import RFM_SEGMENTS

MONEY = "{:,.0f}"
SHARE = "{:.1%}"
NO_CURRENCY = "units"  # the synthetic portfolio's amounts have no currency
# Columns holding amounts: their header gets the unit.
MONEY_COLUMNS = (
    "income_12m",
    "exposure",
    "clv",
    "clv_min",
    "clv_max",
    "clv_per_customer",
    "expected_loss_1y",
    "gross_margin",
    "churn_attrition",
    "default_attrition",
    "expected_credit_loss",
)
MATRIX_FONT_PT = 9  # 12 px at 96 dpi: the value-risk matrix's cell labels
# The settings the CLV section states (params.yaml value.<name>).
ASSUMPTIONS = (
    "horizon_years",
    "discount_rate",
    "funding_cost",
    "payments_margin",
    "ccf",
    "value_tiers",
)


def formatted(frame: pd.DataFrame, formats: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``frame`` with the named columns as formatted text (missing values blank)."""
    out = frame.copy()
    for column, fmt in formats.items():
        if column in out.columns:
            out[column] = [("" if pd.isna(v) else fmt.format(v)) for v in out[column]]
    return out


def _money(value: float) -> str:
    return "n/a" if value is None or pd.isna(value) else MONEY.format(value)


def with_units(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """``frame`` with each amount column's header carrying the unit (``exposure (EUR)``)."""
    return frame.rename(columns={c: f"{c} ({unit})" for c in frame.columns if c in MONEY_COLUMNS})


def _share(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else SHARE.format(value)


def headline_section(
    metrics: Mapping[str, Any], high_value_tiers: Sequence[str], unit: str = NO_CURRENCY
) -> Section:
    """The headline figures of ``metrics/value.json``."""
    bt = metrics.get("watch_backtest_oot", {})
    ratio = bt.get("ratio")
    rows = [
        ("snapshot", metrics["snapshot_date"]),
        ("customers scored by both models", f"{metrics['customers']:,}"),
        ("total exposure at default", f"{_money(metrics['total_exposure'])} {unit}"),
        ("total modeled CLV", f"{_money(metrics['total_clv'])} {unit}"),
        (
            f"share of CLV in the {' and '.join(high_value_tiers)} tiers",
            _share(metrics["high_value_share"]),
        ),
        (
            "same, of the customers with positive CLV",
            _share(metrics["high_value_share_of_positive"]),
        ),
        (
            "customers with negative CLV (their total)",
            f"{metrics['negative_clv']['customers']:,} ({_money(metrics['negative_clv']['total'])} {unit})",
        ),
        (
            "watch list now (customers)",
            f"{metrics['watch_list']['size']:,} ({_share(metrics['watch_list']['share'])})",
        ),
        ("12-month default rate, watch-listed (out-of-time)", _share(bt.get("watch_default_rate"))),
        ("12-month default rate, the rest (out-of-time)", _share(bt.get("rest_default_rate"))),
        ("ratio", "n/a" if ratio is None else f"{ratio:.1f}x"),
        (
            "mean satisfaction index",
            f"{metrics['satisfaction_index_mean']:.1f}"
            if metrics["satisfaction_index_mean"] is not None
            else "n/a",
        ),
        (
            "mean loyalty index",
            f"{metrics['loyalty_index_mean']:.1f}"
            if metrics["loyalty_index_mean"] is not None
            else "n/a",
        ),
    ]
    body = note(f"Amounts in {unit}.") + table(pd.DataFrame(rows, columns=["figure", "value"]))
    return Section("Headline", body)


def rfm_section(customer_value: pd.DataFrame, quantiles: int, unit: str = NO_CURRENCY) -> Section:
    """Customers, business and value per RFM segment."""
    summary = customer_value.groupby("rfm_segment", sort=False).agg(
        customers=("customer_id", "size"),
        mean_r=("r_score", "mean"),
        mean_f=("f_score", "mean"),
        mean_m=("m_score", "mean"),
        income_12m=("monetary", "sum"),
        exposure=("exposure", "sum"),
        clv=("clv", "sum"),
        mean_pd=("pd", "mean"),
        mean_churn=("churn_probability", "mean"),
        on_watch=("on_watch", "mean"),
    )
    summary = summary.reindex([s for s in RFM_SEGMENTS if s in summary.index]).reset_index()
    summary.insert(1, "meaning", summary["rfm_segment"].map(RFM_SEGMENTS))
    shown = formatted(
        summary,
        {
            "mean_r": "{:.1f}",
            "mean_f": "{:.1f}",
            "mean_m": "{:.1f}",
            "income_12m": MONEY,
            "exposure": MONEY,
            "clv": MONEY,
            "mean_pd": "{:.2%}",
            "mean_churn": "{:.1%}",
            "on_watch": SHARE,
        },
    )
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
    ax[0].barh(summary["rfm_segment"], summary["customers"], color="#4a6fa5")
    ax[0].set_title("customers")
    ax[1].barh(summary["rfm_segment"], summary["clv"], color="#2f855a")
    ax[1].set_title(f"modeled CLV ({unit})")
    amount_axis(ax[1].xaxis)
    for a in ax:
        a.invert_yaxis()
    fig.tight_layout()
    body = (
        paragraph(
            f"Recency (days since the last account movement), frequency (movements in the trailing window) and "
            f"monetary (interest and fees earned in that window) are each scored 1..{quantiles} by quantile, "
            f"{quantiles} being best; segments are named from the scores (first matching rule): "
            "lost (no movement and no income, or 1-1-1), champions (all three high), at risk (quiet lately although "
            "frequent or profitable), dormant (quiet), growing (recently active), steady (the rest)."
        )
        + table(with_units(shown, unit))
        + figure(fig, alt="customers and CLV per RFM segment")
    )
    return Section("RFM segments", body)


def _waterfall(split: pd.Series, unit: str = NO_CURRENCY) -> Any:
    steps = [
        ("gross margin", split["gross_margin"]),
        ("churn attrition", -split["churn_attrition"]),
        ("default attrition", -split["default_attrition"]),
        ("expected credit loss", -split["expected_credit_loss"]),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    level = 0.0
    for i, (_, change) in enumerate(steps):
        ax.bar(
            i,
            change,
            bottom=level if change < 0 else 0.0,
            color="#2f855a" if change >= 0 else "#c53030",
        )
        level += change
        ax.text(
            i,
            max(level, level - change),
            short_amount(change),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.bar(len(steps), level, color="#2b6cb0")
    ax.text(len(steps), max(level, 0), short_amount(level), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(steps) + 1), [s[0] for s in steps] + ["CLV"], fontsize=9)
    amount_axis(ax.yaxis)
    ax.set_ylabel(f"present value ({unit})")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.margins(y=0.12)
    ax.set_title("From margin to risk-adjusted lifetime value (portfolio, present value)")
    fig.tight_layout()
    return fig


def clv_section(
    customer_value: pd.DataFrame,
    tiers: pd.DataFrame,
    assumptions: Mapping[str, Any],
    high_value_tiers: Sequence[str],
    unit: str = NO_CURRENCY,
) -> Section:
    """CLV definition, its split for the portfolio and per tier, and the concentration of value."""
    parts = [*CLV_PARTS, "clv"]
    split = customer_value[parts].sum()
    by_tier = (
        customer_value.groupby("value_tier", sort=False)[parts]
        .sum()
        .reindex(tiers["value_tier"])
        .reset_index()
    )
    by_segment = customer_value.groupby("segment", sort=True)[parts].sum().reset_index()
    money = dict.fromkeys(parts, MONEY)
    tiers_shown = formatted(
        tiers,
        {
            "exposure": MONEY,
            "clv": MONEY,
            "clv_min": MONEY,
            "clv_max": MONEY,
            "clv_share": SHARE,
            "customer_share": SHARE,
        },
    )
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(tiers))
    ax.bar(x - 0.2, tiers["customer_share"], width=0.4, label="share of customers", color="#a0aec0")
    ax.bar(x + 0.2, tiers["clv_share"], width=0.4, label="share of CLV", color="#2b6cb0")
    ax.set_xticks(x, tiers["value_tier"])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8)
    ax.set_title("Value concentration by tier")
    fig.tight_layout()
    definition = (
        f"Over {assumptions['horizon_years']} years at a {assumptions['discount_rate']:.0%} discount rate, the expected yearly "
        f"margin (drawn x (interest rate - {assumptions['funding_cost']:.1%} funding cost) + limit x fee rate, plus "
        f"{assumptions['payments_margin']:.2%} of yearly account turnover) is earned while the client neither churns nor "
        "defaults (survival from the churn model's and the PD model's yearly probabilities, constant over the horizon); the "
        "expected credit loss PD x LGD x EAD of each year (LGD by collateral, adjusted by product; EAD = drawn + "
        f"{assumptions['ccf']:.0%} of the undrawn limit) is subtracted. Gross margin - churn attrition - default attrition "
        "- expected credit loss = CLV, exactly."
    )
    body = (
        paragraph(definition)
        + figure(_waterfall(split, unit), alt="CLV waterfall")
        + "<h3>Split per value tier</h3>"
        + table(with_units(formatted(by_tier, money), unit))
        + "<h3>Value tiers</h3>"
        + paragraph(
            f"Tiers cut the CLV distribution at the quantiles {', '.join(map(str, assumptions['value_tiers']))}; "
            f"the {' and '.join(high_value_tiers)} tiers hold {_share(assumptions['high_value_share'])} of the modeled value."
        )
        + table(with_units(tiers_shown, unit))
        + figure(fig, alt="value concentration by tier")
        + "<h3>Split per client segment</h3>"
        + table(with_units(formatted(by_segment, money), unit))
    )
    return Section("Customer lifetime value", body)


def indices_section(customer_value: pd.DataFrame) -> Section:
    """Satisfaction and loyalty: definitions, distributions and their level per RFM segment."""
    fig, ax = plt.subplots(1, 2, figsize=(10, 3))
    for a, column in zip(ax, ["satisfaction_index", "loyalty_index"], strict=True):
        a.hist(customer_value[column].dropna(), bins=20, range=(0, 100), color="#4a6fa5")
        a.set_title(column.replace("_", " "))
    fig.tight_layout()
    by_segment = customer_value.groupby("rfm_segment", sort=False)[
        ["satisfaction_index", "loyalty_index"]
    ].mean()
    by_segment = by_segment.reindex(
        [s for s in RFM_SEGMENTS if s in by_segment.index]
    ).reset_index()
    definitions = ""
    for name, parts in INDEX_DEFINITIONS.items():
        rows = [(component, text) for component, text in parts.items() if component != "summary"]
        definitions += (
            f"<h3>{name.replace('_', ' ').capitalize()}</h3>"
            + note(parts["summary"])
            + table(pd.DataFrame(rows, columns=["component (each in [0, 1])", "definition"]))
        )
    body = (
        paragraph(
            "Both indices run from 0 to 100 and use only interactions, movements and facilities before the "
            "snapshot. The satisfaction index is the customer satisfaction measure (not the characteristic "
            "stability index of the validation report)."
        )
        + definitions
        + figure(fig, alt="distribution of the satisfaction and loyalty indices")
        + paragraph(
            f"Customers without any interaction in the window have no satisfaction index: "
            f"{customer_value['satisfaction_index'].isna().mean():.1%} of the portfolio."
        )
        + table(formatted(by_segment, {"satisfaction_index": "{:.1f}", "loyalty_index": "{:.1f}"}))
    )
    return Section("Satisfaction and loyalty", body)


def matrix_section(
    matrix: pd.DataFrame,
    tier_names: Sequence[str],
    grades: Sequence[str],
    unit: str = NO_CURRENCY,
) -> Section:
    """The value-risk matrix: customers, exposure and the treatment of each (tier, grade) cell."""
    rows = list(tier_names)[::-1]
    counts = matrix.pivot(index="value_tier", columns="grade", values="customers").reindex(
        index=rows, columns=grades
    )
    exposure = matrix.pivot(index="value_tier", columns="grade", values="exposure").reindex(
        index=rows, columns=grades
    )
    treatments = matrix.pivot(index="value_tier", columns="grade", values="treatment").reindex(
        index=rows, columns=grades
    )
    # wide enough cells for 9-point labels (12 px), the figure within the page's 1,132 px column
    fig, ax = plt.subplots(figsize=(min(1.45 * len(grades) + 1.4, 11.6), 1.05 * len(rows) + 1.5))
    shade = np.log1p(counts.to_numpy(dtype=float))
    ax.imshow(shade, cmap="Blues", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(grades)):
            colour = "white" if shade[i, j] > 0.6 * shade.max() else "black"
            ax.text(
                j,
                i,
                f"{int(counts.iat[i, j])}\n"
                + textwrap.fill(
                    treatments.iat[i, j].replace("_", " "), width=12, break_long_words=False
                ),
                ha="center",
                va="center",
                fontsize=MATRIX_FONT_PT,
                linespacing=1.1,
                color=colour,
            )
    ax.set_xticks(range(len(grades)), grades, fontsize=10)
    ax.set_yticks(range(len(rows)), rows, fontsize=10)
    ax.set_xlabel("rating grade (best to worst)")
    ax.set_ylabel("value tier")
    ax.set_title("Customers and treatment per cell")
    fig.tight_layout()
    cells = formatted(matrix, {"exposure": MONEY, "clv": MONEY, "expected_loss_1y": MONEY})
    body = (
        paragraph(
            "Each customer sits in a cell of value tier x rating grade; the cell's risk band and treatment come from "
            "params.yaml (value.risk_bands, value.treatments)."
        )
        + figure(fig, alt="value-risk matrix")
        + "<h3>Customers</h3>"
        + table(counts.reset_index())
        + f"<h3>Exposure at default ({unit}, millions)</h3>"
        + table(formatted((exposure / 1e6).reset_index(), dict.fromkeys(grades, "{:,.1f}")))
        + "<h3>Treatments</h3>"
        + table(treatments.reset_index())
        + "<h3>All cells</h3>"
        + table(with_units(cells[cells["customers"] > 0], unit), top=12, rest="every cell")
    )
    return Section("Value-risk matrix", body)


def watch_section(
    watch_flags: pd.DataFrame,
    backtest: Mapping[str, Any],
    by_snapshot: pd.DataFrame,
    triggers: pd.DataFrame,
    definitions: Mapping[str, str],
    *,
    top: int,
) -> Section:
    """Trigger definitions, the list to act on, list size over time and the out-of-time backtest."""
    latest = watch_flags["snapshot_date"].max()
    now = watch_flags.loc[(watch_flags["snapshot_date"] == latest) & watch_flags["on_watch"]]
    now = now.sort_values("score", ascending=False)
    shown = now[
        ["customer_id", "score", "previous_score", "grade", "previous_grade", "triggers", "reasons"]
    ].head(top)
    sizes = watch_flags.groupby("snapshot_date", sort=True).agg(
        customers=("customer_id", "size"), on_watch=("on_watch", "sum")
    )
    trigger_columns = [c for c in watch_flags.columns if c.startswith("trigger_")]
    per_trigger = watch_flags.groupby("snapshot_date", sort=True)[trigger_columns].sum()
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.3))
    (sizes["on_watch"] / sizes["customers"]).plot(
        ax=ax[0], marker="o", title="share of customers on the watch list"
    )
    ax[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    per_trigger.rename(columns=lambda c: c.removeprefix("trigger_")).plot(
        ax=ax[1], title="customers per trigger"
    )
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    body = "<h3>Triggers</h3>" + table(
        pd.DataFrame(list(definitions.items()), columns=["trigger", "fires when"])
    )
    body += paragraph(
        f"The list to act on: {len(now):,} customers at {pd.Timestamp(latest).date()} "
        f"(the {min(top, len(now))} with the highest PD shown; the whole list is data/value/watch_list.parquet)."
    )
    body += table(
        formatted(shown, {"score": "{:.2%}", "previous_score": "{:.2%}"}),
        top=10,
        rest=f"the {len(shown)} customers listed",
    )
    body += figure(fig, alt="watch list over time")
    body += "<h3>Backtest on the out-of-time snapshots</h3>"
    if by_snapshot.empty:
        body += paragraph(
            "No out-of-time snapshot with a known 12-month outcome: nothing to backtest."
        )
    else:
        ratio = backtest.get("ratio")
        body += paragraph(
            f"Watch-listed customer-snapshots defaulted within 12 months at {_share(backtest.get('watch_default_rate'))}, "
            f"the rest at {_share(backtest.get('rest_default_rate'))}"
            + ("" if ratio is None or pd.isna(ratio) else f": {ratio:.1f} times as often")
            + f"; the list caught {_share(backtest.get('defaults_caught'))} of all defaults."
        )
        rates = {
            "watch_default_rate": "{:.2%}",
            "rest_default_rate": "{:.2%}",
            "ratio": "{:.1f}",
            "defaults_caught": SHARE,
        }
        body += table(
            formatted(by_snapshot.assign(snapshot_date=by_snapshot["snapshot_date"].dt.date), rates)
        )
        body += "<h3>Each trigger on its own</h3>"
        body += table(
            formatted(triggers, {"fired_share": SHARE, "default_rate": "{:.2%}", "lift": "{:.1f}"})
        )
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot(
            by_snapshot["snapshot_date"],
            by_snapshot["watch_default_rate"],
            marker="o",
            label="watch list",
            color="#c53030",
        )
        ax.plot(
            by_snapshot["snapshot_date"],
            by_snapshot["rest_default_rate"],
            marker="o",
            label="rest",
            color="#2b6cb0",
        )
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title("12-month default rate per out-of-time snapshot")
        ax.legend(fontsize=8)
        fig.tight_layout()
        body += figure(fig, alt="watch list backtest")
    return Section("Early-warning watch list", body)


def _by_slice(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per slice and one row per figure (the table has more figures than slices)."""
    shown = frame.astype({c: str for c in frame.columns})
    names = [
        f"{s} ({g})" if g != s else s for s, g in zip(shown["slice"], shown["group"], strict=True)
    ]
    out = shown.drop(columns=["slice", "group"]).T
    out.columns = names
    out.index.name = "figure"
    return out


def slices_section(slices: pd.DataFrame, unit: str = NO_CURRENCY) -> Section:
    """Green-finance and inclusive-finance lending beside the rest."""
    shown = formatted(
        slices,
        {
            "customer_share": SHARE,
            "exposure": MONEY,
            "exposure_share": SHARE,
            "clv": MONEY,
            "clv_share": SHARE,
            "clv_per_customer": MONEY,
            "mean_pd": "{:.2%}",
            "exposure_weighted_pd": "{:.2%}",
            "expected_loss_1y": MONEY,
            "loss_rate": "{:.2%}",
            "mean_churn_probability": "{:.1%}",
            "watch_share": SHARE,
        },
    )
    flagged = slices.loc[slices["group"] != "rest"]
    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(flagged))
    for k, (column, label) in enumerate(
        [("customer_share", "customers"), ("exposure_share", "exposure"), ("clv_share", "CLV")]
    ):
        ax.bar(x + (k - 1) * 0.25, flagged[column], width=0.25, label=label)
    ax.set_xticks(x, flagged["slice"].str.replace("_", " "))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8)
    ax.set_title("Share of the portfolio")
    fig.tight_layout()
    body = (
        paragraph(
            "Green-finance clients (customers.green_flag) and inclusive-finance clients (customers.inclusive_flag: "
            "the micro and small-firm programme) against the rest of the portfolio."
        )
        + table(_by_slice(with_units(shown, unit)), index=True)
        + figure(fig, alt="green and inclusive shares")
    )
    return Section("Green and inclusive finance", body)


def value_links(models: Sequence[str]) -> list[tuple[str, str | None]]:
    """Back to the front page and across to each model's reports (relative to reports/)."""
    links: list[tuple[str, str | None]] = [("Front page", "index.html")]
    for model in models:
        links += [
            (f"{model}: validation", f"{model}/validation.html"),
            (f"{model}: SHAP", f"{model}/shap.html"),
            (f"{model}: model card", f"{model}/model_card.html"),
        ]
    return links + [("Executed notebook", "notebooks/value.html")]


def value_report(
    result: ValueResult,
    params: ValueParams,
    *,
    watch_rows_shown: int = 50,
    currency: str | None = None,
    models: Sequence[str] = (),
) -> str:
    """The whole page as one self-contained HTML document, from ``evaluate_value``'s result.

    ``params`` are the settings the result was computed with; ``watch_rows_shown``
    customers of the latest watch list are listed. ``currency`` is the unit of every
    amount (the source's, ``data/raw/_source.json``; None: "units"); ``models`` are the
    models whose scores the page values (linked at the top with the front page).
    """
    unit = currency or NO_CURRENCY
    metrics = result.metrics
    assumptions = {k: getattr(params, k) for k in ASSUMPTIONS}
    sections = [
        headline_section(metrics, params.high_value_tiers, unit),
        rfm_section(result.customers, params.rfm_quantiles, unit),
        clv_section(
            result.customers,
            result.tiers,
            {**assumptions, "high_value_share": metrics["high_value_share"]},
            params.high_value_tiers,
            unit,
        ),
        indices_section(result.customers),
        matrix_section(result.matrix, params.tier_names, result.grades, unit),
        watch_section(
            result.flags,
            result.backtest,
            result.backtest_by_snapshot,
            result.trigger_table,
            result.trigger_definitions,
            top=watch_rows_shown,
        ),
        slices_section(result.slices, unit),
    ]
    subtitle = (
        f"Snapshot {metrics['snapshot_date']}: {metrics['customers']:,} customers scored by the credit "
        f"and churn models. Everything is computed from records before the snapshot. Amounts in {unit}."
    )
    return page(
        "Customer value, segments and the watch list",
        sections,
        subtitle=subtitle,
        links=value_links(models),
        here="Customer value report",
    )
