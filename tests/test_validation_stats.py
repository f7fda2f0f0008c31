"""Each validation statistic against a hand-computed or textbook case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from research import validation as v
from research.config import ParamsError, parse_section, read_params

# A four-row table: AUC = 3 of 4 (event, non-event) pairs ordered right = 0.75.
TINY_LABEL = [0, 0, 1, 1]
TINY_SCORE = [0.1, 0.4, 0.35, 0.8]


def test_auc_gini_ks_on_a_tiny_table():
    assert v.auc(TINY_LABEL, TINY_SCORE) == pytest.approx(0.75)
    assert v.gini(TINY_LABEL, TINY_SCORE) == pytest.approx(0.5)
    # Cut-offs from the top: after 0.8 TPR .5 FPR 0; after .4: .5/.5; after .35: 1/.5 -> KS = 0.5
    assert v.ks(TINY_LABEL, TINY_SCORE) == pytest.approx(0.5)


def test_auc_counts_ties_one_half_and_ignores_missing_labels():
    # pairs (event 0.5, non-event 0.5) tie: AUC = (1 + 0.5) / 2
    assert v.auc([1, 1, 0, 0], [0.5, 0.9, 0.5, 0.1]) == pytest.approx(0.875)
    assert v.auc([1, np.nan, 0], [0.9, 0.0, 0.1]) == pytest.approx(1.0)
    assert math.isnan(v.auc([1, 1], [0.2, 0.3]))


def test_auc_and_ks_agree_with_sklearn_and_scipy_on_random_scores_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + 0.8 * y, 1)  # rounded: many ties
    assert v.auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert v.ks(y, s) == pytest.approx(stats.ks_2samp(s[y == 1], s[y == 0]).statistic)
    assert v.accuracy_ratio(y, s) == pytest.approx(v.gini(y, s))


def test_labels_other_than_zero_and_one_are_refused():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        v.auc([0, 2], [0.1, 0.2])


def test_delong_variance_on_the_tiny_table():
    # Placements: events 0.35 -> 1/2, 0.8 -> 1; non-events 0.1 -> 1, 0.4 -> 1/2.
    # Var = S10/m + S01/n = 0.125/2 + 0.125/2
    assert v.delong_auc_variance(TINY_LABEL, TINY_SCORE) == pytest.approx(0.125)
    value, low, high = v.auc_confidence_interval(TINY_LABEL, TINY_SCORE)
    half = stats.norm.ppf(0.975) * math.sqrt(0.125)
    assert (value, low, high) == pytest.approx((0.75, max(0, 0.75 - half), min(1, 0.75 + half)))


def _delong_by_definition(y, a, b):
    """DeLong et al. (1988) written out pair by pair (O(m n)): AUCs and covariance."""
    pos, neg = y == 1, y == 0

    def psi(x, z):
        return (x > z) + 0.5 * (x == z)

    comps = []
    for s in (a, b):
        kernel = psi(s[pos][:, None], s[neg][None, :])
        comps.append((kernel.mean(), kernel.mean(axis=1), kernel.mean(axis=0)))
    v10 = np.vstack([c[1] for c in comps])
    v01 = np.vstack([c[2] for c in comps])
    cov = np.cov(v10) / pos.sum() + np.cov(v01) / neg.sum()
    return [c[0] for c in comps], cov


def test_delong_test_matches_the_pairwise_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = np.round(rng.normal(size=300) + y, 1)
    b = np.round(a + rng.normal(size=300), 1)
    aucs, cov = _delong_by_definition(y, a, b)
    result = v.delong_test(y, a, b)
    assert result["auc"] == pytest.approx(aucs[0])
    assert result["other_auc"] == pytest.approx(aucs[1])
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert result["z"] == pytest.approx(z)
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert v.delong_auc_variance(y, a) == pytest.approx(cov[0, 0])


def test_delong_test_of_a_score_against_a_monotone_transform_of_itself_finds_no_difference():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    s = rng.random(200) + 0.3 * y
    result = v.delong_test(y, s, np.log(s))
    assert result["auc_diff"] == pytest.approx(0.0)
    assert result["p_value"] == pytest.approx(1.0)


def test_bootstrap_interval_is_close_to_delong():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 600)
    s = rng.normal(size=600) + y
    _, low_d, high_d = v.auc_confidence_interval(y, s)
    value, low_b, high_b = v.auc_confidence_interval(y, s, bootstrap=400, seed=1)
    assert value == pytest.approx(v.auc(y, s))
    assert low_b == pytest.approx(low_d, abs=0.015)
    assert high_b == pytest.approx(high_d, abs=0.015)
    assert v.auc_confidence_interval(y, s, bootstrap=400, seed=1) == (value, low_b, high_b)


def test_roc_and_cap_points_on_the_tiny_table():
    assert v.roc_points([1, 1], [0.2, 0.3]).empty
    roc = v.roc_points(TINY_LABEL, TINY_SCORE)
    assert roc[["fpr", "tpr"]].to_numpy().tolist() == [
        [0, 0],
        [0, 0.5],
        [0.5, 0.5],
        [0.5, 1],
        [1, 1],
    ]
    cap = v.cap_points(TINY_LABEL, TINY_SCORE)
    assert cap["population_share"].tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert cap["event_share"].tolist() == [0, 0.5, 0.5, 1, 1]
    # Accuracy ratio from the CAP equals Gini: (area 0.625 - 0.5) / (perfect area 1 - 0.5 / 2 - 0.5)
    assert v.accuracy_ratio(TINY_LABEL, TINY_SCORE) == pytest.approx(0.5)


def test_brier_score_by_hand():
    assert v.brier([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)


def test_binomial_p_value_by_hand():
    # 0 events in 10 at p = 1/2: P(0) + P(10) = 2 / 1024 (two-sided, as likely or less)
    assert v.binomial_p_value(0, 10, 0.5) == pytest.approx(2 / 1024)
    assert v.binomial_p_value(5, 10, 0.5) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("events", "n", "pd_value"), [(0, 1, 0.3), (3, 100, 0.01), (12, 400, 0.05), (0, 50, 0.002)]
)
def test_jeffreys_p_value_is_the_beta_posterior_cdf(events, n, pd_value):
    expected = stats.beta(events + 0.5, n - events + 0.5).cdf(pd_value)
    assert v.jeffreys_p_value(events, n, pd_value) == pytest.approx(expected)


def test_jeffreys_p_value_closed_form_for_one_observation():
    # Beta(1/2, 3/2) cdf = (2/pi) (asin(sqrt x) + sqrt(x (1 - x)))
    x = 0.3
    closed = 2 / math.pi * (math.asin(math.sqrt(x)) + math.sqrt(x * (1 - x)))
    assert v.jeffreys_p_value(0, 1, x) == pytest.approx(closed)
    # more events than predicted: small p (underestimation); fewer: large p
    assert v.jeffreys_p_value(30, 100, 0.1) < 1e-6
    assert v.jeffreys_p_value(1, 100, 0.1) > 0.99


def test_hosmer_lemeshow_by_hand():
    label = [0, 1, 0, 1, 1, 1]
    score = [0.1, 0.1, 0.5, 0.5, 0.8, 0.8]
    # groups {0.1, 0.1}: O 1, E 0.2, var 0.18; {0.5, 0.5}: O 1 E 1; {0.8, 0.8}: O 2, E 1.6, var 0.32
    statistic = 0.8**2 / 0.18 + 0 + 0.4**2 / 0.32
    in_sample = v.hosmer_lemeshow(label, score, groups=3, fitted_on_sample=True)
    out_of_sample = v.hosmer_lemeshow(label, score, groups=3)
    assert in_sample["statistic"] == pytest.approx(statistic)
    assert in_sample["df"] == 1 and out_of_sample["df"] == 3
    assert in_sample["p_value"] == pytest.approx(stats.chi2.sf(statistic, 1))
    assert out_of_sample["p_value"] == pytest.approx(stats.chi2.sf(statistic, 3))


def test_psi_of_identical_distributions_is_zero():
    rng = np.random.default_rng(6)
    x = rng.normal(size=1000)
    assert v.psi(x, x) == pytest.approx(0.0)
    assert v.psi(["a", "b", None], ["a", "b", None], categorical=True) == pytest.approx(0.0)


def test_psi_by_hand():
    # expected 50/50, actual 25/75: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5)
    expected = (0.25 - 0.5) * math.log(0.5) + (0.75 - 0.5) * math.log(1.5)
    assert v.psi_from_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert v.psi(["a", "b"], ["a", "b", "b", "b"], categorical=True) == pytest.approx(expected)
    # numeric: development split at its median; three quarters of the new population above it
    assert v.psi([1, 2, 3, 4], [1, 4, 4, 4], bins=2) == pytest.approx(expected)


def test_population_shares_put_missing_values_in_their_own_bin():
    shares = v.population_shares([1.0, 2.0, np.nan, np.nan], [1.0, 2.0, 3.0, 4.0], bins=2)
    assert shares["bin"].iloc[-1] == v.MISSING_BIN
    assert shares["expected_share"].iloc[-1] == pytest.approx(0.5)
    assert shares["actual_share"].iloc[-1] == 0
    assert shares["expected_share"].sum() == pytest.approx(1.0)


def test_herfindahl_by_hand():
    assert v.herfindahl([1, 1]) == pytest.approx(0.5)
    assert v.herfindahl([5, 0, 0]) == pytest.approx(1.0)
    assert v.herfindahl([1, 1, 1, 1]) == pytest.approx(0.25)


def test_migration_matrix_by_hand():
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 1, 2, 3, 1, 2],
            "snapshot_date": pd.to_datetime(
                ["2024-01-01"] * 3 + ["2024-04-01"] * 3 + ["2024-07-01"] * 2
            ),
            "grade": ["A", "B", "C", "A", "C", "C", "B", "C"],
        }
    )
    matrix = v.migration_matrix(frame, rating_column="grade", classes=["A", "B", "C"])
    # Jan->Apr: A->A, B->C, C->C; Apr->Jul: A->B, C->C (customer 3 left)
    expected = [[1, 1, 0], [0, 0, 1], [0, 0, 2]]
    assert matrix.to_numpy().tolist() == expected
    summary = v.migration_summary(matrix).set_index("class")
    assert summary.loc["A", "stay_share"] == pytest.approx(0.5)
    assert summary.loc["A", "downgrade_share"] == pytest.approx(0.5)
    assert summary.loc["B", "downgrade_share"] == pytest.approx(1.0)
    assert summary.loc["A", "hhi"] == pytest.approx(0.5)
    assert summary.loc["C", "hhi"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("value", "bands", "higher", "light"),
    [
        (0.70, (0.70, 0.60), True, "green"),
        (0.65, (0.70, 0.60), True, "amber"),
        (0.60, (0.70, 0.60), True, "amber"),
        (0.59, (0.70, 0.60), True, "red"),
        (0.09, (0.10, 0.25), False, "green"),
        (0.10, (0.10, 0.25), False, "amber"),
        (0.25, (0.10, 0.25), False, "red"),
        (float("nan"), (0.10, 0.25), False, "grey"),
    ],
)
def test_band_lights_at_the_edges(value, bands, higher, light):
    assert v.band_light(value, bands, higher_is_better=higher) == light


def test_p_value_lights_and_worst_light():
    assert v.p_value_light(0.2, alpha=0.01, amber_alpha=0.05) == "green"
    assert v.p_value_light(0.02, alpha=0.01, amber_alpha=0.05) == "amber"
    assert v.p_value_light(0.001, alpha=0.01, amber_alpha=0.05) == "red"
    assert v.worst_light(["green", "grey", "amber"]) == "amber"
    assert v.worst_light(["grey"]) == "grey"
    assert v.light_counts(["green", "red", "green"]) == {
        "green": 2,
        "amber": 0,
        "red": 1,
        "grey": 0,
    }


def test_thresholds_default_to_params_yaml():
    raw = read_params()["validation"]
    thresholds = v.Thresholds.from_mapping(raw)
    assert thresholds == v.Thresholds()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("psi_bands", [0.25, 0.10], "validation.psi_bands"),
        ("auc_bands", [0.60, 0.70], "validation.auc_bands"),
        ("calibration_amber_alpha", 0.005, "validation.calibration_amber_alpha"),
        ("bootstrap", 10, "validation.bootstrap"),
        ("hl_groups", 2, "validation.hl_groups"),
    ],
)
def test_validation_params_refuse_bad_values(key, value, message):
    raw = {**read_params()["validation"], key: value}
    with pytest.raises(ParamsError, match=message):
        parse_section("validation", raw)


# --------------------------------------------------------------- customers in several snapshots


def test_design_effect_on_a_hand_computed_case():
    # Residuals 0.5, 0.5, -0.5, -0.5 (mean 0): naive Σr² = 1; customer A holds the first two rows,
    # so the cluster sums are 1.0, -0.5, -0.5 and Σ(cluster sum)² = 1.5.
    label, score = [1, 1, 0, 0], [0.5, 0.5, 0.5, 0.5]
    assert v.design_effect(label, score, ["A", "A", "B", "C"]) == pytest.approx(1.5)
    assert v.design_effect(label, score, ["A", "B", "C", "D"]) == pytest.approx(1.0)
    assert v.design_effect(label, score, None) == 1.0
    # Never below 1: residuals of one customer that cancel out do not make the test stricter.
    assert v.design_effect(label, score, ["A", "B", "A", "B"]) == 1.0


def test_effective_counts_keep_the_observed_rate():
    assert v.effective_counts(40, 1000, 2.5) == (16, 400)
    assert v.effective_counts(40, 1000, 1.0) == (40, 1000)
    assert v.effective_counts(0, 0, 3.0) == (0, 0)


def _calibration_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    score = rng.uniform(0.01, 0.3, n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "label": (rng.random(n) < score * 1.3).astype(int),
            "score": score,
            "grade": np.where(score < 0.1, "A", np.where(score < 0.2, "B", "C")),
        }
    )


@pytest.mark.parametrize("copies", [2, 4])
def test_a_customer_repeated_over_snapshots_counts_once(copies):
    """Each row repeated as if the customer sat in several snapshots: the clustered tests are unchanged."""
    frame = _calibration_frame(np.random.default_rng(3), 3000)
    repeated = pd.concat([frame] * copies, ignore_index=True)
    kwargs = dict(rating_column="grade", classes=["A", "B", "C"], alpha=0.01, amber_alpha=0.05)
    once = v.calibration_by_class(frame, **kwargs, cluster_column="customer_id")
    clustered = v.calibration_by_class(repeated, **kwargs, cluster_column="customer_id")
    naive = v.calibration_by_class(repeated, **kwargs)
    np.testing.assert_allclose(clustered["design_effect"], copies)
    assert clustered["n_effective"].tolist() == once["n"].tolist()
    np.testing.assert_allclose(clustered["binomial_p"], once["binomial_p"])
    np.testing.assert_allclose(clustered["jeffreys_p"], once["jeffreys_p"])
    # Counted as independent trials the same evidence looks far stronger.
    assert (naive["binomial_p"] < clustered["binomial_p"]).all()
    summary_once = v.calibration_summary_table(
        frame.assign(split="oot"), groups=10, cluster_column="customer_id"
    )
    summary = v.calibration_summary_table(
        repeated.assign(split="oot"), groups=10, cluster_column="customer_id"
    )
    assert summary["central_p"].iloc[0] == pytest.approx(summary_once["central_p"].iloc[0])
    assert summary["n_effective"].iloc[0] == len(frame)
    # Hosmer-Lemeshow: each decile's variance times its design effect (here exactly the copies).
    assert summary["hl_design_effect"].iloc[0] == pytest.approx(copies)
    assert summary["hl_statistic"].iloc[0] == pytest.approx(summary_once["hl_statistic"].iloc[0])
    naive_hl = v.hosmer_lemeshow(repeated["label"], repeated["score"])
    assert naive_hl["statistic"] == pytest.approx(copies * summary_once["hl_statistic"].iloc[0])


def test_the_segment_rate_test_uses_the_effective_counts():
    frame = _calibration_frame(np.random.default_rng(4), 2000).assign(
        segment="small", green_flag=0, inclusive_flag=1
    )
    repeated = pd.concat([frame] * 3, ignore_index=True)
    kwargs = dict(auc_bands=(0.7, 0.6), alpha=0.01, amber_alpha=0.05, min_events=20)
    once = v.segment_table(frame, **kwargs, cluster_column="customer_id").set_index("segment")
    clustered = v.segment_table(repeated, **kwargs, cluster_column="customer_id").set_index(
        "segment"
    )
    assert (
        clustered.loc["size: small", "n"] == 6000
        and clustered.loc["size: small", "n_effective"] == 2000
    )
    assert clustered.loc["size: small", "binomial_p"] == pytest.approx(
        once.loc["size: small", "binomial_p"]
    )


def test_cluster_adjust_is_a_validation_setting():
    assert v.Thresholds().cluster_adjust is True
    settings = parse_section("validation", read_params()["validation"])
    assert v.Thresholds.from_mapping(vars(settings)).cluster_adjust is True


# ---------------------------------------------------------------------------------------
# _exact: scipy.stats and sklearn's figures, bit for bit, without importing them
# ---------------------------------------------------------------------------------------


def _random_samples(count: int, seed: int = 7):
    """Labels and scores: continuous, heavily tied, rounded and zero-inflated scores."""
    rng = np.random.default_rng(seed)
    for trial in range(count):
        n = int(rng.integers(2, 2_000))
        kind = trial % 4
        if kind == 0:
            s = rng.random(n)
        elif kind == 1:
            s = rng.integers(0, 5, n).astype(float)
        elif kind == 2:
            s = np.round(rng.random(n), 2)
        else:
            s = rng.normal(size=n)
            s[rng.random(n) < 0.3] = 0.0
        y = (rng.random(n) < rng.uniform(0.01, 0.9)).astype(np.int8)
        if 0 < y.sum() < n:
            yield y, s


def test_exact_roc_auc_ks_and_ranks_equal_sklearn_and_scipy_bit_for_bit():
    from research.models import metrics as shared
    from research.validation import _exact

    checked = 0
    for y, s in _random_samples(400):
        fpr, tpr = _exact.roc_curve(y, s)
        assert _exact.roc_auc(fpr, tpr) == roc_auc_score(y, s)
        assert v.auc(y, s) == shared.auc(y, s)
        assert v.gini(y, s) == shared.gini(y, s)
        assert v.ks(y, s) == shared.ks(y, s)
        assert v.roc_points(y, s, max_points=200).equals(shared.roc_points(y, s, 200))
        assert np.array_equal(_exact.midranks(s), stats.rankdata(s))
        checked += 1
    assert checked > 300


def test_exact_tests_equal_scipy_stats_bit_for_bit():
    from research.validation import _exact

    rng = np.random.default_rng(11)
    for trial in range(3_000):
        n = int(rng.integers(1, 3_000))
        p = float(np.clip(rng.choice([rng.random(), rng.random() / 100, 0.5, 1e-12]), 1e-12, 1))
        p = min(p, 1 - 1e-12)
        if trial % 2:
            k = int(rng.integers(0, n + 1))
        else:  # near the expectation: both tails of the two-sided test
            k = int(np.clip(round(n * p + rng.normal() * math.sqrt(n * p * (1 - p) + 1)), 0, n))
        assert _exact.binomtest_p_value(k, n, p) == stats.binomtest(k, n, p).pvalue
        assert _exact.beta_cdf(p, k + 0.5, n - k + 0.5) == stats.beta.cdf(p, k + 0.5, n - k + 0.5)
        x, df = float(rng.random() * 30), int(rng.integers(1, 12))
        assert _exact.chi2_sf(x, df) == stats.chi2.sf(x, df)
        z = float(rng.normal() * 4)
        assert _exact.norm_sf(abs(z)) == stats.norm.sf(abs(z))
    assert _exact.chi2_sf(0.0, 3) == stats.chi2.sf(0.0, 3) == 1.0
    assert _exact.norm_ppf(0.975) == stats.norm.ppf(0.975)
    assert _exact.binomtest_p_value(5, 10, 0.5) == stats.binomtest(5, 10, 0.5).pvalue == 1.0


def test_the_delong_interval_is_unchanged_by_the_exact_ranks():
    """DeLong from ``_exact.midranks`` against the same formula on scipy's ranks."""
    for y, s in list(_random_samples(40, seed=3))[:20]:
        value, low, high = v.auc_confidence_interval(y, s)
        pos, neg = s[y == 1], s[y == 0]
        m, n = pos.size, neg.size
        combined = stats.rankdata(np.concatenate([pos, neg]))
        v10 = (combined[:m] - stats.rankdata(pos)) / n
        v01 = 1.0 - (combined[m:] - stats.rankdata(neg)) / m
        var = (np.cov(v10) if m > 1 else 0.0) / m + (np.cov(v01) if n > 1 else 0.0) / n
        half = stats.norm.ppf(0.975) * math.sqrt(max(float(var), 0.0))
        assert value == float(v10.mean())
        assert (low, high) == (max(0.0, value - half), min(1.0, value + half))


def test_validation_imports_neither_sklearn_nor_scipy_stats():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from research import validation as v\n"
        "v.auc([0, 1, 1], [0.1, 0.2, 0.3]); v.ks([0, 1, 1], [0.1, 0.2, 0.3])\n"
        "v.auc_confidence_interval([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.3])\n"
        "v.binomial_p_value(3, 10, 0.2); v.jeffreys_p_value(3, 10, 0.2)\n"
        "v.hosmer_lemeshow([0, 1] * 20, [0.3, 0.6] * 20)\n"
        "print([m for m in ('sklearn', 'scipy.stats') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_text_categories_bin_as_the_general_path_does():
    """A text column's shares (value counts) equal those of the same values as objects."""
    rng = np.random.default_rng(2)
    for _ in range(50):
        categories = ["a", "b", "missing", "Z", "é", ""][: rng.integers(1, 7)]

        def column(n: int, categories: list[str] = categories) -> pd.Series:
            values = pd.Series(rng.choice(categories, n), dtype="str")
            values[rng.random(n) < 0.2] = np.nan
            return values

        expected, actual = column(int(rng.integers(1, 400))), column(int(rng.integers(1, 400)))
        text = v.population_shares(expected, actual, categorical=True)
        general = v.population_shares(
            expected.astype(object), actual.astype(object), categorical=True
        )
        pd.testing.assert_frame_equal(text, general, check_exact=True)
