"""Sufficient statistics against numpy (and statsmodels) on the same raw arrays."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from xpkit.stats.statistics import (
    Proportion,
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
    from_row,
)

REL = 1e-9


def sample_mean(values: np.ndarray) -> SampleMean:
    return SampleMean(
        n=values.size, sum=float(np.sum(values)), sum_squares=float(np.sum(values**2))
    )


def ratio(m: np.ndarray, d: np.ndarray) -> Ratio:
    return Ratio(
        n=m.size,
        numerator_sum=float(np.sum(m)),
        numerator_sum_squares=float(np.sum(m**2)),
        denominator_sum=float(np.sum(d)),
        denominator_sum_squares=float(np.sum(d**2)),
        numerator_denominator_sum_product=float(np.sum(m * d)),
    )


def test_sample_mean_hand_table():
    # values 1, 2, 3, 4: sum 10, sum of squares 30, mean 2.5,
    # variance (30 - 10**2 / 4) / 3 = 5 / 3.
    statistic = SampleMean(n=4, sum=10.0, sum_squares=30.0)
    assert statistic.mean == 2.5
    assert statistic.variance == pytest.approx(5 / 3, rel=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_mean_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    values = rng.gamma(2.0, 3.0, size=rng.integers(2, 5000))
    statistic = sample_mean(values)
    assert statistic.mean == pytest.approx(np.mean(values), rel=REL)
    assert statistic.variance == pytest.approx(np.var(values, ddof=1), rel=REL)


def test_proportion_hand_table():
    # 3 of 4 units converted: p = 0.75; variance 4 * 0.75 * 0.25 / 3 = 0.25.
    statistic = Proportion(n=4, sum=3.0)
    assert statistic.mean == 0.75
    assert statistic.variance == pytest.approx(0.25, rel=1e-15)
    assert statistic.sum_squares == 3.0


def test_proportion_matches_numpy():
    values = (np.random.default_rng(3).random(1234) < 0.3).astype(float)
    statistic = Proportion(n=values.size, sum=float(np.sum(values)))
    assert statistic.mean == pytest.approx(np.mean(values), rel=REL)
    assert statistic.variance == pytest.approx(np.var(values, ddof=1), rel=REL)


def test_ratio_hand_table():
    # m = 1, 2, 3 and d = 1, 1, 2: r = 6 / 4 = 1.5, dbar = 4 / 3. Linearised
    # (m - r d) / dbar = -0.375, 0.375, 0, whose ddof=1 variance is
    # (0.140625 + 0.140625 + 0) / 2 = 0.140625.
    statistic = ratio(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]))
    assert statistic.mean == 1.5
    assert statistic.variance == pytest.approx(0.140625, rel=1e-14)


@pytest.mark.parametrize("seed", [4, 5])
def test_ratio_matches_numpy_delta_method(seed):
    rng = np.random.default_rng(seed)
    d = rng.poisson(3.0, size=800) + 1.0
    m = d * rng.gamma(4.0, 10.0, size=800)
    statistic = ratio(m, d)
    r = np.sum(m) / np.sum(d)
    cov = np.cov(m, d, ddof=1)
    contract = (cov[0, 0] - 2 * r * cov[0, 1] + r**2 * cov[1, 1]) / np.mean(d) ** 2
    assert statistic.mean == pytest.approx(r, rel=REL)
    assert statistic.variance == pytest.approx(contract, rel=REL)
    linearised = (m - r * d) / np.mean(d)
    assert statistic.variance == pytest.approx(np.var(linearised, ddof=1), rel=REL)


def test_ratio_variance_matches_statsmodels_wls_hc1():
    # sum(m) / sum(d) is the WLS fit of m / d on a constant with weights d; its
    # HC1 sandwich variance is sum((m - r d)**2) / sum(d)**2 * n / (n - 1), which
    # is the delta-method variance of the ratio divided by n.
    rng = np.random.default_rng(6)
    d = rng.integers(1, 6, size=400).astype(float)
    m = d * 30 + rng.normal(0, 12, size=400) * np.sqrt(d)
    fit = sm.WLS(m / d, np.ones_like(m), weights=d).fit(cov_type="HC1")
    statistic = ratio(m, d)
    assert statistic.mean == pytest.approx(fit.params[0], rel=REL)
    assert statistic.variance / statistic.n == pytest.approx(fit.bse[0] ** 2, rel=REL)


def test_regression_adjusted_covariance_matches_numpy():
    rng = np.random.default_rng(7)
    x = rng.normal(5, 2, size=600)
    y = 0.8 * x + rng.normal(0, 1, size=600)
    statistic = RegressionAdjusted(
        post=sample_mean(y),
        pre=sample_mean(x),
        post_pre_sum_product=float(np.sum(y * x)),
    )
    assert statistic.n == 600
    assert statistic.mean == pytest.approx(np.mean(y), rel=REL)
    assert statistic.variance == pytest.approx(np.var(y, ddof=1), rel=REL)
    assert statistic.covariance == pytest.approx(np.cov(y, x, ddof=1)[0, 1], rel=REL)


def test_regression_adjusted_ratio_covariance_matches_numpy():
    rng = np.random.default_rng(8)
    n = 700
    d = rng.poisson(2.0, size=n) + 1.0
    w = rng.poisson(2.0, size=n) + 1.0
    x = w * rng.gamma(3.0, 5.0, size=n)
    m = d * (0.5 * x / w + rng.gamma(3.0, 5.0, size=n))
    statistic = RegressionAdjustedRatio(
        post=ratio(m, d),
        pre=ratio(x, w),
        numerator_covariate_sum_product=float(np.sum(m * x)),
        numerator_covariate_denominator_sum_product=float(np.sum(m * w)),
        denominator_covariate_sum_product=float(np.sum(d * x)),
        denominator_covariate_denominator_sum_product=float(np.sum(d * w)),
    )
    r, q = np.sum(m) / np.sum(d), np.sum(x) / np.sum(w)
    u = (m - r * d) / np.mean(d)
    v = (x - q * w) / np.mean(w)
    assert statistic.mean == pytest.approx(r, rel=REL)
    assert statistic.pre.mean == pytest.approx(q, rel=REL)
    assert statistic.variance == pytest.approx(np.var(u, ddof=1), rel=REL)
    assert statistic.pre.variance == pytest.approx(np.var(v, ddof=1), rel=REL)
    assert statistic.covariance == pytest.approx(np.cov(u, v, ddof=1)[0, 1], rel=REL)


def test_statistics_undefined_properties_are_none():
    assert SampleMean(n=0, sum=0.0, sum_squares=0.0).mean is None
    assert SampleMean(n=0, sum=0.0, sum_squares=0.0).variance is None
    assert SampleMean(n=1, sum=3.0, sum_squares=9.0).mean == 3.0
    assert SampleMean(n=1, sum=3.0, sum_squares=9.0).variance is None
    assert Proportion(n=1, sum=1.0).variance is None
    no_denominator = Ratio(3, 5.0, 11.0, 0.0, 0.0, 0.0)
    assert no_denominator.mean is None
    assert no_denominator.variance is None


def test_sample_mean_constant_values_have_zero_variance():
    # 3.3 is not exact in binary: sum(m**2) - sum(m)**2 / n leaves rounding noise
    # that must not be reported as spread.
    values = np.full(1000, 3.3)
    assert sample_mean(values).variance == 0.0
    assert np.var(values, ddof=1) < 1e-25  # numpy agrees it is (almost) 0


def test_regression_adjusted_rejects_mismatched_periods():
    with pytest.raises(ValueError, match="same n"):
        RegressionAdjusted(
            post=SampleMean(3, 1.0, 1.0),
            pre=SampleMean(4, 1.0, 1.0),
            post_pre_sum_product=0.0,
        )


ROW = {
    "experiment_id": "E1",
    "variant": "control",
    "metric_id": "m1",
    "is_control": True,
    "n_units": 10,
    "metric_sum": 4.0,
    "metric_sum_squares": 4.0,
    "covariate_sum": 3.0,
    "covariate_sum_squares": 5.0,
    "metric_covariate_sum_product": 2.0,
    "denominator_sum": None,
    "denominator_sum_squares": None,
    "metric_denominator_sum_product": None,
    "has_covariate": False,
}

RATIO_COLUMNS = {
    "denominator_sum": 20.0,
    "denominator_sum_squares": 50.0,
    "metric_denominator_sum_product": 9.0,
    "covariate_denominator_sum": 18.0,
    "covariate_denominator_sum_squares": 40.0,
    "covariate_covariate_denominator_sum_product": 7.0,
    "metric_covariate_denominator_sum_product": 8.0,
    "denominator_covariate_sum_product": 6.0,
    "denominator_covariate_denominator_sum_product": 39.0,
}


def test_from_row_maps_each_aggregation():
    assert from_row(ROW | {"aggregation": "binary"}) == Proportion(n=10, sum=4.0)
    assert from_row(ROW | {"aggregation": "count"}) == SampleMean(10, 4.0, 4.0)
    assert from_row(ROW | {"aggregation": "sum"}) == SampleMean(10, 4.0, 4.0)
    assert from_row(ROW | RATIO_COLUMNS | {"aggregation": "ratio"}) == Ratio(
        10, 4.0, 4.0, 20.0, 50.0, 9.0
    )


def test_from_row_maps_covariates():
    adjusted = from_row(ROW | {"aggregation": "count", "has_covariate": True})
    assert adjusted == RegressionAdjusted(
        post=SampleMean(10, 4.0, 4.0),
        pre=SampleMean(10, 3.0, 5.0),
        post_pre_sum_product=2.0,
    )
    binary = from_row(ROW | {"aggregation": "binary", "has_covariate": True})
    assert binary.post == Proportion(10, 4.0)
    ratio_row = ROW | RATIO_COLUMNS | {"aggregation": "ratio", "has_covariate": True}
    assert from_row(ratio_row) == RegressionAdjustedRatio(
        post=Ratio(10, 4.0, 4.0, 20.0, 50.0, 9.0),
        pre=Ratio(10, 3.0, 5.0, 18.0, 40.0, 7.0),
        numerator_covariate_sum_product=2.0,
        numerator_covariate_denominator_sum_product=8.0,
        denominator_covariate_sum_product=6.0,
        denominator_covariate_denominator_sum_product=39.0,
    )


def test_from_row_reads_pandas_row_with_null_sums_for_empty_arm():
    frame = pd.DataFrame(
        [ROW | {"aggregation": "sum", "n_units": 0, "metric_sum": None}]
    ).convert_dtypes()
    statistic = from_row(frame.iloc[0])
    assert statistic == SampleMean(n=0, sum=0.0, sum_squares=4.0)
    assert statistic.mean is None


def test_from_row_rejects_bad_rows():
    with pytest.raises(ValueError, match="unknown aggregation"):
        from_row(ROW | {"aggregation": "median"})
    with pytest.raises(ValueError, match="metric_sum"):
        from_row(ROW | {"aggregation": "sum", "metric_sum": float("nan")})
    with pytest.raises(ValueError, match="n_units"):
        from_row(ROW | {"aggregation": "sum", "n_units": -1})
    with pytest.raises(ValueError, match="denominator_sum"):
        from_row(ROW | {"aggregation": "ratio"})
