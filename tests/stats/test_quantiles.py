"""Quantile metrics (xpkit.stats.quantiles): every figure against a unit-level
numpy / scipy implementation of the same method (Woodruff's interval-based
standard error, the order-statistic normal approximation of GrowthBook's
quantile metrics), and a seeded coverage simulation of the interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xpkit.stats.quantiles import (
    METHOD_QUANTILE,
    QuantileEstimate,
    compare_quantiles,
    quantile_estimate,
    sample_quantile,
)

RTOL = 1e-9


def numpy_quantile_test(control, treatment, level, alpha):
    """The method on the unit arrays with numpy and scipy only."""
    z0 = stats.norm.ppf(0.975)
    figures = []
    for values in (control, treatment):
        n = values.size
        half = z0 * np.sqrt(level * (1 - level) / n)
        low, mid, high = np.quantile(
            values, [max(level - half, 0.0), level, min(level + half, 1.0)]
        )
        figures.append((mid, ((high - low) / (2 * z0)) ** 2))
    (q_c, v_c), (q_t, v_t) = figures
    se = np.sqrt(v_c + v_t)
    z = stats.norm.ppf(1 - alpha / 2)
    diff = q_t - q_c
    # Fieller: the ratios R with (q_t - R q_c)^2 <= z^2 (v_t + R^2 v_c).
    roots = np.sort(
        np.roots([q_c**2 - z**2 * v_c, -2 * q_t * q_c, q_t**2 - z**2 * v_t]).real
    )
    return {
        "mean_control": q_c,
        "mean_treatment": q_t,
        "abs_lift": diff,
        "std_error": se,
        "abs_ci_low": diff - z * se,
        "abs_ci_high": diff + z * se,
        "p_value": 2 * stats.norm.sf(abs(diff) / se),
        "rel_lift": q_t / q_c - 1,
        "rel_ci_low": roots[0] - 1,
        "rel_ci_high": roots[1] - 1,
    }


@pytest.mark.parametrize("level", [0.01, 0.1, 0.25, 0.5, 0.73, 0.9, 0.99])
@pytest.mark.parametrize("n", [2, 3, 10, 101, 1000])
def test_sample_quantile_equals_numpy_linear(level, n):
    values = np.sort(np.random.default_rng(n).lognormal(size=n))
    assert sample_quantile(values, level) == pytest.approx(
        np.quantile(values, level), rel=1e-12
    )


@pytest.mark.parametrize("level", [0.5, 0.9, 0.25])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compare_quantiles_equals_unit_level_numpy(level, alpha, seed):
    rng = np.random.default_rng(seed)
    control = rng.lognormal(2.0, 1.0, 800)
    treatment = rng.lognormal(2.1, 1.0, 950)
    expected = numpy_quantile_test(control, treatment, level, alpha)
    result = compare_quantiles(
        quantile_estimate(control, level), quantile_estimate(treatment, level), alpha
    )
    assert result.method == METHOD_QUANTILE
    assert result.error_message is None
    for name, value in expected.items():
        assert getattr(result, name) == pytest.approx(value, rel=RTOL), name


def test_intervals_agree_with_the_test():
    rng = np.random.default_rng(11)
    for _ in range(200):
        control = rng.exponential(1.0, 300)
        treatment = rng.exponential(rng.uniform(0.8, 1.3), 300)
        for alpha in (0.01, 0.05, 0.2):
            result = compare_quantiles(
                quantile_estimate(control, 0.5),
                quantile_estimate(treatment, 0.5),
                alpha,
            )
            rejects = result.p_value < alpha
            assert (result.abs_ci_low > 0 or result.abs_ci_high < 0) == rejects
            assert (result.rel_ci_low > 0 or result.rel_ci_high < 0) == rejects


def test_degenerate_input_gives_a_reason_not_a_number():
    one = QuantileEstimate(1, 0.5, 1.0, 1.0, 1.0)
    few = quantile_estimate([1.0, 2.0, 3.0], 0.99)
    flat = quantile_estimate([2.0] * 50, 0.5)
    for control, treatment, words in (
        (None, flat, "control arm missing"),
        (one, flat, "fewer than 2 units"),
        (few, few, "too few units"),
        (flat, flat, "no spread"),
    ):
        result = compare_quantiles(control, treatment, 0.05)
        assert result.p_value is None and result.abs_lift is None
        assert words in result.error_message
    zero = compare_quantiles(
        quantile_estimate(np.zeros(40).tolist() + [1.0] * 10, 0.5),
        quantile_estimate(np.arange(50.0), 0.5),
        0.05,
    )
    assert zero.p_value is not None and zero.rel_lift is None
    assert "control quantile is 0" in zero.interval_error_message


def test_interval_covers_the_true_difference_of_medians():
    # Seeded coverage: lognormal arms whose true medians differ by a known
    # amount (exp(mu) scaled by 1.15); 400 replicates of 400 + 500 units.
    rng = np.random.default_rng(20251203)
    true_difference = np.exp(1.0) * 1.15 - np.exp(1.0)
    replicates, covered = 400, 0
    for _ in range(replicates):
        control = rng.lognormal(1.0, 0.8, 400)
        treatment = 1.15 * rng.lognormal(1.0, 0.8, 500)
        result = compare_quantiles(
            quantile_estimate(control, 0.5), quantile_estimate(treatment, 0.5), 0.05
        )
        covered += result.abs_ci_low <= true_difference <= result.abs_ci_high
    coverage = covered / replicates
    print("coverage of the median difference", coverage)
    # Binomial sd of the estimate at 95%: 1.1 points.
    assert 0.925 <= coverage <= 0.975


def test_interval_covers_the_true_difference_of_p90_under_the_null():
    rng = np.random.default_rng(31)
    replicates, covered = 400, 0
    for _ in range(replicates):
        control = rng.gamma(2.0, 3.0, 600)
        treatment = rng.gamma(2.0, 3.0, 300)
        result = compare_quantiles(
            quantile_estimate(control, 0.9), quantile_estimate(treatment, 0.9), 0.05
        )
        covered += result.abs_ci_low <= 0 <= result.abs_ci_high
    coverage = covered / replicates
    print("coverage of the p90 difference (null)", coverage)
    assert 0.925 <= coverage <= 0.975
