"""Early calls in experiment_decisions: only for experiments in sequential mode,
only on the always-valid result of daily_results, Bonferroni over variants."""

from __future__ import annotations

import pandas as pd
import pytest

from xpkit.marts.experiment_decisions import DecisionConfig, experiment_decisions

AS_OF = pd.Timestamp("2024-11-01 12:00:00")


def result(variant="t", metric="conv", role="primary", rel=0.2, p=0.001, **extra):
    """An experiment_results row (fixed-horizon figures)."""
    direction = "flat" if p >= 0.05 else ("good" if rel > 0 else "bad")
    return {
        "experiment_id": "X1",
        "metric_id": metric,
        "metric_name": metric.capitalize(),
        "variant": variant,
        "control_variant": "control",
        "role": role,
        "rel_lift": rel,
        "rel_ci_low": rel - 0.1,
        "rel_ci_high": rel + 0.1,
        "abs_lift": rel,
        "p_value_adjusted": p,
        "direction": direction,
        "desired_direction": "increase",
        "alpha": 0.05,
        **extra,
    }


def daily(variant="t", p=0.001, rel=0.2, day="2024-10-05", metric="conv"):
    """A daily_results row with the always-valid figures."""
    return {
        "experiment_id": "X1",
        "metric_id": metric,
        "variant": variant,
        "exposure_date": pd.Timestamp(day).date(),
        "abs_lift": rel,
        "rel_lift": rel,
        "always_valid_rel_ci_low": rel - 0.15,
        "always_valid_rel_ci_high": rel + 0.15,
        "always_valid_p_value": p,
        "alpha": 0.05,
    }


def decide(results, daily_rows, sequential=("X1",), status="running", share=0.4):
    experiments = pd.DataFrame(
        [{"experiment_id": "X1", "status": status, "control_variant": "control"}]
    )
    links = pd.DataFrame(
        [{"experiment_id": "X1", "metric_id": "conv", "role": "primary"}]
        + [
            {"experiment_id": "X1", "metric_id": r["metric_id"], "role": r["role"]}
            for r in results
            if r["role"] != "primary"
        ]
    )
    balance = pd.DataFrame(
        [
            {"experiment_id": "X1", "variant": v, "srm_flag": False, "srm_p_value": 0.5}
            for v in ("control", "t")
        ]
    )
    health = pd.DataFrame(
        [{"experiment_id": "X1", "units_analysed": 800, "multi_variant_share": 0.0}]
    )
    power = pd.DataFrame(
        [
            {
                "experiment_id": "X1",
                "metric_id": "conv",
                "share_of_target": share,
                "current_units": 800,
                "required_units_total": 2000,
            }
        ]
    )
    out = experiment_decisions(
        experiments,
        links,
        pd.DataFrame(results),
        pd.DataFrame(),
        balance,
        health,
        power,
        config=DecisionConfig(sequential_experiments=frozenset(sequential)),
        decided_at=AS_OF,
        daily_results=pd.DataFrame(daily_rows),
    )
    return out.iloc[0]


def test_sequential_mode_calls_a_significant_always_valid_winner_early():
    rows = [daily(p=0.2, day="2024-10-04"), daily(p=0.004, day="2024-10-05")]
    row = decide([result()], rows)
    assert (row.decision, row.rule) == ("scale", "primary_good")
    assert row.is_early_call and row.is_sequential
    assert "always-valid p = 0.004 < 0.05" in row.rationale
    assert "40% of the planned sample" in row.rationale
    # The interval reported is the confidence sequence, not the fixed one.
    assert row.primary_rel_ci_low == pytest.approx(0.05)
    assert row.primary_p_value_adjusted == pytest.approx(0.004)


def test_without_sequential_mode_no_early_call_however_small_the_p_value():
    row = decide([result(p=1e-9)], [daily(p=1e-9)], sequential=())
    assert (row.decision, row.rule) == ("keep_running", "below_planned_sample")
    assert "sequential mode is off" in row.rationale
    assert not row.is_early_call and not row.is_sequential


def test_fixed_horizon_significance_alone_does_not_call_early():
    # Fixed-horizon p = 0.001, always-valid p = 0.08: keep running.
    row = decide([result(p=0.001)], [daily(p=0.08)])
    assert row.rule == "below_planned_sample"
    assert "no always-valid result is significant" in row.rationale
    assert "always-valid p = 0.08, needs below 0.05" in row.rationale
    # No daily results at all.
    row = decide([result()], [])
    assert row.rule == "below_planned_sample"
    assert "no always-valid result yet" in row.rationale


def test_sequential_mode_stops_a_significantly_bad_variant_early():
    row = decide([result(rel=-0.2, p=0.001)], [daily(rel=-0.2, p=0.001)])
    assert (row.decision, row.rule) == ("stop", "primary_bad")
    assert row.is_early_call


def test_bonferroni_over_variants_for_the_early_call():
    results = [result("t"), result("u", rel=0.1, p=0.2)]
    rows = [daily("t", p=0.03), daily("u", rel=0.1, p=0.5)]
    row = decide(results, rows)
    assert row.rule == "below_planned_sample"
    assert "needs below 0.025" in row.rationale
    rows = [daily("t", p=0.02), daily("u", rel=0.1, p=0.5)]
    row = decide(results, rows)
    assert row.rule == "primary_good" and row.primary_variant == "t"
    assert row.primary_p_value_adjusted == pytest.approx(0.04)


def test_early_call_reads_guardrails_of_the_called_variant():
    guard = result(
        metric="latency",
        role="guardrail",
        rel=0.3,
        p=0.001,
        desired_direction="decrease",
        guardrail_tolerance=0.05,
    )
    guard["direction"] = "bad"
    row = decide([result(), guard], [daily(p=0.001)])
    assert (row.decision, row.rule) == ("iterate", "primary_good_with_harm")
    assert row.is_early_call


def test_at_or_past_the_planned_sample_the_fixed_horizon_result_decides():
    row = decide([result(p=0.001)], [daily(p=0.3)], share=1.0)
    assert (row.rule, row.is_early_call) == ("primary_good", False)
    assert "always-valid" not in row.rationale
    row = decide([result(p=0.001)], [daily(p=0.3)], status="completed")
    assert (row.rule, row.is_early_call) == ("primary_good", False)


def test_early_call_quotes_the_confidence_sequence_as_its_interval():
    row = decide([result()], [daily(p=0.004)])
    assert row.is_early_call
    # Beside the always-valid verdict, its interval: the confidence sequence.
    assert "always-valid 95% CI +5.0% to +35.0%" in row.rationale
    assert row.primary_rel_ci_low_adjusted == pytest.approx(0.05)
    assert row.primary_rel_ci_high_adjusted == pytest.approx(0.35)


def test_early_winner_with_an_inconclusive_guardrail_keeps_running():
    guard = result(
        metric="latency",
        role="guardrail",
        rel=0.01,
        p=0.7,
        desired_direction="decrease",
        guardrail_tolerance=0.05,
        guardrail_status="inconclusive",
        guardrail_bound=0.2,
    )
    row = decide([result(), guard], [daily(p=0.001)])
    assert (row.decision, row.rule) == (
        "keep_running",
        "primary_good_guardrail_inconclusive",
    )
    assert row.is_early_call
    assert "latency (overall): +1.0% (upper bound +20.0% vs tolerance +5.0%)" in (
        row.rationale
    )
