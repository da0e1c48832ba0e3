"""Post-stratification (issue 17 item 3): oracles, pooling rule and coverage.

Oracle: statsmodels OLS ``y ~ T * (D - Dbar)`` on unit-level data, D the
stratum dummies (one left out) centred at their means: its T coefficient is
the post-stratified estimate, and its HC2 variance equals the sum of the cell
variances exactly (the design is saturated, every leverage is 1/n_cell).
Our standard error adds ``V_w`` (the estimated weights), computed here by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from xpkit.stats.poststratification import (
    POOLED,
    poststratified_test,
    strata_from_units,
)


def simulate(rng, n, share_t, effects, shares, sd_t=1.5):
    strata = rng.choice(len(shares), size=n, p=shares)
    arms = (rng.random(n) < share_t).astype(int)
    base = np.array([0.0, 2.0, 5.0, -1.0, 3.0])[: len(shares)]
    y = base[strata] + arms * np.asarray(effects)[strata]
    y = y + rng.normal(0, 1, n) * np.where(arms == 1, sd_t, 1.0)
    return y, arms, np.array([f"s{s}" for s in strata])


def oracle(y, arms, labels):
    names = sorted(set(labels))
    dummies = np.column_stack([(labels == s).astype(float) for s in names[1:]])
    centred = dummies - dummies.mean(axis=0)
    design = sm.add_constant(np.column_stack([arms, centred, arms[:, None] * centred]))
    fitted = sm.OLS(y, design).fit(cov_type="HC2")
    return fitted.params[1], fitted.bse[1]


def weights_term(y, arms, labels, lift):
    total = 0.0
    for s in set(labels):
        cell = labels == s
        effect = y[cell & (arms == 1)].mean() - y[cell & (arms == 0)].mean()
        total += cell.mean() * (effect - lift) ** 2
    return total / len(y)


@pytest.mark.parametrize("share_t", [0.2, 0.5, 0.8])
def test_matches_saturated_ols_and_hc2(share_t):
    rng = np.random.default_rng(int(share_t * 100))
    y, arms, labels = simulate(
        rng, 6_000, share_t, [0.2, 0.5, 1.0, 0.0], [0.4, 0.3, 0.2, 0.1]
    )
    result = poststratified_test(strata_from_units(y, arms, labels))
    lift, hc2 = oracle(y, arms, labels)
    assert result.error_message is None and result.pooled == ()
    assert result.abs_lift == pytest.approx(lift, rel=1e-9)
    expected = math.sqrt(hc2**2 + weights_term(y, arms, labels, lift))
    assert result.std_error == pytest.approx(expected, rel=1e-9)
    assert (result.ci_low > 0 or result.ci_high < 0) == (result.p_value < 0.05)


def test_small_strata_are_pooled_by_the_rule():
    rng = np.random.default_rng(4)
    y, arms, labels = simulate(
        rng, 3_000, 0.5, [0.3, 0.3, 0.3, 0.3, 0.3], [0.5, 0.44, 0.02, 0.02, 0.02]
    )
    cells = strata_from_units(y, arms, labels)
    # s2..s4 have about 30 units each: below 40 per arm they are pooled.
    result = poststratified_test(cells, min_units=40)
    assert result.pooled == ("s2", "s3", "s4")
    assert result.strata == (POOLED, "s0", "s1")
    merged = np.where(np.isin(labels, ["s2", "s3", "s4"]), POOLED, labels)
    lift, _ = oracle(y, arms, merged)
    assert result.abs_lift == pytest.approx(lift, rel=1e-9)
    # Pooled still too small: merged into the largest stratum (s0).
    tiny = poststratified_test(cells, min_units=200)
    assert tiny.strata == ("s0", "s1")
    merged = np.where(np.isin(labels, ["s2", "s3", "s4"]), "s0", labels)
    lift, _ = oracle(y, arms, merged)
    assert tiny.abs_lift == pytest.approx(lift, rel=1e-9)


def test_degenerate_input_gives_a_message():
    assert poststratified_test({}).error_message == "no strata"
    constant = strata_from_units([1.0] * 40, [0, 1] * 20, ["a"] * 40)
    assert "zero variance" in poststratified_test(constant).error_message
    one = strata_from_units([1.0, 2.0, 3.0], [0, 1, 1], ["a"] * 3)
    result = poststratified_test(one, min_units=2)
    assert result.abs_lift is None and "fewer than 2 units" in result.error_message


def test_coverage_under_a_20_80_split_with_effects_that_differ_by_stratum():
    """Seeded: 2,000 experiments of 400 units; truth = sum of share x effect."""
    rng = np.random.default_rng(2013)
    shares, effects = [0.5, 0.3, 0.2], [0.0, 0.5, 1.5]
    truth = float(np.dot(shares, effects))
    covered, runs = 0, 2_000
    for _ in range(runs):
        y, arms, labels = simulate(rng, 400, 0.2, effects, shares)
        result = poststratified_test(strata_from_units(y, arms, labels))
        covered += result.ci_low <= truth <= result.ci_high
    assert 0.935 <= covered / runs <= 0.965
