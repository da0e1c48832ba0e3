"""Comparisons against scipy and statsmodels on the same raw arrays.

Sufficient statistics are built here from raw arrays with numpy, never by the
code under test; the oracles see the raw arrays themselves.
"""

import dataclasses
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion

from xpkit.stats.frequentist import (
    ComparisonConfig,
    ComparisonResult,
    CupedResult,
    compare,
    cuped_test,
    mann_whitney,
    mann_whitney_from_rank_sums,
    ratio_delta_test,
    two_proportion_z_test,
    welch_t_test,
)
from xpkit.stats.statistics import (
    Proportion,
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
)

REL = 1e-9


def close(expected: float):
    """Tight tolerance: 1e-9 relative (absolute 1e-12 for values near 0)."""
    return pytest.approx(expected, rel=REL, abs=1e-12)


def mean_stat(values: np.ndarray) -> SampleMean:
    return SampleMean(values.size, float(np.sum(values)), float(np.sum(values**2)))


def prop_stat(values: np.ndarray) -> Proportion:
    return Proportion(values.size, float(np.sum(values)))


def ratio_stat(m: np.ndarray, d: np.ndarray) -> Ratio:
    return Ratio(
        m.size,
        float(np.sum(m)),
        float(np.sum(m**2)),
        float(np.sum(d)),
        float(np.sum(d**2)),
        float(np.sum(m * d)),
    )


def adjusted(y: np.ndarray, x: np.ndarray, binary: bool = False) -> RegressionAdjusted:
    return RegressionAdjusted(
        post=prop_stat(y) if binary else mean_stat(y),
        pre=mean_stat(x),
        post_pre_sum_product=float(np.sum(y * x)),
    )


def adjusted_ratio(m, d, x, w) -> RegressionAdjustedRatio:
    return RegressionAdjustedRatio(
        post=ratio_stat(m, d),
        pre=ratio_stat(x, w),
        numerator_covariate_sum_product=float(np.sum(m * x)),
        numerator_covariate_denominator_sum_product=float(np.sum(m * w)),
        denominator_covariate_sum_product=float(np.sum(d * x)),
        denominator_covariate_denominator_sum_product=float(np.sum(d * w)),
    )


def linearised(m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Delta-method pseudo-values r + (m - r d) / mean(d); their mean is r."""
    r = np.sum(m) / np.sum(d)
    return r + (m - r * d) / np.mean(d)


def assert_matches_scipy_welch(result, control, treatment, alpha=0.05):
    oracle = stats.ttest_ind(treatment, control, equal_var=False)
    low, high = oracle.confidence_interval(confidence_level=1 - alpha)
    assert result.abs_lift == close(np.mean(treatment) - np.mean(control))
    assert result.statistic == close(oracle.statistic)
    assert result.degrees_of_freedom == close(oracle.df)
    assert result.p_value == close(oracle.pvalue)
    assert result.abs_ci_low == close(low)
    assert result.abs_ci_high == close(high)


def float_fields(result) -> list[float]:
    values = [getattr(result, f.name) for f in dataclasses.fields(result)]
    return [v for v in values if isinstance(v, float)]


# --- Welch ---------------------------------------------------------------------


def test_welch_t_test_hand_table():
    # control 1, 2, 3: mean 2, variance 1; treatment 4, 6, 8: mean 6, variance 4.
    # se**2 = 1/3 + 4/3 = 5/3; t = 4 / sqrt(5/3) = 3.0984;
    # df = (5/3)**2 / ((1/3)**2 / 2 + (4/3)**2 / 2) = (25/9) / (17/18) = 50/17.
    result = welch_t_test(
        SampleMean(3, 6.0, 14.0), SampleMean(3, 18.0, 116.0), ComparisonConfig()
    )
    assert result.method == "welch_t"
    assert result.abs_lift == 4.0
    assert result.rel_lift == pytest.approx(2.0, rel=1e-15)
    assert result.std_error == pytest.approx(math.sqrt(5 / 3), rel=1e-14)
    assert result.statistic == pytest.approx(4 / math.sqrt(5 / 3), rel=1e-14)
    assert result.degrees_of_freedom == pytest.approx(50 / 17, rel=1e-14)
    assert result.p_value == close(2 * stats.t.sf(4 / math.sqrt(5 / 3), 50 / 17))
    assert result.error_message is None


@pytest.mark.parametrize(
    ("seed", "n_c", "n_t", "alpha"),
    [(0, 40, 55, 0.05), (1, 500, 300, 0.05), (2, 7, 1200, 0.1), (3, 2000, 2000, 0.01)],
)
def test_welch_t_test_matches_scipy(seed, n_c, n_t, alpha):
    rng = np.random.default_rng(seed)
    control = rng.gamma(2.0, 5.0, size=n_c)
    treatment = rng.gamma(2.2, 6.0, size=n_t)
    result = welch_t_test(
        mean_stat(control), mean_stat(treatment), ComparisonConfig(alpha)
    )
    assert_matches_scipy_welch(result, control, treatment, alpha)
    assert result.mean_control == close(np.mean(control))
    assert result.mean_treatment == close(np.mean(treatment))
    assert result.n_control == n_c and result.n_treatment == n_t


def test_relative_lift_delta_method_matches_hand_derivation():
    # rel = mt / mc - 1; gradient (1 / mc, -mt / mc**2) on independent means with
    # variances vt = s_t**2 / n_t and vc = s_c**2 / n_c. Interval quantile: Student's
    # t at the Satterthwaite df of the two terms a = vt / mc**2, b = mt**2 vc / mc**4.
    rng = np.random.default_rng(11)
    control, treatment = rng.normal(20, 4, size=300), rng.normal(22, 5, size=200)
    mc, mt = np.mean(control), np.mean(treatment)
    vc, vt = np.var(control, ddof=1) / 300, np.var(treatment, ddof=1) / 200
    a, b = vt / mc**2, mt**2 * vc / mc**4
    se = np.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / 199 + b**2 / 299)
    q = stats.t.ppf(0.975, df)
    result = welch_t_test(mean_stat(control), mean_stat(treatment))
    assert result.rel_lift == close(mt / mc - 1)
    assert result.rel_std_error == close(se)
    # kept beside the Fieller interval (rel_ci_low/high) as *_delta
    assert result.rel_ci_low_delta == close(mt / mc - 1 - q * se)
    assert result.rel_ci_high_delta == close(mt / mc - 1 + q * se)


# --- Proportions ---------------------------------------------------------------


def test_two_proportion_z_test_hand_table():
    # 18 of 100 vs 26 of 100 (arms under 200 units: Yates-corrected score test):
    # pooled 0.22, se = sqrt(.22 * .78 * (1/100 + 1/100)) = sqrt(0.003432);
    # z = (0.08 - 0.5 * 0.02) / se = 0.07 / 0.0585833 = 1.19488.
    result = two_proportion_z_test(Proportion(100, 18.0), Proportion(100, 26.0))
    assert result.method == "two_proportion_score_z_continuity_corrected"
    assert result.abs_lift == pytest.approx(0.08, rel=1e-14)
    assert result.std_error == pytest.approx(math.sqrt(0.003432), rel=1e-14)
    assert result.statistic == pytest.approx(0.07 / math.sqrt(0.003432), rel=1e-13)
    assert result.degrees_of_freedom is None
    assert result.rel_lift == pytest.approx(26 / 18 - 1, rel=1e-14)
    # Yates' chi-square on the 2x2 table is z**2
    yates = stats.chi2_contingency([[18, 82], [26, 74]], correction=True)
    assert result.p_value == close(yates.pvalue)


@pytest.mark.parametrize(
    ("seed", "n_c", "n_t", "p_c", "p_t", "alpha"),
    [
        (0, 500, 520, 0.18, 0.26, 0.05),
        (1, 3000, 2900, 0.05, 0.052, 0.05),
        (2, 400, 600, 0.5, 0.3, 0.1),
    ],
)
def test_two_proportion_z_test_matches_statsmodels(seed, n_c, n_t, p_c, p_t, alpha):
    # Large designs: the plain pooled score test, Mee's difference interval and
    # Koopman's ratio interval (statsmodels' score method without the
    # Miettinen-Nurminen n / (n - 1) factor).
    rng = np.random.default_rng(seed)
    control = (rng.random(n_c) < p_c).astype(float)
    treatment = (rng.random(n_t) < p_t).astype(float)
    result = two_proportion_z_test(
        prop_stat(control), prop_stat(treatment), ComparisonConfig(alpha)
    )
    assert result.method == "two_proportion_score_z"
    counts = (int(treatment.sum()), n_t, int(control.sum()), n_c)
    oracle = proportion.test_proportions_2indep(
        *counts, method="score", compare="diff", correction=False
    )
    low, high = proportion.confint_proportions_2indep(
        *counts, method="score", compare="diff", alpha=alpha, correction=False
    )
    rel_low, rel_high = proportion.confint_proportions_2indep(
        *counts, method="score", compare="ratio", alpha=alpha, correction=False
    )
    assert result.abs_lift == close(np.mean(treatment) - np.mean(control))
    assert result.statistic == close(oracle.statistic)
    assert result.p_value == close(oracle.pvalue)
    # statsmodels finds its bounds with brentq at its default tolerance
    assert result.abs_ci_low == pytest.approx(low, rel=1e-7)
    assert result.abs_ci_high == pytest.approx(high, rel=1e-7)
    assert result.rel_ci_low == pytest.approx(rel_low - 1, rel=1e-7)
    assert result.rel_ci_high == pytest.approx(rel_high - 1, rel=1e-7)


def test_interval_excludes_zero_exactly_when_p_below_alpha():
    rng = np.random.default_rng(12)
    agreements = 0
    for _ in range(400):
        n_c, n_t = rng.integers(20, 400, size=2)
        p_c, p_t = rng.uniform(0.05, 0.5, size=2)
        control = Proportion(int(n_c), float(rng.binomial(n_c, p_c)))
        treatment = Proportion(int(n_t), float(rng.binomial(n_t, p_t)))
        for result in (
            two_proportion_z_test(control, treatment),
            welch_t_test(control, treatment),
        ):
            if result.p_value is None:
                continue
            excludes = result.abs_ci_low > 0 or result.abs_ci_high < 0
            assert excludes == (result.p_value < 0.05)
            agreements += excludes
    assert agreements > 50  # both outcomes were exercised


# --- Ratio metrics -------------------------------------------------------------


def ratio_arrays(rng, n, minutes):
    d = rng.poisson(2.5, size=n) + 1.0
    m = d * rng.gamma(3.0, minutes / 3.0, size=n)
    return m, d


def test_ratio_delta_test_matches_scipy_welch_on_linearised_values():
    rng = np.random.default_rng(13)
    m_c, d_c = ratio_arrays(rng, 300, 42.0)
    m_t, d_t = ratio_arrays(rng, 310, 29.0)
    result = ratio_delta_test(ratio_stat(m_c, d_c), ratio_stat(m_t, d_t))
    assert result.method == "ratio_delta_welch_t"
    assert result.mean_control == close(np.sum(m_c) / np.sum(d_c))
    assert_matches_scipy_welch(result, linearised(m_c, d_c), linearised(m_t, d_t))


def test_ratio_delta_test_equals_welch_when_every_denominator_is_one():
    rng = np.random.default_rng(14)
    m_c, m_t = rng.normal(5, 1, size=80), rng.normal(5.5, 2, size=120)
    ones_c, ones_t = np.ones(80), np.ones(120)
    result = ratio_delta_test(ratio_stat(m_c, ones_c), ratio_stat(m_t, ones_t))
    assert_matches_scipy_welch(result, m_c, m_t)


# --- CUPED ---------------------------------------------------------------------


def test_cuped_hand_table():
    # control x = 0, 1, 2, y = 1, 1, 4; treatment x = 0, 1, 2, y = 3, 5, 4.
    # Control: Sxx = 2, Sxy = 3, Syy = 6, theta_c = 1.5, residual SS 6 - 4.5 = 1.5.
    # Treatment: Sxx = 2, Sxy = 1, Syy = 2, theta_t = 0.5, residual SS 2 - 0.5 = 1.5.
    # xbar = 1 = each arm's mean x, so lift = (4 - 0) - (2 - 0) = 2 and
    # theta = (3 * 0.5 + 3 * 1.5) / 6 = 1. s2 = 1.5 / (3 - 2) in each arm, so
    # A_c = A_t = 1.5 / 3 = 0.5; B = (0.5 - 1.5)**2 * (4 / 4) / 6 = 1/6;
    # se**2 = 7/6; df = 1**2 / (0.25 / 1 + 0.25 / 1) = 2; unadjusted Welch
    # variance 3/3 + 1/3 = 4/3, so variance_reduction = 1 - (7/6) / (4/3) = 1/8.
    x = np.array([0.0, 1.0, 2.0])
    result = cuped_test(
        adjusted(np.array([1.0, 1.0, 4.0]), x), adjusted(np.array([3.0, 5.0, 4.0]), x)
    )
    assert result.method == "cuped_lin_welch_t"
    assert result.theta == pytest.approx(1.0, rel=1e-14)
    assert result.theta_control == pytest.approx(1.5, rel=1e-14)
    assert result.theta_treatment == pytest.approx(0.5, rel=1e-14)
    assert result.abs_lift == pytest.approx(2.0, rel=1e-14)
    assert result.std_error == pytest.approx(math.sqrt(7 / 6), rel=1e-14)
    assert result.variance_reduction == pytest.approx(1 / 8, rel=1e-13)
    assert result.degrees_of_freedom == pytest.approx(2.0, rel=1e-14)
    assert result.p_value == close(2 * stats.t.sf(2 / math.sqrt(7 / 6), 2))
    half = stats.t.ppf(0.975, 2) * math.sqrt(7 / 6)
    assert (result.ci_low, result.ci_high) == (close(2 - half), close(2 + half))


def lin_oracle(y_c, y_t, x_c, x_t, alpha=0.05) -> dict[str, float]:
    """Lin's estimator from unit-level arrays with statsmodels, arm by arm.

    Each arm's OLS of y on (1, x - xbar), xbar the mean x of both arms: the
    difference of the two intercepts is the lift (also the treatment coefficient
    of the interacted OLS y ~ T + (x - xbar) + T (x - xbar)), their squared
    standard errors are the arm terms, plus (theta_t - theta_c)**2 var_x / N.
    """
    xbar = np.concatenate([x_c, x_t]).mean()
    fits = [
        sm.OLS(y, np.column_stack([np.ones_like(x), x - xbar])).fit()
        for y, x in ((y_c, x_c), (y_t, x_t))
    ]
    y = np.concatenate([y_c, y_t])
    treated = np.concatenate([np.zeros(y_c.size), np.ones(y_t.size)])
    centred = np.concatenate([x_c, x_t]) - xbar
    design = np.column_stack([np.ones_like(y), treated, centred, treated * centred])
    interacted = sm.OLS(y, design).fit()
    n_c, n_t = y_c.size, y_t.size
    total = n_c + n_t
    var_x = (np.var(x_c, ddof=1) * (n_c - 1) + np.var(x_t, ddof=1) * (n_t - 1)) / (
        total - 2
    )
    slope_c, slope_t = fits[0].params[1], fits[1].params[1]
    arm_c, arm_t = fits[0].bse[0] ** 2, fits[1].bse[0] ** 2
    variance = arm_c + arm_t + (slope_t - slope_c) ** 2 * var_x / total
    dof = (arm_c + arm_t) ** 2 / (arm_c**2 / (n_c - 2) + arm_t**2 / (n_t - 2))
    lift = fits[1].params[0] - fits[0].params[0]
    assert lift == close(interacted.params[1])
    se = math.sqrt(variance)
    half = stats.t.ppf(1 - alpha / 2, dof) * se
    unadjusted = np.var(y_c, ddof=1) / n_c + np.var(y_t, ddof=1) / n_t
    return {
        "abs_lift": lift,
        "std_error": se,
        "statistic": lift / se,
        "degrees_of_freedom": dof,
        "p_value": 2 * stats.t.sf(abs(lift / se), dof),
        "ci_low": lift - half,
        "ci_high": lift + half,
        "theta": (n_c * slope_t + n_t * slope_c) / total,
        "theta_control": slope_c,
        "theta_treatment": slope_t,
        "variance_reduction": 1 - variance / unadjusted,
    }


def assert_matches_lin(result: CupedResult, y_c, y_t, x_c, x_t, alpha=0.05):
    """Every CUPED figure equals the arm-by-arm statsmodels oracle."""
    for name, want in lin_oracle(y_c, y_t, x_c, x_t, alpha).items():
        assert getattr(result, name) == close(want), name
    assert result.error_message is None


@pytest.mark.parametrize(("seed", "alpha"), [(15, 0.05), (16, 0.1)])
def test_cuped_matches_statsmodels_arm_by_arm(seed, alpha):
    rng = np.random.default_rng(seed)
    x_c, x_t = rng.gamma(2.0, 3.0, size=400), rng.gamma(2.0, 3.0, size=450)
    # a fifth of the units have no pre-period data: their covariate is 0.
    x_c[rng.random(400) < 0.2] = 0.0
    x_t[rng.random(450) < 0.2] = 0.0
    y_c = 2 + 0.7 * x_c + rng.normal(0, 2, size=400)
    y_t = 2.5 + 0.7 * x_t + rng.normal(0, 3, size=450)
    result = cuped_test(adjusted(y_c, x_c), adjusted(y_t, x_t), ComparisonConfig(alpha))
    assert_matches_lin(result, y_c, y_t, x_c, x_t, alpha)


def test_cuped_binary_metric_matches_statsmodels_arm_by_arm():
    rng = np.random.default_rng(17)
    x_c = (rng.random(600) < 0.3).astype(float)
    x_t = (rng.random(650) < 0.3).astype(float)
    y_c = (rng.random(600) < 0.1 + 0.4 * x_c).astype(float)
    y_t = (rng.random(650) < 0.15 + 0.4 * x_t).astype(float)
    control, treatment = adjusted(y_c, x_c, True), adjusted(y_t, x_t, True)
    assert_matches_lin(cuped_test(control, treatment), y_c, y_t, x_c, x_t)
    result = compare(control, treatment)
    assert result.method == "two_proportion_score_z"
    assert result.cuped.abs_lift == close(lin_oracle(y_c, y_t, x_c, x_t)["abs_lift"])


def test_ratio_cuped_matches_statsmodels_on_linearised_values():
    rng = np.random.default_rng(18)

    def arm(n, minutes):
        w = rng.poisson(2.0, size=n) + 1.0
        d = rng.poisson(2.0, size=n) + 1.0
        speed = rng.gamma(4.0, minutes / 4.0, size=n)
        x = w * speed * rng.gamma(20.0, 1 / 20.0, size=n)
        m = d * speed * rng.gamma(20.0, 1 / 20.0, size=n)
        return m, d, x, w

    m_c, d_c, x_c, w_c = arm(300, 42.0)
    m_t, d_t, x_t, w_t = arm(310, 29.0)
    result = cuped_test(
        adjusted_ratio(m_c, d_c, x_c, w_c), adjusted_ratio(m_t, d_t, x_t, w_t)
    )
    assert result.method == "ratio_cuped_lin_welch_t"
    assert_matches_lin(
        result,
        linearised(m_c, d_c),
        linearised(m_t, d_t),
        linearised(x_c, w_c),
        linearised(x_t, w_t),
    )
    assert result.variance_reduction > 0.2  # the pre-period shares the unit speed


def test_ratio_cuped_equals_cuped_when_every_denominator_is_one():
    rng = np.random.default_rng(19)
    x_c, x_t = rng.normal(0, 1, size=90), rng.normal(0, 1, size=110)
    y_c, y_t = x_c + rng.normal(0, 1, size=90), 1 + x_t + rng.normal(0, 1, size=110)
    ones_c, ones_t = np.ones(90), np.ones(110)
    result = cuped_test(
        adjusted_ratio(y_c, ones_c, x_c, ones_c),
        adjusted_ratio(y_t, ones_t, x_t, ones_t),
    )
    assert_matches_lin(result, y_c, y_t, x_c, x_t)


# --- compare() -----------------------------------------------------------------


def test_compare_dispatches_by_statistic_kind():
    # Welch unless an arm is sparse: (sum m)**2 / sum m**2 < 200 and < n / 2.
    rng = np.random.default_rng(20)
    a, b = rng.normal(10, 1, size=500), rng.normal(10, 1, size=600)
    m, d = np.abs(a) + 1, np.ones(500)
    assert compare(mean_stat(a), mean_stat(b)).method == "welch_t"
    # few units but dense (coefficient of variation 0.1): Welch
    assert compare(mean_stat(a[:30]), mean_stat(b)).method == "welch_t"
    sparse = (rng.random(300) < 0.05).astype(float) * 3  # 5% of units, value 3
    assert compare(mean_stat(sparse), mean_stat(b)).method == "pooled_score_z"
    assert compare(prop_stat(a > 10), prop_stat(b > 10)).method == (
        "two_proportion_score_z"
    )
    assert compare(prop_stat(a[:50] > 10), prop_stat(b > 10)).method == (
        "two_proportion_score_z_continuity_corrected"
    )
    assert compare(ratio_stat(m, d), ratio_stat(m, d)).method == "ratio_delta_welch_t"
    with_covariate = compare(adjusted(a, a**2), adjusted(b, b**2))
    assert with_covariate.method == "welch_t"
    assert_matches_scipy_welch(with_covariate, a, b)
    assert with_covariate.cuped.method == "cuped_lin_welch_t"
    assert with_covariate.cuped.abs_lift is not None
    plain = compare(mean_stat(a), mean_stat(b))
    assert plain.cuped.abs_lift is None
    assert "no pre-period covariate" in plain.cuped.error_message


def test_compare_rejects_mixed_kinds_without_raising():
    result = compare(SampleMean(5, 5.0, 7.0), Proportion(5, 2.0))
    assert result.p_value is None
    assert "differ in kind" in result.error_message


# --- Degenerate input ----------------------------------------------------------


def assert_no_test(result: ComparisonResult, message: str) -> None:
    for name in ("std_error", "statistic", "p_value", "abs_ci_low", "abs_ci_high"):
        assert getattr(result, name) is None, name
    assert result.rel_ci_low is None and result.rel_ci_high is None
    assert message in result.error_message


@pytest.mark.parametrize(
    "test", [welch_t_test, two_proportion_z_test, ratio_delta_test, compare]
)
def test_missing_control_arm_gives_no_figures(test):
    result = test(None, Proportion(10, 3.0))
    assert_no_test(result, "control arm missing")
    assert result.abs_lift is None and result.mean_control is None
    assert result.n_treatment == 10


def test_compare_with_both_arms_missing_names_no_method():
    result = compare(None, None)
    assert result.method == "unknown"
    assert result.error_message == "control arm missing; treatment arm missing"
    assert result.abs_lift is None and result.cuped.abs_lift is None


def test_missing_treatment_arm_gives_no_figures():
    result = compare(SampleMean(10, 3.0, 5.0), None)
    assert_no_test(result, "treatment arm missing")
    assert result.cuped.abs_lift is None and result.cuped.error_message


def test_arm_with_no_units_gives_no_figures():
    result = welch_t_test(SampleMean(0, 0.0, 0.0), SampleMean(10, 5.0, 5.0))
    assert_no_test(result, "control arm has no units")
    assert result.mean_control is None and result.abs_lift is None
    assert result.mean_treatment == 0.5


@pytest.mark.parametrize("test", [welch_t_test, two_proportion_z_test])
def test_arm_with_one_unit_gives_lift_but_no_test(test):
    # means 1 and 0.3 are facts; a variance from one unit is not.
    result = test(Proportion(1, 1.0), Proportion(10, 3.0))
    assert_no_test(result, "control arm has only 1 unit")
    assert result.abs_lift == pytest.approx(-0.7, rel=1e-14)


def test_zero_variance_in_both_arms_gives_no_test():
    # every control unit has value 2, every treatment unit value 3.
    result = welch_t_test(SampleMean(5, 10.0, 20.0), SampleMean(4, 12.0, 36.0))
    assert_no_test(result, "zero variance in both arms")
    assert result.abs_lift == 1.0
    # every unit converted: the pooled rate is 1, so the score test has no variance
    proportions = two_proportion_z_test(Proportion(5, 5.0), Proportion(4, 4.0))
    assert_no_test(proportions, "zero variance in both arms")
    # 0 of 5 against 4 of 4 is a real 2x2 table: the pooled score test runs
    # (it is Yates' chi-square here, the arms being small)
    table = two_proportion_z_test(Proportion(5, 0.0), Proportion(4, 4.0))
    yates = stats.chi2_contingency([[0, 5], [4, 0]], correction=True)
    assert table.p_value == close(yates.pvalue)


def test_metric_with_no_events_gives_no_test():
    empty = SampleMean(100, 0.0, 0.0)
    result = compare(empty, SampleMean(120, 0.0, 0.0))
    assert_no_test(result, "no events in either arm")
    assert result.abs_lift == 0.0 and result.rel_lift is None
    none = compare(
        adjusted(np.zeros(30), np.zeros(30)), adjusted(np.zeros(40), np.zeros(40))
    )
    assert none.cuped.abs_lift is None and "no events" in none.cuped.error_message


def test_zero_control_mean_keeps_absolute_lift_but_not_relative():
    # The test ran, so error_message stays None (the marts' data test requires
    # it); why the relative figures are missing is in interval_error_message.
    result = two_proportion_z_test(Proportion(2000, 0.0), Proportion(2000, 80.0))
    assert result.rel_lift is None and result.rel_ci_low is None
    assert result.error_message is None
    assert "control mean is 0: relative lift undefined" in (
        result.interval_error_message
    )
    # the pooled standard error: pooled rate 0.02 over both arms
    se = math.sqrt(0.02 * 0.98 * (2 / 2000))
    assert result.abs_lift == pytest.approx(0.04, rel=1e-14)
    assert result.std_error == pytest.approx(se, rel=1e-14)
    chi2 = stats.chi2_contingency([[0, 2000], [80, 1920]], correction=False)
    assert result.p_value == close(chi2.pvalue)


def test_ratio_with_zero_denominator_gives_no_figures():
    result = ratio_delta_test(
        Ratio(5, 0.0, 0.0, 0.0, 0.0, 0.0), Ratio(5, 3, 3, 5, 5, 3)
    )
    assert_no_test(result, "denominator sum is 0 in the control arm")
    assert result.abs_lift is None


def test_cuped_without_covariate_or_with_empty_pre_period():
    rng = np.random.default_rng(21)
    y_c, y_t = rng.normal(size=50), rng.normal(size=50)
    no_covariate = cuped_test(mean_stat(y_c), mean_stat(y_t))
    assert no_covariate.abs_lift is None
    assert "no pre-period covariate" in no_covariate.error_message
    zeros = np.zeros(50)
    empty_pre = compare(adjusted(y_c, zeros), adjusted(y_t, zeros))
    assert empty_pre.p_value is not None  # the plain test still stands
    assert (
        empty_pre.cuped.abs_lift is None and empty_pre.cuped.variance_reduction is None
    )
    assert "no pre-period data" in empty_pre.cuped.error_message


def test_cuped_small_arms_and_perfect_covariate():
    # A slope and a residual variance per arm need 3 units in each arm.
    two_units = adjusted(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    three_units = adjusted(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 4.0]))
    small = cuped_test(two_units, three_units)
    assert small.p_value is None
    assert small.error_message == "control arm has fewer than 3 units"
    x = np.array([1.0, 2.0, 3.0, 4.0])
    exact = cuped_test(adjusted(2 * x, x), adjusted(2 * x + 1, x))
    assert exact.p_value is None and "exactly" in exact.error_message


def test_degenerate_results_never_hold_nan_or_inf():
    cases = [
        (None, None),
        (SampleMean(0, 0.0, 0.0), SampleMean(0, 0.0, 0.0)),
        (SampleMean(1, 1.0, 1.0), SampleMean(1, 1.0, 1.0)),
        (SampleMean(3, 0.0, 0.0), SampleMean(3, 0.0, 0.0)),
        (Proportion(3, 3.0), Proportion(3, 0.0)),
        (Ratio(3, 1, 1, 0, 0, 0), Ratio(3, 1, 1, 0, 0, 0)),
        (adjusted(np.zeros(3), np.ones(3)), adjusted(np.ones(3), np.ones(3))),
    ]
    for control, treatment in cases:
        result = compare(control, treatment)
        assert result.error_message or result.interval_error_message
        for value in float_fields(result) + float_fields(result.cuped):
            assert math.isfinite(value)


def test_extreme_sums_never_raise():
    # values near the float limits: squares underflow to 0 or overflow to inf.
    tiny = SampleMean(3, 1e-300, 1e-300)
    huge = SampleMean(3, 3e300, 3e300)
    pre = SampleMean(3, 1e-300, 3e-300)
    cases = [
        (tiny, SampleMean(3, 0.0, 0.0)),
        (huge, SampleMean(3, -3e300, 2.0)),
        (RegressionAdjusted(tiny, pre, 1e-300), RegressionAdjusted(tiny, pre, 2e-300)),
    ]
    for control, treatment in cases:
        result = compare(control, treatment)
        assert result.p_value is None and result.error_message
        for value in float_fields(result) + float_fields(result.cuped):
            assert math.isfinite(value)


def test_config_rejects_alpha_outside_unit_interval():
    for alpha in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            ComparisonConfig(alpha)


# --- Mann-Whitney --------------------------------------------------------------


def test_mann_whitney_hand_table():
    # treatment 2, 3, 4, 5 against control 1, 2, 3: pairs won by treatment
    # 1.5 (for 2: beats 1, ties 2) + 2.5 + 3 + 3 = 10 of 12.
    result = mann_whitney([1, 2, 3], [2, 3, 4, 5])
    assert result.u_statistic == 10.0
    assert result.probability_of_superiority == pytest.approx(10 / 12, rel=1e-15)


@pytest.mark.parametrize(("seed", "ties"), [(22, False), (23, True), (24, True)])
def test_mann_whitney_matches_scipy(seed, ties):
    rng = np.random.default_rng(seed)
    control = rng.exponential(1.0, size=120)
    treatment = rng.exponential(1.3, size=90)
    if ties:
        control, treatment = np.round(control, 1), np.round(treatment, 1)
    result = mann_whitney(control, treatment)
    oracle = stats.mannwhitneyu(
        treatment, control, method="asymptotic", use_continuity=True
    )
    assert result.method == "mann_whitney_u_asymptotic"
    assert result.u_statistic == close(oracle.statistic)
    assert result.p_value == close(oracle.pvalue)


def test_mann_whitney_degenerate_input():
    assert "no values" in mann_whitney([], [1.0, 2.0]).error_message
    tied = mann_whitney([1.0, 1.0], [1.0, 1.0, 1.0])
    assert tied.p_value is None and "tied" in tied.error_message
    nan = mann_whitney([1.0, float("nan")], [2.0])
    assert nan.p_value is None and "NaN" in nan.error_message


def _rank_sum_and_ties(control, treatment):
    """Treatment mid-rank sum and sum(t^3 - t), counted by hand (no scipy)."""
    values = sorted(list(treatment) + list(control))
    first, count = {}, {}
    for position, value in enumerate(values, start=1):
        first.setdefault(value, position)
        count[value] = count.get(value, 0) + 1
    rank_sum = sum(first[v] + (count[v] - 1) / 2 for v in treatment)
    return rank_sum, float(sum(t**3 - t for t in count.values()))


@pytest.mark.parametrize(("seed", "decimals"), [(31, None), (32, 1), (33, 0)])
def test_mann_whitney_from_rank_sums_matches_scipy(seed, decimals):
    # The figures a SQL model computes (n, mid-rank sum, tie term) give
    # scipy's tie- and continuity-corrected asymptotic test.
    rng = np.random.default_rng(seed)
    control = rng.exponential(1.0, size=150)
    treatment = rng.exponential(1.2, size=110)
    if decimals is not None:
        control, treatment = np.round(control, decimals), np.round(treatment, decimals)
    rank_sum, ties = _rank_sum_and_ties(control.tolist(), treatment.tolist())
    result = mann_whitney_from_rank_sums(150, 110, rank_sum, ties)
    oracle = stats.mannwhitneyu(
        treatment, control, method="asymptotic", use_continuity=True
    )
    assert result.u_statistic == close(oracle.statistic)
    assert result.p_value == close(oracle.pvalue)
    assert result == mann_whitney(control, treatment)


def test_mann_whitney_from_rank_sums_degenerate_input():
    assert "no values" in mann_whitney_from_rank_sums(0, 3, 6.0, 0.0).error_message
    # Five tied values: ranks 3 each, tie term 5^3 - 5 = 120, sigma 0.
    tied = mann_whitney_from_rank_sums(2, 3, 9.0, 120.0)
    assert tied.p_value is None and "tied" in tied.error_message
    assert tied.u_statistic == 3.0
    bad = mann_whitney_from_rank_sums(2, 3, float("nan"), 0.0)
    assert bad.p_value is None and "not finite" in bad.error_message


# --- Simulations ---------------------------------------------------------------

RUNS = 2000


def rate(flags) -> float:
    return float(np.mean(flags))


def test_welch_simulated_false_positives_and_coverage():
    rng = np.random.default_rng(101)
    n_c, n_t = 150, 250
    effect = 1.0
    arrays = (
        rng.gamma(2.0, 5.0, size=(RUNS, n_c)),  # control: mean 10, skewed
        rng.gamma(2.0, 5.0, size=(RUNS, n_t)),  # A/A treatment
        rng.gamma(2.0, 5.0, size=(RUNS, n_t)) + effect,  # treatment, planted lift
    )
    sums = [(a.sum(axis=1), (a * a).sum(axis=1)) for a in arrays]
    positives, covered, covered_effect, covered_rel = [], [], [], []
    for i in range(RUNS):
        c = SampleMean(n_c, sums[0][0][i], sums[0][1][i])
        aa = welch_t_test(c, SampleMean(n_t, sums[1][0][i], sums[1][1][i]))
        ab = welch_t_test(c, SampleMean(n_t, sums[2][0][i], sums[2][1][i]))
        positives.append(aa.p_value < 0.05)
        covered.append(aa.abs_ci_low <= 0 <= aa.abs_ci_high)
        covered_effect.append(ab.abs_ci_low <= effect <= ab.abs_ci_high)
        covered_rel.append(ab.rel_ci_low <= effect / 10 <= ab.rel_ci_high)
    assert 0.035 <= rate(positives) <= 0.065
    assert 0.935 <= rate(covered) <= 0.965
    assert 0.935 <= rate(covered_effect) <= 0.965
    assert 0.935 <= rate(covered_rel) <= 0.965


def test_two_proportion_simulated_false_positives_and_coverage():
    rng = np.random.default_rng(102)
    n_c, n_t, p = 800, 1000, 0.2
    control = rng.binomial(n_c, p, size=RUNS)  # sums of 0/1 unit arrays
    same = rng.binomial(n_t, p, size=RUNS)
    lifted = rng.binomial(n_t, p + 0.03, size=RUNS)
    positives, covered, covered_effect, covered_rel = [], [], [], []
    for i in range(RUNS):
        c = Proportion(n_c, float(control[i]))
        aa = two_proportion_z_test(c, Proportion(n_t, float(same[i])))
        ab = two_proportion_z_test(c, Proportion(n_t, float(lifted[i])))
        positives.append(aa.p_value < 0.05)
        covered.append(aa.abs_ci_low <= 0 <= aa.abs_ci_high)
        covered_effect.append(ab.abs_ci_low <= 0.03 <= ab.abs_ci_high)
        covered_rel.append(ab.rel_ci_low <= 0.15 <= ab.rel_ci_high)
    assert 0.035 <= rate(positives) <= 0.065
    assert 0.935 <= rate(covered) <= 0.965
    assert 0.935 <= rate(covered_effect) <= 0.965
    assert 0.935 <= rate(covered_rel) <= 0.965


def simulate_cuped(rng, runs, n, rho, effect):
    """Per-run sufficient sums of y = effect * T + rho x + sqrt(1 - rho**2) e."""
    arms = []
    for lift in (0.0, effect):
        x = rng.normal(size=(runs, n))
        y = 5 + lift + rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(runs, n))
        arms.append([a.sum(axis=1) for a in (y, y * y, x, x * x, x * y)])
    return arms


def cuped_arm(sums, i, n):
    y, yy, x, xx, xy = (s[i] for s in sums)
    return RegressionAdjusted(SampleMean(n, y, yy), SampleMean(n, x, xx), xy)


def test_cuped_simulated_false_positives_coverage_and_variance_reduction():
    # Tolerances: the reported variance_reduction averages within 0.01 of rho**2
    # (its bias is O(1 / n)); the realised reduction, 1 - var(CUPED lifts) /
    # var(unadjusted lifts) over the runs, lies within 0.05 of rho**2.
    rng = np.random.default_rng(103)
    n, rho, runs = 400, 0.6, 1500
    aa_c, aa_t = simulate_cuped(rng, runs, n, rho, 0.0)
    ab_c, ab_t = simulate_cuped(rng, runs, n, rho, 0.1)
    positives, covered, covered_effect, reductions = [], [], [], []
    cuped_lifts, plain_lifts = [], []
    for i in range(runs):
        aa = cuped_test(cuped_arm(aa_c, i, n), cuped_arm(aa_t, i, n))
        ab = compare(cuped_arm(ab_c, i, n), cuped_arm(ab_t, i, n))
        positives.append(aa.p_value < 0.05)
        covered.append(aa.ci_low <= 0 <= aa.ci_high)
        covered_effect.append(ab.cuped.ci_low <= 0.1 <= ab.cuped.ci_high)
        reductions.append(ab.cuped.variance_reduction)
        cuped_lifts.append(ab.cuped.abs_lift)
        plain_lifts.append(ab.abs_lift)
    assert 0.035 <= rate(positives) <= 0.065
    assert 0.935 <= rate(covered) <= 0.965
    assert 0.935 <= rate(covered_effect) <= 0.965
    assert abs(np.mean(reductions) - rho**2) <= 0.01
    realised = 1 - np.var(cuped_lifts) / np.var(plain_lifts)
    assert abs(realised - rho**2) <= 0.05
    assert abs(np.mean(cuped_lifts) - 0.1) <= 0.005  # unbiased for the planted lift


def test_ratio_simulated_false_positives_and_coverage():
    rng = np.random.default_rng(104)
    runs, n = 1500, 500
    sums = []
    for _ in range(4):  # A/A control, A/A treatment, A/B control, A/B treatment
        w = rng.poisson(2.0, size=(runs, n)) + 1.0
        d = rng.poisson(2.0, size=(runs, n)) + 1.0
        speed = rng.gamma(4.0, 10.0, size=(runs, n))
        x = w * speed * rng.gamma(10.0, 0.1, size=(runs, n))
        m = d * speed * rng.gamma(10.0, 0.1, size=(runs, n))
        products = (m, m * m, d, d * d, m * d, x, x * x, w, w * w, x * w)
        products += (m * x, m * w, d * x, d * w)
        sums.append([a.sum(axis=1) for a in products])
    factor = 0.8  # the A/B treatment ratio is 0.8 times control (truth 32 vs 40)
    positives, covered, covered_effect = [], [], []
    cuped_positives, covered_cuped = [], []

    def arm(s, i, scale=1.0):
        m, mm, d, dd, md, x, xx, w, ww, xw, mx, mw, dx, dw = (v[i] for v in s)
        return RegressionAdjustedRatio(
            Ratio(n, scale * m, scale**2 * mm, d, dd, scale * md),
            Ratio(n, x, xx, w, ww, xw),
            scale * mx,
            scale * mw,
            dx,
            dw,
        )

    for i in range(runs):
        aa = compare(arm(sums[0], i), arm(sums[1], i))
        ab = compare(arm(sums[2], i), arm(sums[3], i, factor))
        positives.append(aa.p_value < 0.05)
        cuped_positives.append(aa.cuped.p_value < 0.05)
        covered.append(aa.abs_ci_low <= 0 <= aa.abs_ci_high)
        covered_effect.append(ab.abs_ci_low <= -8.0 <= ab.abs_ci_high)
        covered_cuped.append(ab.cuped.ci_low <= -8.0 <= ab.cuped.ci_high)
    assert 0.035 <= rate(positives) <= 0.065
    assert 0.935 <= rate(covered) <= 0.965
    assert 0.935 <= rate(covered_effect) <= 0.965
    assert 0.035 <= rate(cuped_positives) <= 0.065
    assert 0.935 <= rate(covered_cuped) <= 0.965
