"""Meta-analysis (issue 19 item 4) against independent implementations:
statsmodels' combine_effects (DerSimonian-Laird), a hand calculation in
fractions for the shrinkage, and numerical integration for the EVPI."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.meta_analysis import combine_effects

from xpkit.stats.meta import (
    expected_value_of_information,
    random_effects,
    shrink,
    summed_impact,
)

CASES = {
    "heterogeneous": (
        [0.12, -0.03, 0.05, 0.30, 0.01],
        [0.002, 0.001, 0.004, 0.01, 0.0005],
    ),
    "homogeneous": ([0.05, 0.051, 0.049], [0.01, 0.02, 0.015]),
    "two": ([0.2, -0.1], [0.001, 0.002]),
}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("case", ["heterogeneous", "two"])
def test_random_effects_matches_statsmodels(case):
    y, v = CASES[case]
    ours = random_effects(y, v, alpha=0.05)
    oracle = combine_effects(np.array(y), np.array(v), method_re="dl")
    assert ours.k == len(y)
    # statsmodels reports the moment estimate before truncation at 0.
    assert _rel(ours.tau_squared + 1e-300, max(0.0, oracle.tau2) + 1e-300) < 1e-9
    assert _rel(ours.pooled, oracle.mean_effect_re) < 1e-9
    assert _rel(ours.pooled_se, oracle.sd_eff_w_re) < 1e-9
    assert _rel(ours.fixed_effect, oracle.mean_effect_fe) < 1e-9
    assert _rel(ours.q_statistic, oracle.q) < 1e-9
    # conf_int gives (low, high) pairs: fixed, random, fixed wls, random wls.
    low, high = oracle.conf_int(alpha=0.05, use_t=False)[1]
    assert _rel(ours.ci_low, low) < 1e-9 and _rel(ours.ci_high, high) < 1e-9
    assert _rel(ours.i_squared + 1e-300, max(0.0, oracle.i2) + 1e-300) < 1e-9


def test_homogeneous_case_has_no_between_variance():
    # statsmodels keeps the negative moment estimate of tau^2 in its random
    # weights; DerSimonian-Laird truncates it at 0, where the random-effects
    # mean is the fixed-effect one: compared with statsmodels' fixed effect.
    y, v = CASES["homogeneous"]
    ours = random_effects(y, v)
    oracle = combine_effects(np.array(y), np.array(v), method_re="dl")
    assert oracle.tau2 < 0 and ours.tau_squared == 0.0 and ours.i_squared == 0.0
    assert _rel(ours.pooled, oracle.mean_effect_fe) < 1e-9
    assert _rel(ours.pooled_se, oracle.sd_eff_w_fe) < 1e-9
    low, high = oracle.conf_int(alpha=0.05, use_t=False)[0]
    assert _rel(ours.ci_low, low) < 1e-9 and _rel(ours.ci_high, high) < 1e-9


def test_shrinkage_by_hand_in_fractions():
    y = [Fraction(3, 10), Fraction(-1, 10), Fraction(1, 20)]
    v = [Fraction(1, 100), Fraction(1, 50), Fraction(1, 25)]
    # DerSimonian-Laird by hand.
    w = [1 / x for x in v]
    fixed = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
    q = sum(wi * (yi - fixed) ** 2 for wi, yi in zip(w, y, strict=True))
    c = sum(w) - sum(wi * wi for wi in w) / sum(w)
    tau2 = max(Fraction(0), (q - 2) / c)
    assert tau2 > 0
    w_re = [1 / (x + tau2) for x in v]
    pooled = sum(wi * yi for wi, yi in zip(w_re, y, strict=True)) / sum(w_re)
    pooled_var = 1 / sum(w_re)
    meta = random_effects([float(x) for x in y], [float(x) for x in v])
    assert _rel(meta.tau_squared, float(tau2)) < 1e-9
    assert _rel(meta.pooled, float(pooled)) < 1e-9
    for yi, vi in zip(y, v, strict=True):
        b = tau2 / (tau2 + vi)
        expected = pooled + b * (yi - pooled)
        var = b * vi + (1 - b) ** 2 * pooled_var
        got = shrink(float(yi), float(vi), meta)
        assert got is not None
        assert _rel(got.estimate, float(expected)) < 1e-9
        assert _rel(got.sd, math.sqrt(float(var))) < 1e-9
        assert _rel(got.weight, float(b)) < 1e-9
        # Shrunk towards the pooled mean, never past it.
        assert abs(got.estimate - meta.pooled) <= abs(float(yi) - meta.pooled)


def test_no_between_variance_pools_fully():
    meta = random_effects([0.05, 0.051], [0.01, 0.02])
    got = shrink(0.051, 0.02, meta)
    assert got.weight == 0.0 and got.estimate == pytest.approx(meta.pooled, rel=1e-12)


def test_degenerate_inputs_never_raise():
    assert random_effects([], []).pooled is None
    bad = random_effects([0.1, float("nan")], [0.01, 0.01])
    assert bad.pooled is None and "positive variance" in bad.error_message
    assert random_effects([0.1], [0.0]).pooled is None
    one = random_effects([0.1], [0.01])
    assert one.tau_squared == 0.0 and one.pooled == pytest.approx(0.1, rel=1e-12)
    assert "one experiment" in one.error_message
    assert shrink(0.1, 0.01, random_effects([], [])) is None
    assert summed_impact([]) is None


def test_summed_impact_adds_means_and_variances():
    meta = random_effects(*CASES["heterogeneous"])
    shrunk = [shrink(y, v, meta) for y, v in zip(*CASES["heterogeneous"], strict=True)]
    total, low, high = summed_impact(shrunk[:2])
    sd = math.sqrt(shrunk[0].sd ** 2 + shrunk[1].sd ** 2)
    assert _rel(total, shrunk[0].estimate + shrunk[1].estimate) < 1e-12
    assert _rel(high - total, stats.norm.ppf(0.975) * sd) < 1e-9
    assert _rel(total - low, stats.norm.ppf(0.975) * sd) < 1e-9


@pytest.mark.parametrize("mean,sd", [(1000.0, 2500.0), (-300.0, 800.0), (0.0, 50.0)])
def test_evpi_matches_numerical_integration(mean, sd):
    got = expected_value_of_information(mean, sd)

    def density(x: float) -> float:
        return max(x, 0.0) * stats.norm.pdf(x, mean, sd)

    lo, hi = mean - 12 * sd, mean + 12 * sd
    e_max, _ = integrate.quad(
        density, lo, hi, points=[0.0], epsabs=0, epsrel=1e-12, limit=200
    )
    assert _rel(got.evpi, e_max - max(mean, 0.0)) < 1e-9
    assert _rel(got.probability_positive + 1e-300, stats.norm.sf(0, mean, sd)) < 1e-9
    assert expected_value_of_information(mean, 0.0).evpi == 0.0
    assert expected_value_of_information(float("nan"), 1.0) is None
