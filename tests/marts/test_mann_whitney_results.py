"""experiment_results' Mann-Whitney columns from rank-sum rows (the shape of
intermediate.int_rank_sums_pooled) computed with numpy on raw arrays, against
scipy.stats.mannwhitneyu on the same arrays."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_results import RAW, TABLES, close, pick

from xpkit.marts.experiment_results import experiment_results


def rank_row(experiment, metric, variant, c, t):
    pooled = np.concatenate([t, c])
    _, sizes = np.unique(pooled, return_counts=True)
    return {
        "experiment_id": experiment,
        "metric_id": metric,
        "variant": variant,
        "n_control": c.size,
        "n_treatment": t.size,
        "treatment_rank_sum": stats.rankdata(pooled)[: t.size].sum(),
        "tie_term": float(np.sum(sizes**3.0 - sizes)),
    }


def test_mann_whitney_columns_equal_scipy():
    arm_metrics, experiments, metrics, experiment_metrics, variants = TABLES
    pairs = [
        ("E001", "reply", "control", "ai_drafted"),
        ("E001", "revenue", "control", "ai_drafted"),
        ("E002", "csat", "human_only", "llm_assisted"),
    ]
    rows = [rank_row(e, m, t, RAW[(e, c, m)], RAW[(e, t, m)]) for e, m, c, t in pairs]
    out = experiment_results(
        arm_metrics,
        experiments,
        metrics,
        experiment_metrics,
        experiment_variants=variants,
        rank_sums=pd.DataFrame(rows),
    )
    for experiment, metric, control, treatment in pairs:
        row = pick(out, experiment, metric, treatment)
        oracle = stats.mannwhitneyu(
            RAW[(experiment, treatment, metric)],
            RAW[(experiment, control, metric)],
            method="asymptotic",
        )
        assert row.mann_whitney_u == close(oracle.statistic)
        assert row.mann_whitney_p_value == close(oracle.pvalue)
    ratio = pick(out, "E002", "resolution", "llm_assisted")
    assert ratio.mann_whitney_error_message == "not computed for ratio metrics"
    meeting = pick(out, "E001", "meeting", "ai_drafted")
    assert pd.isna(meeting.mann_whitney_p_value)
    assert meeting.mann_whitney_error_message == "no rank sums"
    # Without rank sums (segment_results) the columns are null.
    plain = experiment_results(
        arm_metrics,
        experiments,
        metrics,
        experiment_metrics,
        experiment_variants=variants,
    )
    assert plain.mann_whitney_p_value.isna().all()
    assert plain.mann_whitney_error_message.isna().all()


def test_all_tied_values_give_a_reason():
    arm_metrics, experiments, metrics, experiment_metrics, variants = TABLES
    zeros = np.zeros(10)
    out = experiment_results(
        arm_metrics,
        experiments,
        metrics,
        experiment_metrics,
        experiment_variants=variants,
        rank_sums=pd.DataFrame([rank_row("E001", "reply", "ai_drafted", zeros, zeros)]),
    )
    row = pick(out, "E001", "reply", "ai_drafted")
    assert pd.isna(row.mann_whitney_p_value)
    assert row.mann_whitney_error_message == "all values are tied: no test"
    assert row.mann_whitney_u == pytest.approx(50.0)
