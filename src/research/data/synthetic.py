"""A seeded synthetic corporate-lending portfolio, and the ground truth behind it.

``generate_portfolio`` simulates a bank's book month by month, vectorised over
customers, and returns the tables of the input contract (``research.data.contract``)
together with the truth no modeling stage may read.

What drives what (the coefficients live in :class:`GeneratorCoefficients`):

* Each customer carries two latent states, independent stationary AR(1) processes
  with unit variance: credit quality ``x`` and engagement ``e``. The environment is
  a deterministic macro path (a 2020-21 downturn, calm from mid-2022; the
  ``downturn`` scenario adds a recession from mid-2023 and a credit crunch the
  clients' behaviour does not show) and one factor per industry. Effective credit
  quality ``q = x + environment_weight * industry condition`` drives the distress
  hazard and every credit observable, so a downturn is visible in the data.
* Every month a customer who is neither distressed nor gone may fall into distress
  (hazard rising as ``q`` falls, by segment and industry) and otherwise may leave
  (hazard rising as ``e`` falls; by segment, region, inclusive programme and for new
  relationships). Distress stops all payments: the first missed instalment reaches
  ``default_dpd`` days past due on the default date, the default event; a defaulted
  relationship stays open (workout) but its records stop. Leaving is
  ``customers.relationship_end_date``. Neither is a label column.
* Every table is a noisy view of the latent states: late and partial payments,
  revolving utilisation, outflows against inflows, statement ratios, reporting lags
  and loan pricing follow ``q``; transaction and interaction activity, digital use,
  satisfaction and withdrawn applications follow ``e``; complaints and declined
  applications follow both; current-account balances hold a liquidity buffer that
  scales with the firm's revenue, grows with ``q`` (and a little with ``e``) and
  drains month by month in distress, with noise of its own (balances never feed a
  hazard, so the oracle is unchanged). The noise is drawn afresh for every record and month, so
  a year of history pins the state down well while any single quantity stays a weak
  view of it. Clients already on the books at the start are survivors: their states
  come from a burn-in that neither churned nor defaulted, so event rates are steady.

The truth holds the monthly latent states, the environment, the events and the
oracle: for every customer and month start ``s`` on the books, the probability of
default and of churn within the label windows given the state known at ``s`` (the
states of the month before, the customer's attributes and the environment),
computed exactly on a grid (``research.data._oracle``).

Book first, then blocks of firms. What couples firms is drawn once for the whole book:
the environment, the clients' static attributes (and their numbering in onboarding
order) and the hazard intercepts. Everything else belongs to one firm, so it is simulated
block by block: firms ``[b * block_firms, (b + 1) * block_firms)`` of the book take their
own random streams from ``SeedSequence(seed, spawn_key=(_BLOCK_KEY, b))``, whatever the
number of worker processes and however many blocks are held in memory at once.
``write_portfolio`` appends each block to the Parquet files (one row group per block and
table) and frees it, so memory is bounded by a block, not by the book, and the bytes are
the same for any worker count. Ids of facilities and applications run on across blocks.
The change of stream: up to commit 8c3042f every mechanism drew from one stream for the
whole book; since then only the environment and the static attributes do (the customers
and environment tables are unchanged), and every other table, the truth included, comes
from the per-block streams, so the same seed gives other (equally distributed) figures
than before.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import multiprocessing
import os
import pickle
import sys
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit
from tqdm import tqdm

from research.data import _oracle
from research.data.contract import (
    COLLATERAL_TYPES,
    DECISIONS,
    DIGITAL_INTERACTION_CHANNELS,
    INDUSTRIES,
    INTERACTION_CHANNELS,
    INTERACTION_TYPES,
    PRODUCTS,
    REGIONS,
    REPAYMENT_TYPES,
    SEGMENTS,
    TABLES,
    TRANSACTION_CATEGORIES,
    TRANSACTION_CHANNELS,
)

SCENARIOS = ("baseline", "downturn")

MICRO, SMALL, MEDIUM, LARGE, MULTINATIONAL, PROJECT_SPV = range(len(SEGMENTS))
TERM_LOAN, REVOLVER, PROJECT_FINANCE, TRADE_FINANCE, WORKING_CAPITAL = range(len(PRODUCTS))
AMORTISING, BULLET, REVOLVING, SCULPTED = range(len(REPAYMENT_TYPES))
APPROVED, DECLINED, WITHDRAWN = range(len(DECISIONS))
COMPLAINT, SURVEY = INTERACTION_TYPES.index("complaint"), INTERACTION_TYPES.index("survey")
ENERGY = INDUSTRIES.index("energy_renewables")

_NEVER = np.iinfo(np.int64).max // 4  # day or month of an event that does not happen
_SECONDS_PER_DAY = 86_400
_DIGITAL_TREND_ORIGIN = "2019-01"  # digital adoption is measured in years since this month

# Macro factor knots (month, level), linear in between and flat outside.
_MACRO_KNOTS = {
    "baseline": (("2020-02", 0.0), ("2020-06", -1.5), ("2021-06", -1.5), ("2022-06", 0.0)),
    "downturn": (
        ("2020-02", 0.0),
        ("2020-06", -1.5),
        ("2021-06", -1.5),
        ("2022-06", 0.0),
        ("2023-03", 0.0),
        ("2023-07", -1.5),
        ("2024-12", -1.5),
        ("2025-09", 0.0),
    ),
}
# Credit conditions the client's own behaviour does not show (tight lending, supply
# chains): only the downturn scenario has them, which is what miscalibrates a model
# trained on the development period.
_CRUNCH_KNOTS = {
    "baseline": (),
    "downturn": (("2023-03", 0.0), ("2023-07", -1.5), ("2024-12", -1.5), ("2025-09", 0.0)),
}
_BASE_RATE_KNOTS = (("2022-03", 0.0), ("2023-06", 0.035))  # policy rate under loan pricing

_INDUSTRY_MIX = (0.07, 0.16, 0.12, 0.18, 0.09, 0.05, 0.08, 0.10, 0.07, 0.08)
_SPV_INDUSTRY_MIX = (0.0, 0.0, 0.0, 0.0, 0.15, 0.60, 0.20, 0.0, 0.05, 0.0)
_REGION_MIX = (0.20, 0.20, 0.17, 0.17, 0.20, 0.06)
_MULTINATIONAL_REGION_MIX = (0.09, 0.09, 0.085, 0.085, 0.30, 0.35)
# Product requested in an application, by segment (columns follow PRODUCTS).
_APPLICATION_PRODUCTS = (
    (0.50, 0.15, 0.00, 0.00, 0.35),
    (0.50, 0.20, 0.00, 0.05, 0.25),
    (0.50, 0.25, 0.00, 0.15, 0.10),
    (0.45, 0.25, 0.00, 0.30, 0.00),
    (0.40, 0.30, 0.00, 0.30, 0.00),
    (0.20, 0.00, 0.60, 0.00, 0.20),
)
# Collateral by product (columns follow COLLATERAL_TYPES).
_COLLATERAL = (
    (0.25, 0.35, 0.00, 0.25, 0.00, 0.15),
    (0.50, 0.10, 0.30, 0.00, 0.00, 0.10),
    (0.00, 0.00, 0.00, 0.00, 1.00, 0.00),
    (0.30, 0.00, 0.60, 0.00, 0.00, 0.10),
    (0.30, 0.00, 0.50, 0.00, 0.00, 0.20),
)
# Digital transaction channels (online banking, mobile app, host-to-host) and
# non-digital ones (branch, SWIFT) by segment; columns follow TRANSACTION_CHANNELS.
_DIGITAL_CHANNELS = (
    (0.0, 0.45, 0.55, 0.00, 0.0),
    (0.0, 0.55, 0.40, 0.05, 0.0),
    (0.0, 0.60, 0.25, 0.15, 0.0),
    (0.0, 0.45, 0.10, 0.45, 0.0),
    (0.0, 0.30, 0.05, 0.65, 0.0),
    (0.0, 0.70, 0.10, 0.20, 0.0),
)
_OTHER_CHANNELS = (
    (0.97, 0.0, 0.0, 0.0, 0.03),
    (0.92, 0.0, 0.0, 0.0, 0.08),
    (0.75, 0.0, 0.0, 0.0, 0.25),
    (0.45, 0.0, 0.0, 0.0, 0.55),
    (0.25, 0.0, 0.0, 0.0, 0.75),
    (0.60, 0.0, 0.0, 0.0, 0.40),
)
# Categories of inflows and outflows (columns follow TRANSACTION_CATEGORIES).
_CATEGORIES = (
    (0.0, 0.0, 0.45, 0.25, 0.10, 0.10, 0.10),
    (0.85, 0.15, 0.0, 0.0, 0.0, 0.0, 0.0),
)
# Interaction types other than complaints and surveys (columns follow INTERACTION_TYPES).
_ROUTINE_INTERACTIONS = ((0.45, 0.0, 0.30, 0.08, 0.17, 0.0),)


@dataclass(frozen=True)
class GeneratorCoefficients:
    """Every number that shapes the synthetic portfolio, in one place.

    Tuples by segment follow ``SEGMENTS`` (micro, small, medium, large, multinational,
    project_spv); tuples by industry follow ``INDUSTRIES``; by product ``PRODUCTS``;
    by interaction channel ``INTERACTION_CHANNELS``. "Slope" is the change of a
    log-odds or log quantity per unit of a latent state (a standard deviation);
    "noise" the standard deviation of fresh Gaussian noise on the same scale.
    """

    # --- the book ------------------------------------------------------------------
    segment_shares: tuple[float, ...] = (0.30, 0.30, 0.20, 0.10, 0.04, 0.06)
    new_customer_share: float = 0.30  # onboarded during the history, the rest before it
    mean_tenure_years: float = 6.0  # tenure at the start of the history (exponential)
    max_tenure_years: float = 15.0
    max_spv_tenure_years: float = 8.0
    customers_per_rm: int = 60
    green_share: float = 0.10
    green_share_energy: float = 0.60
    inclusive_share: float = 0.40  # of micro and small clients
    revenue_median: tuple[float, ...] = (0.8e6, 4e6, 25e6, 150e6, 1.2e9, 40e6)
    revenue_dispersion: float = 0.6  # lognormal sd of annual revenue within a segment

    # --- latent states and environment ---------------------------------------------
    credit_persistence: float = 0.985  # monthly AR(1) coefficient of credit quality
    engagement_persistence: float = 0.985
    environment_weight: float = 0.5  # effective quality = x + weight * industry condition
    industry_macro_sensitivity: tuple[float, ...] = (
        0.4,
        0.7,
        1.1,
        0.7,
        0.9,
        0.3,
        1.0,
        0.5,
        0.2,
        1.4,
    )
    industry_factor_persistence: float = 0.85
    industry_factor_sd: float = 0.3
    calm_from: str = "2022-07"  # industry factors are damped from this month on
    calm_industry_scale: float = 0.25

    # --- distress (default) and churn hazards ---------------------------------------
    annual_default_rate: tuple[float, ...] = (0.06, 0.035, 0.018, 0.008, 0.003, 0.012)
    industry_default_offset: tuple[float, ...] = (
        0.3,
        0.0,
        0.6,
        0.0,
        0.15,
        -0.4,
        0.3,
        0.1,
        -0.5,
        0.8,
    )
    default_quality_slope: float = 1.0
    credit_crunch_slope: float = 0.5
    annual_churn_rate: tuple[float, ...] = (
        0.16,
        0.1,
        0.065,
        0.04,
        0.025,
        0.02,
    )  # established, domestic, not inclusive
    churn_inclusive_offset: float = -1.1  # programme clients stay
    churn_region_offset: tuple[float, ...] = (
        0.0,
        0.0,
        0.0,
        0.0,
        0.3,
        1.1,
    )  # by REGIONS: international clients roam
    new_client_months: int = 24  # a relationship is fragile in its first months
    new_client_churn_offset: float = 1.2
    churn_engagement_slope: float = 1.0

    # --- facilities ----------------------------------------------------------------
    working_capital_share: float = 0.6  # micro and small clients whose core line is working capital
    spv_working_capital_share: float = 0.5
    trade_finance_share: tuple[float, ...] = (0.0, 0.05, 0.20, 0.50, 0.70, 0.0)
    term_loan_share: tuple[float, ...] = (0.50, 0.55, 0.60, 0.50, 0.40, 0.0)
    bullet_share: float = 0.3  # term loans of large and multinational clients repaid at maturity
    limit_share: tuple[float, ...] = (
        0.25,
        0.12,
        2.5,
        0.08,
        0.10,
    )  # limit / annual revenue by product
    product_spread: tuple[float, ...] = (0.020, 0.018, 0.022, 0.012, 0.025)
    segment_spread: tuple[float, ...] = (0.015, 0.010, 0.005, 0.0, -0.003, 0.002)
    spread_quality_slope: float = 0.012  # extra spread per sd of weaker quality at origination
    spread_noise: float = 0.0015
    fee_rate: tuple[float, ...] = (0.0075, 0.004, 0.010, 0.003, 0.005)
    green_loan_share: tuple[float, float, float] = (
        0.03,
        0.50,
        0.80,
    )  # other, green client, energy project

    # --- repayments (one instalment per open facility and month end) ----------------
    late_intercept: tuple[float, ...] = (-2.4, -2.6, -2.9, -3.2, -3.6, -3.2)
    late_quality_slope: float = 2.2
    days_late_log_mean: float = 1.6
    days_late_quality_slope: float = 0.8
    max_days_late: int = 75  # an ordinary late payment never reaches default
    partial_intercept: float = -3.0
    partial_quality_slope: float = 0.7
    early_payment_days: float = 1.0

    # --- revolving utilisation --------------------------------------------------------
    utilisation_intercept: tuple[float, ...] = (0.2, 0.0, -0.2, -0.4, -0.7, -0.2)
    utilisation_quality_slope: float = 0.7
    utilisation_noise: float = 0.65
    distress_utilisation_shift: float = 2.5

    # --- account transactions -----------------------------------------------------------
    transaction_segment_scale: tuple[float, ...] = (0.6, 0.8, 1.2, 1.8, 2.5, 0.5)
    transaction_engagement_slope: float = 0.9
    transaction_count_noise: float = 0.08
    inflow_share: float = (
        0.45  # share of movements that are inflows; a month's totals are split among them
    )
    inflow_quality_slope: float = 0.2
    inflow_engagement_slope: float = 0.1
    inflow_noise: float = 0.08
    inflow_volatility_quality_slope: float = 0.3  # weaker firms have more volatile receipts
    outflow_ratio: float = 0.97  # outflows / inflows of an average firm
    net_outflow_quality_slope: float = 0.2  # log(outflows / inflows) falls as quality rises
    outflow_noise: float = 0.08
    amount_dispersion: float = 0.7  # coefficient of variation of movements within a month
    distress_inflow_factor: float = 0.5
    distress_activity_factor: float = 0.8
    digital_intercept: tuple[float, ...] = (-0.5, -0.2, 0.3, 0.8, 1.2, 0.5)
    digital_trend_per_year: float = 0.25
    digital_engagement_slope: float = 1.4
    digital_noise: float = 0.1

    # --- interactions -----------------------------------------------------------------
    interaction_rate: tuple[float, ...] = (
        0.25,
        0.60,
        0.70,
        0.50,
        0.50,
        0.08,
    )  # per month, medium client
    interaction_segment_scale: tuple[float, ...] = (0.7, 0.8, 1.0, 1.3, 1.6, 0.9)
    interaction_engagement_slope: tuple[float, ...] = (0.3, 0.3, 0.3, 0.85, 0.85, 0.85)
    interaction_trend_per_year: tuple[float, ...] = (-0.05, -0.05, 0.0, 0.15, 0.15, 0.15)
    interaction_noise: float = 0.6
    digital_interaction_noise: float = 0.08
    complaint_intercept: float = -3.0
    complaint_engagement_slope: float = 0.6
    complaint_quality_slope: float = 0.8
    survey_share: float = 0.05
    rating_share: float = 0.6  # routine interactions rated by the client afterwards
    satisfaction_mean: float = 3.5
    satisfaction_engagement_slope: float = 0.7
    satisfaction_quality_slope: float = 0.15
    satisfaction_noise: float = 0.3
    response_hours: tuple[float, ...] = (24.0, 2.0, 8.0, 4.0, 6.0, 12.0)
    complaint_response_factor: float = 3.0
    response_dispersion: float = 0.7

    # --- financial statements (yearly; quarterly for large, multinational, SPV) -------
    reporting_lag_days: tuple[float, float] = (45.0, 25.0)  # floor: yearly, quarterly
    reporting_lag_scale_days: tuple[float, float] = (45.0, 25.0)
    reporting_lag_quality_slope: float = 0.8
    reporting_lag_noise: float = 0.1
    missing_statement_intercept: float = -3.5
    missing_statement_quality_slope: float = 0.9
    revenue_quality_slope: float = 0.2
    revenue_noise: float = 0.1
    ebitda_margin: tuple[float, ...] = (0.12, 0.10, 0.08, 0.06, 0.09, 0.20, 0.25, 0.14, 0.12, 0.11)
    margin_quality_slope: float = 0.05
    margin_noise: float = 0.007
    debt_to_revenue: tuple[float, ...] = (0.35, 0.35, 0.40, 0.45, 0.50, 3.0)
    debt_quality_slope: float = 0.45
    debt_noise: float = 0.06
    current_ratio_log_mean: float = 0.25
    current_ratio_quality_slope: float = 0.35
    current_ratio_noise: float = 0.05
    cash_share_intercept: float = -1.2
    cash_share_quality_slope: float = 0.7
    cash_share_noise: float = 0.12
    current_assets_to_revenue: float = 0.3
    debt_interest_rate: float = 0.045  # interest paid on debt, rising for weaker firms
    debt_interest_quality_slope: float = 0.01
    debt_service_share: float = 0.09  # yearly debt service / project debt (SPV)
    dscr_mean: float = 1.35
    dscr_quality_slope: float = 0.18
    dscr_noise: float = 0.1

    # --- current-account balances (mid-month and month end, in months of revenue) -------
    # balance = revenue / 12 * (intercept + slopes * states + persistent noise + noise
    #           - drain * months in distress)
    account_buffer_intercept: float = 0.7  # a neutral firm holds about 0.7 months of revenue
    account_buffer_quality_slope: float = 0.45
    account_buffer_engagement_slope: float = 0.15  # disengaged clients keep their cash elsewhere
    account_buffer_persistence: float = 0.7  # monthly AR(1) coefficient of the firm's own swings
    account_buffer_noise: float = 0.35  # sd of those swings (stationary)
    account_observation_noise: float = 0.25  # fresh noise of each dated balance
    account_distress_drain: float = 0.8  # buffer lost per month in distress (overdrawn soon)

    # --- credit applications ------------------------------------------------------------
    applications_per_year: float = 0.3
    application_engagement_slope: float = 0.25
    application_quality_slope: float = 0.15
    withdrawal_intercept: float = -2.5
    withdrawal_engagement_slope: float = 0.8
    decline_intercept: float = -2.0
    decline_quality_slope: float = 1.2
    turnaround_log_days: float = 2.5
    turnaround_quality_slope: float = 0.2
    turnaround_noise: float = 0.4
    application_amount_share: tuple[float, ...] = (0.20, 0.12, 1.5, 0.08, 0.10)
    application_amount_dispersion: float = 0.5


@dataclass(frozen=True)
class Portfolio:
    """The contract's tables and the generator's ground truth (never read by modeling)."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]


# ======================================================================================
# Entry points
# ======================================================================================

BLOCK_FIRMS = 4096  # firms per block of random streams (a part of the stream, like the seed)
_BLOCK_KEY = 1_000_003  # spawn_key of the blocks' streams, apart from the book's children
_TRUTH = ("latent_monthly", "environment", "events", "oracle")
_GENERATED = tuple(name for name in TABLES if name not in _TRUTH)  # the bank's events: no
_FACILITY_TABLES = ("facilities", "facility_balances", "repayments")


def generate_portfolio(
    *,
    n_customers: int,
    start: str,
    months: int,
    scenario: str,
    transactions_per_month: float,
    seed: int,
    default_dpd: int = 90,
    horizons_months: Sequence[int] = (12,),
    progress: bool = False,
    coefficients: GeneratorCoefficients | None = None,
    workers: int = 1,
    block_firms: int = BLOCK_FIRMS,
) -> Portfolio:
    """Simulate a corporate-lending portfolio and its ground truth, in memory.

    Args:
        n_customers: Customers ever on the books (some onboarded during the history).
        start: First month of history (ISO date; its month is used).
        months: Months of history.
        scenario: ``baseline`` or ``downturn`` (a recession inside the out-of-time window).
        transactions_per_month: Mean account movements per active customer-month.
        seed: Seed of the random streams; the same seed gives identical tables.
        default_dpd: Days past due at which a missed instalment is a default.
        horizons_months: Label windows of the oracle: one default and one churn probability
            column per window (``oracle_default_12m``, ``oracle_churn_12m``).
        progress: Show a progress bar on stderr.
        coefficients: What drives what; the documented defaults when omitted.
        workers: Processes simulating blocks of firms at once (1: this process only); the
            tables do not depend on it.
        block_firms: Firms per block of random streams: part of the stream (another value
            gives other draws), kept at ``BLOCK_FIRMS`` but by tests of the blocks.

    Returns:
        The contract's tables (canonical dtypes, sorted by their keys) and the truth:
        ``latent_monthly``, ``environment``, ``events`` and ``oracle``.
    """
    plan = _plan(
        n_customers=n_customers,
        start=start,
        months=months,
        scenario=scenario,
        transactions_per_month=transactions_per_month,
        seed=seed,
        default_dpd=default_dpd,
        horizons_months=horizons_months,
        coefficients=coefficients,
        block_firms=block_firms,
        workers=workers,
    )
    parts: dict[str, list[pd.DataFrame]] = {}
    for frames in _numbered_blocks(plan, workers, progress):
        for name, frame in frames.items():
            parts.setdefault(name, []).append(frame)
    joined = {name: _concat(frames) for name, frames in parts.items()}
    joined["environment"] = _environment_table(plan.env, plan.cal)
    tables = {name: joined[name] for name in _GENERATED}
    return Portfolio(tables=tables, truth={name: joined[name] for name in _TRUTH})


def write_portfolio(
    tables_folder: str | Path,
    truth_folder: str | Path,
    *,
    n_customers: int,
    start: str,
    months: int,
    scenario: str,
    transactions_per_month: float,
    seed: int,
    default_dpd: int = 90,
    horizons_months: Sequence[int] = (12,),
    progress: bool = False,
    coefficients: GeneratorCoefficients | None = None,
    workers: int = 1,
    block_firms: int = BLOCK_FIRMS,
    keep_blocks: int = 0,
) -> WrittenPortfolio:
    """``generate_portfolio`` written block by block to ``<folder>/<table>.parquet``.

    Each block of firms is appended to the files (zstd, one row group per block and
    table, no index) and dropped, so memory stays bounded by a few blocks whatever the
    size of the book. The files hold ``generate_portfolio``'s frames in the dtypes the
    contract's validation gives them (a nullable flag as ``boolean``) and are
    byte-identical for any ``workers``. The folders are written into as they are (created
    if needed): an atomic replacement is the caller's (``research.stages.data``).

    Args:
        tables_folder, truth_folder: Where the contract's tables and the truth go.
        keep_blocks: Blocks of firms kept in memory as well, spread evenly over the book
            (all of them when the book has no more): the ``sample`` of the result.
        The others: as ``generate_portfolio``.

    Returns:
        Rows written per table and the kept blocks' tables and truth.
    """
    plan = _plan(
        n_customers=n_customers,
        start=start,
        months=months,
        scenario=scenario,
        transactions_per_month=transactions_per_month,
        seed=seed,
        default_dpd=default_dpd,
        horizons_months=horizons_months,
        coefficients=coefficients,
        block_firms=block_firms,
        workers=workers,
    )
    folders = {"tables": Path(tables_folder), "truth": Path(truth_folder)}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    rows: dict[str, int] = {}
    kept = set(np.linspace(0, plan.blocks - 1, min(keep_blocks, plan.blocks)).round().astype(int))
    parts: dict[str, list[pd.DataFrame]] = {}

    def append(name: str, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if name not in writers:
            where = folders["truth" if name in _TRUTH else "tables"] / f"{name}.parquet"
            # dictionary pages for the text columns only: amounts and dates are nearly all
            # distinct, and building their dictionaries only to drop them costs a fifth
            # of the writing
            text = [f.name for f in table.schema if pa.types.is_large_string(f.type)]
            writers[name] = pq.ParquetWriter(
                where,
                table.schema,
                compression="zstd",
                compression_level=3,
                use_dictionary=text or False,
            )
        writers[name].write_table(table)
        rows[name] = rows.get(name, 0) + len(frame)

    try:
        for block, frames in enumerate(_numbered_blocks(plan, workers, progress)):
            for name, frame in frames.items():
                frame = _validated_dtypes(name, frame)
                append(name, frame)
                if block in kept:
                    parts.setdefault(name, []).append(frame)
            del frames
        environment = _environment_table(plan.env, plan.cal)
        append("environment", environment)
    finally:
        for writer in writers.values():
            writer.close()
    sample = None
    if kept:
        joined = {name: _concat(frames) for name, frames in parts.items()}
        sample = Portfolio(
            tables={name: joined[name] for name in _GENERATED},
            truth={name: environment if name == "environment" else joined[name] for name in _TRUTH},
        )
    return WrittenPortfolio(
        rows={name: rows[name] for name in (*_GENERATED, *_TRUTH)},
        firms=plan.customers.n,
        sample=sample,
        sample_firms=sum(high - low for low, high in map(plan.firms, kept)),
    )


@dataclass(frozen=True)
class WrittenPortfolio:
    """What ``write_portfolio`` wrote: rows per table, and the blocks it kept in memory."""

    rows: dict[str, int]
    firms: int
    sample: Portfolio | None
    sample_firms: int


def _validated_dtypes(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The dtypes ``schema.validate_tables`` gives: a nullable flag of the contract is ``boolean``."""
    if name not in _GENERATED:
        return frame
    spec = TABLES[name]
    flags = {
        c.name: "boolean"
        for c in spec.columns
        if c.kind == "bool" and c.nullable and c.name in frame and frame[c.name].dtype == bool
    }
    return frame.astype(flags) if flags else frame


@dataclass(frozen=True)
class _Plan:
    """What every block shares: the arguments and the book-level draws, made once."""

    seed: int
    cal: _Calendar
    coef: GeneratorCoefficients
    hazards: HazardModel
    env: _Environment
    customers: _Customers  # the whole book, numbered in onboarding order
    rm_labels: tuple[str, ...]
    schedules: _oracle.Schedules  # the oracle's first-event schedules of the book's groups
    per_month: float
    default_dpd: int
    horizons: tuple[int, ...]
    block_firms: int

    @property
    def blocks(self) -> int:
        return -(-self.customers.n // self.block_firms)

    def firms(self, block: int) -> tuple[int, int]:
        low = block * self.block_firms
        return low, min(low + self.block_firms, self.customers.n)


def _plan(
    *,
    n_customers,
    start,
    months,
    scenario,
    transactions_per_month,
    seed,
    default_dpd,
    horizons_months,
    coefficients,
    block_firms,
    workers,
) -> _Plan:
    """Check the arguments; draw the environment and the clients of the whole book."""
    _check_arguments(n_customers, start, months, scenario, transactions_per_month, default_dpd)
    if block_firms < 1:
        raise ValueError(f"block_firms must be at least 1, got {block_firms}")
    coef = coefficients or GeneratorCoefficients()
    cal = _Calendar.from_start(start, months, max(horizons_months))
    rng = _streams(seed)
    customers = _draw_customers(rng["customers"], n_customers, cal, coef)
    rm_labels = tuple(f"RM{i:04d}" for i in range(1, int(customers.rm.max(initial=0)) + 2))
    hazards = HazardModel.from_coefficients(coef)
    env = _environment(rng["environment"], cal, scenario, coef)
    # the snapshots a firm may have: month starts 1 .. months after its onboarding month
    onboarding_month = cal.month_of(customers.onboarding_day)
    new_client_end = onboarding_month + hazards.new_client_months
    schedules = _oracle.Schedules.of_book(
        hazards,
        env,
        coef,
        segment=customers.segment,
        industry=customers.industry,
        churn_base=hazards.churn_base(customers.segment, customers.inclusive, customers.region),
        months_left_low=new_client_end - cal.months,
        months_left_high=np.where(
            onboarding_month + 1 > cal.months,
            -1,
            new_client_end - np.maximum(1, onboarding_month + 1),
        ),
        horizon=max(horizons_months),
        workers=workers,
    )
    return _Plan(
        seed=seed,
        cal=cal,
        coef=coef,
        hazards=hazards,
        env=env,
        customers=customers,
        rm_labels=rm_labels,
        schedules=schedules,
        per_month=transactions_per_month,
        default_dpd=default_dpd,
        horizons=tuple(horizons_months),
        block_firms=block_firms,
    )


def _numbered_blocks(
    plan: _Plan, workers: int, progress: bool
) -> Iterator[dict[str, pd.DataFrame]]:
    """Every block's frames in block order, facility and application ids numbered on."""
    facilities = applications = 0
    with tqdm(
        total=plan.blocks, desc="synthetic portfolio", file=sys.stderr, disable=not progress
    ) as bar:
        for frames in _blocks(plan, workers):
            # the block's facility labels made once for its three facility tables
            local = {
                name: np.asarray(frames[name]["facility_id"], dtype=np.int64)
                for name in _FACILITY_TABLES
            }
            labels = _id_labels("F", 7, facilities, max(_id_count(v) for v in local.values()))
            for name in _FACILITY_TABLES:
                frames[name]["facility_id"] = _ids("F", 7, facilities, local[name], labels)
            facilities += len(frames["facilities"])
            frame = frames["applications"]
            frame["application_id"] = _ids("A", 7, applications, frame["application_id"])
            applications += len(frame)
            bar.update(1)
            yield frames


def _ids(prefix: str, width: int, offset: int, local, labels: pa.Array | None = None):
    """``prefix`` and the number ``offset + local + 1``, zero-padded (F0000001).

    ``labels``: those of ``_id_labels`` for at least the numbers ``local`` holds, if made.
    """
    local = np.asarray(local, dtype=np.int64)
    if labels is None:
        labels = _id_labels(prefix, width, offset, _id_count(local))
    return pd.array(labels.take(pa.array(local)), dtype="str")


def _id_count(local: np.ndarray) -> int:
    return int(local.max(initial=-1)) + 1


def _id_labels(prefix: str, width: int, offset: int, count: int) -> pa.Array:
    """The labels of the numbers ``offset + 1 .. offset + count`` (``_ids``)."""
    return pa.array([f"{prefix}{offset + i:0{width}d}" for i in range(1, count + 1)], pa.string())


_PLAN: _Plan | None = None  # the plan of a worker process
_HANDOFF: Path | None = None  # the folder a worker process leaves its blocks' frames in

# A worker's frames (a few hundred MB a block) reach the parent through a file in shared
# memory rather than the pool's pipe: pickled with protocol 5, the arrays' buffers written
# out of band straight from the frames (no pickled copy) and mapped by the parent, whose
# frames then use the mapped pages (no unpickled copy). The pipe's way costs four copies of
# every block and as many page faults: a fifth of the stage's CPU time, most of it the
# kernel's.
_ALIGN = 64  # bytes: every buffer starts aligned, as the arrays it backs expect
_HEAD = np.dtype("<u8")


def _start_worker(plan: _Plan, handoff: Path | None = None) -> None:
    global _PLAN, _HANDOFF
    _PLAN, _HANDOFF = plan, handoff


def _worker_blocks(block: int) -> dict[str, pd.DataFrame] | Path:
    assert _PLAN is not None
    frames = _block_frames(_PLAN, block)
    if _HANDOFF is None:
        return frames
    return _dump_frames(frames, _HANDOFF / f"block-{block}.pickle")


def _dump_frames(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """``frames`` pickled to ``path``: a header of sizes, the pickle, its buffers (aligned)."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(frames, protocol=5, buffer_callback=buffers.append)
    chunks = [memoryview(head), *(buffer.raw() for buffer in buffers)]
    sizes = np.array([chunk.nbytes for chunk in chunks], dtype=_HEAD)
    header = np.concatenate([np.array([sizes.size], dtype=_HEAD), sizes]).tobytes()
    with open(path, "wb") as file:
        position = 0
        for chunk in (memoryview(header), *chunks):
            pad = -position % _ALIGN
            file.write(b"\0" * pad)
            file.write(chunk)
            position += pad + chunk.nbytes
    return path


def _load_frames(path: Path) -> dict[str, pd.DataFrame]:
    """The frames ``_dump_frames`` wrote, on a private (copy-on-write) mapping of the file.

    The file is removed at once: its pages live as long as the frames using them.
    """
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    path.unlink()
    view = memoryview(mapped)
    count = int(np.frombuffer(view[: _HEAD.itemsize], dtype=_HEAD)[0])
    sizes = np.frombuffer(view[_HEAD.itemsize : _HEAD.itemsize * (count + 1)], dtype=_HEAD)
    position = _HEAD.itemsize * (count + 1)
    chunks = []
    for size in sizes.tolist():
        position += -position % _ALIGN
        chunks.append(view[position : position + size])
        position += size
    return pickle.loads(chunks[0], buffers=chunks[1:])


def _handoff_folder() -> str | None:
    """Where workers leave their frames: shared memory where there is some, else the temp folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _blocks(plan: _Plan, workers: int) -> Iterator[dict[str, pd.DataFrame]]:
    """The blocks' frames in block order, from this process or from ``workers`` processes.

    At most ``workers + 1`` blocks are in flight, so a slow consumer (the writer) bounds the
    memory the workers' results take.
    """
    workers = max(1, min(workers, plan.blocks))
    if workers == 1:
        for block in range(plan.blocks):
            yield _block_frames(plan, block)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with contextlib.ExitStack() as stack:
        # Windows cannot remove a mapped file: its frames come through the pipe
        handoff = (
            None
            if os.name == "nt"
            else Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="research-blocks-", dir=_handoff_folder())
                )
            )
        )
        pool = stack.enter_context(
            ProcessPoolExecutor(
                workers, mp_context=context, initializer=_start_worker, initargs=(plan, handoff)
            )
        )
        pending: deque[Future] = deque()
        submitted = 0
        while pending or submitted < plan.blocks:
            while submitted < plan.blocks and len(pending) <= workers:
                pending.append(pool.submit(_worker_blocks, submitted))
                submitted += 1
            result = pending.popleft().result()
            yield result if isinstance(result, dict) else _load_frames(result)


def _block_frames(plan: _Plan, block: int) -> dict[str, pd.DataFrame]:
    """The tables and truth (but the environment) of one block of firms.

    Customer ids are the book's; ``facility_id`` and ``application_id`` hold the block's
    own numbers from 0 (``_numbered_blocks`` numbers them on across blocks).
    """
    low, high = plan.firms(block)
    rng = _streams(plan.seed, block)
    cal, coef, hazards = plan.cal, plan.coef, plan.hazards
    customers = plan.customers.slice(low, high)
    latent = _simulate_latent(rng["latent"], customers, plan.env, hazards, cal, coef)
    events = _simulate_events(
        rng["events"], customers, latent, plan.env, hazards, cal, plan.default_dpd
    )
    windows = _activity_windows(customers, events, cal)
    applications = _draw_applications(
        rng["applications"], customers, latent, events, windows, cal, coef
    )
    facilities = _build_facilities(
        rng["facilities"], customers, latent, events, applications, cal, coef
    )
    ids = _Ids.block(low, high)
    book = _Book(plan.env, customers, latent, events, windows, applications, facilities, ids)
    frames = {
        "customers": _customers_table(customers, events, ids, plan.rm_labels),
        "facilities": _facilities_table(facilities, ids),
        **_balances_and_repayments(
            rng,
            _facility_months(facilities, events, cal),
            facilities,
            customers,
            latent,
            events,
            cal,
            coef,
            ids,
        ),
        "transactions": _transactions_table(
            rng["transactions"], customers, latent, events, windows, cal, plan.per_month, coef, ids
        ),
        "interactions": _interactions_table(
            rng["interactions"], customers, latent, events, windows, cal, coef, ids
        ),
        "financials": _financials_table(
            rng["financials"], customers, latent, events, cal, coef, ids
        ),
        "applications": _applications_table(applications, ids),
        "account_balances": _account_balances_table(
            rng["account_balances"], customers, latent, events, windows, cal, coef, ids
        ),
        "latent_monthly": _latent_table(customers, latent, events, windows, cal, ids),
        "events": _events_table(events, cal, ids),
        "oracle": _oracle_table(
            book,
            plan.schedules,
            hazards,
            cal,
            default_dpd=plan.default_dpd,
            horizons=plan.horizons,
        ),
    }
    return frames


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class _Book:
    """Everything simulated of one block of firms, before it is written out as tables."""

    env: _Environment
    customers: _Customers
    latent: _Latent
    events: _Events
    windows: _Windows
    applications: _Applications
    facilities: _Facilities
    ids: _Ids


def _check_arguments(
    n_customers: int,
    start: str,
    months: int,
    scenario: str,
    transactions_per_month: float,
    default_dpd: int,
) -> None:
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    if months < 2:
        raise ValueError(f"months must be at least 2, got {months}")
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    if transactions_per_month <= 0:
        raise ValueError(f"transactions_per_month must be > 0, got {transactions_per_month}")
    if default_dpd < 1:
        raise ValueError(f"default_dpd must be at least 1, got {default_dpd}")
    try:
        np.datetime64(start, "D")
    except ValueError:
        raise ValueError(f"start must be an ISO date (YYYY-MM-DD), got {start!r}") from None


_STREAM_NAMES = (
    "environment",
    "customers",
    "latent",
    "events",
    "applications",
    "facilities",
    "balances",
    "repayments",
    "transactions",
    "interactions",
    "financials",
    # Appended: SeedSequence.spawn gives the earlier children the same seeds whatever the
    # count, so a stream added at the end leaves every other table byte-identical.
    "account_balances",
)


def _streams(seed: int, block: int | None = None) -> dict[str, np.random.Generator]:
    """One independent PCG64 stream per mechanism, so tuning one leaves the others unchanged.

    ``block`` None gives the book's streams (the environment and the clients draw from
    them); a block number, that block's streams (every per-firm mechanism).
    """
    root = (
        np.random.SeedSequence(seed)
        if block is None
        else np.random.SeedSequence(seed, spawn_key=(_BLOCK_KEY, block))
    )
    children = root.spawn(len(_STREAM_NAMES))
    return {
        name: np.random.Generator(np.random.PCG64(child))
        for name, child in zip(_STREAM_NAMES, children, strict=True)
    }


# ======================================================================================
# Calendar and environment
# ======================================================================================


def _month_start_day(absolute_month: np.ndarray | int) -> np.ndarray:
    """First day (days since 1970-01-01) of months counted from 1970-01."""
    months = np.asarray(absolute_month, dtype=np.int64)
    table = _lookup(months, _month_start_day)
    if table is not None:
        return table
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _absolute_month(day: np.ndarray | int) -> np.ndarray:
    """Month (counted from 1970-01) of days since 1970-01-01."""
    days = np.asarray(day, dtype=np.int64)
    table = _lookup(days, _absolute_month)
    if table is not None:
        return table
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _lookup(values: np.ndarray, convert) -> np.ndarray | None:
    """``convert(values)`` through a table of the values' range, when that is the shorter
    way (a large array of nearby values: the calendar conversions are slow per element)."""
    if values.size < 4096:
        return None
    low, high = int(values.min()), int(values.max())
    if high - low >= values.size // 4:
        return None
    return convert(np.arange(low, high + 1))[values - low]


def _month_number(month: str) -> int:
    return int(np.datetime64(month, "M").astype(np.int64))


def _add_months(day: np.ndarray, months: np.ndarray) -> np.ndarray:
    """The same day of the month ``months`` later (days of month are at most 27 here)."""
    month = _absolute_month(day)
    return _month_start_day(month + months) + (day - _month_start_day(month))


@dataclass(frozen=True)
class _Calendar:
    """History months 0 .. months-1 from ``first_month``, plus ``horizon`` months of environment."""

    first_month: int
    months: int
    horizon: int

    @classmethod
    def from_start(cls, start: str, months: int, horizon: int) -> _Calendar:
        return cls(int(np.datetime64(start, "M").astype(np.int64)), months, horizon)

    @property
    def span(self) -> int:
        return self.months + self.horizon

    @property
    def start_day(self) -> int:
        return int(self.start_of(0))

    @property
    def end_day(self) -> int:
        """First day after the history (the data's as-of date)."""
        return int(self.start_of(self.months))

    def start_of(self, month: np.ndarray | int) -> np.ndarray:
        return _month_start_day(self.first_month + np.asarray(month))

    def end_of(self, month: np.ndarray | int) -> np.ndarray:
        return self.start_of(np.asarray(month) + 1) - 1

    def month_of(self, day: np.ndarray) -> np.ndarray:
        return _absolute_month(day) - self.first_month

    def days_in_month(self) -> np.ndarray:
        return np.diff(self.start_of(np.arange(self.span + 1)))

    def trend_years(self) -> np.ndarray:
        """Years since the digital-trend origin, per month of the span."""
        return (
            self.first_month + np.arange(self.span) - _month_number(_DIGITAL_TREND_ORIGIN)
        ) / 12.0


@dataclass(frozen=True)
class _Environment:
    """Known environment by month of the span: macro factor, hidden credit crunch, industry conditions."""

    macro: np.ndarray
    credit_crunch: np.ndarray
    industry: np.ndarray  # (industries, span)


def _piecewise_path(knots: tuple[tuple[str, float], ...], cal: _Calendar) -> np.ndarray:
    months = cal.first_month + np.arange(cal.span)
    if not knots:
        return np.zeros(cal.span)
    return np.interp(months, [_month_number(m) for m, _ in knots], [v for _, v in knots])


def _environment(
    rng: np.random.Generator, cal: _Calendar, scenario: str, coef: GeneratorCoefficients
) -> _Environment:
    """Macro path of the scenario and an AR(1) factor per industry, damped in the calm period."""
    macro = _piecewise_path(_MACRO_KNOTS[scenario], cal)
    phi, sd = coef.industry_factor_persistence, coef.industry_factor_sd
    shocks = rng.standard_normal((len(INDUSTRIES), cal.span))
    factor = np.empty_like(shocks)
    factor[:, 0] = sd * shocks[:, 0]
    for month in range(1, cal.span):
        factor[:, month] = phi * factor[:, month - 1] + sd * np.sqrt(1 - phi**2) * shocks[:, month]
    calm = cal.first_month + np.arange(cal.span) >= _month_number(coef.calm_from)
    factor *= np.where(calm, coef.calm_industry_scale, 1.0)
    industry = np.asarray(coef.industry_macro_sensitivity)[:, None] * macro[None, :] + factor
    return _Environment(macro, _piecewise_path(_CRUNCH_KNOTS[scenario], cal), industry)


# ======================================================================================
# Hazards (shared with the oracle)
# ======================================================================================


@dataclass(frozen=True, eq=False)
class HazardModel:
    """Monthly probabilities of distress onset and of churn for a customer at risk."""

    distress_intercept: np.ndarray  # log-odds by segment at neutral conditions and x = 0
    industry_offset: np.ndarray
    quality_slope: float
    environment_weight: float
    crunch_slope: float
    churn_intercept: np.ndarray  # log-odds by segment for an established domestic client, e = 0
    churn_inclusive_offset: float
    churn_region_offset: np.ndarray
    new_client_months: int
    new_client_offset: float
    engagement_slope: float

    @classmethod
    def from_coefficients(cls, coef: GeneratorCoefficients) -> HazardModel:
        """Intercepts chosen so that a segment's average annual rate matches the coefficients."""
        return cls(
            distress_intercept=_intercept_for_rate(
                np.asarray(coef.annual_default_rate), coef.default_quality_slope
            ),
            industry_offset=np.asarray(coef.industry_default_offset, dtype=float),
            quality_slope=coef.default_quality_slope,
            environment_weight=coef.environment_weight,
            crunch_slope=coef.credit_crunch_slope,
            churn_intercept=_intercept_for_rate(
                np.asarray(coef.annual_churn_rate), coef.churn_engagement_slope
            ),
            churn_inclusive_offset=coef.churn_inclusive_offset,
            churn_region_offset=np.asarray(coef.churn_region_offset, dtype=float),
            new_client_months=coef.new_client_months,
            new_client_offset=coef.new_client_churn_offset,
            engagement_slope=coef.churn_engagement_slope,
        )

    def distress(
        self, segment, industry, credit_quality, industry_condition, credit_crunch
    ) -> np.ndarray:
        """P(distress starts this month | idiosyncratic credit quality x and the environment)."""
        quality = credit_quality + self.environment_weight * industry_condition
        log_odds = (
            self.distress_intercept[segment]
            + self.industry_offset[industry]
            - self.quality_slope * quality
            - self.crunch_slope * credit_crunch
        )
        return expit(log_odds)

    def churn_base(self, segment, inclusive, region) -> np.ndarray:
        """Static part of the churn log-odds."""
        return (
            self.churn_intercept[segment]
            + self.churn_inclusive_offset * inclusive
            + self.churn_region_offset[region]
        )

    def churn(self, base, new_client, engagement) -> np.ndarray:
        """P(the relationship ends this month | static part, whether still a new client, engagement)."""
        return expit(
            base + self.new_client_offset * new_client - self.engagement_slope * engagement
        )


def _intercept_for_rate(annual_rate: np.ndarray, slope: float) -> np.ndarray:
    """Log-odds ``a`` with E[expit(a - slope * Z)] equal to the monthly rate, Z ~ N(0, 1)."""
    monthly = 1.0 - (1.0 - annual_rate) ** (1.0 / 12.0)
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    weights = weights / weights.sum()
    low, high = np.full(monthly.shape, -30.0), np.full(monthly.shape, 5.0)
    for _ in range(80):
        middle = (low + high) / 2
        # a fixed-order sum, not `@ weights`: BLAS would make the bisection's path (and the
        # hazards) depend on the processor by an ulp
        mean_rate = _oracle.fixed_order_sum(
            expit(middle[:, None] - slope * nodes[None, :]) * weights
        )
        too_high = mean_rate > monthly
        high, low = np.where(too_high, middle, high), np.where(too_high, low, middle)
    return (low + high) / 2


# ======================================================================================
# Customers, latent states and events
# ======================================================================================


@dataclass(frozen=True)
class _Customers:
    segment: np.ndarray
    industry: np.ndarray
    region: np.ndarray
    green: np.ndarray
    inclusive: np.ndarray
    rm: np.ndarray
    onboarding_day: np.ndarray
    revenue: np.ndarray  # annual revenue scale

    @property
    def n(self) -> int:
        return self.segment.size

    def slice(self, low: int, high: int) -> _Customers:
        """Customers ``low .. high - 1`` of the book (a block of firms)."""
        return _Customers(*(getattr(self, f.name)[low:high] for f in fields(_Customers)))


def _draw_customers(
    rng: np.random.Generator, n: int, cal: _Calendar, coef: GeneratorCoefficients
) -> _Customers:
    """Static attributes; customers are numbered in onboarding order."""
    segment = rng.choice(len(SEGMENTS), size=n, p=_normalised(coef.segment_shares))
    industry_mix = np.array(
        [_SPV_INDUSTRY_MIX if s == PROJECT_SPV else _INDUSTRY_MIX for s in range(len(SEGMENTS))]
    )
    industry = _choose(rng, industry_mix, segment)
    region_mix = np.array(
        [
            _MULTINATIONAL_REGION_MIX if s == MULTINATIONAL else _REGION_MIX
            for s in range(len(SEGMENTS))
        ]
    )
    region = _choose(rng, region_mix, segment)
    green = rng.random(n) < np.where(industry == ENERGY, coef.green_share_energy, coef.green_share)
    inclusive = (segment <= SMALL) & (rng.random(n) < coef.inclusive_share)
    onboarding = _draw_onboarding_days(rng, segment, cal, coef)
    revenue = np.asarray(coef.revenue_median)[segment] * rng.lognormal(
        0.0, coef.revenue_dispersion, n
    )
    rm = rng.integers(0, max(1, -(-n // coef.customers_per_rm)), n)
    order = np.argsort(onboarding, kind="stable")
    columns = (segment, industry, region, green, inclusive, rm, onboarding, revenue)
    return _Customers(*(column[order] for column in columns))


def _draw_onboarding_days(
    rng: np.random.Generator, segment: np.ndarray, cal: _Calendar, coef: GeneratorCoefficients
) -> np.ndarray:
    """New customers arrive evenly over the history; the others have an exponential tenure."""
    n = segment.size
    new = rng.random(n) < coef.new_customer_share
    arrival = rng.integers(0, cal.months, n)
    max_years = np.where(segment == PROJECT_SPV, coef.max_spv_tenure_years, coef.max_tenure_years)
    mean, cap = coef.mean_tenure_years * 12, max_years * 12 - 1
    tenure = (-mean * np.log1p(-rng.random(n) * (1 - np.exp(-cap / mean)))).astype(
        np.int64
    ) + 1  # truncated exponential
    day_of_month = rng.integers(0, 27, n)  # days 1..27: never a month end
    return cal.start_of(np.where(new, arrival, -tenure)) + day_of_month


@dataclass(frozen=True)
class _Latent:
    credit: np.ndarray  # idiosyncratic credit quality x (customers x months)
    engagement: np.ndarray
    quality: np.ndarray  # effective credit quality q = x + weight * industry condition


def _simulate_latent(
    rng: np.random.Generator,
    customers: _Customers,
    env: _Environment,
    hazards: HazardModel,
    cal: _Calendar,
    coef: GeneratorCoefficients,
) -> _Latent:
    credit_before, engagement_before = _states_before_history(rng, customers, hazards, cal, coef)
    credit = _ar1_paths(rng, credit_before, cal.months, coef.credit_persistence)
    engagement = _ar1_paths(rng, engagement_before, cal.months, coef.engagement_persistence)
    quality = credit + coef.environment_weight * env.industry[customers.industry, : cal.months]
    return _Latent(credit, engagement, quality)


def _ar1_paths(
    rng: np.random.Generator, before: np.ndarray, months: int, persistence: float
) -> np.ndarray:
    """Stationary unit-variance AR(1) paths continuing from the states of the month before."""
    paths = np.asfortranarray(rng.standard_normal((before.size, months)))
    innovation_sd = np.sqrt(1.0 - persistence**2)
    paths[:, 0] = persistence * before + innovation_sd * paths[:, 0]
    for month in range(1, months):
        paths[:, month] = persistence * paths[:, month - 1] + innovation_sd * paths[:, month]
    return np.ascontiguousarray(paths)


_BURN_IN_MONTHS = 120
_BURN_IN_ROUNDS = 40


def _states_before_history(
    rng, customers: _Customers, hazards: HazardModel, cal: _Calendar, coef
) -> tuple:
    """Latent states in the month before the history.

    A client already on the books has survived its past, so its states are drawn from
    paths that neither churned nor fell into distress over a burn-in (neutral
    environment); a path that fails is drawn again. New clients start unselected.
    That keeps the book's event rates steady from the first year on.
    """
    credit, engagement = rng.standard_normal(customers.n), rng.standard_normal(customers.n)
    pending = np.flatnonzero(cal.month_of(customers.onboarding_day) < 0)
    for _ in range(_BURN_IN_ROUNDS):
        if pending.size == 0:
            break
        x, e, survived = _burn_in(rng, pending, customers, hazards, cal, coef)
        credit[pending], engagement[pending] = x, e
        pending = pending[~survived]
    return credit, engagement


def _burn_in(
    rng, index: np.ndarray, customers: _Customers, hazards: HazardModel, cal: _Calendar, coef
) -> tuple:
    """Paths over the burn-in months before the history; whether each survived while on the books."""
    k = index.size
    segment, industry = customers.segment[index], customers.industry[index]
    onboarding_month = cal.month_of(customers.onboarding_day[index])
    churn_base = hazards.churn_base(segment, customers.inclusive[index], customers.region[index])
    x, e = rng.standard_normal(k), rng.standard_normal(k)
    alive = np.ones(k, dtype=bool)
    for month in range(-_BURN_IN_MONTHS, 0):
        shocks = rng.standard_normal((2, k))
        x = coef.credit_persistence * x + np.sqrt(1 - coef.credit_persistence**2) * shocks[0]
        e = (
            coef.engagement_persistence * e
            + np.sqrt(1 - coef.engagement_persistence**2) * shocks[1]
        )
        p_distress = hazards.distress(segment, industry, x, 0.0, 0.0)
        p_churn = hazards.churn(churn_base, month < onboarding_month + hazards.new_client_months, e)
        draw = rng.random((2, k))
        alive &= ~((onboarding_month < month) & ((draw[0] < p_distress) | (draw[1] < p_churn)))
    return x, e, alive


@dataclass(frozen=True)
class _Events:
    onset_month: np.ndarray  # month distress starts (_NEVER if it does not)
    default_day: np.ndarray  # first missed instalment reaches default_dpd (_NEVER if none)
    churn_month: np.ndarray
    churn_day: np.ndarray  # relationship end (_NEVER if none)
    end_day: np.ndarray  # first day without records: churn, default or the data's end


def _simulate_events(
    rng: np.random.Generator,
    customers: _Customers,
    latent: _Latent,
    env: _Environment,
    hazards: HazardModel,
    cal: _Calendar,
    default_dpd: int,
) -> _Events:
    """Month by month: distress is drawn first, then churn, for customers at risk."""
    n = customers.n
    onboarding_month = cal.month_of(customers.onboarding_day)
    churn_base = hazards.churn_base(customers.segment, customers.inclusive, customers.region)
    onset = np.full(n, _NEVER)
    churn = np.full(n, _NEVER)
    for month in range(cal.months):
        at_risk = (onboarding_month < month) & (onset == _NEVER) & (churn == _NEVER)
        p_distress = hazards.distress(
            customers.segment,
            customers.industry,
            latent.credit[:, month],
            env.industry[customers.industry, month],
            env.credit_crunch[month],
        )
        new_client = month < onboarding_month + hazards.new_client_months
        p_churn = hazards.churn(churn_base, new_client, latent.engagement[:, month])
        draw = rng.random((2, n))
        starts = at_risk & (draw[0] < p_distress)
        onset[starts] = month
        churn[at_risk & ~starts & (draw[1] < p_churn)] = month
    default_day = np.where(
        onset < _NEVER, cal.end_of(np.minimum(onset, cal.span)) + default_dpd, _NEVER
    )
    churned = churn < _NEVER
    churn_day = np.full(n, _NEVER)
    month_length = cal.days_in_month()[churn[churned]]
    churn_day[churned] = cal.start_of(churn[churned]) + (
        rng.random(churned.sum()) * month_length
    ).astype(np.int64)
    end_day = np.minimum(np.minimum(churn_day, default_day), cal.end_day)
    return _Events(onset, default_day, churn, churn_day, end_day)


@dataclass(frozen=True)
class _Windows:
    """Days each customer is on the books in each month: [low, high) (customers x months)."""

    low: np.ndarray
    high: np.ndarray
    days_in_month: np.ndarray

    @functools.cached_property
    def fraction(self) -> np.ndarray:
        """Share of each month on the books (computed once: every month's draws read it)."""
        return (self.high - self.low) / self.days_in_month[None, :]


def _activity_windows(customers: _Customers, events: _Events, cal: _Calendar) -> _Windows:
    starts = cal.start_of(np.arange(cal.months + 1))
    low = np.maximum(starts[None, :-1], customers.onboarding_day[:, None])
    high = np.maximum(np.minimum(starts[None, 1:], events.end_day[:, None]), low)
    return _Windows(low, high, np.diff(starts))


# ======================================================================================
# Applications
# ======================================================================================


@dataclass(frozen=True)
class _Applications:
    customer: np.ndarray
    submitted_day: np.ndarray
    product: np.ndarray
    amount: np.ndarray
    decision: np.ndarray  # -1 while pending
    decided_day: np.ndarray  # _NEVER while pending


def _draw_applications(
    rng: np.random.Generator,
    customers: _Customers,
    latent: _Latent,
    events: _Events,
    windows: _Windows,
    cal: _Calendar,
    coef: GeneratorCoefficients,
) -> _Applications:
    """Requests arrive more often from engaged and from weaker clients."""
    rate = (
        coef.applications_per_year
        / 12.0
        * np.exp(
            coef.application_engagement_slope * latent.engagement
            - coef.application_quality_slope * latent.quality
        )
        * windows.fraction
    )
    cell = np.repeat(np.arange(rate.size), rng.poisson(rate).ravel())
    customer, month = np.divmod(cell, cal.months)
    span = (windows.high - windows.low)[customer, month]
    submitted = windows.low[customer, month] + (rng.random(cell.size) * span).astype(np.int64)
    product = _choose(rng, np.array(_APPLICATION_PRODUCTS), customers.segment[customer])
    amount = np.round(
        customers.revenue[customer]
        * np.asarray(coef.application_amount_share)[product]
        * rng.lognormal(0.0, coef.application_amount_dispersion, cell.size),
        2,
    )
    decision, decided = _decide_applications(
        rng, customer, month, submitted, latent, events, cal, coef
    )
    return _Applications(customer, submitted, product, amount, decision, decided)


def _decide_applications(
    rng, customer, month, submitted, latent, events, cal, coef
) -> tuple[np.ndarray, np.ndarray]:
    """Withdrawn by disengaged clients, declined for weak (or distressed) credits, else approved."""
    quality, engagement = latent.quality[customer, month], latent.engagement[customer, month]
    k = customer.size
    withdrawn = rng.random(k) < expit(
        coef.withdrawal_intercept - coef.withdrawal_engagement_slope * engagement
    )
    weak = rng.random(k) < expit(coef.decline_intercept - coef.decline_quality_slope * quality)
    declined = ~withdrawn & (weak | (events.onset_month[customer] <= month))
    decision = np.where(withdrawn, WITHDRAWN, np.where(declined, DECLINED, APPROVED))
    log_days = coef.turnaround_log_days - coef.turnaround_quality_slope * quality
    decided = (
        submitted
        + 1
        + np.exp(log_days + coef.turnaround_noise * rng.standard_normal(k)).astype(np.int64)
    )
    end = events.end_day[customer]
    gone = (decided >= end) & (end < cal.end_day)  # the client left or defaulted first
    decision = np.where(
        gone, np.where(events.churn_day[customer] == end, WITHDRAWN, DECLINED), decision
    )
    decided = np.where(gone, end - 1, decided)
    pending = decided >= cal.end_day
    return np.where(pending, -1, decision), np.where(pending, _NEVER, decided)


# ======================================================================================
# Facilities
# ======================================================================================


@dataclass(frozen=True)
class _Drafts:
    """Facilities before pricing: who, what, when, how long, how much."""

    customer: np.ndarray
    product: np.ndarray
    origination_day: np.ndarray
    tenor_months: np.ndarray
    limit: np.ndarray

    @staticmethod
    def concat(parts: list[_Drafts]) -> _Drafts:
        return _Drafts(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Drafts))
        )


@dataclass(frozen=True)
class _Facilities:
    customer: np.ndarray
    product: np.ndarray
    origination_day: np.ndarray
    maturity_day: np.ndarray
    close_day: np.ndarray  # _NEVER while open
    tenor_months: np.ndarray
    limit: np.ndarray
    interest_rate: np.ndarray
    fee_rate: np.ndarray
    repayment_type: np.ndarray
    collateral: np.ndarray
    green: np.ndarray


def _build_facilities(rng, customers, latent, events, applications, cal, coef) -> _Facilities:
    """Renewing credit lines, initial term loans, project finance and approved applications."""
    drafts = _Drafts.concat(
        [
            _credit_lines(rng, customers, events, cal, coef),
            _initial_term_loans(rng, customers, events, cal, coef),
            _project_finance_loans(rng, customers, coef),
            _facilities_from_applications(rng, applications, events, cal),
        ]
    )
    order = np.lexsort((drafts.limit, drafts.product, drafts.origination_day, drafts.customer))
    drafts = _Drafts(*(getattr(drafts, f.name)[order] for f in fields(_Drafts)))
    return _price_facilities(rng, drafts, customers, latent, events, cal, coef)


def _credit_lines(rng, customers: _Customers, events: _Events, cal: _Calendar, coef) -> _Drafts:
    """Every client but an SPV holds a core revolving line; some hold a trade-finance line."""
    n, segment = customers.n, customers.segment
    core_product = np.where(
        (segment <= SMALL) & (rng.random(n) < coef.working_capital_share), WORKING_CAPITAL, REVOLVER
    )
    core_product = np.where(segment == PROJECT_SPV, WORKING_CAPITAL, core_product)
    has_core = (segment != PROJECT_SPV) | (rng.random(n) < coef.spv_working_capital_share)
    has_trade = rng.random(n) < np.asarray(coef.trade_finance_share)[segment]
    customer = np.concatenate([np.flatnonzero(has_core), np.flatnonzero(has_trade)])
    product = np.concatenate([core_product[has_core], np.full(has_trade.sum(), TRADE_FINANCE)])
    tenor = np.concatenate([rng.choice([12, 24, 36], has_core.sum()), np.full(has_trade.sum(), 12)])
    limit = (
        customers.revenue[customer]
        * np.asarray(coef.limit_share)[product]
        * rng.lognormal(0, 0.3, customer.size)
    )
    return _renewals(rng, customer, product, tenor, limit, customers, events, cal)


def _renewals(rng, customer, product, tenor, limit, customers, events, cal) -> _Drafts:
    """A line renewed at each maturity from onboarding on; the links overlapping the history."""
    onboarding_month = _absolute_month(customers.onboarding_day[customer])
    day_of_month = customers.onboarding_day[customer] - _month_start_day(onboarding_month)
    first = np.maximum(0, (cal.first_month - onboarding_month) // tenor - 1)
    counts = cal.months // tenor + 3
    line = np.repeat(np.arange(customer.size), counts)
    link = first[line] + np.arange(line.size) - np.repeat(np.cumsum(counts) - counts, counts)
    origination_month = onboarding_month[line] + link * tenor[line]
    origination = _month_start_day(origination_month) + day_of_month[line]
    maturity = _month_start_day(origination_month + tenor[line]) + day_of_month[line]
    owner = customer[line]
    keep = (maturity > cal.start_day) & (origination < events.end_day[owner])
    renewed_limit = limit[line] * rng.lognormal(0.0, 0.1, line.size)
    return _Drafts(
        owner[keep], product[line][keep], origination[keep], tenor[line][keep], renewed_limit[keep]
    )


def _initial_term_loans(
    rng, customers: _Customers, events: _Events, cal: _Calendar, coef
) -> _Drafts:
    """A term loan running at the start of the history (or taken at onboarding)."""
    customer = np.flatnonzero(
        rng.random(customers.n) < np.asarray(coef.term_loan_share)[customers.segment]
    )
    k = customer.size
    tenor = rng.choice([36, 48, 60, 84], k)
    onboarding = customers.onboarding_day[customer]
    onboarding_month = _absolute_month(onboarding)
    earliest = np.maximum(onboarding_month, cal.first_month - tenor + 1)
    month = earliest + (rng.random(k) * (cal.first_month - earliest)).astype(np.int64)
    drawn_day = np.maximum(_month_start_day(month) + rng.integers(0, 27, k), onboarding)
    origination = np.where(onboarding_month < cal.first_month, drawn_day, onboarding)
    keep = origination < events.end_day[customer]
    limit = customers.revenue[customer] * coef.limit_share[TERM_LOAN] * rng.lognormal(0, 0.4, k)
    return _Drafts(
        customer[keep], np.full(keep.sum(), TERM_LOAN), origination[keep], tenor[keep], limit[keep]
    )


def _project_finance_loans(rng, customers: _Customers, coef) -> _Drafts:
    """Each SPV's project loan, drawn at onboarding over 15-20 years."""
    customer = np.flatnonzero(customers.segment == PROJECT_SPV)
    k = customer.size
    limit = (
        customers.revenue[customer] * coef.limit_share[PROJECT_FINANCE] * rng.lognormal(0, 0.25, k)
    )
    tenor = rng.integers(180, 241, k)
    return _Drafts(
        customer, np.full(k, PROJECT_FINANCE), customers.onboarding_day[customer], tenor, limit
    )


def _facilities_from_applications(
    rng, applications: _Applications, events: _Events, cal: _Calendar
) -> _Drafts:
    """An approved request becomes a facility one to two weeks after the decision."""
    approved = applications.decision == APPROVED
    customer, product = applications.customer[approved], applications.product[approved]
    k = customer.size
    origination = applications.decided_day[approved] + rng.integers(1, 15, k)
    month = _absolute_month(origination)
    late_in_month = origination - _month_start_day(month) >= 27  # keep days of month at most 27
    origination = np.where(late_in_month, _month_start_day(month + 1), origination)
    tenor_by_product = np.stack(
        [
            rng.choice([36, 48, 60, 84], k),
            rng.choice([12, 24, 36], k),
            rng.integers(180, 241, k),
            np.full(k, 12),
            rng.choice([12, 24, 36], k),
        ]
    )
    tenor = tenor_by_product[product, np.arange(k)]
    keep = origination < np.minimum(events.end_day[customer], cal.end_day)
    return _Drafts(
        customer[keep],
        product[keep],
        origination[keep],
        tenor[keep],
        applications.amount[approved][keep],
    )


def _price_facilities(rng, drafts: _Drafts, customers, latent, events, cal, coef) -> _Facilities:
    """Maturity, closing, price, repayment type, collateral and green flag of each facility."""
    k = drafts.customer.size
    maturity = _add_months(drafts.origination_day, drafts.tenor_months)
    close = np.minimum(maturity, events.end_day[drafts.customer])
    segment = customers.segment[drafts.customer]
    fee_rate = np.round(np.asarray(coef.fee_rate)[drafts.product] * rng.uniform(0.7, 1.3, k), 5)
    energy_project = (drafts.product == PROJECT_FINANCE) & (
        customers.industry[drafts.customer] == ENERGY
    )
    green_kind = np.where(customers.green[drafts.customer], np.where(energy_project, 2, 1), 0)
    return _Facilities(
        customer=drafts.customer,
        product=drafts.product,
        origination_day=drafts.origination_day,
        maturity_day=maturity,
        close_day=np.where(close >= cal.end_day, _NEVER, close),
        tenor_months=drafts.tenor_months,
        limit=np.round(drafts.limit, 2),
        interest_rate=_interest_rates(rng, drafts, segment, latent, cal, coef),
        fee_rate=fee_rate,
        repayment_type=_repayment_types(rng, drafts.product, segment, coef),
        collateral=_choose(rng, np.array(_COLLATERAL), drafts.product),
        green=rng.random(k) < np.asarray(coef.green_loan_share)[green_kind],
    )


def _interest_rates(rng, drafts: _Drafts, segment, latent, cal, coef) -> np.ndarray:
    """Policy rate at origination plus a spread by product and segment, wider for weaker credits."""
    month = np.clip(cal.month_of(drafts.origination_day), 0, cal.months - 1)
    quality = latent.quality[drafts.customer, month]
    base_rate = np.interp(
        _absolute_month(drafts.origination_day),
        [_month_number(m) for m, _ in _BASE_RATE_KNOTS],
        [v for _, v in _BASE_RATE_KNOTS],
    )
    spread = (
        np.asarray(coef.product_spread)[drafts.product]
        + np.asarray(coef.segment_spread)[segment]
        - coef.spread_quality_slope * np.clip(quality, -3, 3)
        + coef.spread_noise * rng.standard_normal(drafts.customer.size)
    )
    return np.round(np.maximum(base_rate + spread, 0.005), 5)


def _repayment_types(rng, product: np.ndarray, segment: np.ndarray, coef) -> np.ndarray:
    big_client = (segment == LARGE) | (segment == MULTINATIONAL)
    term = np.where(big_client & (rng.random(product.size) < coef.bullet_share), BULLET, AMORTISING)
    revolving = (product == REVOLVER) | (product == WORKING_CAPITAL) | (product == TRADE_FINANCE)
    return np.where(product == PROJECT_FINANCE, SCULPTED, np.where(revolving, REVOLVING, term))


# ======================================================================================
# Facility months: balances and repayments
# ======================================================================================


@dataclass(frozen=True)
class _FacilityMonths:
    """One row per open facility and month end of the history."""

    facility: np.ndarray
    customer: np.ndarray
    month: np.ndarray
    age: np.ndarray  # months since the origination month
    distressed: np.ndarray


def _facility_months(facilities: _Facilities, events: _Events, cal: _Calendar) -> _FacilityMonths:
    """Month ends after origination and before the facility closes (or the data ends)."""
    origination_month = cal.month_of(facilities.origination_day)
    first = np.maximum(0, origination_month)
    last = cal.month_of(np.minimum(facilities.close_day, cal.end_day)) - 1
    counts = np.maximum(last - first + 1, 0)
    facility = np.repeat(np.arange(counts.size), counts)
    month = (
        first[facility] + np.arange(facility.size) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    customer = facilities.customer[facility]
    distressed = events.onset_month[customer] <= month
    return _FacilityMonths(
        facility, customer, month, month - origination_month[facility], distressed
    )


def _outstanding_share(
    repayment_type: np.ndarray, paid: np.ndarray, tenor: np.ndarray
) -> np.ndarray:
    """Share of a loan's limit still owed after ``paid`` scheduled instalments."""
    repaid = np.clip(paid / tenor, 0.0, 1.0)
    sculpted = 1.0 - repaid**1.6  # project debt is repaid back-ended, with the cash flows
    return np.where(
        repayment_type == AMORTISING,
        1.0 - repaid,
        np.where(repayment_type == SCULPTED, sculpted, 1.0),
    )


def _drawn_amounts(
    rng, book: _FacilityMonths, facilities: _Facilities, customers, latent, events, cal, coef
) -> np.ndarray:
    """Revolving lines are drawn more by weaker (and distressed) clients; loans follow their schedule."""
    segment = customers.segment[book.customer]
    quality = latent.quality[book.customer, book.month]
    log_odds = (
        np.asarray(coef.utilisation_intercept)[segment]
        - coef.utilisation_quality_slope * quality
        + coef.utilisation_noise * rng.standard_normal(book.month.size)
        + coef.distress_utilisation_shift * book.distressed
    )
    limit = facilities.limit[book.facility]
    repayment = facilities.repayment_type[book.facility]
    onset_age = (
        np.minimum(events.onset_month[book.customer], cal.span)
        - cal.month_of(facilities.origination_day)[book.facility]
    )
    paid = np.minimum(book.age + 1, np.maximum(onset_age, 0))  # nothing is repaid after distress
    loan = limit * _outstanding_share(repayment, paid, facilities.tenor_months[book.facility])
    return np.round(np.where(repayment == REVOLVING, limit * expit(log_odds), loan), 2)


def _amounts_due(book: _FacilityMonths, facilities: _Facilities, drawn: np.ndarray) -> np.ndarray:
    """Interest (and commitment fee) on what is drawn plus the scheduled principal."""
    f = book.facility
    limit, rate, tenor = (
        facilities.limit[f],
        facilities.interest_rate[f],
        facilities.tenor_months[f],
    )
    repayment = facilities.repayment_type[f]
    before = limit * _outstanding_share(repayment, book.age, tenor)
    after = limit * _outstanding_share(repayment, book.age + 1, tenor)
    loan_due = before - after + before * rate / 12
    line_due = drawn * rate / 12 + (limit - drawn) * facilities.fee_rate[f] / 12
    return np.round(np.maximum(np.where(repayment == REVOLVING, line_due, loan_due), 0.01), 2)


def _payments(
    rng, book, facilities, customers, latent, events, amount_due, cal, coef
) -> tuple[np.ndarray, np.ndarray]:
    """Paid date and amount: late (and sometimes partial) more often for weak credits; none in distress."""
    k = book.month.size
    due = cal.end_of(book.month)
    quality = latent.quality[book.customer, book.month]
    segment = customers.segment[book.customer]
    late = rng.random(k) < expit(
        np.asarray(coef.late_intercept)[segment] - coef.late_quality_slope * quality
    )
    mean_days = np.exp(coef.days_late_log_mean - coef.days_late_quality_slope * quality)
    days_late = np.minimum(
        1 + (rng.exponential(1.0, k) * mean_days).astype(np.int64), coef.max_days_late
    )
    days_early = np.minimum(rng.exponential(coef.early_payment_days, k).astype(np.int64), 5)
    on_time = np.maximum(due - days_early, facilities.origination_day[book.facility])
    paid = np.minimum(np.where(late, due + days_late, on_time), events.churn_day[book.customer])
    partial = late & (
        rng.random(k) < expit(coef.partial_intercept - coef.partial_quality_slope * quality)
    )
    amount = np.where(partial, np.round(amount_due * rng.uniform(0.3, 0.95, k), 2), amount_due)
    unpaid = book.distressed | (paid >= cal.end_day)
    return np.where(unpaid, _NEVER, paid), np.where(unpaid, np.nan, amount)


def _balances_and_repayments(
    rng, book, facilities, customers, latent, events, cal, coef, ids
) -> dict[str, pd.DataFrame]:
    drawn = _drawn_amounts(rng["balances"], book, facilities, customers, latent, events, cal, coef)
    due = _amounts_due(book, facilities, drawn)
    paid_day, amount_paid = _payments(
        rng["repayments"], book, facilities, customers, latent, events, due, cal, coef
    )
    facility_id = ids.facility_column(book.facility)
    customer_id = ids.customer_column(book.customer)
    month_end = _dates(cal.end_of(book.month))
    balances = pd.DataFrame(
        {
            "facility_id": facility_id,
            "customer_id": customer_id,
            "month_end": month_end,
            "drawn_amount": drawn,
            "limit_amount": facilities.limit[book.facility],
        }
    )
    repayments = pd.DataFrame(
        {
            "facility_id": facility_id,
            "customer_id": customer_id,
            "due_date": month_end,
            "amount_due": due,
            "paid_date": _dates(paid_day),
            "amount_paid": amount_paid,
        }
    )
    return {"facility_balances": balances, "repayments": repayments}


# ======================================================================================
# Transactions and interactions (month by month, to bound memory)
# ======================================================================================


def _transactions_table(
    rng, customers, latent, events, windows, cal, per_month, coef, ids
) -> pd.DataFrame:
    """Account movements: counts follow engagement, amounts credit quality, channels digital adoption."""
    scale = np.asarray(coef.transaction_segment_scale)
    count_scale = (
        per_month * scale[customers.segment] / np.dot(_normalised(coef.segment_shares), scale)
    )
    parts = []
    for month in range(cal.months):
        parts.append(
            _month_transactions(
                rng, month, count_scale, customers, latent, events, windows, cal, coef
            )
        )
    customer, seconds, amount, channel, category = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    del parts  # the months' pieces, before the sorted copy is made
    order = np.lexsort((seconds, customer))
    return pd.DataFrame(
        {
            "customer_id": ids.customer_column(customer[order]),
            "timestamp": _timestamps(seconds[order]),
            "amount": amount[order],
            "channel": _text(TRANSACTION_CHANNELS, channel[order]),
            "category": _text(TRANSACTION_CATEGORIES, category[order]),
        }
    )


def _month_transactions(
    rng, month, count_scale, customers, latent, events, windows, cal, coef
) -> tuple:
    """One month of account movements of every customer on the books."""
    customer = np.flatnonzero(windows.high[:, month] > windows.low[:, month])
    state = _MonthState.of(customer, month, latent, events, windows)
    noise = rng.standard_normal((4, customer.size))
    slope, spread = coef.transaction_engagement_slope, coef.transaction_count_noise
    activity = np.exp(slope * state.engagement - slope**2 / 2 + spread * noise[0] - spread**2 / 2)
    expected = (
        count_scale[customer] * activity * state.distress_factor(coef.distress_activity_factor)
    )
    row = np.repeat(np.arange(customer.size), rng.poisson(expected * state.fraction))
    inflow = rng.random(row.size) < coef.inflow_share
    amount = _movement_amounts(rng, row, inflow, customers.revenue[customer], state, noise, coef)
    segment = customers.segment[customer]
    digital_odds = (
        np.asarray(coef.digital_intercept)[segment]
        + coef.digital_trend_per_year * cal.trend_years()[month]
        + coef.digital_engagement_slope * state.engagement
        + coef.digital_noise * noise[3]
    )
    digital = rng.random(row.size) < expit(digital_odds)[row]
    channel_mix = np.concatenate([np.array(_OTHER_CHANNELS), np.array(_DIGITAL_CHANNELS)])
    channel = _choose(rng, channel_mix, segment[row] + len(SEGMENTS) * digital)
    category = _choose(rng, np.array(_CATEGORIES), inflow.astype(np.int64))
    return customer[row], state.seconds(rng, row), amount, channel, category


@dataclass(frozen=True)
class _MonthState:
    """Latent states and days on the books of the customers active in one month."""

    engagement: np.ndarray
    quality: np.ndarray
    distressed: np.ndarray
    low: np.ndarray
    span: np.ndarray
    fraction: np.ndarray

    @classmethod
    def of(cls, customer, month, latent, events, windows) -> _MonthState:
        low, high = windows.low[customer, month], windows.high[customer, month]
        return cls(
            latent.engagement[customer, month],
            latent.quality[customer, month],
            events.onset_month[customer] <= month,
            low,
            high - low,
            windows.fraction[customer, month],
        )

    def distress_factor(self, factor: float) -> np.ndarray:
        return np.where(self.distressed, factor, 1.0)

    def seconds(self, rng: np.random.Generator, row: np.ndarray) -> np.ndarray:
        """Uniform timestamps (seconds since 1970) inside each row's days on the books."""
        offset = rng.random(row.size) * self.span[row] * _SECONDS_PER_DAY
        return self.low[row] * _SECONDS_PER_DAY + offset.astype(np.int64)


def _movement_amounts(rng, row, inflow, revenue, state: _MonthState, noise, coef) -> np.ndarray:
    """Signed amounts: the month's inflow and outflow totals split among its movements.

    Receipts follow quality (and, more volatile, for weaker firms); outflows run ahead
    of receipts as quality falls.
    """
    monthly = revenue / 12.0 * state.fraction * np.exp(coef.inflow_quality_slope * state.quality)
    volatility = coef.inflow_noise * np.exp(-coef.inflow_volatility_quality_slope * state.quality)
    inflows = monthly * np.exp(
        coef.inflow_engagement_slope * state.engagement + volatility * noise[1]
    )
    inflows = inflows * state.distress_factor(coef.distress_inflow_factor)
    outflows = (
        monthly
        * coef.outflow_ratio
        * np.exp(-coef.net_outflow_quality_slope * state.quality + coef.outflow_noise * noise[2])
    )
    shape = 1.0 / coef.amount_dispersion**2
    weight = rng.gamma(shape, 1.0, row.size)
    group = 2 * row + inflow
    share = weight / np.bincount(group, weight, minlength=2 * state.fraction.size)[group]
    total = np.where(inflow, inflows[row], -outflows[row])
    return np.round(total * share, 2)


def _interactions_table(rng, customers, latent, events, windows, cal, coef, ids) -> pd.DataFrame:
    """Touchpoints: digital channels grow with engagement and time; complaints come from the unhappy."""
    parts = []
    for month in range(cal.months):
        parts.append(_month_interactions(rng, month, customers, latent, events, windows, cal, coef))
    customer, seconds, channel, kind, hours, score = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    del parts
    order = np.lexsort((seconds, customer))
    return pd.DataFrame(
        {
            "customer_id": ids.customer_column(customer[order]),
            "timestamp": _timestamps(seconds[order]),
            "channel": _text(INTERACTION_CHANNELS, channel[order]),
            "interaction_type": _text(INTERACTION_TYPES, kind[order]),
            "response_hours": hours[order],
            "satisfaction_score": score[order],
        }
    )


def _month_interactions(rng, month, customers, latent, events, windows, cal, coef) -> tuple:
    """One month of touchpoints of every customer on the books."""
    customer = np.flatnonzero(windows.high[:, month] > windows.low[:, month])
    state = _MonthState.of(customer, month, latent, events, windows)
    counts = _interaction_counts(rng, month, customers.segment[customer], state, cal, coef)
    row, channel = np.divmod(np.repeat(np.arange(counts.size), counts.ravel()), counts.shape[1])
    k = row.size
    kind = _interaction_types(rng, state.engagement[row], state.quality[row], coef)
    complaint_factor = np.where(kind == COMPLAINT, coef.complaint_response_factor, 1.0)
    hours = np.asarray(coef.response_hours)[channel] * complaint_factor
    hours = np.round(hours * rng.lognormal(0, coef.response_dispersion, k), 1)
    score = (
        coef.satisfaction_mean
        + coef.satisfaction_engagement_slope * state.engagement[row]
        + coef.satisfaction_quality_slope * state.quality[row]
        + coef.satisfaction_noise * rng.standard_normal(k)
    )
    rated = (kind == SURVEY) | ((kind != COMPLAINT) & (rng.random(k) < coef.rating_share))
    return (
        customer[row],
        state.seconds(rng, row),
        channel,
        kind,
        np.where(kind == SURVEY, np.nan, hours),
        np.where(rated, np.clip(np.round(score), 1.0, 5.0), np.nan),
    )


def _interaction_counts(rng, month, segment, state: _MonthState, cal, coef) -> np.ndarray:
    """Touchpoints per customer and channel: one monthly noise for all, one more for digital."""
    digital = np.isin(INTERACTION_CHANNELS, DIGITAL_INTERACTION_CHANNELS)
    noise = rng.standard_normal((2, segment.size))
    log_rate = (
        np.log(np.asarray(coef.interaction_rate))[None, :]
        + np.log(np.asarray(coef.interaction_segment_scale))[segment, None]
        + np.asarray(coef.interaction_engagement_slope)[None, :] * state.engagement[:, None]
        + np.asarray(coef.interaction_trend_per_year)[None, :] * cal.trend_years()[month]
        + coef.interaction_noise * noise[0][:, None]
        + digital[None, :] * coef.digital_interaction_noise * noise[1][:, None]
    )
    return rng.poisson(np.exp(log_rate) * state.fraction[:, None])


def _interaction_types(rng, engagement: np.ndarray, quality: np.ndarray, coef) -> np.ndarray:
    complaint = expit(
        coef.complaint_intercept
        - coef.complaint_engagement_slope * engagement
        - coef.complaint_quality_slope * quality
    )
    draw = rng.random(engagement.size)
    routine = _choose(
        rng, np.array(_ROUTINE_INTERACTIONS), np.zeros(engagement.size, dtype=np.int64)
    )
    return np.where(
        draw < complaint, COMPLAINT, np.where(draw < complaint + coef.survey_share, SURVEY, routine)
    )


# ======================================================================================
# Financial statements
# ======================================================================================


def _financials_table(rng, customers, latent, events, cal, coef, ids) -> pd.DataFrame:
    """Statements reported later (or not at all) by weaker credits, with ratios that follow quality."""
    customer, period_end, quarterly = _statement_periods(customers, events, cal)
    month = np.clip(cal.month_of(period_end), 0, cal.months - 1)
    quality = latent.quality[customer, month]
    k = customer.size
    missing = rng.random(k) < expit(
        coef.missing_statement_intercept - coef.missing_statement_quality_slope * quality
    )
    floor_days = np.asarray(coef.reporting_lag_days)[quarterly.astype(int)]
    scale_days = np.asarray(coef.reporting_lag_scale_days)[quarterly.astype(int)]
    lag = floor_days + scale_days * np.exp(
        -coef.reporting_lag_quality_slope * quality
        + coef.reporting_lag_noise * rng.standard_normal(k)
    )
    reported = np.maximum(
        period_end + np.minimum(lag, 400).astype(np.int64), customers.onboarding_day[customer]
    )
    keep = ~missing & (reported < events.end_day[customer])
    values = _statement_values(rng, customer, quality, quarterly, customers, coef)
    frame = pd.DataFrame(
        {
            "customer_id": ids.customer_column(customer[keep]),
            "period_end": _dates(period_end[keep]),
            "reported_date": _dates(reported[keep]),
            **{name: column[keep] for name, column in values.items()},
        }
    )
    return frame


def _statement_periods(
    customers: _Customers, events: _Events, cal: _Calendar
) -> tuple[np.ndarray, ...]:
    """Quarter ends (large, multinational, SPV) or year ends (others) while on the books."""
    first_quarter = (cal.first_month - 12) // 3 * 3 + 2  # a March, June, September or December
    quarter_month = np.arange(first_quarter, cal.first_month + cal.months, 3)
    period_end = _month_start_day(quarter_month + 1) - 1
    year_end = (quarter_month % 12) == 11
    quarterly = np.isin(customers.segment, (LARGE, MULTINATIONAL, PROJECT_SPV))
    valid = (
        (quarterly[:, None] | year_end[None, :])
        & (period_end[None, :] >= customers.onboarding_day[:, None] - 180)
        & (period_end[None, :] < events.end_day[:, None])
    )
    customer, period = np.nonzero(valid)
    return customer, period_end[period], quarterly[customer]


def _statement_values(rng, customer, quality, quarterly, customers, coef) -> dict[str, np.ndarray]:
    k = customer.size
    noise = rng.standard_normal((8, k))
    period = np.where(quarterly, 0.25, 1.0)
    segment, industry = customers.segment[customer], customers.industry[customer]
    revenue = customers.revenue[customer] * np.exp(
        coef.revenue_quality_slope * quality + coef.revenue_noise * noise[0]
    )
    margin = (
        np.asarray(coef.ebitda_margin)[industry]
        + coef.margin_quality_slope * quality
        + coef.margin_noise * noise[1]
    )
    debt = customers.revenue[customer] * np.asarray(coef.debt_to_revenue)[segment]
    debt = debt * np.exp(-coef.debt_quality_slope * quality + coef.debt_noise * noise[2])
    rate = coef.debt_interest_rate - coef.debt_interest_quality_slope * quality + 0.005 * noise[3]
    interest = debt * np.maximum(rate, 0.005) * period
    current_assets = (
        revenue * coef.current_assets_to_revenue * np.exp(0.1 * quality + 0.2 * noise[4])
    )
    current_ratio = np.exp(
        coef.current_ratio_log_mean
        + coef.current_ratio_quality_slope * quality
        + coef.current_ratio_noise * noise[5]
    )
    cash_share = expit(
        coef.cash_share_intercept
        + coef.cash_share_quality_slope * quality
        + coef.cash_share_noise * noise[6]
    )
    spv = segment == PROJECT_SPV
    debt_service = np.where(spv, debt * coef.debt_service_share * period, np.nan)
    dscr = coef.dscr_mean + coef.dscr_quality_slope * quality + coef.dscr_noise * noise[7]
    return {
        "revenue": np.round(revenue * period, 2),
        "ebitda": np.round(revenue * period * margin, 2),
        "total_debt": np.round(debt, 2),
        "interest_expense": np.round(interest, 2),
        "current_assets": np.round(current_assets, 2),
        "current_liabilities": np.round(current_assets / current_ratio, 2),
        "cash": np.round(current_assets * cash_share, 2),
        "cfads": np.round(np.where(spv, debt_service * dscr, np.nan), 2),
        "debt_service": np.round(debt_service, 2),
    }


# ======================================================================================
# Current-account balances
# ======================================================================================

_BALANCE_DAYS = (14, -1)  # observed on the 15th and on the last day of every month


def _account_balances_table(
    rng, customers: _Customers, latent: _Latent, events: _Events, windows: _Windows, cal, coef, ids
) -> pd.DataFrame:
    """End-of-day balances of the current accounts, mid-month and at month end, while on the books.

    The buffer, in months of revenue, follows the month's credit quality and engagement
    plus a persistent swing of the firm's own (AR(1)); each dated balance adds fresh
    noise. In distress the buffer drains by ``account_distress_drain`` a month, so the
    account is soon overdrawn. Nothing after the relationship ends (churn or default).
    Drawn from a stream of its own and fed into no hazard: every other table and the
    oracle are the same with or without it.
    """
    n, months = customers.n, cal.months
    first = rng.standard_normal(n)  # stationary: unit variance from the first month on
    swings = _ar1_paths(rng, first, months, coef.account_buffer_persistence)
    noise = rng.standard_normal((n, months, len(_BALANCE_DAYS)))
    month = np.arange(months)
    months_distressed = np.maximum(month[None, :] - events.onset_month[:, None] + 1, 0)
    buffer = (
        coef.account_buffer_intercept
        + coef.account_buffer_quality_slope * latent.quality
        + coef.account_buffer_engagement_slope * latent.engagement
        + coef.account_buffer_noise * swings
        - coef.account_distress_drain * months_distressed
    )
    days = np.stack(
        [cal.start_of(month) + d if d >= 0 else cal.end_of(month) for d in _BALANCE_DAYS], axis=-1
    )  # (months, observations)
    day = days[None, :, :]
    seen = (day >= windows.low[:, :, None]) & (day < windows.high[:, :, None])
    customer, month_index, which = np.nonzero(seen)  # customer-major, then date order
    monthly_revenue = customers.revenue[customer] / 12.0
    balance = monthly_revenue * (
        buffer[customer, month_index]
        + coef.account_observation_noise * noise[customer, month_index, which]
    )
    return pd.DataFrame(
        {
            "customer_id": ids.customer_column(customer),
            "balance_date": _dates(days[month_index, which]),
            "balance": np.round(balance, 2),
        }
    )


# ======================================================================================
# Tables of the contract
# ======================================================================================


@dataclass(frozen=True)
class _Ids:
    """Pseudonymous ids: C000001 (customers, in onboarding order), F0000001, A0000001, RM0001.

    Of one block of firms: customer ids are the book's; facilities and applications keep
    the block's own numbers from 0, which ``_numbered_blocks`` turns into ids.
    """

    customers: pa.Array

    @classmethod
    def block(cls, low: int, high: int) -> _Ids:
        return cls(pa.array([f"C{i:06d}" for i in range(low + 1, high + 1)], pa.string()))

    def customer_column(self, index: np.ndarray):
        return pd.array(self.customers.take(pa.array(index)), dtype="str")

    def facility_column(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(index, dtype=np.int64)

    def application_column(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(index, dtype=np.int64)


def _customers_table(
    customers: _Customers, events: _Events, ids: _Ids, rm_labels: Sequence[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids.customer_column(np.arange(customers.n)),
            "segment": _text(SEGMENTS, customers.segment),
            "industry": _text(INDUSTRIES, customers.industry),
            "region": _text(REGIONS, customers.region),
            "onboarding_date": _dates(customers.onboarding_day),
            "relationship_end_date": _dates(events.churn_day),
            "green_flag": customers.green,
            "inclusive_flag": customers.inclusive,
            "rm_id": _text(rm_labels, customers.rm),
        }
    )


def _facilities_table(facilities: _Facilities, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "facility_id": ids.facility_column(np.arange(facilities.customer.size)),
            "customer_id": ids.customer_column(facilities.customer),
            "product": _text(PRODUCTS, facilities.product),
            "origination_date": _dates(facilities.origination_day),
            "maturity_date": _dates(facilities.maturity_day),
            "close_date": _dates(facilities.close_day),
            "limit_amount": facilities.limit,
            "interest_rate": facilities.interest_rate,
            "fee_rate": facilities.fee_rate,
            "repayment_type": _text(REPAYMENT_TYPES, facilities.repayment_type),
            "collateral_type": _text(COLLATERAL_TYPES, facilities.collateral),
            "green_loan": facilities.green,
        }
    )


def _applications_table(applications: _Applications, ids: _Ids) -> pd.DataFrame:
    order = np.lexsort((applications.submitted_day, applications.customer))
    return pd.DataFrame(
        {
            "application_id": ids.application_column(np.arange(order.size)),
            "customer_id": ids.customer_column(applications.customer[order]),
            "submitted_date": _dates(applications.submitted_day[order]),
            "product": _text(PRODUCTS, applications.product[order]),
            "amount": applications.amount[order],
            "decision": _text(DECISIONS, applications.decision[order]),
            "decided_date": _dates(applications.decided_day[order]),
        }
    )


# ======================================================================================
# Truth
# ======================================================================================


def _latent_table(customers, latent, events, windows, cal, ids) -> pd.DataFrame:
    """Monthly states while on the books; ``active``: at risk of distress and churn that month."""
    customer, month = np.nonzero(windows.high > windows.low)
    onboarding_month = cal.month_of(customers.onboarding_day)[customer]
    distressed = events.onset_month[customer] <= month
    active = (
        (onboarding_month < month)
        & (events.onset_month[customer] >= month)
        & (events.churn_month[customer] >= month)
    )
    return pd.DataFrame(
        {
            "customer_id": ids.customer_column(customer),
            "month_start": _dates(cal.start_of(month)),
            "credit_quality": latent.credit[customer, month],
            "engagement": latent.engagement[customer, month],
            "distressed": distressed,
            "active": active,
        }
    )


def _environment_table(env: _Environment, cal: _Calendar) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "month_start": _dates(cal.start_of(np.arange(cal.span))),
            "macro": env.macro,
            "credit_crunch": env.credit_crunch,
        }
    )
    for index, name in enumerate(INDUSTRIES):
        frame[f"industry_{name}"] = env.industry[index]
    return frame


def _events_table(events: _Events, cal: _Calendar, ids: _Ids) -> pd.DataFrame:
    """One row per customer; the default date may fall after the data's end."""
    onset = np.where(
        events.onset_month < _NEVER, cal.start_of(np.minimum(events.onset_month, cal.span)), _NEVER
    )
    return pd.DataFrame(
        {
            "customer_id": ids.customer_column(np.arange(events.onset_month.size)),
            "distress_onset_month": _dates(onset),
            "default_date": _dates(events.default_day),
            "churn_date": _dates(events.churn_day),
        }
    )


def _oracle_table(
    book: _Book, schedules: _oracle.Schedules, hazards, cal, *, default_dpd, horizons
) -> pd.DataFrame:
    """P(default) and P(churn) within each window from every month start on the books."""
    customers, events, latent = book.customers, book.events, book.latent
    snapshot_starts = cal.start_of(np.arange(1, cal.months + 1))
    eligible = (customers.onboarding_day[:, None] < snapshot_starts[None, :]) & (
        events.end_day[:, None] >= snapshot_starts[None, :]
    )
    customer, column = np.nonzero(eligible)
    snapshot = column + 1
    churn_base = hazards.churn_base(customers.segment, customers.inclusive, customers.region)
    onboarding_month = cal.month_of(customers.onboarding_day)
    out = {
        "customer_id": book.ids.customer_column(customer),
        "snapshot_date": _dates(cal.start_of(snapshot)),
    }
    for horizon in horizons:
        default, churn = _oracle.event_probabilities(
            schedules,
            cal,
            segment=customers.segment[customer],
            industry=customers.industry[customer],
            churn_base=churn_base[customer],
            new_client_months_left=onboarding_month[customer]
            + hazards.new_client_months
            - snapshot,
            snapshot=snapshot,
            credit=latent.credit[customer, snapshot - 1],
            engagement=latent.engagement[customer, snapshot - 1],
            onset_month=events.onset_month[customer],
            default_day=events.default_day[customer],
            default_dpd=default_dpd,
            default_horizon=horizon,
            churn_horizon=horizon,
        )
        out[f"oracle_default_{horizon}m"] = default
        out[f"oracle_churn_{horizon}m"] = churn
    return pd.DataFrame(out)


# ======================================================================================
# Small helpers
# ======================================================================================


def _normalised(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _choose(rng: np.random.Generator, probabilities: np.ndarray, group: np.ndarray) -> np.ndarray:
    """One category per row, drawn from the probability row of the row's group."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative = cumulative / cumulative[:, -1:]
    draw = rng.random(group.size)
    # the number of cumulative shares at or below the draw, group by group
    group = np.asarray(group)
    if cumulative.shape[0] == 1:
        return np.searchsorted(cumulative[0], draw, side="right").astype(np.int64)
    out = np.empty(group.size, dtype=np.int64)
    for g in np.unique(group):
        rows = group == g
        out[rows] = np.searchsorted(cumulative[g], draw[rows], side="right")
    return out


def _dates(days: np.ndarray) -> np.ndarray:
    """datetime64[ns] at midnight from days since 1970-01-01 (_NEVER becomes NaT)."""
    days = np.asarray(days, dtype=np.int64)
    missing = days >= _NEVER
    out = np.where(missing, 0, days).astype("datetime64[D]").astype("datetime64[ns]")
    out[missing] = np.datetime64("NaT")
    return out


def _timestamps(seconds: np.ndarray) -> np.ndarray:
    return seconds.astype("datetime64[s]").astype("datetime64[ns]")


def _text(labels, codes: np.ndarray):
    """A ``str`` column of ``labels[codes]`` (negative codes are missing)."""
    codes = np.asarray(codes, dtype=np.int64)
    indices = pa.array(np.maximum(codes, 0), mask=codes < 0)
    return pd.array(pa.array(list(labels), pa.string()).take(indices), dtype="str")
