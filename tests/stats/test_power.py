"""Power and sample size (xpkit.stats.power) against statsmodels called directly, a
hand calculation with normal quantiles, scipy's noncentral t, and numpy on
raw unit-level arrays for the delta-method standard deviation of a ratio."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from xpkit.marts.experiment_power import POWER_COLUMNS, experiment_power
from xpkit.stats.power import (
    MIN_UNITS_PER_ARM,
    binary_sample_size,
    continuous_sample_size,
    projected_days_to_target,
    sample_size,
    share_of_target,
)
from xpkit.stats.statistics import Ratio

Z_975 = 1.959963984540054  # z_{1 - 0.05/2}
Z_80 = 0.8416212335729143  # z_{0.8}


def test_normal_quantiles_used_in_the_hand_calculations():
    assert stats.norm.ppf(0.975) == pytest.approx(Z_975, rel=1e-15)
    assert stats.norm.ppf(0.8) == pytest.approx(Z_80, rel=1e-15)


def test_binary_sample_size_equals_statsmodels_normal_ind_power():
    size = binary_sample_size(0.18, 0.4, alpha=0.05, power=0.8)
    h = proportion_effectsize(0.18 * 1.4, 0.18)
    want = NormalIndPower().solve_power(h, alpha=0.05, power=0.8, ratio=1.0)
    assert size.effect_size == pytest.approx(abs(h), rel=1e-12)
    assert size.solution == pytest.approx(want, rel=1e-9)
    assert size.units_per_arm == math.ceil(want) == 510
    assert size.method == "normal_cohens_h"
    assert size.error_message is None


def test_binary_sample_size_matches_hand_calculation():
    """p0 = 0.18, p1 = 0.18 x 1.4 = 0.252.

    Cohen's h = 2 asin(sqrt(0.252)) - 2 asin(sqrt(0.18))
              = 2 (0.52570 - 0.43814) = 0.17551.
    n per arm = 2 (z_0.975 + z_0.8)^2 / h^2 = 2 (2.80159)^2 / 0.030805
              = 2 x 7.84888 / 0.030805 = 509.6 -> 510 units per arm.
    statsmodels also counts the far tail, P(Z < -z_0.975 - h sqrt(n/2)) =
    P(Z < -4.76) = 1e-6 of power, so its n is smaller by about 0.001.
    The textbook formula on the rates, with p_bar = (0.18 + 0.252) / 2 = 0.216,
    n = 2 (z_0.975 + z_0.8)^2 p_bar (1 - p_bar) / (p1 - p0)^2
      = 2 x 7.84888 x 0.216 x 0.784 / 0.072^2 = 512.8, within 1%.
    """
    h = 2 * math.asin(math.sqrt(0.252)) - 2 * math.asin(math.sqrt(0.18))
    assert h == pytest.approx(0.17551, abs=1e-5)
    hand = 2 * (Z_975 + Z_80) ** 2 / h**2
    assert hand == pytest.approx(509.6, abs=0.05)
    size = binary_sample_size(0.18, 0.4)
    assert size.solution == pytest.approx(hand, rel=1e-5)
    assert size.solution < hand
    assert size.units_per_arm == 510
    p_bar = (0.18 + 0.252) / 2
    textbook = 2 * (Z_975 + Z_80) ** 2 * p_bar * (1 - p_bar) / 0.072**2
    assert textbook == pytest.approx(512.8, abs=0.05)
    assert size.solution == pytest.approx(textbook, rel=0.01)


def test_binary_sample_size_plans_a_decrease_for_decreasing_metrics():
    size = binary_sample_size(0.3, 0.2, decrease=True)
    h = proportion_effectsize(0.3 * 0.8, 0.3)
    want = NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
    assert size.units_per_arm == math.ceil(want)
    # Cohen's h is not symmetric in the rate: a rise needs a different sample.
    assert binary_sample_size(0.3, 0.2).units_per_arm != size.units_per_arm


def test_continuous_sample_size_equals_statsmodels_ttest_ind_power():
    mean, std, mde = 42.421367, 14.432801, 0.15
    size = continuous_sample_size(mean, std, mde, alpha=0.05, power=0.8)
    d = mde * mean / std
    want = TTestIndPower().solve_power(d, alpha=0.05, power=0.8, ratio=1.0)
    assert size.effect_size == pytest.approx(d, rel=1e-15)
    assert size.solution == pytest.approx(want, rel=1e-9)
    assert size.units_per_arm == math.ceil(want) == 82
    assert size.method == "t_cohens_d"


def test_continuous_sample_size_matches_hand_calculation_and_noncentral_t():
    """mean 20, sd 10, mde 10%: d = 0.1 x 20 / 10 = 0.2.

    Normal approximation: n = 2 (2.80159)^2 / 0.2^2 = 2 x 7.84888 / 0.04 = 392.4;
    the t test needs about z_0.975^2 / 4 = 0.96 more: 393.4 -> 394 per arm.
    Check with the noncentral t: power(394) >= 0.8 > power(393), where
    power(n) = P(|T| > t_crit) for T ~ nct(df = 2n - 2, nc = d sqrt(n / 2)).
    """
    size = continuous_sample_size(20.0, 10.0, 0.1)
    normal = 2 * (Z_975 + Z_80) ** 2 / 0.2**2
    assert normal == pytest.approx(392.44, abs=0.01)
    assert size.solution == pytest.approx(normal + Z_975**2 / 4, abs=0.05)
    assert size.units_per_arm == 394

    def t_power(n: int) -> float:
        df = 2 * n - 2
        critical = stats.t.ppf(0.975, df)
        nc = 0.2 * math.sqrt(n / 2)
        return stats.nct.sf(critical, df, nc) + stats.nct.cdf(-critical, df, nc)

    assert t_power(394) >= 0.8 > t_power(393)


def test_ratio_sample_size_uses_the_delta_method_sd_of_raw_arrays():
    rng = np.random.default_rng(7)
    d = rng.poisson(8, 300).astype(float) + 1
    m = d * rng.gamma(4.0, 10.0, 300)
    r = m.sum() / d.sum()
    linearised = r + (m - r * d) / d.mean()
    sd = np.std(linearised, ddof=1)
    statistic = Ratio(
        300,
        m.sum(),
        (m * m).sum(),
        d.sum(),
        (d * d).sum(),
        (m * d).sum(),
    )
    assert math.sqrt(statistic.variance) == pytest.approx(sd, rel=1e-9)
    size = sample_size("ratio", statistic.mean, math.sqrt(statistic.variance), 0.05)
    want = TTestIndPower().solve_power(0.05 * r / sd, alpha=0.05, power=0.8)
    assert size.units_per_arm == math.ceil(want)


def test_sample_size_other_alpha_and_power():
    size = binary_sample_size(0.1, 0.1, alpha=0.01, power=0.9)
    h = proportion_effectsize(0.11, 0.1)
    want = NormalIndPower().solve_power(h, alpha=0.01, power=0.9)
    assert size.units_per_arm == math.ceil(want)
    size = continuous_sample_size(5.0, 2.0, 0.05, alpha=0.1, power=0.95)
    want = TTestIndPower().solve_power(0.05 * 5 / 2, alpha=0.1, power=0.95)
    assert size.units_per_arm == math.ceil(want)


def test_huge_effect_needs_the_minimum_of_two_units_per_arm():
    size = continuous_sample_size(10.0, 1.0, 1.0)  # d = 10
    assert size.units_per_arm == MIN_UNITS_PER_ARM == 2
    assert size.error_message is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: binary_sample_size(None, 0.1), "no baseline rate"),
        (lambda: binary_sample_size(0.0, 0.1), "not strictly between 0 and 1"),
        (lambda: binary_sample_size(1.0, 0.1), "not strictly between 0 and 1"),
        (lambda: binary_sample_size(0.8, 0.5), "outside [0, 1]"),
        (lambda: binary_sample_size(0.2, 0.0), "mde_relative must be > 0"),
        (lambda: binary_sample_size(0.2, None), "no mde_relative registered"),
        (lambda: binary_sample_size(0.2, 0.1, alpha=1.2), "alpha must lie in"),
        (lambda: binary_sample_size(0.2, 0.1, power=0.0), "power must lie in"),
        (lambda: continuous_sample_size(0.0, 1.0, 0.1), "baseline mean is 0"),
        (lambda: continuous_sample_size(None, 1.0, 0.1), "no baseline mean"),
        (lambda: continuous_sample_size(5.0, 0.0, 0.1), "standard deviation is 0"),
        (lambda: continuous_sample_size(5.0, None, 0.1), "no baseline standard"),
        (lambda: continuous_sample_size(5.0, 1.0, -0.1), "mde_relative must be > 0"),
        (lambda: continuous_sample_size(5.0, float("nan"), 0.1), "no baseline"),
        (lambda: sample_size("median", 5.0, 1.0, 0.1), "unknown aggregation"),
    ],
)
def test_degenerate_inputs_give_none_with_a_message(call, message):
    size = call()
    assert size.units_per_arm is None
    assert message in size.error_message


def test_share_and_projection():
    assert share_of_target(300, 1200) == 0.25
    assert share_of_target(1500, 1200) == 1.25
    assert share_of_target(10, None) is None
    assert share_of_target(10, 0) is None
    # 900 units to go at 150 a day: 6 days.
    assert projected_days_to_target(300, 1200, 150.0) == (6.0, None)
    assert projected_days_to_target(1200, 1200, None) == (0.0, None)
    assert projected_days_to_target(300, 1200, None) == (
        None,
        "no observed daily traffic",
    )
    assert projected_days_to_target(300, 1200, 0.0)[1] == (
        "no daily traffic: the target is never reached"
    )
    assert projected_days_to_target(300, None, 5.0) == (
        None,
        "no required sample size",
    )


# ---------------------------------------------------------------------------
# The mart-level function on hand-built frames
# ---------------------------------------------------------------------------


def _frames():
    experiments = pd.DataFrame(
        [
            # running, binary primary, control rate 0.2
            ("R1", "running", 0.05, 0.8, 0.2),
            # planned, ratio primary with a pre-period baseline
            ("P1", "planned", 0.05, 0.8, 0.1),
            # planned, binary primary: not estimable from the pre-period
            ("P2", "planned", 0.05, 0.8, 0.1),
            # completed, zero variance in control
            ("Z1", "completed", None, None, 0.1),
            # no primary metric at all
            ("N1", "running", 0.05, 0.8, 0.1),
        ],
        columns=["experiment_id", "status", "alpha", "power", "mde_relative"],
    )
    metrics = pd.DataFrame(
        [
            ("conv", "binary", "increase"),
            ("minutes_per_task", "ratio", "decrease"),
            ("score", "sum", "increase"),
        ],
        columns=["metric_id", "aggregation", "desired_direction"],
    )
    experiment_metrics = pd.DataFrame(
        [
            ("R1", "conv", "primary"),
            ("R1", "score", "secondary"),
            ("P1", "minutes_per_task", "primary"),
            ("P2", "conv", "primary"),
            ("Z1", "score", "primary"),
            ("N1", "score", "secondary"),
        ],
        columns=["experiment_id", "metric_id", "role"],
    )
    variants = pd.DataFrame(
        [
            (e, v)
            for e in ("R1", "P1", "P2", "Z1", "N1")
            for v in ("control", "treatment")
        ],
        columns=["experiment_id", "variant"],
    )
    arm_metrics = pd.DataFrame(
        [
            ("R1", "control", "conv", True, "binary", 1000, 0.2, 0.16016),
            ("R1", "treatment", "conv", False, "binary", 1010, 0.21, 0.1660),
            ("Z1", "control", "score", True, "sum", 50, 3.0, 0.0),
            ("Z1", "treatment", "score", False, "sum", 50, 3.0, 0.0),
        ],
        columns=[
            "experiment_id",
            "variant",
            "metric_id",
            "is_control",
            "aggregation",
            "n_units",
            "mean",
            "variance",
        ],
    )
    daily = pd.DataFrame(
        [
            ("R1", "control", "conv", "2024-01-01", 400),
            ("R1", "treatment", "conv", "2024-01-01", 410),
            ("R1", "control", "conv", "2024-01-05", 600),
            ("R1", "treatment", "conv", "2024-01-05", 600),
        ],
        columns=["experiment_id", "variant", "metric_id", "exposure_date", "n_units"],
    )
    daily["exposure_date"] = pd.to_datetime(daily["exposure_date"]).dt.date
    baselines = pd.DataFrame(
        [
            ("P1", "minutes_per_task", "ratio", 28, 56, 2.0, 6.0, 9.0),
            ("P2", "conv", "binary", 28, 140, 5.0, None, None),
        ],
        columns=[
            "experiment_id",
            "metric_id",
            "aggregation",
            "baseline_days",
            "n_units",
            "daily_units",
            "mean",
            "variance",
        ],
    )
    return (
        experiments,
        metrics,
        experiment_metrics,
        variants,
        arm_metrics,
        daily,
        baselines,
    )


def test_experiment_power_rows_dtypes_and_figures():
    out = experiment_power(*_frames())
    assert list(out.columns) == list(POWER_COLUMNS)
    assert {c: str(t) for c, t in out.dtypes.items()} == POWER_COLUMNS
    assert list(out.experiment_id) == ["P1", "P2", "R1", "Z1"]  # N1 has no primary
    rows = out.set_index("experiment_id")

    running = rows.loc["R1"]
    h = proportion_effectsize(0.24, 0.2)
    per_arm = math.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8))
    assert running.baseline_source == "control_arm"
    assert running.baseline_mean == 0.2
    assert running.baseline_std == pytest.approx(math.sqrt(0.2 * 0.8), rel=1e-15)
    assert running.required_units_per_arm == per_arm
    assert running.required_units_total == 2 * per_arm
    assert running.current_units == 2010
    assert running.min_arm_units == 1000
    assert running.share_of_target == pytest.approx(2010 / (2 * per_arm), rel=1e-15)
    # 2010 units first exposed from 2024-01-01 to 2024-01-05: 5 days, 402 a day.
    assert running.days_observed == 5
    assert running.daily_units == pytest.approx(402.0, rel=1e-15)
    remaining = max(0, 2 * per_arm - 2010) / 402.0
    assert running.projected_days_to_target == pytest.approx(remaining, rel=1e-12)
    assert pd.isna(running.error_message)

    planned = rows.loc["P1"]
    d = 0.1 * 6.0 / 3.0
    per_arm = math.ceil(TTestIndPower().solve_power(d, alpha=0.05, power=0.8))
    assert planned.baseline_source == "pre_period"
    assert planned.baseline_std == 3.0
    assert planned.baseline_units == 56
    assert planned.required_units_per_arm == per_arm
    assert planned.current_units == 0
    assert planned.share_of_target == 0
    assert planned.daily_units == 2.0
    assert planned.days_observed == 28
    assert planned.projected_days_to_target == pytest.approx(2 * per_arm / 2.0)

    binary_planned = rows.loc["P2"]
    assert pd.isna(binary_planned.required_units_per_arm)
    assert "not estimable from pre-period events" in binary_planned.error_message
    assert binary_planned.daily_units == 5.0

    constant = rows.loc["Z1"]
    assert constant.alpha == 0.05 and constant.power == 0.8  # registry empty
    assert pd.isna(constant.required_units_per_arm)
    assert "standard deviation is 0" in constant.error_message
    assert pd.isna(constant.share_of_target)


def test_experiment_power_without_data_or_baseline_says_why():
    experiments, metrics, links, variants, _, _, _ = _frames()
    empty_arms = pd.DataFrame(
        columns=["experiment_id", "variant", "metric_id", "is_control", "n_units"]
    )
    empty_days = pd.DataFrame(
        columns=["experiment_id", "variant", "metric_id", "exposure_date", "n_units"]
    )
    empty_baselines = pd.DataFrame(columns=["experiment_id", "metric_id"])
    out = experiment_power(
        experiments, metrics, links, variants, empty_arms, empty_days, empty_baselines
    ).set_index("experiment_id")
    assert out.loc["R1", "error_message"] == "no control arm in arm_metrics"
    assert out.loc["P1", "error_message"] == (
        "no pre-period baseline for this planned experiment"
    )
    assert out.required_units_per_arm.isna().all()
    assert out.current_units.tolist() == [0, 0, 0, 0]


def test_experiment_power_of_nothing_keeps_its_dtypes():
    empty = pd.DataFrame(columns=["experiment_id", "metric_id", "role"])
    out = experiment_power(
        pd.DataFrame(columns=["experiment_id", "status"]),
        pd.DataFrame(columns=["metric_id"]),
        empty,
        pd.DataFrame(columns=["experiment_id", "variant"]),
        pd.DataFrame(columns=["experiment_id", "metric_id"]),
        pd.DataFrame(columns=["experiment_id", "metric_id"]),
        pd.DataFrame(columns=["experiment_id", "metric_id"]),
    )
    assert out.empty
    assert {c: str(t) for c, t in out.dtypes.items()} == POWER_COLUMNS


def test_planned_experiment_without_pre_period_units_says_only_that():
    experiments, metrics, links, variants, arms, days, baselines = _frames()
    baselines.loc[baselines.experiment_id == "P1", ["n_units", "daily_units"]] = 0
    baselines.loc[baselines.experiment_id == "P1", ["mean", "variance"]] = None
    out = experiment_power(experiments, metrics, links, variants, arms, days, baselines)
    row = out.set_index("experiment_id").loc["P1"]
    assert row.error_message == "no units with the metric's events in the pre-period"
    assert pd.isna(row.required_units_per_arm)
    assert row.baseline_source == "pre_period"
