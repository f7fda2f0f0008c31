"""The value stage on a small random portfolio: the page, the metrics and the notebook run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from research.config import load_settings
from research.reporting.html import external_references
from research.reporting.value_report import value_report
from research.value import (
    build_watch_flags,
    customer_value,
    describe_triggers,
    early_warning_inputs,
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


def random_portfolio(n: int = 60, seed: int = 7) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Raw tables, credit and churn scores and reason codes of ``n`` random customers over 2022-2024."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:03d}" for i in range(n)]
    risk = rng.uniform(0, 1, n)
    customers = pd.DataFrame({
        "customer_id": ids,
        "segment": rng.choice(["micro", "small", "medium", "large", "multinational", "project_spv"], n),
        "industry": "technology", "region": "north",
        "onboarding_date": pd.to_datetime("2015-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
        "relationship_end_date": pd.NaT,
        "green_flag": rng.uniform(size=n) < 0.2, "inclusive_flag": rng.uniform(size=n) < 0.3, "rm_id": "RM1",
    })
    facilities = pd.DataFrame({
        "facility_id": [f"F{i:03d}" for i in range(n)], "customer_id": ids,
        "product": rng.choice(["term_loan", "revolver", "project_finance", "trade_finance", "working_capital"], n),
        "origination_date": pd.Timestamp("2021-06-01"), "maturity_date": pd.Timestamp("2030-01-01"), "close_date": pd.NaT,
        "limit_amount": rng.lognormal(13, 1, n), "interest_rate": rng.uniform(0.04, 0.08, n), "fee_rate": 0.005,
        "repayment_type": "amortising",
        "collateral_type": rng.choice(["unsecured", "real_estate", "receivables", "equipment", "project_assets", "guarantee"], n),
        "green_loan": False,
    })
    months = pd.date_range("2021-06-30", "2024-12-31", freq="ME")
    balances = facilities[["facility_id", "customer_id", "limit_amount"]].merge(pd.DataFrame({"month_end": months}), how="cross")
    balances["drawn_amount"] = balances["limit_amount"] * rng.uniform(0.3, 0.9, len(balances))
    repayments = balances[["facility_id", "customer_id", "month_end"]].rename(columns={"month_end": "due_date"})
    repayments["amount_due"] = 1000.0
    late = rng.uniform(size=len(repayments)) < np.repeat(risk, len(months)) * 0.1
    repayments["paid_date"] = repayments["due_date"] + pd.to_timedelta(np.where(late, 45, 0), unit="D")
    repayments["amount_paid"] = 1000.0
    k = n * 36 * 4
    transactions = pd.DataFrame({
        "customer_id": rng.choice(ids, k),
        "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, k), unit="h"),
        "amount": rng.normal(1000, 3000, k), "channel": "online_banking", "category": "other_inflow",
    })
    m = n * 30
    interactions = pd.DataFrame({
        "customer_id": rng.choice(ids, m),
        "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, m), unit="h"),
        "channel": "phone", "interaction_type": rng.choice(["inquiry", "complaint", "survey", "service_request"], m),
        "response_hours": rng.exponential(20, m), "satisfaction_score": rng.integers(1, 6, m).astype(float),
    })
    financials = pd.DataFrame({
        "customer_id": ids, "period_end": pd.Timestamp("2022-12-31"), "reported_date": pd.Timestamp("2023-04-30"),
        "revenue": 1e6, "ebitda": rng.normal(20000, 15000, n), "total_debt": 5e5, "interest_expense": 2e4,
        "current_assets": 1e5, "current_liabilities": 1e5, "cash": 1e4, "cfads": np.nan, "debt_service": np.nan,
    })
    tables = {"customers": customers, "facilities": facilities, "facility_balances": balances, "repayments": repayments,
              "transactions": transactions, "interactions": interactions, "financials": financials}
    snapshots = pd.date_range("2023-01-01", "2024-10-01", freq="QS")
    split = {s: ("latest" if s == snapshots[-1] else "oot" if s >= pd.Timestamp("2023-07-01") else "train") for s in snapshots}
    rows = pd.DataFrame([(c, s) for s in snapshots for c in ids], columns=["customer_id", "snapshot_date"])
    rows["split"] = rows["snapshot_date"].map(split)
    drift = rng.normal(0, 0.5, len(rows))
    score = 1 / (1 + np.exp(-(np.tile(risk, len(snapshots)) * 6 - 6 + drift)))
    credit = rows.assign(score=score, raw_score=score, margin=0.0, challenger_score=score,
                         label=np.where(rows["split"] == "latest", np.nan, (rng.uniform(size=len(rows)) < score).astype(float)),
                         grade=np.asarray(GRADES)[np.searchsorted(UPPER_PD, score)])
    churn = rows.assign(score=rng.uniform(0.02, 0.3, len(rows)), label=np.nan, decile=1)
    reasons = credit.loc[credit["split"].isin(["oot", "latest"]), ["customer_id", "snapshot_date"]]
    reasons = reasons.merge(pd.DataFrame({"rank": [1, 2, 3, 4]}), how="cross")
    reasons = reasons.assign(feature="rep_dpd_max_3m", value=1.0, shap=0.1,
                             sentence="days past due rose (rank " + reasons["rank"].astype(str) + ")")
    return tables, credit, churn, reasons


def _run_stage(tables, credit, churn, reasons):
    v = load_settings().value
    w = v.watch
    grades = grade_order(credit)
    inputs = early_warning_inputs(tables, credit["snapshot_date"].unique(), window_months=w.window_months)
    thresholds = {k: getattr(w, k) for k in ("pd_rise", "grade_notches", "dpd_days", "inflow_drop", "dscr_covenant",
                                              "statement_overdue_days", "complaints")}
    flags = build_watch_flags(credit, inputs, reasons, grades=grades, reason_codes_top=w.reason_codes, **thresholds)
    latest = credit["snapshot_date"].max()
    cv = customer_value(
        tables, credit, churn, flags, snapshot=latest, window_months=v.activity_window_months, rfm_quantiles=v.rfm_quantiles,
        horizon_years=v.horizon_years, discount_rate=v.discount_rate, funding_cost=v.funding_cost,
        payments_margin=v.payments_margin, ccf=v.ccf, collateral_lgd=v.lgd.collateral,
        product_adjustment=v.lgd.product_adjustment, tier_cuts=v.value_tiers, tier_names=v.tier_names,
        risk_bands=v.risk_bands, treatments=v.treatments,
        response_target_hours=v.satisfaction.response_target_hours, satisfaction_weights=v.satisfaction.weights,
        tenure_cap_years=v.loyalty.tenure_cap_years, product_breadth_cap=v.loyalty.product_breadth_cap,
        loyalty_weights=v.loyalty.weights, default_horizon_months=12, churn_horizon_months=12,
    )
    matrix = value_risk_matrix(cv, tier_names=v.tier_names, grades=grades, risk_bands=v.risk_bands, treatments=v.treatments)
    slices = portfolio_slices(cv)
    backtest, by_snapshot = watch_backtest(flags)
    metrics = headline_metrics(cv, backtest=backtest, slices=slices, high_value_tiers=v.high_value_tiers)
    html = value_report(
        cv, metrics=metrics, tiers=tier_summary(cv, tier_names=v.tier_names), matrix=matrix, slices=slices,
        watch_flags=flags, backtest=backtest, backtest_by_snapshot=by_snapshot, trigger_table=trigger_summary(flags),
        trigger_definitions=describe_triggers(**thresholds, window_months=w.window_months), grades=grades,
        tier_names=v.tier_names, high_value_tiers=v.high_value_tiers, rfm_quantiles=v.rfm_quantiles,
        assumptions={k: getattr(v, k) for k in ("horizon_years", "discount_rate", "funding_cost", "payments_margin", "ccf", "value_tiers")},
    )
    return cv, flags, matrix, metrics, html


@pytest.fixture(scope="module")
def stage_run():
    return _run_stage(*random_portfolio())


def test_value_table_covers_every_scored_customer(stage_run):
    cv, flags, matrix, metrics, _ = stage_run
    assert len(cv) == 60 and cv["customer_id"].is_unique
    assert cv["clv"].notna().all() and cv["treatment"].notna().all()
    assert matrix["customers"].sum() == 60 and len(matrix) == 4 * 7
    assert np.isclose(matrix["exposure"].sum(), cv["exposure"].sum())
    parts = cv["gross_margin"] - cv["churn_attrition"] - cv["default_attrition"] - cv["expected_credit_loss"]
    assert np.allclose(parts, cv["clv"])
    assert metrics["customers"] == 60
    assert metrics["watch_list"]["size"] == int(flags.loc[flags["snapshot_date"] == flags["snapshot_date"].max(), "on_watch"].sum())


def test_metrics_are_plain_json(stage_run):
    _, _, _, metrics, _ = stage_run
    text = json.dumps(metrics, allow_nan=False)
    assert {"total_clv", "high_value_share", "watch_list", "watch_backtest_oot", "green_finance", "inclusive_finance"} <= set(json.loads(text))


def test_page_is_self_contained_and_documents_the_indices(stage_run):
    *_, html = stage_run
    assert external_references(html) == []
    for text in ("Satisfaction index", "Loyalty index", "complaint_free", "contact_regularity", "Value-risk matrix",
                 "Early-warning watch list", "Backtest on the out-of-time snapshots", "Green and inclusive finance",
                 "data:image/png;base64"):
        assert text in html, text


@pytest.mark.slow
def test_value_notebook_runs_on_a_small_project(tmp_path):
    """The committed notebook, executed by papermill with params.yaml, writes every output of the stage."""
    pytest.importorskip("papermill")
    from research.data.io import write_tables
    from research.stages import run_notebook

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
    (root / "reports" / "credit").mkdir(parents=True)
    reasons.to_parquet(root / "reports" / "credit" / "reason_codes.parquet", index=False)
    run_notebook("value", root=root, html=False)
    for rel in ("reports/value.html", "metrics/value.json", "data/value/customer_value.parquet",
                "data/value/watch_list.parquet", "data/value/value_risk_matrix.parquet"):
        assert (root / rel).exists(), rel
    assert external_references((root / "reports" / "value.html").read_text()) == []
    executed = nbformat.read(root / "reports" / "notebooks" / "value.ipynb", as_version=4)
    assert any("watch-listed" in "".join(o.get("text", "")) for c in executed.cells for o in c.get("outputs", []))
    metrics = json.loads((root / "metrics" / "value.json").read_text())
    assert metrics["customers"] == 60 and "ratio" in metrics["watch_backtest_oot"]
    assert len(pd.read_parquet(root / "data" / "value" / "value_risk_matrix.parquet")) == 4 * 7


def test_customers_table_alone_is_enough():
    """Only ``customers`` is mandatory: without the other tables every customer gets a (zero-margin) value row."""
    tables, credit, churn, reasons = random_portfolio(n=12)
    cv, flags, matrix, metrics, html = _run_stage({"customers": tables["customers"]}, credit, churn, reasons.iloc[0:0])
    assert len(cv) == 12 and (cv["exposure"] == 0).all() and (cv["clv"] == 0).all()
    assert cv["satisfaction_index"].isna().all() and cv["loyalty_index"].gt(0).all()
    assert set(cv["rfm_segment"]) == {"lost"}
    assert external_references(html) == []
