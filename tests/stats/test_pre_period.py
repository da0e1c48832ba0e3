"""The pre-exposure bias check (issue 17 item 4) against scipy on unit-level
pre-period values, the Bonferroni flag of experiment_results on a planted
imbalance, and a seeded simulation of its false-flag rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xpkit.marts.experiment_results import _flag_pre_period, experiment_results
from xpkit.stats.pre_period import pre_period_test
from xpkit.stats.statistics import (
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
)


def close(expected: float):
    return pytest.approx(expected, rel=1e-9, abs=1e-12)


def mean_stat(values: np.ndarray) -> SampleMean:
    return SampleMean(values.size, float(np.sum(values)), float(np.sum(values**2)))


def adjusted(y: np.ndarray, x: np.ndarray) -> RegressionAdjusted:
    return RegressionAdjusted(mean_stat(y), mean_stat(x), float(np.sum(y * x)))


def ratio_stat(m: np.ndarray, d: np.ndarray) -> Ratio:
    return Ratio(
        m.size,
        float(np.sum(m)),
        float(np.sum(m**2)),
        float(np.sum(d)),
        float(np.sum(d**2)),
        float(np.sum(m * d)),
    )


def test_pre_period_test_matches_scipy_welch_on_the_pre_period_values():
    rng = np.random.default_rng(1)
    x_c, x_t = rng.gamma(2.0, 3.0, 300), rng.gamma(2.0, 3.3, 280)
    y_c, y_t = x_c + rng.normal(0, 1, 300), x_t + rng.normal(0, 1, 280)
    result = pre_period_test(adjusted(y_c, x_c), adjusted(y_t, x_t))
    oracle = stats.ttest_ind(x_t, x_c, equal_var=False)
    assert result.abs_diff == close(x_t.mean() - x_c.mean())
    assert result.p_value == close(oracle.pvalue)
    assert result.error_message is None


def test_pre_period_test_of_a_ratio_matches_scipy_on_linearised_values():
    rng = np.random.default_rng(2)

    def arm(n, scale):
        w = rng.poisson(2.0, n) + 1.0
        x = w * rng.gamma(3.0, scale, n)
        d = rng.poisson(2.0, n) + 1.0
        m = d * rng.gamma(3.0, scale, n)
        return m, d, x, w

    def linearised(m, d):
        r = m.sum() / d.sum()
        return r + (m - r * d) / d.mean()

    arms = [arm(250, 10.0), arm(260, 11.0)]
    c, t = (
        RegressionAdjustedRatio(
            post=ratio_stat(m, d),
            pre=ratio_stat(x, w),
            numerator_covariate_sum_product=float(np.sum(m * x)),
            numerator_covariate_denominator_sum_product=float(np.sum(m * w)),
            denominator_covariate_sum_product=float(np.sum(d * x)),
            denominator_covariate_denominator_sum_product=float(np.sum(d * w)),
        )
        for m, d, x, w in arms
    )
    result = pre_period_test(c, t)
    (_, _, x_c, w_c), (_, _, x_t, w_t) = arms
    oracle = stats.ttest_ind(
        linearised(x_t, w_t), linearised(x_c, w_c), equal_var=False
    )
    assert result.p_value == close(oracle.pvalue)


def test_pre_period_test_without_covariate_says_why():
    plain = mean_stat(np.arange(5.0))
    assert "cuped_lookback_days" in pre_period_test(plain, plain).error_message
    assert "missing" in pre_period_test(None, plain).error_message
    zero = adjusted(np.arange(5.0), np.zeros(5))
    assert pre_period_test(zero, zero).p_value is None


def arm_row(experiment, variant, metric, m, x, control):
    return {
        "experiment_id": experiment,
        "variant": variant,
        "metric_id": metric,
        "is_control": control,
        "aggregation": "sum",
        "n_units": m.size,
        "metric_sum": np.sum(m),
        "metric_sum_squares": np.sum(m * m),
        "covariate_sum": np.sum(x),
        "covariate_sum_squares": np.sum(x * x),
        "metric_covariate_sum_product": np.sum(m * x),
        "has_covariate": True,
    }


METRICS = ("m1", "m2", "m3")


def tables(rng, n, shift=None):
    """One experiment, control + two treatments, three metrics; `shift` plants
    a pre-period difference (metric, variant) -> added to x."""
    rows = []
    for variant in ("c", "t1", "t2"):
        for metric in METRICS:
            x = rng.normal(10, 3, n)
            if shift and (metric, variant) in shift:
                x = x + shift[(metric, variant)]
            m = x + rng.normal(0.0, 2.0, n)
            rows.append(arm_row("E", variant, metric, m, x, variant == "c"))
    experiments = pd.DataFrame(
        [("E", "completed", "c", 0.05)],
        columns=["experiment_id", "status", "control_variant", "alpha"],
    )
    metrics = pd.DataFrame(
        [(m, m, "sum", "increase") for m in METRICS],
        columns=["metric_id", "metric_name", "aggregation", "desired_direction"],
    )
    links = pd.DataFrame(
        [("E", m, "primary" if m == "m1" else "secondary", None) for m in METRICS],
        columns=["experiment_id", "metric_id", "role", "guardrail_tolerance"],
    )
    return pd.DataFrame(rows), experiments, metrics, links


def test_planted_pre_period_imbalance_is_flagged_and_balanced_arms_are_not():
    rng = np.random.default_rng(5)
    planted = experiment_results(*tables(rng, 500, {("m2", "t1"): 1.5}))
    flagged = planted[planted.pre_period_imbalance_flag.fillna(False)]
    assert list(zip(flagged.metric_id, flagged.variant, strict=True)) == [("m2", "t1")]
    row = flagged.iloc[0]
    # Bonferroni over the experiment's six comparisons.
    assert row.pre_period_p_value < 0.05 / 6
    assert row.pre_period_abs_diff == pytest.approx(1.5, abs=0.6)
    balanced = experiment_results(*tables(np.random.default_rng(6), 500))
    assert balanced.pre_period_p_value.notna().all()
    assert not balanced.pre_period_imbalance_flag.any()


def test_false_flag_rate_under_no_imbalance_is_about_alpha():
    """Seeded: 2000 balanced experiments, a control and two treatments on three
    metrics (six comparisons), each flagged by the mart's Bonferroni rule
    (``_flag_pre_period``). Bonferroni keeps the experiment-wise false-flag
    rate at most alpha; with independent metrics and a shared control it is
    a little below (about 4.9%)."""
    rng = np.random.default_rng(7)
    flagged, reps = 0, 2000
    for _ in range(reps):
        rows = []
        controls = {m: rng.normal(10, 3, 60) for m in METRICS}
        for _treatment in ("t1", "t2"):
            for metric in METRICS:
                x_t = rng.normal(10, 3, 60)
                y = np.zeros(60)
                result = pre_period_test(
                    adjusted(y, controls[metric]), adjusted(y, x_t)
                )
                rows.append(
                    {
                        "experiment_id": "E",
                        "alpha": 0.05,
                        "pre_period_p_value": result.p_value,
                    }
                )
        _flag_pre_period(rows)
        flagged += any(row["pre_period_imbalance_flag"] for row in rows)
    rate = flagged / reps
    # 5% nominal at most; binomial SE at 2000 reps is 0.5 pp.
    assert 0.03 < rate < 0.06
