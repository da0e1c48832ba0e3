"""The experiment_meta_analysis mart on a small registry, against statsmodels
(DerSimonian-Laird) and hand calculations (signs, win rate, shipped sum)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from xpkit.marts.experiment_meta_analysis import META_COLUMNS, experiment_meta_analysis

EXPERIMENTS = pd.DataFrame(
    {
        "experiment_id": ["A", "B", "C", "D", "P"],
        "domain": ["sales", "sales", "support", "product", "hr"],
        "status": ["completed", "completed", "running", "completed", "planned"],
    }
)
# experiment, metric, role, variant, rel_lift, rel_std_error, direction, decision
ROWS = [
    ("A", "reply_rate", "primary", "t", 0.20, 0.05, "increase"),
    ("A", "reply_rate", "primary", "u", 0.90, 0.50, "increase"),
    ("A", "meetings", "secondary", "t", 0.01, 0.02, "increase"),
    ("B", "reply_rate", "primary", "t", 0.02, 0.03, "increase"),
    ("C", "minutes", "primary", "t", -0.15, 0.04, "decrease"),
    ("D", "minutes_in_app", "primary", "t", 0.01, 0.01, "increase"),
]
RESULTS = pd.DataFrame(
    [
        {
            "experiment_id": e,
            "metric_id": m,
            "role": r,
            "variant": v,
            "rel_lift": lift,
            "rel_std_error": se,
            "desired_direction": d,
            "n_control": 500,
            "n_treatment": 510,
        }
        for e, m, r, v, lift, se, d in ROWS
    ]
    + [{"experiment_id": "P", "metric_id": "x", "role": "primary", "variant": "t"}]
)
DECISIONS = pd.DataFrame(
    {
        "experiment_id": ["A", "B", "C", "D", "P"],
        "decision": ["scale", "iterate", "keep_running", "scale", "do_not_start"],
        "primary_variant": ["t", "t", "t", "t", None],
    }
)


@pytest.fixture(scope="module")
def mart():
    return experiment_meta_analysis(EXPERIMENTS, RESULTS, DECISIONS)


def test_columns_and_groups(mart):
    assert list(mart.columns) == list(META_COLUMNS)
    groups = set(zip(mart.scope, mart.domain, mart.metric_id, strict=True))
    assert ("programme", "all", "primary") in groups
    assert ("domain_metric", "sales", "reply_rate") in groups
    # P has no estimate; the decision's primary variant t stands for A.
    assert "P" not in set(mart.experiment_id)
    a = mart[(mart.scope == "programme") & (mart.experiment_id == "A")]
    assert a.variant.tolist() == ["t"]


def test_programme_pooling_matches_statsmodels(mart):
    programme = mart[mart.scope == "programme"].sort_values("experiment_id")
    assert programme.experiment_id.tolist() == ["A", "B", "C", "D"]
    # C's metric should decrease: its improvement is +0.15.
    y = np.array([0.20, 0.02, 0.15, 0.01])
    v = np.array([0.05, 0.03, 0.04, 0.01]) ** 2
    np.testing.assert_allclose(programme.rel_improvement.to_numpy(float), y, rtol=1e-12)
    oracle = combine_effects(y, v, method_re="dl")
    assert oracle.tau2 > 0
    row = programme.iloc[0]
    assert row.n_experiments == 4
    assert math.isclose(row.tau_squared, oracle.tau2, rel_tol=1e-9)
    assert math.isclose(row.pooled_rel_improvement, oracle.mean_effect_re, rel_tol=1e-9)
    assert math.isclose(row.pooled_se, oracle.sd_eff_w_re, rel_tol=1e-9)
    low, high = oracle.conf_int(alpha=0.05, use_t=False)[1]
    assert math.isclose(row.pooled_ci_low, low, rel_tol=1e-9)
    assert math.isclose(row.pooled_ci_high, high, rel_tol=1e-9)
    # Shrinkage by hand.
    tau2, mu, se2 = oracle.tau2, oracle.mean_effect_re, oracle.sd_eff_w_re**2
    for (_, r), yi, vi in zip(programme.iterrows(), y, v, strict=True):
        b = tau2 / (tau2 + vi)
        assert math.isclose(
            r.shrunken_rel_improvement, mu + b * (yi - mu), rel_tol=1e-9
        )
        assert math.isclose(
            r.shrunken_sd, math.sqrt(b * vi + (1 - b) ** 2 * se2), rel_tol=1e-9
        )
    # Win rate: A and D scaled, B iterated, C still running: 2 of 3 decided.
    assert row.decided_experiments == 3 and row.shipped_experiments == 2
    assert math.isclose(row.win_rate, 2 / 3, rel_tol=1e-12)
    shipped = programme[programme.experiment_id.isin(["A", "D"])]
    total = shipped.shrunken_rel_improvement.sum()
    sd = math.sqrt((shipped.shrunken_sd**2).sum())
    z = stats.norm.ppf(0.975)
    assert math.isclose(row.shipped_rel_improvement, total, rel_tol=1e-9)
    assert math.isclose(row.shipped_ci_low, total - z * sd, rel_tol=1e-9)
    assert math.isclose(row.shipped_ci_high, total + z * sd, rel_tol=1e-9)
    assert programme.min_arm_units.tolist() == [500] * 4


def test_single_experiment_group_is_not_shrunk(mart):
    one = mart[(mart.scope == "domain_metric") & (mart.metric_id == "minutes")].iloc[0]
    assert one.n_experiments == 1 and one.tau_squared == 0.0
    assert math.isclose(one.pooled_rel_improvement, 0.15, rel_tol=1e-12)
    assert "one experiment" in one.error_message
