"""The synthetic portfolio: determinism, the contract, behaviour before events, the oracle."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from research.data import synthetic
from research.data.contract import (
    DIGITAL_INTERACTION_CHANNELS,
    DIGITAL_TRANSACTION_CHANNELS,
    INDUSTRIES,
    REGIONS,
    SEGMENTS,
    TABLES,
)

DPD = 90
START = "2019-01-01"
# The contract's tables the generator writes: every one but the bank's own ``events`` (the
# synthetic labels come from repayments and relationship end dates).
GENERATED = tuple(name for name in TABLES if name != "events")


def _portfolio(n: int, months: int, seed: int, scenario: str = "baseline", per_month: float = 3.0):
    return synthetic.generate_portfolio(
        n_customers=n,
        start=START,
        months=months,
        scenario=scenario,
        transactions_per_month=per_month,
        seed=seed,
    )


@pytest.fixture(scope="module")
def book() -> synthetic.Portfolio:
    """Six years of 3,000 customers: enough events to see the mechanisms."""
    return _portfolio(3000, 72, seed=11)


@pytest.fixture(scope="module")
def small() -> synthetic.Portfolio:
    return _portfolio(300, 36, seed=5)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def _first_default(repayments: pd.DataFrame, observation_end: pd.Timestamp) -> pd.Series:
    """First day an instalment reached DPD days past due, per customer (observed ones only)."""
    reached = repayments["due_date"] + pd.Timedelta(days=DPD)
    late = repayments["paid_date"].isna() | (repayments["paid_date"] >= reached)
    hit = repayments.loc[late & (reached < observation_end)].assign(reached=reached)
    return hit.groupby("customer_id")["reached"].min()


# --- determinism ---------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_parquet_bytes(small):
    again = _portfolio(300, 36, seed=5)
    for name in (*small.tables, *small.truth):
        first = small.tables.get(name, small.truth.get(name))
        second = again.tables.get(name, again.truth.get(name))
        pd.testing.assert_frame_equal(first, second)
        assert _parquet_bytes(first) == _parquet_bytes(second), name


def test_different_seed_gives_different_tables(small):
    other = _portfolio(300, 36, seed=6)
    for name in ("customers", "repayments", "transactions", "interactions"):
        assert not small.tables[name].equals(other.tables[name]), name


# --- the contract --------------------------------------------------------------------


def test_tables_follow_the_contract_columns_and_dtypes(small):
    kinds = {
        "id": "str",
        "category": "str",
        "date": "datetime64[ns]",
        "timestamp": "datetime64[ns]",
        "float": "float64",
        "bool": "bool",
    }
    assert list(small.tables) == list(GENERATED)
    for name in GENERATED:
        spec, frame = TABLES[name], small.tables[name]
        assert tuple(frame.columns) == spec.column_names, name
        for column in spec.columns:
            assert str(frame[column.name].dtype) == kinds[column.kind], (name, column.name)
            if column.categories:
                assert set(frame[column.name].dropna()) <= set(column.categories), (
                    name,
                    column.name,
                )
            if not column.nullable:
                assert frame[column.name].notna().all(), (name, column.name)


def test_tables_pass_the_schema_validator_unchanged(small):
    schema = pytest.importorskip("research.data.schema")
    validated = schema.validate_tables(small.tables)
    assert "account_balances" in validated
    for name, frame in small.tables.items():
        # Optional flag columns come back as nullable booleans (an absent one is all empty).
        changed = {
            c: str(t) for c, t in validated[name].dtypes.items() if str(t) != str(frame[c].dtype)
        }
        assert set(changed.values()) <= {"boolean"}, (name, changed)
        assert all(str(frame[c].dtype) == "bool" for c in changed), (name, changed)
        pd.testing.assert_frame_equal(validated[name], frame.astype(changed))


# --- blocks of firms: any worker count, the same bytes -------------------------------

BLOCKED = {"n": 300, "months": 36, "seed": 5, "block_firms": 64}  # five blocks, the last short


def _blocked(**extra):
    return synthetic.generate_portfolio(
        n_customers=BLOCKED["n"],
        start=START,
        months=BLOCKED["months"],
        scenario="baseline",
        transactions_per_month=3.0,
        seed=BLOCKED["seed"],
        block_firms=BLOCKED["block_firms"],
        **extra,
    )


def _write_blocked(folder, **extra):
    return synthetic.write_portfolio(
        folder / "raw",
        folder / "truth",
        n_customers=BLOCKED["n"],
        start=START,
        months=BLOCKED["months"],
        scenario="baseline",
        transactions_per_month=3.0,
        seed=BLOCKED["seed"],
        block_firms=BLOCKED["block_firms"],
        **extra,
    )


def _file_bytes(folder) -> dict[str, bytes]:
    return {
        f"{part}/{path.name}": path.read_bytes()
        for part in ("raw", "truth")
        for path in sorted((folder / part).iterdir())
    }


@pytest.fixture(scope="module")
def blocked():
    return _blocked()


def test_two_workers_give_the_same_tables_as_one(blocked):
    two = _blocked(workers=2)
    for name in (*blocked.tables, *blocked.truth):
        first = blocked.tables.get(name, blocked.truth.get(name))
        pd.testing.assert_frame_equal(first, two.tables.get(name, two.truth.get(name)))


def test_written_files_are_byte_identical_for_one_and_two_workers(tmp_path):
    one = _write_blocked(tmp_path / "one", workers=1)
    two = _write_blocked(tmp_path / "two", workers=2, keep_blocks=2)
    assert one.rows == two.rows
    assert _file_bytes(tmp_path / "one") == _file_bytes(tmp_path / "two")
    # one row group per block and table: the blocks are appended, never re-cut
    for name in ("customers", "transactions", "oracle"):
        part = "truth" if name == "oracle" else "raw"
        assert pq.ParquetFile(tmp_path / "one" / part / f"{name}.parquet").num_row_groups == 5


def test_a_workers_frames_come_back_whole_through_the_handoff_file(tmp_path):
    """The frames a worker leaves in a file: equal, writable, and the file gone once mapped."""
    frames = {
        "mixed": pd.DataFrame(
            {
                "customer_id": pd.array(["C1", None, "C333"], dtype="str"),
                "day": pd.to_datetime(["2020-01-01", None, "2021-06-30"]),
                "amount": [1.5, np.nan, -2.0],
                "flag": pd.array([True, None, False], dtype="boolean"),
                "count": np.array([1, 2, 3], dtype=np.int64),
            }
        ),
        "empty": pd.DataFrame({"x": np.array([], dtype=float)}),
    }
    path = synthetic._dump_frames(frames, tmp_path / "block.pickle")
    back = synthetic._load_frames(path)
    assert not path.exists()
    assert sorted(back) == sorted(frames)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(back[name], frame)
    back["mixed"].loc[0, "amount"] = 9.0  # a private mapping: writable, the source untouched
    assert frames["mixed"].loc[0, "amount"] == 1.5


def test_written_files_read_back_as_the_validated_tables_and_the_truth(blocked, tmp_path):
    from research.data.io import read_tables
    from research.data.schema import validate_tables

    written = _write_blocked(tmp_path, workers=1, keep_blocks=2)
    back = read_tables(tmp_path / "raw")
    validated = validate_tables(blocked.tables)
    assert sorted(back) == sorted(validated)
    for name, frame in validated.items():
        pd.testing.assert_frame_equal(back[name], frame)
        assert written.rows[name] == len(frame)
    for name, frame in blocked.truth.items():
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "truth" / f"{name}.parquet"), frame
        )
    # the kept blocks (the first and the last, spread over the book) are theirs, all tables
    ids = [f"C{i:06d}" for i in (*range(1, 65), *range(257, 301))]
    assert written.firms == 300 and written.sample_firms == len(ids)
    sample = written.sample
    for name, frame in {**validated, "oracle": blocked.truth["oracle"]}.items():
        kept = sample.tables.get(name, sample.truth.get(name))
        expected = frame[frame["customer_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, expected)


def test_ids_run_on_across_blocks(blocked):
    facilities, applications = blocked.tables["facilities"], blocked.tables["applications"]
    assert facilities["facility_id"].tolist() == [
        f"F{i:07d}" for i in range(1, len(facilities) + 1)
    ]
    assert applications["application_id"].tolist() == [
        f"A{i:07d}" for i in range(1, len(applications) + 1)
    ]
    assert blocked.tables["customers"]["customer_id"].tolist() == [
        f"C{i:06d}" for i in range(1, 301)
    ]
    for name in ("facility_balances", "repayments"):
        frame = blocked.tables[name]
        owner = frame["facility_id"].map(facilities.set_index("facility_id")["customer_id"])
        assert owner.equals(frame["customer_id"]), name
        assert frame["facility_id"].is_monotonic_increasing, name


def test_a_block_draws_from_its_own_streams(blocked):
    """Another block size is another stream (stated in the module's docstring); the book's
    draws, the clients and the environment, do not depend on it."""
    whole = synthetic.generate_portfolio(
        n_customers=BLOCKED["n"],
        start=START,
        months=BLOCKED["months"],
        scenario="baseline",
        transactions_per_month=3.0,
        seed=BLOCKED["seed"],
    )
    static = ["customer_id", "segment", "industry", "region", "onboarding_date", "rm_id"]
    pd.testing.assert_frame_equal(
        whole.tables["customers"][static], blocked.tables["customers"][static]
    )
    pd.testing.assert_frame_equal(whole.truth["environment"], blocked.truth["environment"])
    assert not whole.tables["transactions"].equals(blocked.tables["transactions"])
    with pytest.raises(ValueError, match="block_firms"):
        synthetic.generate_portfolio(
            n_customers=10,
            start=START,
            months=12,
            scenario="baseline",
            transactions_per_month=1.0,
            seed=1,
            block_firms=0,
        )


# --- account balances: a stream of their own -----------------------------------------


def _fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


# The tables and truth of _portfolio(300, 36, seed=5) but account balances, pinned when the
# generator moved to per-block streams (issue 18; before, commit 1cdf711 pinned the
# single-stream figures). Only the environment, drawn for the whole book, kept its bytes.
# A deliberate change to the generator updates them.
BEFORE_BALANCES = {
    "customers": "faabf44be26845ee",
    "facilities": "58fdee4ce391067a",
    "facility_balances": "50274fe495cf20bc",
    "repayments": "6cb6eb1698212d22",
    "transactions": "88f59c1443c5af82",
    "interactions": "ccc7b4485e7f658f",
    "financials": "c4f7d86bf3b927a4",
    "applications": "a5c258ce88a92b54",
    "latent_monthly": "072bfb7bdfe36953",
    "environment": "8b9b5635bf067de3",  # unchanged by issue 18
    "events": "291209d96af05152",
    "oracle": "dd625e0af48444d4",  # transition tails below _oracle.TAIL_CUT dropped
}


def test_balances_left_every_other_table_and_the_truth_as_they_were(small):
    now = {name: _fingerprint(frame) for name, frame in {**small.tables, **small.truth}.items()}
    assert {name: now[name] for name in BEFORE_BALANCES} == BEFORE_BALANCES


def test_the_balance_stream_feeds_nothing_else(small, monkeypatch):
    streams = synthetic._streams

    def reseeded(seed, block=None):
        out = streams(seed, block)
        out["account_balances"] = np.random.default_rng(12345)
        return out

    monkeypatch.setattr(synthetic, "_streams", reseeded)
    other = _portfolio(300, 36, seed=5)
    assert not other.tables["account_balances"]["balance"].equals(
        small.tables["account_balances"]["balance"]
    )
    for name in (*small.tables, *small.truth):
        if name != "account_balances":
            first = small.tables.get(name, small.truth.get(name))
            pd.testing.assert_frame_equal(first, other.tables.get(name, other.truth.get(name)))


def test_balances_are_dated_mid_month_and_at_month_end_while_on_the_books(book):
    balances = book.tables["account_balances"]
    assert not balances.duplicated(["customer_id", "balance_date"]).any()
    dates = balances["balance_date"]
    assert ((dates.dt.day == 15) | dates.dt.is_month_end).all()
    events = book.truth["events"].set_index("customer_id")
    customers = book.tables["customers"].set_index("customer_id")
    end = events["churn_date"].fillna(events["default_date"]).fillna(pd.Timestamp("2025-01-01"))
    who = balances["customer_id"]
    assert (dates >= who.map(customers["onboarding_date"])).all()
    assert (dates < who.map(end)).all()  # the account is closed at churn or default
    assert 0.05 < (balances["balance"] < 0).mean() < 0.3


def test_balances_fall_before_default(book):
    """Six months of balances before 1 January 2022: lower and more often overdrawn for defaulters."""
    snapshot = pd.Timestamp("2022-01-01")
    balances = book.tables["account_balances"]
    start = snapshot - pd.DateOffset(months=6)
    window = balances[balances["balance_date"].between(start, snapshot, inclusive="left")]
    per_customer = window.groupby("customer_id")["balance"].agg(
        mean="mean", overdrawn=lambda b: (b < 0).mean()
    )
    default = book.truth["events"].set_index("customer_id")["default_date"]
    within_year = default.reindex(per_customer.index).between(
        snapshot, snapshot + pd.DateOffset(months=12), inclusive="left"
    )
    assert within_year.sum() >= 20
    mean = per_customer["mean"]
    auc = stats.mannwhitneyu(mean[~within_year], mean[within_year]).statistic / (
        within_year.sum() * (~within_year).sum()
    )
    assert auc > 0.65
    overdrawn = per_customer["overdrawn"]
    assert overdrawn[within_year].mean() > 2 * overdrawn[~within_year].mean()


def test_every_segment_industry_region_and_flag_appears(book):
    customers = book.tables["customers"]
    assert set(customers["segment"]) == set(SEGMENTS)
    assert set(customers["industry"]) == set(INDUSTRIES)
    assert set(customers["region"]) == set(REGIONS)
    assert customers["green_flag"].any() and customers["inclusive_flag"].any()
    inclusive_segments = set(customers.loc[customers["inclusive_flag"], "segment"])
    assert inclusive_segments <= {"micro", "small"}
    assert (
        customers["onboarding_date"] >= pd.Timestamp(START)
    ).mean() > 0.2  # onboarded during the history


def test_active_customers_pay_every_month_and_nothing_follows_the_end(book):
    customers = book.tables["customers"].set_index("customer_id")
    months_with_dues = book.tables["repayments"].groupby("customer_id")["due_date"].nunique()
    latent = book.truth["latent_monthly"]
    active_months = latent[latent["active"] & ~latent["distressed"]].groupby("customer_id").size()
    # an at-risk month ends with at least one instalment (the month of leaving may end before it)
    assert (months_with_dues.reindex(active_months.index).fillna(0) >= active_months - 1).all()
    transactions = book.tables["transactions"].join(
        customers["relationship_end_date"], on="customer_id"
    )
    assert not (transactions["timestamp"] >= transactions["relationship_end_date"]).any()


def test_events_in_the_truth_are_the_events_in_the_tables(book):
    events = book.truth["events"].set_index("customer_id")
    customers = book.tables["customers"].set_index("customer_id")
    assert events["churn_date"].equals(customers["relationship_end_date"])
    end = pd.Timestamp("2025-01-01")
    observed = _first_default(book.tables["repayments"], end)
    truth = events["default_date"].dropna()
    pd.testing.assert_series_equal(observed, truth[truth < end], check_names=False)
    assert not (events["churn_date"].notna() & events["default_date"].notna()).any()


# --- behaviour -----------------------------------------------------------------------


def _annual_default_rates(book: synthetic.Portfolio) -> pd.DataFrame:
    customers = book.tables["customers"].set_index("customer_id")
    first = _first_default(book.tables["repayments"], pd.Timestamp("2025-01-01")).reindex(
        customers.index
    )
    rows = []
    for year in range(2019, 2025):
        start, stop = pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1)
        ends = customers["relationship_end_date"]
        active = (customers["onboarding_date"] < start) & ~(ends < start) & ~(first < start)
        defaulted = first.between(start, stop, inclusive="left")
        rows.append(
            pd.DataFrame({"year": year, "segment": customers["segment"], "default": defaulted})[
                active
            ]
        )
    return pd.concat(rows)


def test_default_rates_rise_in_the_downturn_and_differ_by_segment(book):
    rates = _annual_default_rates(book)
    by_year = rates.groupby("year")["default"].mean()
    assert by_year[[2020, 2021]].mean() > 1.3 * by_year[[2023, 2024]].mean()
    assert 0.02 < by_year[[2023, 2024]].mean() < 0.045
    by_segment = rates.groupby("segment")["default"].mean()
    assert by_segment["micro"] > by_segment["medium"] > by_segment["large"]
    assert by_segment[["micro", "small"]].min() > by_segment[["large", "multinational"]].max()


def _window_change(
    frame: pd.DataFrame, time: str, value: str, anchor: pd.Series, recent=(-6, 0), early=(-18, -12)
):
    """Per customer: mean of ``value`` in the recent months before ``anchor`` minus the earlier window."""
    joined = frame.join(anchor.rename("anchor"), on="customer_id", how="inner")
    months = (joined[time] - joined["anchor"]).dt.days / 30.44
    mean = {}
    for name, (low, high) in {"recent": recent, "early": early}.items():
        inside = joined[(months >= low) & (months < high)]
        mean[name] = inside.groupby("customer_id")[value].sum() / (high - low)
    both = pd.concat(mean, axis=1).fillna(0.0)
    return both["recent"] - both["early"]


def _comparison_anchors(book, events: pd.Series, rng: np.random.Generator) -> pd.Series:
    """A pseudo event date for customers without the event, inside their active life."""
    customers = book.tables["customers"].set_index("customer_id")
    quiet = customers.index.difference(events.index)
    lo = customers.loc[quiet, "onboarding_date"].clip(lower=pd.Timestamp("2020-07-01")).to_numpy()
    hi = customers.loc[quiet, "relationship_end_date"].fillna(pd.Timestamp("2024-12-31")).to_numpy()
    keep = hi > lo + np.timedelta64(30, "D")
    draws = lo[keep] + (rng.random(keep.sum()) * (hi[keep] - lo[keep]))
    return pd.Series(pd.to_datetime(draws).normalize(), index=quiet[keep])


def test_defaulters_pay_later_and_receive_less_before_distress(book):
    events = book.truth["events"].set_index("customer_id")
    onset = events["distress_onset_month"].dropna()
    onset = onset[onset >= pd.Timestamp("2020-07-01")]
    others = _comparison_anchors(book, onset, np.random.default_rng(0))
    repayments = book.tables["repayments"]
    days_late = (repayments["paid_date"] - repayments["due_date"]).dt.days.clip(lower=0).fillna(0)
    late = repayments.assign(days_late=days_late)
    lateness = {
        name: _window_change(late, "due_date", "days_late", anchor)
        for name, anchor in (("defaulters", onset), ("others", others))
    }
    assert lateness["defaulters"].mean() > lateness["others"].mean() + 1.0
    transactions = book.tables["transactions"]
    inflows = transactions[transactions["amount"] > 0]
    scale = inflows.groupby("customer_id")["amount"].mean()
    relative = inflows.assign(amount=inflows["amount"] / inflows["customer_id"].map(scale))
    change = {
        name: _window_change(relative, "timestamp", "amount", anchor)
        for name, anchor in (("defaulters", onset), ("others", others))
    }
    assert change["defaulters"].median() < change["others"].median()


def test_churners_go_quiet_digitally_and_withdraw_requests_before_leaving(book):
    ends = book.tables["customers"].set_index("customer_id")["relationship_end_date"].dropna()
    ends = ends[ends >= pd.Timestamp("2020-07-01")]
    others = _comparison_anchors(book, ends, np.random.default_rng(1))
    interactions = book.tables["interactions"]
    digital = interactions.assign(
        n=interactions["channel"].isin(DIGITAL_INTERACTION_CHANNELS).astype(float)
    )
    change = {
        name: _window_change(digital, "timestamp", "n", anchor)
        for name, anchor in (("churners", ends), ("others", others))
    }
    assert change["churners"].mean() < change["others"].mean() - 0.1
    transactions = book.tables["transactions"]
    digital_tx = transactions.assign(
        n=transactions["channel"].isin(DIGITAL_TRANSACTION_CHANNELS).astype(float)
    )
    change_tx = {
        name: _window_change(digital_tx, "timestamp", "n", anchor)
        for name, anchor in (("churners", ends), ("others", others))
    }
    assert change_tx["churners"].mean() < change_tx["others"].mean()
    applications = book.tables["applications"].join(ends.rename("end"), on="customer_id")
    before_leaving = applications["submitted_date"] >= applications["end"] - pd.DateOffset(
        months=12
    )
    withdrawn = applications["decision"] == "withdrawn"
    assert withdrawn[before_leaving].mean() > 1.5 * withdrawn[applications["end"].isna()].mean()


# --- the oracle ----------------------------------------------------------------------


def test_oracle_is_a_probability_for_every_customer_month_on_the_books(book):
    oracle = book.truth["oracle"]
    assert (
        oracle[["oracle_default_12m", "oracle_churn_12m"]]
        .apply(lambda c: c.between(0, 1))
        .all()
        .all()
    )
    latent = book.truth["latent_monthly"]
    on_books = latent[latent["month_start"] > pd.Timestamp(START)]
    assert len(oracle) > 0.9 * len(on_books)
    assert not oracle.duplicated(["customer_id", "snapshot_date"]).any()


def test_oracle_rises_as_the_latent_state_falls(book):
    latent = book.truth["latent_monthly"].assign(
        snapshot_date=lambda f: f["month_start"] + pd.DateOffset(months=1)
    )
    joined = book.truth["oracle"].merge(latent, on=["customer_id", "snapshot_date"])
    calm = joined[(joined["snapshot_date"] == pd.Timestamp("2024-01-01")) & ~joined["distressed"]]
    assert calm["oracle_default_12m"].corr(calm["credit_quality"], method="spearman") < -0.5
    assert calm["oracle_churn_12m"].corr(calm["engagement"], method="spearman") < -0.5


def test_oracle_agrees_with_simulating_forward_from_the_state():
    portfolio = _portfolio(400, 40, seed=3, scenario="downturn", per_month=1.0)
    coef = synthetic.GeneratorCoefficients()
    hazards = synthetic.HazardModel.from_coefficients(coef)
    env = portfolio.truth["environment"]
    customers = portfolio.tables["customers"].set_index("customer_id")
    latent = portfolio.truth["latent_monthly"].set_index(["customer_id", "month_start"])
    oracle = portfolio.truth["oracle"]
    candidates = oracle[
        (oracle["oracle_default_12m"].between(0.01, 0.99)) & (oracle["oracle_churn_12m"] > 0.01)
    ]
    rng = np.random.default_rng(0)
    for _, row in candidates.sample(4, random_state=2).iterrows():
        state = latent.loc[(row["customer_id"], row["snapshot_date"] - pd.DateOffset(months=1))]
        default, churn = _simulate_forward(
            rng,
            hazards,
            coef,
            env,
            customers.loc[row["customer_id"]],
            row["snapshot_date"],
            state,
            paths=40_000,
        )
        for simulated, exact in (
            (default, row["oracle_default_12m"]),
            (churn, row["oracle_churn_12m"]),
        ):
            error = np.sqrt(exact * (1 - exact) / 40_000)
            assert abs(simulated - exact) < 4 * error + 0.002


def _simulate_forward(rng, hazards, coef, env, customer, snapshot, state, paths):
    """Monte-Carlo probabilities of default and churn within 12 months of ``snapshot``."""
    segment, industry = SEGMENTS.index(customer["segment"]), INDUSTRIES.index(customer["industry"])
    base = hazards.churn_base(
        segment, int(customer["inclusive_flag"]), REGIONS.index(customer["region"])
    )
    months = pd.to_datetime(env["month_start"])
    first = int(np.flatnonzero(months == snapshot)[0])
    start = months.iloc[0]
    onboarding = (
        (customer["onboarding_date"].year - start.year) * 12
        + customer["onboarding_date"].month
        - start.month
    )
    x = np.full(paths, state["credit_quality"])
    e = np.full(paths, state["engagement"])
    at_risk = np.ones(paths, bool)
    default = np.zeros(paths, bool)
    churn = np.zeros(paths, bool)
    window_end = snapshot + pd.DateOffset(months=12)
    for month in range(first, first + 12):
        x = coef.credit_persistence * x + np.sqrt(
            1 - coef.credit_persistence**2
        ) * rng.standard_normal(paths)
        e = coef.engagement_persistence * e + np.sqrt(
            1 - coef.engagement_persistence**2
        ) * rng.standard_normal(paths)
        p_onset = hazards.distress(
            segment,
            industry,
            x,
            env[f"industry_{customer['industry']}"].iloc[month],
            env["credit_crunch"].iloc[month],
        )
        p_churn = hazards.churn(base, month < onboarding + hazards.new_client_months, e)
        draw = rng.random((2, paths))
        onset = at_risk & (draw[0] < p_onset)
        leaves = at_risk & ~onset & (draw[1] < p_churn)
        if months.iloc[month + 1] - pd.Timedelta(days=1) + pd.Timedelta(days=DPD) < window_end:
            default |= onset
        churn |= leaves
        at_risk &= ~(onset | leaves)
    return default.mean(), churn.mean()


# --- scenarios and arguments -----------------------------------------------------------


def test_baseline_keeps_the_out_of_time_period_neutral_and_downturn_does_not(small):
    downturn = _portfolio(50, 72, seed=5, scenario="downturn", per_month=0.5)
    baseline = _portfolio(50, 72, seed=5, per_month=0.5)
    for portfolio, level in ((baseline, 0.0), (downturn, -1.5)):
        env = portfolio.truth["environment"].set_index("month_start")
        oot = env.loc["2023-09-01":"2024-12-01"]
        assert np.allclose(oot["macro"], level)
        industries = oot[[c for c in oot.columns if c.startswith("industry_")]]
        assert industries.abs().to_numpy().max() < 0.5 if level == 0.0 else True
        assert env.loc["2020-09-01":"2021-03-01", "macro"].max() < -1.0
    assert (downturn.truth["environment"]["credit_crunch"] < 0).any()
    assert (baseline.truth["environment"]["credit_crunch"] == 0).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scenario": "boom"}, "scenario"),
        ({"n_customers": 0}, "n_customers"),
        ({"start": "soon"}, "start"),
        ({"transactions_per_month": 0}, "transactions_per_month"),
    ],
)
def test_bad_arguments_name_the_argument(change, message):
    arguments = {
        "n_customers": 10,
        "start": START,
        "months": 12,
        "scenario": "baseline",
        "transactions_per_month": 1.0,
        "seed": 1,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        synthetic.generate_portfolio(**arguments)


def test_progress_bar_only_when_asked(capsys):
    synthetic.generate_portfolio(
        n_customers=20,
        start=START,
        months=12,
        scenario="baseline",
        transactions_per_month=1.0,
        seed=1,
    )
    assert capsys.readouterr().err == ""
    synthetic.generate_portfolio(
        n_customers=20,
        start=START,
        months=12,
        scenario="baseline",
        transactions_per_month=1.0,
        seed=1,
        progress=True,
    )
    captured = capsys.readouterr()
    assert "synthetic portfolio" in captured.err and captured.out == ""


def test_oracle_has_one_column_per_event_and_horizon():
    from research.data.synthetic import generate_portfolio

    portfolio = generate_portfolio(
        n_customers=40,
        start="2019-01-01",
        months=36,
        scenario="baseline",
        transactions_per_month=2,
        seed=5,
        horizons_months=(6, 12),
    )
    oracle = portfolio.truth["oracle"]
    assert [c for c in oracle.columns if c.startswith("oracle_")] == [
        "oracle_default_6m",
        "oracle_churn_6m",
        "oracle_default_12m",
        "oracle_churn_12m",
    ]
    # An event within 6 months is an event within 12 months: the longer window is never less likely.
    assert (oracle["oracle_default_6m"] <= oracle["oracle_default_12m"] + 1e-12).all()
    assert (oracle["oracle_churn_6m"] <= oracle["oracle_churn_12m"] + 1e-12).all()
