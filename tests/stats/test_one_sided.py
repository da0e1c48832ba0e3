"""One-sided superiority and non-inferiority tests (issue 17 item 7) against
scipy and statsmodels on unit-level data, and the p-value / bound agreement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import proportion, weightstats

from xpkit.stats.frequentist import ComparisonConfig, compare
from xpkit.stats.one_sided import one_sided_test
from xpkit.stats.statistics import (
    Proportion,
    Ratio,
    RegressionAdjusted,
    SampleMean,
)

REL = 1e-9


def close(expected: float):
    return pytest.approx(expected, rel=REL, abs=1e-12)


def mean_stat(values: np.ndarray) -> SampleMean:
    return SampleMean(values.size, float(np.sum(values)), float(np.sum(values**2)))


def ratio_stat(m: np.ndarray, d: np.ndarray) -> Ratio:
    return Ratio(
        m.size,
        float(np.sum(m)),
        float(np.sum(m**2)),
        float(np.sum(d)),
        float(np.sum(d**2)),
        float(np.sum(m * d)),
    )


def adjusted(y: np.ndarray, x: np.ndarray) -> RegressionAdjusted:
    return RegressionAdjusted(
        post=mean_stat(y), pre=mean_stat(x), post_pre_sum_product=float(np.sum(y * x))
    )


def linearised(m: np.ndarray, d: np.ndarray) -> np.ndarray:
    r = np.sum(m) / np.sum(d)
    return r + (m - r * d) / np.mean(d)


def samples(seed: int, n_c: int = 400, n_t: int = 350, lift: float = 0.3):
    rng = np.random.default_rng(seed)
    return rng.normal(10.0, 2.0, n_c), rng.normal(10.0 + lift, 3.0, n_t)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("direction", "alternative"), [("increase", "greater"), ("decrease", "less")]
)
def test_welch_superiority_matches_scipy(seed, direction, alternative):
    c, t = samples(seed)
    result = one_sided_test(mean_stat(c), mean_stat(t), 0.05, "superiority", direction)
    oracle = stats.ttest_ind(t, c, equal_var=False, alternative=alternative)
    assert result.p_value == close(oracle.pvalue)
    low, high = oracle.confidence_interval(confidence_level=0.95)
    assert result.bound == close(low if direction == "increase" else high)
    assert result.absolute_margin == 0.0 and result.error_message is None


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_welch_non_inferiority_matches_statsmodels_with_shifted_null(seed, direction):
    c, t = samples(seed, lift=-0.1)
    margin = 0.02
    delta = margin * abs(np.mean(c))
    result = one_sided_test(
        mean_stat(c), mean_stat(t), 0.05, "non_inferiority", direction, margin
    )
    if direction == "increase":
        alternative, value = "larger", -delta
    else:
        alternative, value = "smaller", delta
    _, p, _ = weightstats.ttest_ind(
        t, c, alternative=alternative, usevar="unequal", value=value
    )
    assert result.p_value == close(p)
    assert result.absolute_margin == close(delta)
    bounds = weightstats.CompareMeans.from_data(t, c).tconfint_diff(
        alpha=0.05, alternative=alternative, usevar="unequal"
    )
    assert result.bound == close(bounds[0] if direction == "increase" else bounds[1])


def test_ratio_one_sided_matches_scipy_welch_on_linearised_values():
    rng = np.random.default_rng(7)
    d_c, d_t = rng.poisson(2.5, 300) + 1.0, rng.poisson(2.5, 310) + 1.0
    m_c = d_c * rng.gamma(3.0, 14.0, 300)
    m_t = d_t * rng.gamma(3.0, 13.0, 310)
    control, treatment = ratio_stat(m_c, d_c), ratio_stat(m_t, d_t)
    z_c, z_t = linearised(m_c, d_c), linearised(m_t, d_t)
    for test_type, margin in (("superiority", None), ("non_inferiority", 0.05)):
        result = one_sided_test(control, treatment, 0.05, test_type, "decrease", margin)
        delta = 0.0 if margin is None else margin * np.sum(m_c) / np.sum(d_c)
        # Non-inferior for a "decrease" metric: mu_t - mu_c < delta.
        oracle = stats.ttest_ind(z_t - delta, z_c, equal_var=False, alternative="less")
        assert result.p_value == close(oracle.pvalue)
        high = oracle.confidence_interval(confidence_level=0.95).high + delta
        assert result.bound == close(high)


def test_cuped_one_sided_equals_two_sided_test_of_shifted_treatment():
    """Adding delta to every treatment value shifts the CUPED lift by delta and
    keeps its standard error, so the one-sided p is half the two-sided one."""
    rng = np.random.default_rng(8)
    x_c, x_t = rng.gamma(2.0, 3.0, 500), rng.gamma(2.0, 3.0, 450)
    y_c = 5 + 0.7 * x_c + rng.normal(0, 2, 500)
    y_t = 4.95 + 0.7 * x_t + rng.normal(0, 2.5, 450)
    margin = 0.03
    result = one_sided_test(
        adjusted(y_c, x_c),
        adjusted(y_t, x_t),
        0.05,
        "non_inferiority",
        "increase",
        margin,
    )
    delta = margin * np.mean(y_c)
    shifted = compare(adjusted(y_c, x_c), adjusted(y_t + delta, x_t)).cuped
    assert shifted.abs_lift > 0
    assert result.cuped_p_value == close(shifted.p_value / 2)
    ten = compare(adjusted(y_c, x_c), adjusted(y_t, x_t), ComparisonConfig(0.1)).cuped
    assert result.cuped_bound == close(ten.ci_low)


def test_binary_one_sided_matches_statsmodels_score_test():
    """Farrington-Manning score test (statsmodels without the MN correction)."""
    x_c, n_c, x_t, n_t = 480, 4000, 455, 3900
    control, treatment = Proportion(n_c, x_c), Proportion(n_t, x_t)
    for test_type, margin in (("superiority", None), ("non_inferiority", 0.1)):
        result = one_sided_test(control, treatment, 0.05, test_type, "increase", margin)
        delta = 0.0 if margin is None else margin * x_c / n_c
        oracle = proportion.test_proportions_2indep(
            x_t,
            n_t,
            x_c,
            n_c,
            value=-delta,
            method="score",
            compare="diff",
            alternative="larger",
            correction=False,
        )
        assert result.p_value == close(oracle.pvalue)


def _check_agreement(result, alpha):
    assert result.p_value is not None and result.bound is not None
    clears = result.bound > -result.absolute_margin
    assert (result.p_value < alpha) == clears


@pytest.mark.parametrize("seed", range(4))
def test_p_value_below_alpha_exactly_when_bound_clears_margin(seed):
    rng = np.random.default_rng(100 + seed)
    checked = 0
    for _ in range(40):
        n_c, n_t = rng.integers(20, 400, 2)
        c = rng.normal(10, 2, n_c)
        t = rng.normal(10 + rng.normal(0, 0.4), 2.5, n_t)
        b_c, b_t = (rng.random(n_c) < 0.3), (rng.random(n_t) < rng.uniform(0.2, 0.4))
        for control, treatment in (
            (mean_stat(c), mean_stat(t)),
            (
                Proportion(int(n_c), float(b_c.sum())),
                Proportion(int(n_t), float(b_t.sum())),
            ),
            # sparse counts: the pooled score test
            (
                mean_stat(rng.poisson(0.05, n_c) * 1.0),
                mean_stat(rng.poisson(0.07, n_t) * 1.0),
            ),
        ):
            for test_type, margin in (("superiority", None), ("non_inferiority", 0.05)):
                result = one_sided_test(
                    control, treatment, 0.05, test_type, "increase", margin
                )
                if result.p_value is None or result.bound is None:
                    continue
                _check_agreement(result, 0.05)
                checked += 1
    assert checked > 200


def test_simulated_size_of_non_inferiority_at_the_margin():
    """At the boundary of H0 (true lift = -delta) the test rejects about alpha."""
    rng = np.random.default_rng(9)
    rejections, reps = 0, 2000
    for _ in range(reps):
        c = rng.normal(10, 2, 200)
        t = rng.normal(10 * (1 - 0.05), 2, 200)
        result = one_sided_test(
            mean_stat(c), mean_stat(t), 0.05, "non_inferiority", "increase", 0.05
        )
        rejections += result.p_value < 0.05
    # The plug-in margin adds a little noise: 5% +/- 1.5 pp (about 3 SE).
    assert abs(rejections / reps - 0.05) < 0.015


def test_degenerate_inputs_give_a_reason():
    c = mean_stat(np.array([1.0, 2.0, 3.0]))
    assert one_sided_test(c, c, 0.05, "two_sided", "increase").p_value is None
    assert (
        "margin"
        in one_sided_test(c, c, 0.05, "non_inferiority", "increase").error_message
    )
    assert "alpha" in one_sided_test(c, c, 0.6, "superiority", "increase").error_message
    assert (
        "missing"
        in one_sided_test(None, c, 0.05, "superiority", "increase").error_message
    )
    zero = mean_stat(np.zeros(3))
    assert (
        "margin"
        in one_sided_test(
            zero, c, 0.05, "non_inferiority", "increase", 0.1
        ).error_message
    )
    assert one_sided_test(c, c, 0.05, "superior", "increase").error_message
