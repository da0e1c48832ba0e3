"""Numerical precision and input validation of the sufficient statistics
(issue 12, findings 3, 7 and 8), against numpy and scipy on the same data."""

import math

import numpy as np
import pytest
from scipy import stats

from xpkit.stats.frequentist import compare
from xpkit.stats.statistics import (
    Proportion,
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
    from_row,
    rounding_tolerance,
    statistic_problems,
)

GOOD = SampleMean(n=100, sum=50.0, sum_squares=60.0)


def assert_refused(result, *fragments):
    """No figure at all, and an error naming the arm and the check."""
    for figure in (
        result.p_value,
        result.abs_lift,
        result.abs_ci_low,
        result.std_error,
        result.rel_lift,
        result.cuped.p_value,
    ):
        assert figure is None
    assert result.error_message.startswith("impossible sufficient statistics")
    for fragment in fragments:
        assert fragment in result.error_message
    assert result.cuped.error_message == result.error_message


# ---------------------------------------------------------------- finding 3


def test_negative_centred_sum_of_squares_is_refused_naming_the_arm():
    # sum(m**2) = 50 < sum(m)**2 / n = 100: no 100 values do that. Main
    # clamped it to zero variance and reported a p-value.
    result = compare(SampleMean(100, 100.0, 50.0), SampleMean(100, 120.0, 200.0))
    assert_refused(result, "control arm", "negative centred sum of squares")


def test_negative_sum_of_squares_is_refused():
    result = compare(GOOD, SampleMean(100, -5.0, -1.0))
    assert_refused(result, "treatment arm", "negative sum of squares")


@pytest.mark.parametrize(
    ("successes", "check"),
    [(150.0, "more successes (150) than units (100)"), (-3.0, "negative number")],
)
def test_proportion_outside_zero_to_n_is_refused(successes, check):
    # 150 of 100 units: main returned p = 1e-108.
    result = compare(Proportion(100, 20.0), Proportion(100, successes))
    assert_refused(result, "treatment arm", check)


def test_fractional_successes_are_refused():
    result = compare(Proportion(100, 20.5), Proportion(100, 30.0))
    assert_refused(result, "control arm", "not whole")


def test_negative_n_is_refused():
    result = compare(SampleMean(-4, 1.0, 1.0), GOOD)
    assert_refused(result, "control arm", "negative number of units")


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_sums_are_refused(bad):
    result = compare(GOOD, SampleMean(100, 10.0, bad))
    assert_refused(result, "treatment arm", "sum_squares is not finite")
    ratio = Ratio(10, 5.0, 5.0, bad, 20.0, 9.0)
    assert_refused(
        compare(ratio, Ratio(10, 5.0, 5.0, 10.0, 20.0, 9.0)),
        "control arm",
        "denominator_sum is not finite",
    )


def test_cross_product_beyond_cauchy_schwarz_is_refused():
    # m and x both have centred sum of squares 9 (n = 10, sums 0), so
    # |centred sum of m x| <= 9; 12 is impossible.
    post = SampleMean(10, 0.0, 9.0)
    pre = SampleMean(10, 0.0, 9.0)
    bad = RegressionAdjusted(post, pre, post_pre_sum_product=12.0)
    fine = RegressionAdjusted(post, pre, post_pre_sum_product=9.0)
    assert statistic_problems(fine) == []
    assert_refused(compare(fine, bad), "treatment arm", "Cauchy-Schwarz")


def test_ratio_cross_product_beyond_cauchy_schwarz_is_refused():
    # m, d with centred sums of squares 4 and 1: |C_md| <= 2.
    bad = Ratio(5, 10.0, 24.0, 5.0, 6.0, 13.0)  # C_md = 13 - 10 = 3
    assert statistic_problems(Ratio(5, 10.0, 24.0, 5.0, 6.0, 12.0)) == []
    assert_refused(compare(bad, bad), "control arm", "numerator and denominator")
    assert "treatment arm" in compare(bad, bad).error_message


def test_ratio_cuped_cross_products_are_checked():
    post = Ratio(5, 10.0, 24.0, 5.0, 6.0, 12.0)
    pre = Ratio(5, 10.0, 24.0, 5.0, 6.0, 12.0)
    # sum(d w) = 5 + 4 = 9: C_dw = 9 - 5 = 4 > sqrt(1 * 1).
    bad = RegressionAdjustedRatio(post, pre, 24.0, 12.0, 12.0, 9.0)
    good = RegressionAdjustedRatio(post, pre, 24.0, 12.0, 12.0, 6.0)
    assert statistic_problems(good) == []
    assert_refused(compare(good, bad), "treatment arm", "covariate denominator")


def test_shifted_sums_that_disagree_with_raw_sums_are_refused():
    # Raw: centred 60 - 25 = 35; shifted (around 0.5): 10 - 0 = 10.
    bad = SampleMean(100, 50.0, 60.0, shifted_sum=0.0, shifted_sum_squares=10.0)
    assert_refused(compare(GOOD, bad), "treatment arm", "disagree")


def test_constant_values_are_possible_and_have_zero_variance():
    # Rounding leaves sum(m**2) - sum(m)**2 / n slightly negative or positive
    # for 3.3 (not exact in binary): that is rounding, not impossible data.
    for n in (7, 1000, 123457):
        values = np.full(n, 3.3)
        statistic = SampleMean(n, float(values.sum()), float((values**2).sum()))
        assert statistic_problems(statistic) == []
        assert statistic.variance == 0.0


def test_rounding_tolerance_is_the_summation_bound():
    # (n - 1) u for the sums, about 3 n u for the centred sum; u = eps / 2.
    assert rounding_tolerance(10) == 2 * 12 * np.finfo(float).eps
    assert rounding_tolerance(-3) == 2 * 2 * np.finfo(float).eps


def test_results_name_the_arm_of_an_impossible_row():
    from xpkit.marts.experiment_results import _comparison_row

    row = {"aggregation": "binary", "has_covariate": False}
    arms = {
        ("E", "c", "m"): [row | {"n_units": 100, "metric_sum": 20.0}],
        ("E", "t", "m"): [row | {"n_units": 100, "metric_sum": 150.0}],
    }
    out = _comparison_row(arms, "E", "m", "c", "t", 0.05)
    assert out["p_value"] is None
    assert (
        "treatment arm: more successes (150) than units (100)" in (out["error_message"])
    )


# ---------------------------------------------------------------- finding 7


def low_cv_arm(mean: float, sd: float, n: int, shift: float | None = None):
    """An arm with exactly this mean and sd (ddof=1), as sums."""
    if shift is None:
        return SampleMean(n, n * mean, (n - 1) * sd * sd + n * mean * mean)
    delta = mean - shift
    return SampleMean(
        n,
        n * mean,
        (n - 1) * sd * sd + n * mean * mean,
        shifted_sum=n * delta,
        shifted_sum_squares=(n - 1) * sd * sd + n * delta * delta,
    )


N_LOW_CV = 10_000
# t = 2 exactly: lift = 2 * sd * sqrt(2 / n).
LIFT_LOW_CV = 2 * 0.5 * math.sqrt(2 / N_LOW_CV)


def scipy_low_cv():
    return stats.ttest_ind_from_stats(
        1e5 + LIFT_LOW_CV, 0.5, N_LOW_CV, 1e5, 0.5, N_LOW_CV, equal_var=False
    ).pvalue


def test_low_coefficient_of_variation_from_raw_sums_is_tested():
    # Mean 1e5, sd 0.5 (CV 5e-6): main said "zero variance in both arms".
    # sum(m**2) = 1e14 is a double with spacing 0.016 against a centred sum of
    # 2,500, so raw sums carry the spread to about 1e-5 only.
    control = low_cv_arm(1e5, 0.5, N_LOW_CV)
    treatment = low_cv_arm(1e5 + LIFT_LOW_CV, 0.5, N_LOW_CV)
    result = compare(control, treatment)
    assert result.error_message is None
    assert round(scipy_low_cv(), 4) == 0.0455
    assert result.p_value == pytest.approx(scipy_low_cv(), rel=1e-4)


def test_low_coefficient_of_variation_from_shifted_sums_equals_scipy():
    control = low_cv_arm(1e5, 0.5, N_LOW_CV, shift=1e5)
    treatment = low_cv_arm(1e5 + LIFT_LOW_CV, 0.5, N_LOW_CV, shift=1e5)
    assert control.variance == pytest.approx(0.25, rel=1e-12)
    result = compare(control, treatment)
    assert result.error_message is None
    assert result.p_value == pytest.approx(scipy_low_cv(), rel=1e-9)
    assert round(result.p_value, 4) == 0.0455


# ---------------------------------------------------------------- finding 8


def shifted_row(m, x, d=None, w=None, aggregation="sum"):
    """An arm_metrics row as the SQL builds it: raw and shifted sums."""
    variables = {"m": m, "x": x, "d": d, "w": w}
    shifts = {
        k: (0.0 if v is None else float(np.floor(v.mean())))
        for k, v in variables.items()
    }
    terms = {
        "metric_sum": "m",
        "metric_sum_squares": "mm",
        "covariate_sum": "x",
        "covariate_sum_squares": "xx",
        "metric_covariate_sum_product": "mx",
        "denominator_sum": "d",
        "denominator_sum_squares": "dd",
        "metric_denominator_sum_product": "md",
        "covariate_denominator_sum": "w",
        "covariate_denominator_sum_squares": "ww",
        "covariate_covariate_denominator_sum_product": "xw",
        "metric_covariate_denominator_sum_product": "mw",
        "denominator_covariate_sum_product": "dx",
        "denominator_covariate_denominator_sum_product": "dw",
    }
    row = {"aggregation": aggregation, "has_covariate": True, "n_units": m.size}
    for column, letters in terms.items():
        if any(variables[k] is None for k in letters):
            continue
        raw = np.prod([variables[k] for k in letters], axis=0)
        shifted = np.prod([variables[k] - shifts[k] for k in letters], axis=0)
        row[column] = float(raw.sum())
        row[f"{column}_shifted"] = float(shifted.sum())
    return row


@pytest.mark.parametrize("mean", [1e5, 1e6, 1e7, 1e8])
def test_large_mean_variance_and_covariance_equal_numpy(mean):
    rng = np.random.default_rng(int(math.log10(mean)))
    noise = rng.normal(0.0, 1.0, 5000)
    m = mean + noise
    x = mean + 0.7 * noise + rng.normal(0.0, 0.5, 5000)
    statistic = from_row(shifted_row(m, x))
    assert statistic.variance == pytest.approx(np.var(m, ddof=1), rel=1e-9)
    assert statistic.pre.variance == pytest.approx(np.var(x, ddof=1), rel=1e-9)
    assert statistic.covariance == pytest.approx(np.cov(m, x)[0, 1], rel=1e-9)
    assert statistic_problems(statistic) == []


def test_large_mean_ratio_variance_and_covariance_equal_numpy():
    rng = np.random.default_rng(8)
    m = 1e7 + rng.normal(0.0, 1.0, 4000)
    d = 1e8 + rng.normal(0.0, 1.0, 4000)
    x = 1e7 + rng.normal(0.0, 1.0, 4000)
    w = 1e8 + 0.5 * (d - 1e8) + rng.normal(0.0, 1.0, 4000)
    statistic = from_row(shifted_row(m, x, d, w, aggregation="ratio"))
    r, q = m.sum() / d.sum(), x.sum() / w.sum()
    u, v = (m - r * d) / d.mean(), (x - q * w) / w.mean()
    assert statistic.variance == pytest.approx(np.var(u, ddof=1), rel=1e-9)
    assert statistic.pre.variance == pytest.approx(np.var(v, ddof=1), rel=1e-9)
    assert statistic.covariance == pytest.approx(np.cov(u, v)[0, 1], rel=1e-9)
    assert statistic_problems(statistic) == []


def test_raw_sums_still_work_when_shifted_ones_are_absent_or_partial():
    row = shifted_row(np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0, 1.0]))
    raw = {k: v for k, v in row.items() if not k.endswith("_shifted")}
    statistic = from_row(raw)
    assert not statistic.post.is_shifted
    assert statistic.variance == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1))
    partial = from_row(row | {"metric_sum_squares_shifted": None})
    assert not partial.post.is_shifted and partial.pre.is_shifted
    assert not partial.is_shifted  # the cross product falls back to raw sums
    assert partial.covariance == pytest.approx(np.cov([1, 2, 4], [0, 1, 1])[0, 1])
