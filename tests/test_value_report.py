"""The value step on a small random portfolio: ``evaluate_value``, the page, the metrics and the notebook run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from research.config import parse_section, read_params
from research.reporting.html import external_references
from research.reporting.value_report import value_report
from research.value import (
    ValueParams,
    ValueResult,
    build_watch_flags,
    clv_split,
    customer_value,
    describe_triggers,
    early_warning_inputs,
    evaluate_value,
    grade_order,
    headline_metrics,
    portfolio_slices,
    tier_summary,
    trigger_summary,
    value_risk_matrix,
    watch_backtest,
)

ROOT = Path(__file__).resolve().parents[1]
GRADES = list("ABCDEFG")
UPPER_PD = [0.003, 0.007, 0.015, 0.03, 0.06, 0.12]


def random_portfolio(
    n: int = 60, seed: int = 7
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Raw tables, credit and churn scores and reason codes of ``n`` random customers over 2022-2024."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:03d}" for i in range(n)]
    risk = rng.uniform(0, 1, n)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": rng.choice(
                ["micro", "small", "medium", "large", "multinational", "project_spv"], n
            ),
            "industry": "technology",
            "region": "north",
            "onboarding_date": pd.to_datetime("2015-01-01")
            + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
            "relationship_end_date": pd.NaT,
            "green_flag": rng.uniform(size=n) < 0.2,
            "inclusive_flag": rng.uniform(size=n) < 0.3,
            "rm_id": "RM1",
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": [f"F{i:03d}" for i in range(n)],
            "customer_id": ids,
            "product": rng.choice(
                ["term_loan", "revolver", "project_finance", "trade_finance", "working_capital"], n
            ),
            "origination_date": pd.Timestamp("2021-06-01"),
            "maturity_date": pd.Timestamp("2030-01-01"),
            "close_date": pd.NaT,
            "limit_amount": rng.lognormal(13, 1, n),
            "interest_rate": rng.uniform(0.04, 0.08, n),
            "fee_rate": 0.005,
            "repayment_type": "amortising",
            "collateral_type": rng.choice(
                [
                    "unsecured",
                    "real_estate",
                    "receivables",
                    "equipment",
                    "project_assets",
                    "guarantee",
                ],
                n,
            ),
            "green_loan": False,
        }
    )
    months = pd.date_range("2021-06-30", "2024-12-31", freq="ME")
    balances = facilities[["facility_id", "customer_id", "limit_amount"]].merge(
        pd.DataFrame({"month_end": months}), how="cross"
    )
    balances["drawn_amount"] = balances["limit_amount"] * rng.uniform(0.3, 0.9, len(balances))
    repayments = balances[["facility_id", "customer_id", "month_end"]].rename(
        columns={"month_end": "due_date"}
    )
    repayments["amount_due"] = 1000.0
    late = rng.uniform(size=len(repayments)) < np.repeat(risk, len(months)) * 0.1
    repayments["paid_date"] = repayments["due_date"] + pd.to_timedelta(
        np.where(late, 45, 0), unit="D"
    )
    repayments["amount_paid"] = 1000.0
    k = n * 36 * 4
    transactions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, k),
            "timestamp": pd.Timestamp("2022-01-01")
            + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, k), unit="h"),
            "amount": rng.normal(1000, 3000, k),
            "channel": "online_banking",
            "category": "other_inflow",
        }
    )
    m = n * 30
    interactions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, m),
            "timestamp": pd.Timestamp("2022-01-01")
            + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, m), unit="h"),
            "channel": "phone",
            "interaction_type": rng.choice(
                ["inquiry", "complaint", "survey", "service_request"], m
            ),
            "response_hours": rng.exponential(20, m),
            "satisfaction_score": rng.integers(1, 6, m).astype(float),
        }
    )
    financials = pd.DataFrame(
        {
            "customer_id": ids,
            "period_end": pd.Timestamp("2022-12-31"),
            "reported_date": pd.Timestamp("2023-04-30"),
            "revenue": 1e6,
            "ebitda": rng.normal(20000, 15000, n),
            "total_debt": 5e5,
            "interest_expense": 2e4,
            "current_assets": 1e5,
            "current_liabilities": 1e5,
            "cash": 1e4,
            "cfads": np.nan,
            "debt_service": np.nan,
        }
    )
    tables = {
        "customers": customers,
        "facilities": facilities,
        "facility_balances": balances,
        "repayments": repayments,
        "transactions": transactions,
        "interactions": interactions,
        "financials": financials,
    }
    snapshots = pd.date_range("2023-01-01", "2024-10-01", freq="QS")
    split = {
        s: (
            "latest"
            if s == snapshots[-1]
            else "oot"
            if s >= pd.Timestamp("2023-07-01")
            else "train"
        )
        for s in snapshots
    }
    rows = pd.DataFrame(
        [(c, s) for s in snapshots for c in ids], columns=["customer_id", "snapshot_date"]
    )
    rows["split"] = rows["snapshot_date"].map(split)
    drift = rng.normal(0, 0.5, len(rows))
    score = 1 / (1 + np.exp(-(np.tile(risk, len(snapshots)) * 6 - 6 + drift)))
    credit = rows.assign(
        score=score,
        raw_score=score,
        margin=0.0,
        challenger_score=score,
        label=np.where(
            rows["split"] == "latest", np.nan, (rng.uniform(size=len(rows)) < score).astype(float)
        ),
        grade=np.asarray(GRADES)[np.searchsorted(UPPER_PD, score)],
    )
    churn = rows.assign(score=rng.uniform(0.02, 0.3, len(rows)), label=np.nan, decile=1)
    reasons = credit.loc[credit["split"].isin(["oot", "latest"]), ["customer_id", "snapshot_date"]]
    reasons = reasons.merge(pd.DataFrame({"rank": [1, 2, 3, 4]}), how="cross")
    reasons = reasons.assign(
        feature="rep_dpd_max_3m",
        value=1.0,
        shap=0.1,
        sentence="days past due rose (rank " + reasons["rank"].astype(str) + ")",
    )
    return tables, credit, churn, reasons


def value_params() -> ValueParams:
    """The ``value`` settings of params.yaml."""
    return parse_section("value", read_params(ROOT / "params.yaml")["value"])


def _run_stage(tables, credit, churn, reasons) -> tuple[ValueResult, str]:
    params = value_params()
    result = evaluate_value(
        tables,
        credit,
        churn,
        reasons,
        params=params,
        default_horizon_months=12,
        churn_horizon_months=12,
    )
    return result, value_report(result, params)


def _step_by_step(tables, credit, churn, reasons, params: ValueParams) -> dict:
    """What ``evaluate_value`` computes, one function at a time."""
    w = params.watch
    grades = grade_order(credit)
    inputs = early_warning_inputs(
        tables, credit["snapshot_date"].unique(), window_months=w.window_months
    )
    flags = build_watch_flags(credit, inputs, reasons, grades=grades, params=w)
    backtest, by_snapshot = watch_backtest(flags, split="oot")
    latest = credit.loc[credit["split"] == "latest", "snapshot_date"].max()
    cv = customer_value(
        tables,
        credit,
        churn,
        flags,
        snapshot=latest,
        params=params,
        default_horizon_months=12,
        churn_horizon_months=12,
    )
    slices = portfolio_slices(cv)
    return {
        "grades": grades,
        "latest": latest,
        "trigger_inputs": inputs,
        "flags": flags,
        "trigger_definitions": describe_triggers(w),
        "backtest": backtest,
        "backtest_by_snapshot": by_snapshot,
        "trigger_table": trigger_summary(flags, split="oot"),
        "customers": cv,
        "clv_by_tier": clv_split(cv, by="value_tier").reindex(params.tier_names[::-1]),
        "tiers": tier_summary(cv, tier_names=params.tier_names),
        "matrix": value_risk_matrix(
            cv,
            tier_names=params.tier_names,
            grades=grades,
            risk_bands=params.risk_bands,
            treatments=params.treatments,
        ),
        "slices": slices,
        "metrics": headline_metrics(
            cv, backtest=backtest, slices=slices, high_value_tiers=params.high_value_tiers
        ),
    }


@pytest.fixture(scope="module")
def portfolio():
    return random_portfolio()


@pytest.fixture(scope="module")
def stage_run(portfolio):
    return _run_stage(*portfolio)


def test_evaluate_value_equals_the_steps_one_by_one(portfolio, stage_run):
    result, _ = stage_run
    expected = _step_by_step(*portfolio, value_params())
    assert {f.name for f in dataclasses.fields(ValueResult)} == set(expected)
    for name, want in expected.items():
        got = getattr(result, name)
        if isinstance(want, pd.DataFrame):
            pdt.assert_frame_equal(got, want, check_exact=True, obj=name)
        else:
            assert json.dumps(got, default=str) == json.dumps(want, default=str), name
    pdt.assert_frame_equal(result.watch_list, expected["flags"].loc[expected["flags"]["on_watch"]])
    assert result.triggers_by_snapshot["on_watch"].sum() == expected["flags"]["on_watch"].sum()


def test_page_is_reproducible(portfolio, stage_run):
    _, html = stage_run
    again = evaluate_value(
        *portfolio, params=value_params(), default_horizon_months=12, churn_horizon_months=12
    )
    assert value_report(again, value_params()) == html


def test_value_table_covers_every_scored_customer(stage_run):
    result, _ = stage_run
    cv, flags, matrix, metrics = result.customers, result.flags, result.matrix, result.metrics
    assert len(cv) == 60 and cv["customer_id"].is_unique
    assert cv["clv"].notna().all() and cv["treatment"].notna().all()
    assert matrix["customers"].sum() == 60 and len(matrix) == 4 * 7
    assert np.isclose(matrix["exposure"].sum(), cv["exposure"].sum())
    parts = (
        cv["gross_margin"]
        - cv["churn_attrition"]
        - cv["default_attrition"]
        - cv["expected_credit_loss"]
    )
    assert np.allclose(parts, cv["clv"])
    assert metrics["customers"] == 60
    assert metrics["watch_list"]["size"] == int(
        flags.loc[flags["snapshot_date"] == flags["snapshot_date"].max(), "on_watch"].sum()
    )


def test_metrics_are_plain_json(stage_run):
    result, _ = stage_run
    text = json.dumps(result.metrics, allow_nan=False)
    assert {
        "total_clv",
        "high_value_share",
        "watch_list",
        "watch_backtest_oot",
        "green_finance",
        "inclusive_finance",
    } <= set(json.loads(text))


def test_page_is_self_contained_and_documents_the_indices(stage_run):
    _, html = stage_run
    assert external_references(html) == []
    for text in (
        "Satisfaction index",
        "Loyalty index",
        "complaint_free",
        "contact_regularity",
        "Value-risk matrix",
        "Early-warning watch list",
        "Backtest on the out-of-time snapshots",
        "Green and inclusive finance",
        "data:image/png;base64",
    ):
        assert text in html, text


@pytest.mark.slow
def test_value_notebook_runs_on_a_small_project(tmp_path):
    """The committed notebook, executed by papermill with params.yaml, writes every output of the stage."""
    pytest.importorskip("papermill")
    from research.data.io import write_tables
    from research.stages.notebook import run_notebook

    tables, credit, churn, reasons = random_portfolio()
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copy(ROOT / "notebooks" / "value.ipynb", root / "notebooks" / "value.ipynb")
    write_tables(tables, root / "data" / "raw")
    (root / "data" / "scores").mkdir(parents=True)
    credit.to_parquet(root / "data" / "scores" / "credit.parquet", index=False)
    churn.to_parquet(root / "data" / "scores" / "churn.parquet", index=False)
    reasons.to_parquet(root / "data" / "scores" / "credit_reason_codes.parquet", index=False)
    run_notebook("value", root=root, html=False)
    for rel in (
        "reports/value.html",
        "metrics/value.json",
        "data/value/customer_value.parquet",
        "data/value/watch_list.parquet",
        "data/value/value_risk_matrix.parquet",
    ):
        assert (root / rel).exists(), rel
    assert external_references((root / "reports" / "value.html").read_text()) == []
    executed = nbformat.read(root / "reports" / "notebooks" / "value.ipynb", as_version=4)
    assert any(
        "watch-listed" in "".join(o.get("text", ""))
        for c in executed.cells
        for o in c.get("outputs", [])
    )
    metrics = json.loads((root / "metrics" / "value.json").read_text())
    assert metrics["customers"] == 60 and "ratio" in metrics["watch_backtest_oot"]
    assert len(pd.read_parquet(root / "data" / "value" / "value_risk_matrix.parquet")) == 4 * 7


def test_customers_table_alone_is_enough():
    """Only ``customers`` is mandatory: without the other tables every customer gets a (zero-margin) value row."""
    tables, credit, churn, reasons = random_portfolio(n=12)
    result, html = _run_stage({"customers": tables["customers"]}, credit, churn, reasons.iloc[0:0])
    cv = result.customers
    assert len(cv) == 12 and (cv["exposure"] == 0).all() and (cv["clv"] == 0).all()
    assert cv["satisfaction_index"].isna().all() and cv["loyalty_index"].gt(0).all()
    assert set(cv["rfm_segment"]) == {"lost"}
    assert external_references(html) == []


def test_amounts_carry_the_currency_and_the_page_links_back_and_across(portfolio):
    from research.reporting.value_report import MATRIX_FONT_PT

    tables, credit, churn, reasons = portfolio
    params = value_params()
    result = evaluate_value(
        tables,
        credit,
        churn,
        reasons,
        params=params,
        default_horizon_months=12,
        churn_horizon_months=12,
    )
    page = value_report(result, params, currency="EUR", models=["credit", "churn"])
    assert "Amounts in EUR." in page
    assert "exposure (EUR)" in page and "clv (EUR)" in page
    assert "Exposure at default (EUR, millions)" in page
    for href in (
        "index.html",
        "credit/validation.html",
        "churn/shap.html",
        "credit/model_card.html",
    ):
        assert f'href="{href}"' in page, href
    assert external_references(page) == []
    # without a currency (the synthetic portfolio) amounts are in "units"
    assert "exposure (units)" in value_report(result, params)
    # readable matrix labels: at least 11 px at the page's 96 dpi
    assert MATRIX_FONT_PT * 96 / 72 >= 11


def test_axis_amounts_read_in_thousands_millions_and_billions():
    from research.reporting.html import short_amount

    assert [short_amount(v) for v in (0, 850, 12_500, 3_200_000, 1_450_000_000, -2e9)] == [
        "0",
        "850",
        "12.5k",
        "3.2m",
        "1.45bn",
        "-2bn",
    ]
