"""Holm and Benjamini-Hochberg against hand tables and an exact oracle.

``xpkit.stats.corrections`` calls statsmodels' ``multipletests``; the oracle
here is independent of it: the textbook definitions evaluated term by term in
exact rational arithmetic (``fractions.Fraction``), O(m^2), no sorting tricks.
"""

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from xpkit.stats.corrections import adjust_p_values, benjamini_hochberg, holm


def test_holm_hand_table():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running maximum
    # 0.03, 0.06, 0.06; back in input order (0.01, 0.04, 0.03):
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], rel=1e-15)


def test_benjamini_hochberg_hand_table():
    # sorted 0.01, 0.03, 0.04 divided by 1/3, 2/3, 3/3 = 0.03, 0.045, 0.04;
    # running minimum from the right 0.03, 0.04, 0.04; in input order:
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx(
        [0.03, 0.04, 0.04], rel=1e-15
    )


def random_p_values(seed: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=size), rng.beta(0.2, 5.0, size=size)])
    p[:3] = [0.0, 1.0, p[-1]]  # bounds and a tie
    return rng.permutation(p)


def exact_holm(p: list[float]) -> list[float]:
    """Holm by definition: p_(i) -> min(1, max_{j <= i} (m - j + 1) p_(j)).

    Rank i of p_k counts the p-values smaller than it, and ties before it in
    input order (any tie order gives the same adjusted values).
    """
    m = len(p)
    exact = [Fraction(x) for x in p]
    order = sorted(range(m), key=lambda k: (exact[k], k))
    out = [0.0] * m
    for i, k in enumerate(order, start=1):
        best = max((m - j + 1) * exact[order[j - 1]] for j in range(1, i + 1))
        out[k] = float(min(Fraction(1), best))
    return out


def exact_bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg by definition: p_(i) -> min(1, min_{j >= i} m p_(j) / j)."""
    m = len(p)
    exact = [Fraction(x) for x in p]
    order = sorted(range(m), key=lambda k: (exact[k], k))
    out = [0.0] * m
    for i, k in enumerate(order, start=1):
        best = min(Fraction(m, j) * exact[order[j - 1]] for j in range(i, m + 1))
        out[k] = float(min(Fraction(1), best))
    return out


def test_oracle_reproduces_the_hand_tables():
    # The oracle itself is checked on the hand tables above, so a mistake in
    # it cannot hide a mistake in the code.
    assert exact_holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert exact_bh([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])


def test_benjamini_hochberg_1995_example():
    # Benjamini and Hochberg (1995), section 4: 15 p-values; at q = 0.05 the
    # step-up rule rejects the four smallest. By hand, the adjusted value of the
    # fourth is min over j >= 4 of 15 p_(j) / j = 15 * 0.0095 / 4 = 0.035625,
    # and of the fifth 15 * 0.0201 / 5 = 0.0603 (> 0.05: not rejected).
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344]
    p += [0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]
    adjusted = benjamini_hochberg(p)
    assert adjusted[3] == pytest.approx(0.035625, rel=1e-12)
    assert adjusted[4] == pytest.approx(0.0603, rel=1e-12)
    assert sum(a <= 0.05 for a in adjusted) == 4
    assert adjusted == pytest.approx(exact_bh(p), rel=1e-12)


@pytest.mark.parametrize(("seed", "size"), [(0, 2), (1, 5), (2, 40), (3, 150)])
@pytest.mark.parametrize(
    ("ours", "oracle"), [(holm, exact_holm), (benjamini_hochberg, exact_bh)]
)
def test_corrections_equal_the_exact_definition(seed, size, ours, oracle):
    # Floating point against exact rationals: equal to a few ulps.
    p = [float(x) for x in random_p_values(seed, size)]
    assert ours(p) == pytest.approx(oracle(p), rel=1e-13, abs=1e-300)


@pytest.mark.parametrize(("method", "oracle"), [("holm", exact_holm), ("bh", exact_bh)])
def test_missing_p_values_stay_none_and_leave_the_family(method, oracle):
    p = [0.01, None, 0.2, float("nan"), 0.03, pd.NA, 0.6]
    present = [0.01, 0.2, 0.03, 0.6]
    expected = oracle(present)
    adjusted = adjust_p_values(p, method)
    assert [adjusted[i] for i in (0, 2, 4, 6)] == pytest.approx(expected, rel=1e-15)
    assert adjusted[1] is None and adjusted[3] is None and adjusted[5] is None


def test_adjust_p_values_none_and_edge_cases():
    assert adjust_p_values([0.2, None, np.float64(0.01)], "none") == [0.2, None, 0.01]
    assert adjust_p_values([None, math.nan], "holm") == [None, None]
    assert adjust_p_values([], "bh") == []
    assert holm([0.04]) == [0.04]  # a family of one is unadjusted


def test_adjust_p_values_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1], "bonferroni")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])
