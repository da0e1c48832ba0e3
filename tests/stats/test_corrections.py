"""Holm and Benjamini-Hochberg against statsmodels' multipletests."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

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


@pytest.mark.parametrize(("seed", "size"), [(0, 2), (1, 5), (2, 40), (3, 500)])
@pytest.mark.parametrize(
    ("ours", "theirs"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")]
)
def test_corrections_equal_multipletests_exactly(seed, size, ours, theirs):
    p = random_p_values(seed, size)
    expected = multipletests(p, method=theirs)[1]
    assert ours(list(p)) == list(expected)


@pytest.mark.parametrize(("method", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_missing_p_values_stay_none_and_leave_the_family(method, theirs):
    p = [0.01, None, 0.2, float("nan"), 0.03, pd.NA, 0.6]
    present = [0.01, 0.2, 0.03, 0.6]
    expected = list(multipletests(present, method=theirs)[1])
    adjusted = adjust_p_values(p, method)
    assert [adjusted[i] for i in (0, 2, 4, 6)] == expected
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
