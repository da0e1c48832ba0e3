"""The experiment_value mart (issue 19 item 6) by hand: the value of shipping
from the posterior of the primary lift, its interval, EVPI (against numerical
integration), the ranking of running experiments and the optional columns."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import integrate, stats

from xpkit.marts.experiment_value import VALUE_COLUMNS, experiment_value

EXPERIMENTS = pd.DataFrame(
    {
        "experiment_id": ["A", "B", "C", "D"],
        "experiment_name": ["a", "b", "c", "d"],
        "domain": ["x"] * 4,
        "status": ["completed", "running", "running", "running"],
        "owner": ["team"] * 4,
        "alpha": [0.05, 0.1, 0.05, 0.05],
        "value_per_unit_lift": [100000.0, 50000.0, 200000.0, None],
        "cost": [1000.0, None, 500.0, 10.0],
        "decision_owner": ["Ann", None, "Cy", None],
        "custom_action": ["Roll out", None, None, None],
    }
)
RESULTS = pd.DataFrame(
    {
        "experiment_id": ["A", "B", "C", "D"],
        "metric_id": ["m"] * 4,
        "variant": ["t"] * 4,
        "posterior_rel_lift": [0.05, -0.02, 0.01, 0.03],
        "posterior_rel_lift_sd": [0.01, 0.02, 0.03, 0.01],
        "desired_direction": ["increase", "decrease", "increase", "increase"],
        "n_control": [100, 200, 300, 400],
        "n_treatment": [101, 201, 301, 401],
    }
)
DECISIONS = pd.DataFrame(
    {
        "experiment_id": ["A", "B", "C", "D"],
        "decision": ["scale", "keep_running", "keep_running", "keep_running"],
        "decided_at": pd.to_datetime(["2024-11-01"] * 4),
        "recommended_action": ["ship"] + ["wait"] * 3,
        "primary_metric_id": ["m"] * 4,
        "primary_variant": ["t"] * 4,
    }
)


@pytest.fixture(scope="module")
def mart():
    return experiment_value(EXPERIMENTS, RESULTS, DECISIONS).set_index("experiment_id")


def _evpi(mean: float, sd: float) -> float:
    """The opportunity loss of the better choice, integrated directly (no
    difference of two large numbers): shipping loses -x where x < 0 when the
    mean is positive; not shipping loses x where x > 0 otherwise."""
    if mean > 0:
        value, _ = integrate.quad(
            lambda x: -x * stats.norm.pdf(x, mean, sd),
            mean - 40 * sd,
            0.0,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
    else:
        value, _ = integrate.quad(
            lambda x: x * stats.norm.pdf(x, mean, sd),
            0.0,
            mean + 40 * sd,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
    return value


def test_value_by_hand(mart):
    assert list(mart.reset_index().columns) == list(VALUE_COLUMNS)
    a = mart.loc["A"]
    assert math.isclose(a.expected_value, 100000 * 0.05, rel_tol=1e-12)
    z = stats.norm.ppf(0.975)
    assert math.isclose(a.expected_value_ci_low, 5000 - z * 1000, rel_tol=1e-9)
    assert math.isclose(a.expected_value_ci_high, 5000 + z * 1000, rel_tol=1e-9)
    assert math.isclose(a.expected_net_value, 4000, rel_tol=1e-12)
    assert math.isclose(a.evpi, _evpi(5000, 1000), rel_tol=1e-9)
    assert a.decision_owner == "Ann" and a.custom_action == "Roll out"
    assert pd.isna(a.voi_rank)  # completed: not ranked
    # B's metric should decrease: a lift of -2% is an improvement of +2%.
    b = mart.loc["B"]
    assert math.isclose(b.posterior_rel_improvement, 0.02, rel_tol=1e-12)
    assert math.isclose(b.expected_value, 1000, rel_tol=1e-12)
    z90 = stats.norm.ppf(0.95)
    assert math.isclose(b.expected_value_ci_high, 1000 + z90 * 1000, rel_tol=1e-9)
    assert pd.isna(b.expected_net_value) and pd.isna(b.decision_owner)


def test_running_experiments_ranked_by_value_of_information(mart):
    # C: N(2000, 6000) has far more to learn than B: N(1000, 1000).
    assert mart.loc["C"].evpi > mart.loc["B"].evpi > 0
    assert mart.loc["C"].voi_rank == 1 and mart.loc["B"].voi_rank == 2
    assert math.isclose(mart.loc["C"].evpi, _evpi(2000, 6000), rel_tol=1e-9)


def test_no_value_registered(mart):
    d = mart.loc["D"]
    assert pd.isna(d.expected_value) and pd.isna(d.voi_rank)
    assert d.error_message == "no value_per_unit_lift registered"
    assert math.isclose(d.posterior_rel_improvement, 0.03, rel_tol=1e-12)


def test_registry_without_optional_columns():
    plain = EXPERIMENTS.drop(
        columns=["value_per_unit_lift", "cost", "decision_owner", "custom_action"]
    )
    out = experiment_value(plain, RESULTS, DECISIONS)
    assert out.expected_value.isna().all() and out.decision_owner.isna().all()
