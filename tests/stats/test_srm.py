"""Sample ratio mismatch against scipy.stats.chisquare."""

import numpy as np
import pytest
from scipy import stats

from xpkit.stats.srm import srm_test


def test_srm_hand_table():
    # 60 vs 40 against 50/50: expected 50 each; chi2 = (10**2 + 10**2) / 50 = 4,
    # df = 1, p = P(chi2_1 > 4) = 0.0455 (above 0.001: no mismatch).
    result = srm_test([60, 40], [0.5, 0.5])
    assert result.chi2 == pytest.approx(4.0, rel=1e-15)
    assert result.df == 1
    assert result.p_value == pytest.approx(0.0455002638963584, rel=1e-9)
    assert result.is_mismatch is False
    assert result.error_message is None


def test_srm_perfect_balance():
    # 25% control and 75% over three tones: 100, 100, 100, 100 of 400 with weights
    # 1:1:1:1 matches exactly: chi2 = 0, p = 1.
    result = srm_test([100, 100, 100, 100], [0.25, 0.25, 0.25, 0.25])
    assert result.chi2 == 0.0 and result.p_value == 1.0 and result.df == 3


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ([5012, 4988], [1, 1]),
        ([2523, 7477], [25, 75]),  # weights need not sum to 1
        ([250, 240, 262, 770], [0.5, 0.5, 0.5, 1.5]),
        ([1000, 1200, 900], [1, 1, 1]),
    ],
)
def test_srm_matches_scipy_chisquare(counts, weights):
    expected_counts = np.array(weights) / np.sum(weights) * np.sum(counts)
    oracle = stats.chisquare(counts, expected_counts)
    result = srm_test(counts, weights)
    assert result.chi2 == pytest.approx(oracle.statistic, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert result.df == len(counts) - 1
    assert result.is_mismatch == (oracle.pvalue < 0.001)


def test_srm_flags_mismatch_below_threshold():
    # 1000 vs 1200 at 50/50: chi2 = 2 * 100**2 / 1100 = 18.18, p = 2.0e-5.
    flagged = srm_test(np.array([1000, 1200]), np.array([1.0, 1.0]))
    assert flagged.chi2 == pytest.approx(20000 / 1100, rel=1e-14)
    assert flagged.is_mismatch is True
    assert srm_test([1000, 1200], [1, 1], threshold=1e-6).is_mismatch is False


@pytest.mark.parametrize(
    ("counts", "weights", "message"),
    [
        ([100], [1.0], "fewer than 2 arms"),
        ([], [], "fewer than 2 arms"),
        ([0, 0], [1, 1], "no units"),
        ([10, 12], [1, 0], "positive"),
        ([10, 12], [1, -1], "positive"),
        ([10, 12], [1, None], "positive"),
        ([10, 12], [1, float("nan")], "positive"),
        ([10, -2], [1, 1], "non-negative integers"),
        ([10, 2.5], [1, 1], "non-negative integers"),
        ([10, 12], [1, 1, 1], "differ in length"),
    ],
)
def test_srm_degenerate_input_gives_no_figures(counts, weights, message):
    result = srm_test(counts, weights)
    assert result.chi2 is None and result.p_value is None and result.df is None
    assert result.is_mismatch is None
    assert message in result.error_message
