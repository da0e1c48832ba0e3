"""Bayesian read-out (xpkit.stats.bayesian): closed forms on hand cases, Monte Carlo
checks with a fixed seed (tolerances from the Monte Carlo error), and the
columns of experiment_results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xpkit.marts.experiment_results import (
    EXPERIMENT_RESULT_COLUMNS,
    experiment_results,
)
from xpkit.stats.bayesian import Prior, relative_lift_posterior

# ---------------------------------------------------------------------------
# Closed forms on hand cases
# ---------------------------------------------------------------------------


def test_flat_prior_at_zero_lift_is_a_coin_flip():
    result = relative_lift_posterior(0.0, 0.1)
    assert result.posterior_mean == 0.0
    assert result.posterior_sd == pytest.approx(0.1, rel=1e-12)
    assert result.chance_to_beat_control == pytest.approx(0.5, rel=1e-12)
    # E[max(0, -theta)] for theta ~ N(0, s^2) is s / sqrt(2 pi).
    assert result.expected_loss == pytest.approx(0.1 / math.sqrt(2 * math.pi))
    assert result.expected_loss_control == pytest.approx(result.expected_loss)
    assert result.credible_low == pytest.approx(-0.1 * 1.959963984540054, rel=1e-12)
    assert result.credible_high == pytest.approx(0.1 * 1.959963984540054, rel=1e-12)


def test_normal_prior_update_by_hand():
    # Prior N(0, 0.2^2), estimate 0.1 with se 0.1: precisions 25 + 100 = 125,
    # mean 0.1 * 100 / 125 = 0.08, sd 1 / sqrt(125).
    result = relative_lift_posterior(0.1, 0.1, Prior(0.0, 0.2), alpha=0.1)
    sd = 1 / math.sqrt(125)
    assert result.posterior_mean == pytest.approx(0.08, rel=1e-12)
    assert result.posterior_sd == pytest.approx(sd, rel=1e-12)
    assert result.chance_to_beat_control == pytest.approx(
        stats.norm.cdf(0.08 / sd), rel=1e-12
    )
    assert result.credible_high == pytest.approx(
        0.08 + stats.norm.ppf(0.95) * sd, rel=1e-12
    )
    # Expected gain minus expected loss is the posterior mean.
    assert result.expected_loss_control - result.expected_loss == pytest.approx(
        0.08, rel=1e-12
    )


def test_decrease_metrics_beat_control_by_falling():
    up = relative_lift_posterior(-0.05, 0.02, desired_direction="increase")
    down = relative_lift_posterior(-0.05, 0.02, desired_direction="decrease")
    assert down.chance_to_beat_control == pytest.approx(
        1 - up.chance_to_beat_control, rel=1e-12
    )
    assert down.chance_to_beat_control == pytest.approx(stats.norm.cdf(2.5), rel=1e-12)
    assert down.expected_loss == pytest.approx(up.expected_loss_control, rel=1e-12)
    # The posterior itself does not depend on the direction.
    assert down.posterior_mean == up.posterior_mean


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((None, 0.1), "relative lift or its standard error undefined"),
        ((0.1, None), "relative lift or its standard error undefined"),
        ((0.1, 0.0), "zero standard error"),
        ((float("nan"), 0.1), "non-finite"),
    ],
)
def test_degenerate_inputs_give_null_figures_with_a_reason(args, reason):
    result = relative_lift_posterior(*args)
    assert result.chance_to_beat_control is None and result.expected_loss is None
    assert reason in result.error_message
    passed = relative_lift_posterior(None, None, reason="control mean is 0")
    assert passed.error_message == "control mean is 0"


def test_prior_from_vars_and_validation():
    assert Prior.from_vars("", "") == Prior(0.0, None)
    assert Prior.from_vars(None, None) == Prior(0.0, None)
    assert Prior.from_vars("0.01", "0.3") == Prior(0.01, 0.3)
    for sd in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="prior sd"):
            Prior(0.0, sd)
    with pytest.raises(ValueError, match="prior mean"):
        Prior(float("nan"))


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------

DRAWS = 2_000_000


def within_mc_error(estimate: float, samples: np.ndarray, weights=None) -> float:
    """|closed form - MC| in units of the MC standard error (ESS-based when
    weighted)."""
    if weights is None:
        mc = samples.mean()
        error = samples.std(ddof=1) / math.sqrt(samples.size)
    else:
        w = weights / weights.sum()
        mc = float(np.sum(w * samples))
        ess = 1 / np.sum(w * w)
        error = math.sqrt(np.sum(w * (samples - mc) ** 2)) / math.sqrt(ess)
    return abs(estimate - mc) / error


@pytest.mark.parametrize(("rel", "se"), [(0.03, 0.02), (-0.01, 0.05), (0.4, 0.1)])
def test_flat_prior_matches_monte_carlo(rel, se):
    rng = np.random.default_rng(11)
    theta = rng.normal(rel, se, DRAWS)
    result = relative_lift_posterior(rel, se)
    assert within_mc_error(result.chance_to_beat_control, theta > 0) < 4
    assert within_mc_error(result.expected_loss, np.maximum(0, -theta)) < 4
    assert within_mc_error(result.expected_loss_control, np.maximum(0, theta)) < 4
    low, high = np.quantile(theta, [0.025, 0.975])
    assert result.credible_low == pytest.approx(low, abs=4 * se / 1000)
    assert result.credible_high == pytest.approx(high, abs=4 * se / 1000)


@pytest.mark.parametrize(
    ("rel", "se", "prior"),
    [(0.05, 0.03, Prior(0.0, 0.05)), (-0.02, 0.04, Prior(0.01, 0.1))],
)
def test_normal_prior_matches_importance_sampled_posterior(rel, se, prior):
    # Draw from the prior, weight by the likelihood N(rel; theta, se^2): an
    # independent route to the posterior (no conjugate algebra).
    rng = np.random.default_rng(12)
    theta = rng.normal(prior.mean, prior.sd, DRAWS)
    weights = stats.norm.pdf(rel, theta, se)
    result = relative_lift_posterior(rel, se, prior)
    assert within_mc_error(result.posterior_mean, theta, weights) < 4
    assert within_mc_error(result.chance_to_beat_control, theta > 0, weights) < 4
    assert within_mc_error(result.expected_loss, np.maximum(0, -theta), weights) < 4


def test_chance_to_beat_control_agrees_with_simulated_arm_means():
    # End to end on a large binary experiment: sampling each arm's rate from its
    # normal sampling distribution and taking the ratio gives (to the delta
    # method's accuracy at this size) the same chance to beat control.
    n_c, n_t, p_c, p_t = 50_000, 50_000, 0.100, 0.1025
    arms = pd.DataFrame(
        [
            {
                "experiment_id": "X",
                "variant": v,
                "metric_id": "conv",
                "is_control": v == "control",
                "aggregation": "binary",
                "has_covariate": False,
                "n_units": n,
                "metric_sum": round(p * n),
                "metric_sum_squares": round(p * n),
            }
            for v, n, p in (("control", n_c, p_c), ("b", n_t, p_t))
        ]
    )
    row = experiment_results(arms, *registry()).iloc[0]
    rng = np.random.default_rng(13)
    mean_c = rng.normal(p_c, math.sqrt(p_c * (1 - p_c) / n_c), DRAWS)
    mean_t = rng.normal(p_t, math.sqrt(p_t * (1 - p_t) / n_t), DRAWS)
    lift = mean_t / mean_c - 1
    assert row.chance_to_beat_control == pytest.approx(np.mean(lift > 0), abs=0.003)
    # The expected loss is a tail figure: the ratio's skew, which the normal
    # approximation ignores, moves it by several percent at this size.
    assert row.expected_loss == pytest.approx(np.mean(np.maximum(0, -lift)), rel=0.1)


# ---------------------------------------------------------------------------
# experiment_results columns
# ---------------------------------------------------------------------------


def registry(direction: str = "increase"):
    experiments = pd.DataFrame(
        [
            {
                "experiment_id": "X",
                "status": "running",
                "control_variant": "control",
                "alpha": 0.05,
            }
        ]
    )
    metrics = pd.DataFrame(
        [
            {
                "metric_id": "conv",
                "metric_name": "Conversion",
                "aggregation": "binary",
                "desired_direction": direction,
            }
        ]
    )
    links = pd.DataFrame(
        [{"experiment_id": "X", "metric_id": "conv", "role": "primary"}]
    )
    return experiments, metrics, links


def binary_arms(control: tuple[int, int], treatment: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "experiment_id": "X",
                "variant": v,
                "metric_id": "conv",
                "is_control": v == "control",
                "aggregation": "binary",
                "has_covariate": False,
                "n_units": n,
                "metric_sum": ones,
                "metric_sum_squares": ones,
            }
            for v, (ones, n) in (("control", control), ("b", treatment))
        ]
    )


def test_experiment_results_bayesian_columns_follow_the_closed_form():
    rows = experiment_results(binary_arms((90, 500), (136, 520)), *registry())
    assert list(rows.columns) == list(EXPERIMENT_RESULT_COLUMNS)
    row = rows.iloc[0]
    # rel_lift and its delta-method se are checked against oracles elsewhere;
    # here the posterior is recomputed from them with scipy.
    z = row.rel_lift / row.rel_std_error
    assert row.chance_to_beat_control == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    assert row.expected_loss == pytest.approx(
        row.rel_std_error * stats.norm.pdf(z) - row.rel_lift * stats.norm.cdf(-z),
        rel=1e-9,
    )
    assert row.posterior_rel_lift == pytest.approx(row.rel_lift, rel=1e-12)
    assert row.prior_mean == 0.0 and pd.isna(row.prior_sd)
    assert pd.isna(row.bayesian_error_message)
    shrunk = experiment_results(
        binary_arms((90, 500), (136, 520)), *registry(), prior=Prior(0.0, 0.1)
    ).iloc[0]
    assert 0 < shrunk.posterior_rel_lift < row.rel_lift
    assert shrunk.prior_sd == 0.1


def test_experiment_results_bayesian_columns_null_with_reason_when_degenerate():
    zero = experiment_results(binary_arms((0, 100), (5, 100)), *registry()).iloc[0]
    assert pd.isna(zero.chance_to_beat_control)
    assert "relative lift undefined" in zero.bayesian_error_message
    single = experiment_results(binary_arms((1, 1), (1, 2)), *registry()).iloc[0]
    assert pd.isna(single.chance_to_beat_control)
    assert "only 1 unit" in single.bayesian_error_message
    variants = pd.DataFrame(
        [
            {"experiment_id": "X", "variant": v, "is_control": v == "control"}
            for v in ("control", "b")
        ]
    )
    missing = experiment_results(
        binary_arms((10, 100), (12, 100)).iloc[:1],
        *registry(),
        experiment_variants=variants,
    ).iloc[0]
    assert pd.isna(missing.expected_loss)
    assert "treatment arm missing" in missing.bayesian_error_message
