"""Statistics add: the sum of the statistics of disjoint sets of units is the
statistic of their union, checked against numpy on the pooled unit values."""

from __future__ import annotations

import numpy as np
import pytest

from xpkit.stats.statistics import (
    Proportion,
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
)

REL = 1e-9
SHIFT_M, SHIFT_D, SHIFT_X, SHIFT_W = 40.0, 3.0, 38.0, 2.5


def _parts(seed: int = 7):
    """Three disjoint sets of units: post m, d and pre x, w per unit."""
    rng = np.random.default_rng(seed)
    sizes = (5, 11, 23)
    parts = []
    for size in sizes:
        d = rng.integers(1, 6, size).astype(float)
        m = rng.normal(40.0, 3.0, size) * d / 3.0
        w = rng.integers(1, 5, size).astype(float)
        x = 0.5 * m + rng.normal(0.0, 1.0, size)
        parts.append((m, d, x, w))
    return parts


def _mean(m: np.ndarray, a: float = SHIFT_M) -> SampleMean:
    return SampleMean(
        len(m), m.sum(), (m * m).sum(), (m - a).sum(), ((m - a) ** 2).sum()
    )


def _ratio(m, d, a=SHIFT_M, b=SHIFT_D) -> Ratio:
    return Ratio(
        len(m),
        m.sum(),
        (m * m).sum(),
        d.sum(),
        (d * d).sum(),
        (m * d).sum(),
        (m - a).sum(),
        ((m - a) ** 2).sum(),
        (d - b).sum(),
        ((d - b) ** 2).sum(),
        ((m - a) * (d - b)).sum(),
    )


def _pooled(parts):
    return [np.concatenate([part[i] for part in parts]) for i in range(4)]


def test_sample_mean_sum_equals_numpy_on_pooled_units():
    parts = _parts()
    total = sum(_mean(m) for m, _, _, _ in parts)
    m = _pooled(parts)[0]
    assert total.n == len(m)
    assert total.is_shifted
    assert total.mean == pytest.approx(m.mean(), rel=REL)
    assert total.variance == pytest.approx(m.var(ddof=1), rel=REL)


def test_proportion_sum_equals_numpy_on_pooled_units():
    rng = np.random.default_rng(3)
    values = [rng.integers(0, 2, size) for size in (4, 9, 30)]
    total = Proportion(len(values[0]), values[0].sum()) + Proportion(
        len(values[1]), values[1].sum()
    )
    total = total + Proportion(len(values[2]), values[2].sum())
    pooled = np.concatenate(values).astype(float)
    assert total.n == len(pooled)
    assert total.mean == pytest.approx(pooled.mean(), rel=REL)
    assert total.variance == pytest.approx(pooled.var(ddof=1), rel=REL)


def test_ratio_sum_equals_delta_method_on_pooled_units():
    parts = _parts()
    total = sum(_ratio(m, d) for m, d, _, _ in parts)
    m, d, _, _ = _pooled(parts)
    r = m.sum() / d.sum()
    linearised = (m - r * d) / d.mean()
    assert total.mean == pytest.approx(r, rel=REL)
    assert total.variance == pytest.approx(linearised.var(ddof=1), rel=REL)


def test_regression_adjusted_sum_equals_numpy_covariance():
    parts = _parts()
    statistics = [
        RegressionAdjusted(
            _mean(m),
            _mean(x, SHIFT_X),
            (m * x).sum(),
            ((m - SHIFT_M) * (x - SHIFT_X)).sum(),
        )
        for m, _, x, _ in parts
    ]
    total = statistics[0] + statistics[1] + statistics[2]
    m, _, x, _ = _pooled(parts)
    assert total.n == len(m)
    assert total.is_shifted
    assert total.covariance == pytest.approx(np.cov(m, x, ddof=1)[0, 1], rel=REL)
    assert total.pre.variance == pytest.approx(x.var(ddof=1), rel=REL)


def test_regression_adjusted_ratio_sum_equals_numpy_on_linearised_values():
    parts = _parts()
    statistics = []
    for m, d, x, w in parts:
        a, b, c, e = SHIFT_M, SHIFT_D, SHIFT_X, SHIFT_W
        statistics.append(
            RegressionAdjustedRatio(
                _ratio(m, d),
                _ratio(x, w, c, e),
                (m * x).sum(),
                (m * w).sum(),
                (d * x).sum(),
                (d * w).sum(),
                ((m - a) * (x - c)).sum(),
                ((m - a) * (w - e)).sum(),
                ((d - b) * (x - c)).sum(),
                ((d - b) * (w - e)).sum(),
            )
        )
    total = sum(statistics)
    m, d, x, w = _pooled(parts)
    post = (m - m.sum() / d.sum() * d) / d.mean()
    pre = (x - x.sum() / w.sum() * w) / w.mean()
    assert total.covariance == pytest.approx(np.cov(post, pre, ddof=1)[0, 1], rel=REL)
    assert total.variance == pytest.approx(post.var(ddof=1), rel=REL)


def test_statistic_without_units_is_the_identity():
    m = _parts()[0][0]
    statistic = _mean(m)
    empty = SampleMean(0, 0.0, 0.0)
    assert statistic + empty == statistic
    assert empty + statistic == statistic
    assert sum([statistic]) == statistic


def test_shifted_sums_kept_only_when_both_sides_have_them():
    m1, m2 = _parts()[0][0], _parts()[1][0]
    raw = SampleMean(len(m2), m2.sum(), (m2 * m2).sum())
    total = _mean(m1) + raw
    assert not total.is_shifted
    pooled = np.concatenate([m1, m2])
    assert total.variance == pytest.approx(pooled.var(ddof=1), rel=1e-6)


def test_statistics_of_different_kinds_do_not_add():
    with pytest.raises(TypeError):
        _ = SampleMean(2, 1.0, 1.0) + Proportion(2, 1)
