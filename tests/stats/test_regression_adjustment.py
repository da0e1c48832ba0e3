"""Regression adjustment, several covariates (issue 17 item 2): oracles, coverage.

``regression_adjusted_test`` only ever sees per-arm sums (n, sums of the terms,
sums of their products), built here with numpy from simulated unit-level
values as the warehouse builds them. The oracle is statsmodels OLS
``y ~ T * (x - xbar)`` on the unit-level arrays.

Standard errors: the sandwich (HC0/HC2) treats ``xbar`` as fixed, so it
estimates ``A_c + A_t`` of the module docstring; the interacted regression
splits into one regression per arm, and the robust variance of each arm's
fitted mean at ``xbar`` equals ``s2_a / n_a`` plus terms of relative order
k / n_a (leverage) and of the heteroskedasticity in x, which vanish as n grows.
Our ``B`` (the variance of ``xbar`` times the slope gap) is then added to the
oracle by hand from the oracle's own interaction coefficients.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import statsmodels.api as sm

from xpkit.stats.frequentist import cuped_test
from xpkit.stats.regression import (
    MAX_COVARIATES,
    ArmCrossProducts,
    regression_adjusted_test,
)
from xpkit.stats.statistics import RegressionAdjusted, SampleMean


def arm_sums(y: np.ndarray, x: np.ndarray) -> ArmCrossProducts:
    """An arm's sufficient statistics from unit-level y (n,) and x (n, k)."""
    terms = np.column_stack([y, x])
    return ArmCrossProducts(
        n=len(y), sums=list(terms.sum(axis=0)), products=(terms.T @ terms).tolist()
    )


def simulate(rng, n_c, n_t, k, effect=0.3, slope_gap=0.0, sd_t=1.0, mean=0.0):
    """Unit-level arms: x ~ N(mean, 1) correlated, y = x beta_a + noise."""
    cov = 0.3 * np.ones((k, k)) + 0.7 * np.eye(k)
    beta = np.linspace(1.0, 0.2, k)
    x_c = rng.multivariate_normal(np.full(k, mean), cov, size=n_c)
    x_t = rng.multivariate_normal(np.full(k, mean), cov, size=n_t)
    y_c = 5 + (x_c - mean) @ beta + rng.normal(0, 1.0, n_c)
    y_t = 5 + effect + (x_t - mean) @ (beta + slope_gap) + rng.normal(0, sd_t, n_t)
    return y_c, x_c, y_t, x_t


def oracle(y_c, x_c, y_t, x_t, cov_type):
    """statsmodels OLS y ~ T * (x - xbar): (T coefficient, robust se, slope gap, x)."""
    x = np.vstack([x_c, x_t])
    y = np.concatenate([y_c, y_t])
    t = np.concatenate([np.zeros(len(y_c)), np.ones(len(y_t))])
    centred = x - x.mean(axis=0)
    design = sm.add_constant(np.column_stack([t, centred, t[:, None] * centred]))
    fitted = sm.OLS(y, design).fit(cov_type=cov_type)
    k = x.shape[1]
    return fitted.params[1], fitted.bse[1], fitted.params[2 + k :], x, t


def carried_term(gap, x, t):
    """Our B from the oracle's slope gap and the within-arm covariance (numpy)."""
    within = np.vstack([x[t == 0] - x[t == 0].mean(0), x[t == 1] - x[t == 1].mean(0)])
    spread = within.T @ within / (len(x) - 2)
    return float(gap @ spread @ gap) / len(x)


@pytest.mark.parametrize("cov_type", ["HC2", "HC0"])
@pytest.mark.parametrize(
    ("n_c", "n_t", "k", "slope_gap"),
    [(10_000, 10_000, 3, 0.0), (4_000, 16_000, 3, 0.0), (16_000, 4_000, 5, 0.4)],
)
def test_matches_interacted_ols(n_c, n_t, k, slope_gap, cov_type):
    rng = np.random.default_rng(17 + n_c + k)
    y_c, x_c, y_t, x_t = simulate(rng, n_c, n_t, k, slope_gap=slope_gap, sd_t=2.0)
    names = [f"x{i}" for i in range(k)]
    result = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), names)
    lift, robust_se, gap, x, t = oracle(y_c, x_c, y_t, x_t, cov_type)
    assert result.error_message is None
    assert result.covariates == tuple(names)
    assert result.abs_lift == pytest.approx(lift, rel=1e-9)
    expected_se = math.sqrt(robust_se**2 + carried_term(gap, x, t))
    assert result.std_error == pytest.approx(expected_se, rel=1e-3)
    # The interval and the p-value invert the same t statistic.
    assert (result.ci_low > 0 or result.ci_high < 0) == (result.p_value < 0.05)


def test_large_means_lose_no_digits_with_exact_sums():
    """Values near 1e7 with unit spread: exact (Fraction) sums centre exactly."""
    rng = np.random.default_rng(3)
    y_c, x_c, y_t, x_t = simulate(rng, 3_000, 7_000, 2, mean=0.0)
    shift = 1e7

    def exact_arm(y, x):
        # Quantise to a 2^-20 grid (as the warehouse's scaled integers do) and
        # add the large offset in exact arithmetic.
        terms = np.round(np.column_stack([y, x]) * 2**20) / 2**20 + shift
        exact = [[Fraction(v) for v in row] for row in terms]
        size = terms.shape[1]
        sums = [sum(row[i] for row in exact) for i in range(size)]
        products = [
            [sum(row[i] * row[j] for row in exact) for j in range(size)]
            for i in range(size)
        ]
        return ArmCrossProducts(n=len(y), sums=sums, products=products), terms

    control, terms_c = exact_arm(y_c, x_c)
    treatment, terms_t = exact_arm(y_t, x_t)
    result = regression_adjusted_test(control, treatment, ["a", "b"])
    # Oracle on the offset-free quantised values (the estimator is shift-invariant).
    lift, _, _, _, _ = oracle(
        terms_c[:, 0] - shift, terms_c[:, 1:] - shift,
        terms_t[:, 0] - shift, terms_t[:, 1:] - shift, "HC2",
    )  # fmt: skip
    assert result.abs_lift == pytest.approx(lift, rel=1e-9)


def test_one_covariate_is_todays_cuped():
    rng = np.random.default_rng(5)
    y_c, x_c, y_t, x_t = simulate(rng, 2_000, 8_000, 1, slope_gap=0.3, sd_t=1.5)

    def cuped_arm(y, x):
        x = x[:, 0]
        n = len(y)
        return RegressionAdjusted(
            SampleMean(n, y.sum(), (y * y).sum()),
            SampleMean(n, x.sum(), (x * x).sum()),
            (x * y).sum(),
        )

    cuped = cuped_test(cuped_arm(y_c, x_c), cuped_arm(y_t, x_t))
    result = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), ["pre"])
    assert result.abs_lift == pytest.approx(cuped.abs_lift, rel=1e-9)
    assert result.std_error == pytest.approx(cuped.std_error, rel=1e-9)
    assert result.variance_reduction == pytest.approx(
        cuped.variance_reduction, rel=1e-9
    )


def test_constant_and_collinear_covariates_are_dropped_with_a_message():
    rng = np.random.default_rng(7)
    y_c, x_c, y_t, x_t = simulate(rng, 500, 500, 2)

    def widen(x):  # + a constant column and an exact copy of x0 + x1
        return np.column_stack([x, np.full(len(x), 4.0), x[:, 0] + x[:, 1]])

    result = regression_adjusted_test(
        arm_sums(y_c, widen(x_c)), arm_sums(y_t, widen(x_t)), ["a", "b", "one", "sum"]
    )
    assert result.error_message is None
    assert result.covariates == ("a", "b")
    assert result.dropped == (
        "one is constant in the control arm",
        "sum is collinear with earlier covariates in the control arm",
    )
    assert "covariates not used" in result.message
    plain = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), ["a", "b"])
    assert result.abs_lift == pytest.approx(plain.abs_lift, rel=1e-9)
    assert result.std_error == pytest.approx(plain.std_error, rel=1e-9)


def test_cap_on_covariates():
    rng = np.random.default_rng(11)
    k = MAX_COVARIATES + 2
    y_c, x_c, y_t, x_t = simulate(rng, 400, 400, k)
    names = [f"x{i}" for i in range(k)]
    result = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), names)
    assert len(result.covariates) == MAX_COVARIATES
    assert len(result.dropped) == 2
    assert "cap" in result.dropped[0]


@pytest.mark.parametrize(
    ("y_c", "y_t", "message"),
    [
        ([1.0], [1.0, 2.0, 3.0, 4.0], "control arm has 1 units"),
        ([2.0] * 5, [2.0] * 5, "zero variance in both arms"),
    ],
)
def test_degenerate_arms_give_a_message(y_c, y_t, message):
    y_c, y_t = np.array(y_c), np.array(y_t)
    x_c, x_t = np.arange(len(y_c))[:, None] * 1.0, np.arange(len(y_t))[:, None] ** 2.0
    result = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), ["x"])
    assert result.abs_lift is None and result.std_error is None
    assert message in result.error_message


def test_too_few_units_for_the_covariates():
    rng = np.random.default_rng(13)
    y_c, x_c, y_t, x_t = simulate(rng, 5, 50, 3)
    result = regression_adjusted_test(
        arm_sums(y_c, x_c), arm_sums(y_t, x_t), ["a", "b", "c"]
    )
    assert result.abs_lift is None
    assert "too few for 3 covariates" in result.error_message


def test_missing_arm_and_mismatched_sums():
    rng = np.random.default_rng(1)
    y_c, x_c, y_t, x_t = simulate(rng, 50, 50, 2)
    assert (
        "missing"
        in regression_adjusted_test(None, arm_sums(y_t, x_t), ["a", "b"]).error_message
    )
    mismatched = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), ["a"])
    assert "expected 1" in mismatched.error_message


def test_coverage_under_a_20_80_split():
    """Seeded: 2,000 experiments, 20/80, unequal residual spread and unequal slopes.

    Truth: the effect at the population covariate mean (0), i.e. E[y1 - y0] = 0.3.
    Coverage has a standard error of 0.5 pp at 2,000 runs.
    """
    rng = np.random.default_rng(2013)
    runs, n_c, n_t, k = 2_000, 60, 240, 3
    covered = 0
    for _ in range(runs):
        y_c, x_c, y_t, x_t = simulate(rng, n_c, n_t, k, slope_gap=0.5, sd_t=2.0)
        result = regression_adjusted_test(arm_sums(y_c, x_c), arm_sums(y_t, x_t), "abc")
        covered += result.ci_low <= 0.3 <= result.ci_high
    assert 0.935 <= covered / runs <= 0.965
