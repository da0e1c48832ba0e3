"""The relative-lift interval agrees with the test and stays in the possible range.

The contract: for any alpha, [abs_ci_low, abs_ci_high] and [rel_ci_low,
rel_ci_high] exclude 0 exactly when p_value < alpha (p within 1e-12 of alpha
excepted); a None bound is unbounded on that side.
"""

import math

import numpy as np
import pytest
from scipy import stats

from xpkit.stats.frequentist import ComparisonConfig, compare, welch_t_test
from xpkit.stats.statistics import Proportion, Ratio, SampleMean


def excludes_zero(low, high) -> bool:
    return (low is not None and low > 0) or (high is not None and high < 0)


def random_arms(rng, kind):
    n_c, n_t = (int(v) for v in rng.integers(2, 3000, size=2))
    if kind == "binary":
        p = rng.uniform(0.001, 0.6)
        lift = rng.choice([1.0, rng.uniform(0.3, 3.0)])
        return (
            Proportion(n_c, float(rng.binomial(n_c, p))),
            Proportion(n_t, float(rng.binomial(n_t, min(1.0, p * lift)))),
        )
    if kind == "count":
        rate = rng.uniform(0.005, 3.0)
        arms = []
        for n, scale in ((n_c, 1.0), (n_t, rng.choice([1.0, rng.uniform(0.5, 2)]))):
            m = rng.poisson(rate * scale * rng.gamma(0.5, 2.0, size=n))
            arms.append(SampleMean(n, float(m.sum()), float((m * m).sum())))
        return tuple(arms)
    if kind == "sum":  # skewed revenue-like values, often zero
        arms = []
        for n in (n_c, n_t):
            m = rng.lognormal(3, 1, size=n) * (rng.random(n) < rng.uniform(0.02, 1))
            arms.append(SampleMean(n, float(m.sum()), float((m * m).sum())))
        return tuple(arms)
    arms = []  # ratio
    for n in (n_c, n_t):
        d = rng.poisson(2.0, size=n) + 1.0
        m = d * rng.gamma(2.0, rng.uniform(1, 30), size=n) * (rng.random(n) < 0.7)
        arms.append(
            Ratio(
                n,
                float(m.sum()),
                float((m * m).sum()),
                float(d.sum()),
                float((d * d).sum()),
                float((m * d).sum()),
            )
        )
    return tuple(arms)


@pytest.mark.parametrize("kind", ["binary", "count", "sum", "ratio"])
def test_intervals_exclude_zero_exactly_when_p_below_alpha(kind):
    rng = np.random.default_rng({"binary": 1, "count": 2, "sum": 3, "ratio": 4}[kind])
    checked = significant = 0
    for _ in range(300):
        control, treatment = random_arms(rng, kind)
        for alpha in (0.001, 0.01, 0.05, 0.1, 0.2, 0.5, rng.uniform(0.001, 0.9)):
            result = compare(control, treatment, ComparisonConfig(alpha))
            if result.p_value is None or abs(result.p_value - alpha) <= 1e-12:
                continue
            rejects = result.p_value < alpha
            assert excludes_zero(result.abs_ci_low, result.abs_ci_high) == rejects
            if result.rel_lift is not None and (
                result.rel_ci_low is not None or result.rel_ci_high is not None
            ):
                assert excludes_zero(result.rel_ci_low, result.rel_ci_high) == rejects
                # a non-negative metric cannot fall by more than 100%
                assert result.rel_ci_low is None or result.rel_ci_low >= -1
                checked += 1
                significant += rejects
            unbounded = result.rel_ci_low is None or result.rel_ci_high is None
            if unbounded and result.rel_lift is not None:
                assert result.interval_error_message
    assert checked > 500 and 50 < significant < checked - 50  # both sides exercised


def fieller_bounds(m_c, m_t, v_c, v_t, q):
    """Fieller's bounds of m_t / m_c by the quadratic formula (numpy.roots)."""
    roots = np.roots([m_c**2 - q**2 * v_c, -2 * m_c * m_t, m_t**2 - q**2 * v_t])
    return sorted(roots.real)


def test_welch_relative_interval_is_fieller_with_the_welch_quantile():
    rng = np.random.default_rng(5)
    control, treatment = rng.gamma(2.0, 5.0, size=300), rng.gamma(2.0, 6.0, size=120)
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    q = stats.t.ppf(0.975, welch.df)
    v_c, v_t = np.var(control, ddof=1) / 300, np.var(treatment, ddof=1) / 120
    low, high = fieller_bounds(np.mean(control), np.mean(treatment), v_c, v_t, q)
    result = welch_t_test(
        SampleMean(300, control.sum(), (control**2).sum()),
        SampleMean(120, treatment.sum(), (treatment**2).sum()),
    )
    assert result.rel_ci_low == pytest.approx(low - 1, rel=1e-9)
    assert result.rel_ci_high == pytest.approx(high - 1, rel=1e-9)


def test_low_rate_binary_relative_interval_agrees_with_the_test():
    # like demo E001 meeting-booked: few events, p just under 0.05. The delta
    # method gave a relative interval across 0 beside a significant test.
    control, treatment = Proportion(250, 6.0), Proportion(250, 16.0)
    result = compare(control, treatment)
    assert result.p_value < 0.05
    assert result.rel_ci_low > 0
    assert result.rel_ci_low_delta < 0  # the old (delta-method) interval
    assert result.rel_ci_low < result.rel_lift < result.rel_ci_high


def test_relative_interval_of_a_rare_count_stays_above_minus_100_percent():
    # Few events in the treatment arm: the delta-method bound fell below -100%.
    control = SampleMean(400, 30.0, 200.0)
    treatment = SampleMean(400, 2.0, 2.0)
    result = compare(control, treatment)
    assert result.rel_ci_low_delta < -1  # the old interval reached below -100%
    assert result.rel_ci_low >= -1
    assert excludes_zero(result.rel_ci_low, result.rel_ci_high) == (
        result.p_value < 0.05
    )


def test_unbounded_fieller_set_gives_none_with_a_reason():
    # control mean not distinguishable from 0: Fieller's set is unbounded above
    result = welch_t_test(SampleMean(5, 1.0, 1.0), SampleMean(50, 20.0, 40.0))
    assert result.p_value is not None and result.error_message is None
    assert result.rel_ci_high is None
    assert "unbounded" in result.interval_error_message
    for value in (result.rel_ci_low, result.rel_ci_high):
        assert value is None or math.isfinite(value)
