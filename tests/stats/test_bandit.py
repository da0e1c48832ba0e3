"""xpkit.stats.bandit: probability of being best against the closed form for
two Beta posteriors (Evan Miller's sum) and a seeded Monte Carlo for three;
a seeded simulation of regret (Thompson vs uniform allocation); and the
inverse-propensity-weighted mean staying unbiased under adaptive allocation;
the normal posteriors of non-binary metrics against the closed form for two
arms, Phi((m2 - m1) / sqrt(s1^2 + s2^2)), and a seeded Monte Carlo for three."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaln

from xpkit.stats.bandit import (
    allocation_weights,
    ipw_mean,
    probability_best,
    probability_best_normal,
    thompson_weights,
)


def p_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """P(X_B > X_A), X ~ Beta, integer a_B (closed form)."""
    total = 0.0
    for i in range(a_b):
        total += math.exp(
            betaln(a_a + i, b_a + b_b)
            - math.log(b_b + i)
            - betaln(1 + i, b_b)
            - betaln(a_a, b_a)
        )
    return total


@pytest.mark.parametrize(
    "successes, trials", [((3, 7), (20, 20)), ((40, 52), (500, 520)), ((0, 1), (5, 3))]
)
def test_probability_best_equals_the_two_arm_closed_form(successes, trials):
    got = probability_best(successes, trials)
    a_a, b_a = 1 + successes[0], 1 + trials[0] - successes[0]
    a_b, b_b = 1 + successes[1], 1 + trials[1] - successes[1]
    want = p_b_beats_a(a_a, b_a, a_b, b_b)
    assert got[1] == pytest.approx(want, rel=1e-9)
    assert got.sum() == pytest.approx(1.0, rel=1e-12)


def test_probability_best_of_three_arms_matches_monte_carlo():
    successes, trials = (30, 36, 41), (300, 300, 310)
    rng = np.random.default_rng(7)
    draws = np.column_stack(
        [
            rng.beta(1 + s, 1 + n - s, 400_000)
            for s, n in zip(successes, trials, strict=True)
        ]
    )
    share = np.bincount(draws.argmax(axis=1), minlength=3) / draws.shape[0]
    got = probability_best(successes, trials)
    standard_error = np.sqrt(share * (1 - share) / draws.shape[0])
    assert np.all(np.abs(got - share) < 4 * standard_error + 1e-12)


def test_thompson_weights_floor_and_validation():
    w = thompson_weights((0, 50), (100, 100), floor=0.05)
    assert w.sum() == pytest.approx(1.0)
    assert w.min() >= 0.05
    with pytest.raises(ValueError):
        thompson_weights((1, 2), (3, 4), floor=0.5)
    with pytest.raises(ValueError):
        probability_best((5, 1), (3, 4))


def simulate(rates, batches, batch_size, rng, adaptive=True, floor=0.0):
    """One bandit run; returns (regret, rewards, arms, propensities)."""
    k = len(rates)
    s, n = np.zeros(k, int), np.zeros(k, int)
    rewards, arms, props = [], [], []
    for _ in range(batches):
        w = thompson_weights(s, n, floor) if adaptive else np.full(k, 1 / k)
        arm = rng.choice(k, size=batch_size, p=w)
        reward = (rng.random(batch_size) < np.asarray(rates)[arm]).astype(float)
        np.add.at(s, arm, reward.astype(int))
        np.add.at(n, arm, 1)
        rewards.append(reward)
        arms.append(arm)
        props.append(w[arm])
    arms_all = np.concatenate(arms)
    regret = float(np.sum(max(rates) - np.asarray(rates)[arms_all]))
    return regret, np.concatenate(rewards), arms_all, np.concatenate(props)


def test_thompson_regret_is_well_below_uniform_allocation():
    rates = (0.05, 0.07, 0.10)
    rng = np.random.default_rng(20241001)
    thompson = [simulate(rates, 20, 100, rng)[0] for _ in range(6)]
    uniform = [simulate(rates, 20, 100, rng, adaptive=False)[0] for _ in range(6)]
    # Uniform regret is 2000 x (0.05 + 0.03) / 3 ~ 53 per run.
    assert np.mean(uniform) == pytest.approx(2000 * 0.08 / 3, rel=0.1)
    assert np.mean(thompson) < 0.6 * np.mean(uniform)


def test_ipw_mean_is_unbiased_under_adaptive_allocation():
    rates = (0.3, 0.5)
    rng = np.random.default_rng(11)
    ipw = []
    for _ in range(200):
        _, reward, arm, prop = simulate(rates, 4, 40, rng, floor=0.1)
        ipw.append(ipw_mean(reward, arm, prop, 0))
    ipw = np.array(ipw)
    error = ipw.std(ddof=1) / math.sqrt(ipw.size)
    assert abs(ipw.mean() - rates[0]) < 4 * error


@pytest.mark.parametrize(
    "means, sds",
    [
        ((0.0, 0.1), (1.0, 0.5)),
        ((3.2, 3.25), (0.01, 0.02)),
        ((10.0, 9.0), (1.0, 100.0)),
        ((0.0, 3.0), (1e-4, 1e3)),
        ((1e6, 1e6 + 1.0), (1e-3, 5.0)),
        ((-4.0, -4.0), (2.0, 2.0)),
    ],
)
def test_probability_best_normal_equals_the_two_arm_closed_form(means, sds):
    got = probability_best_normal(means, sds)
    # P(X_2 > X_1) for independent normals: Phi((m2 - m1) / sqrt(s1^2 + s2^2)).
    z = (means[1] - means[0]) / math.sqrt(sds[0] ** 2 + sds[1] ** 2)
    want = 0.5 * math.erfc(-z / math.sqrt(2.0))
    assert got[1] == pytest.approx(want, rel=1e-9)
    assert got[0] == pytest.approx(1.0 - want, rel=1e-9, abs=1e-15)


def test_probability_best_normal_of_three_arms_matches_monte_carlo():
    means, sds = (1.00, 1.03, 1.05), (0.02, 0.03, 0.05)
    rng = np.random.default_rng(19)
    draws = rng.normal(means, sds, size=(400_000, 3))
    share = np.bincount(draws.argmax(axis=1), minlength=3) / draws.shape[0]
    got = probability_best_normal(means, sds)
    standard_error = np.sqrt(share * (1 - share) / draws.shape[0])
    assert np.all(np.abs(got - share) < 4 * standard_error + 1e-12)
    assert got.sum() == pytest.approx(1.0, rel=1e-12)


def test_probability_best_normal_validates_its_input():
    with pytest.raises(ValueError):
        probability_best_normal((1.0,), (1.0,))
    with pytest.raises(ValueError):
        probability_best_normal((1.0, 2.0), (1.0, 0.0))
    with pytest.raises(ValueError):
        probability_best_normal((1.0, float("nan")), (1.0, 1.0))


def test_allocation_weights_floor_the_probabilities():
    w = allocation_weights((0.0, 0.1, 0.9), floor=0.05)
    assert w == pytest.approx((0.05, 0.05 + 0.85 * 0.1, 0.05 + 0.85 * 0.9), rel=1e-12)
    assert w.sum() == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError):
        allocation_weights((0.5, 0.5), floor=0.5)
