"""Decision rules (xpkit.marts.experiment_decisions): one test per rule on
hand-built marts, the rule order and thresholds, then the demo warehouse's
decisions against the planted stories, its power figures against statsmodels
on the raw unit-level arrays, and the portfolio's shape."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from oracle import Registry, assignments, unit_arrays, usable_events, usable_exposures
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize
from warehouse import REPO, read_tables

from xpkit.marts.experiment_decisions import (
    DECISION_COLUMNS,
    RULES,
    DecisionConfig,
    experiment_decisions,
)

AS_OF = pd.Timestamp("2024-11-01 12:00:00")


# ---------------------------------------------------------------------------
# Hand-built marts for one experiment X1 (control vs treatment)
# ---------------------------------------------------------------------------


def result(
    metric_id="conv",
    variant="treatment",
    role="primary",
    rel_lift=0.0,
    p_adjusted=0.5,
    direction="flat",
    desired="increase",
    tolerance=None,
    **extra,
):
    """One experiment_results row; CI = rel_lift +/- 0.1, the multiplicity-
    adjusted CI (rel_ci_*_adjusted) = rel_lift +/- 0.15, abs_lift = rel_lift."""
    return {
        "experiment_id": "X1",
        "metric_id": metric_id,
        "metric_name": metric_id.replace("_", " ").capitalize(),
        "variant": variant,
        "control_variant": "control",
        "role": role,
        "rel_lift": rel_lift,
        "rel_ci_low": None if rel_lift is None else rel_lift - 0.1,
        "rel_ci_high": None if rel_lift is None else rel_lift + 0.1,
        "rel_ci_low_adjusted": None if rel_lift is None else rel_lift - 0.15,
        "rel_ci_high_adjusted": None if rel_lift is None else rel_lift + 0.15,
        "abs_lift": rel_lift,
        "p_value_adjusted": p_adjusted,
        "direction": direction,
        "desired_direction": desired,
        "guardrail_tolerance": tolerance,
        "alpha": 0.05,
        **extra,
    }


def segment(value, suppressed=False, dimension="segment", **kwargs):
    """One segment_results row."""
    return {
        "segment_dimension": dimension,
        "segment_value": value,
        "is_suppressed": suppressed,
        **result(**kwargs),
    }


def decide(
    status="completed",
    results=None,
    segments=None,
    roles=None,
    srm_flag=False,
    srm_p=0.5,
    multi_share=0.0,
    units=2000,
    power=None,
    config=None,
):
    """The decision row for X1 built from the given pieces."""
    roles = [("conv", "primary")] if roles is None else roles
    experiments = pd.DataFrame(
        [{"experiment_id": "X1", "status": status, "control_variant": "control"}]
    )
    links = pd.DataFrame(
        [{"experiment_id": "X1", "metric_id": m, "role": r} for m, r in roles],
        columns=["experiment_id", "metric_id", "role"],
    )
    balance = pd.DataFrame(
        [
            {"experiment_id": "X1", "variant": v, "srm_flag": srm_flag}
            | {"srm_p_value": srm_p}
            for v in ("control", "treatment")
        ]
    )
    health = pd.DataFrame(
        [
            {
                "experiment_id": "X1",
                "units_analysed": units,
                "multi_variant_share": multi_share,
            }
        ]
    )
    power_row = {
        "experiment_id": "X1",
        "metric_id": roles[0][0] if roles else None,
        "share_of_target": 1.0,
        "current_units": 2000,
        "required_units_total": 2000,
        "required_units_per_arm": 1000,
        "daily_units": 100.0,
        "projected_days_to_target": 0.0,
        "mde_relative": 0.1,
        "alpha": 0.05,
        "power": 0.8,
    } | (power or {})
    out = experiment_decisions(
        experiments,
        links,
        pd.DataFrame(results or [result()]),
        pd.DataFrame(segments or []),
        balance,
        health,
        pd.DataFrame([power_row]),
        config=config,
        decided_at=AS_OF,
    )
    assert len(out) == 1
    return out.iloc[0]


GOOD = {"rel_lift": 0.2, "p_adjusted": 0.001, "direction": "good"}
BAD = {"rel_lift": -0.2, "p_adjusted": 0.001, "direction": "bad"}


# ---------------------------------------------------------------------------
# One test per rule
# ---------------------------------------------------------------------------


def test_rule_planned_without_primary_metric_is_do_not_start():
    row = decide(status="planned", roles=[("conv", "secondary")], units=0)
    assert (row.decision, row.rule) == ("do_not_start", "planned_not_ready")
    assert "No primary metric" in row.rationale
    assert row.recommended_action.startswith("Refine the experiment design")


def test_rule_planned_without_usable_baseline_is_do_not_start():
    row = decide(
        status="planned",
        units=0,
        power={
            "required_units_total": None,
            "required_units_per_arm": None,
            "error_message": "binary metric: the baseline rate ... not estimable",
        },
    )
    assert (row.decision, row.rule) == ("do_not_start", "planned_not_ready")
    assert "not estimable" in row.rationale


def test_rule_planned_too_slow_is_do_not_start_and_names_the_figures():
    power = {
        "share_of_target": 0.0,
        "current_units": 0,
        "required_units_total": 362,
        "required_units_per_arm": 181,
        "daily_units": 362 / 120,
        "projected_days_to_target": 120.0,
    }
    row = decide(status="planned", units=0, power=power)
    assert (row.decision, row.rule) == ("do_not_start", "planned_not_ready")
    for figure in ("362 units", "181 per arm", "10% change", "3.0 units/day"):
        assert figure in row.rationale
    assert "120 days, beyond the 90-day limit" in row.rationale
    # The threshold is a var: at 150 days the same design may launch.
    row = decide(
        status="planned",
        units=0,
        power=power,
        config=DecisionConfig(max_days_to_target=150),
    )
    assert (row.decision, row.rule) == ("keep_running", "planned_ready")
    assert row.recommended_action == "Launch as designed."


def test_rule_planned_at_exactly_the_limit_launches():
    row = decide(status="planned", units=0, power={"projected_days_to_target": 90.0})
    assert (row.decision, row.rule) == ("keep_running", "planned_ready")


def test_rule_planned_without_traffic_is_do_not_start():
    row = decide(
        status="planned",
        units=0,
        power={"projected_days_to_target": None, "daily_units": None},
    )
    assert (row.decision, row.rule) == ("do_not_start", "planned_not_ready")
    assert "unknown" in row.rationale


def test_rule_srm_stops_even_with_a_winner():
    row = decide(results=[result(**GOOD)], srm_flag=True, srm_p=0.0002)
    assert (row.decision, row.rule) == ("stop", "data_quality_failed")
    assert "sample ratio mismatch, p = 0.0002" in row.rationale
    assert row.recommended_action.startswith("Investigate data")
    assert bool(row.srm_flag) is True


def test_rule_multi_variant_share_above_the_var_stops():
    row = decide(results=[result(**GOOD)], multi_share=0.02)
    assert (row.decision, row.rule) == ("stop", "data_quality_failed")
    assert "2.0% of exposed units" in row.rationale
    assert "limit 1.0%" in row.rationale
    assert bool(row.data_quality_passed) is False
    # At the limit it passes; a looser var lets 2% pass.
    assert decide(results=[result(**GOOD)], multi_share=0.01).rule == "primary_good"
    loose = DecisionConfig(max_multi_variant_share=0.05)
    row = decide(results=[result(**GOOD)], multi_share=0.02, config=loose)
    assert row.rule == "primary_good"


def test_rule_no_analysed_units_keeps_running():
    row = decide(status="running", units=0, multi_share=None)
    assert (row.decision, row.rule) == ("keep_running", "waiting_for_data")
    assert row.recommended_action == "Keep running: waiting for data."
    assert pd.isna(row.data_quality_passed)


def test_rule_no_primary_metric_with_data_iterates():
    row = decide(roles=[("conv", "secondary")])
    assert (row.decision, row.rule) == ("iterate", "no_primary_metric")


def test_rule_running_below_planned_sample_keeps_running_without_early_winner():
    power = {
        "share_of_target": 0.5,
        "current_units": 1000,
        "projected_days_to_target": 10.0,
    }
    row = decide(status="running", results=[result(**GOOD)], power=power)
    assert (row.decision, row.rule) == ("keep_running", "below_planned_sample")
    assert "50% of the planned sample (1,000 of 2,000 units)" in row.rationale
    assert "about 10 more days at 100.0 new units/day" in row.rationale
    assert row.recommended_action == "Keep running until 2,000 units are analysed."
    # Unknown share: still no early decision.
    row = decide(
        status="running",
        results=[result(**GOOD)],
        power={"share_of_target": None, "error_message": "no baseline"},
    )
    assert row.rule == "below_planned_sample"
    assert "unknown (no baseline)" in row.rationale
    # A completed experiment is final whatever its share.
    row = decide(status="completed", results=[result(**GOOD)], power=power)
    assert row.rule == "primary_good"


def test_rule_primary_significantly_bad_stops():
    row = decide(results=[result(**BAD)])
    assert (row.decision, row.rule) == ("stop", "primary_bad")
    assert "Conv fell 20.0% with treatment" in row.rationale
    # The interval beside the adjusted p is the adjusted one.
    assert "adjusted 95% CI -35.0% to -5.0%; adjusted p = 0.001" in row.rationale
    assert row.recommended_action == "Stop: roll back treatment and keep control."
    assert row.primary_direction == "bad"


PASSED = {"guardrail_status": "passed", "guardrail_bound": -0.015}


def test_rule_primary_good_without_harm_scales():
    row = decide(
        results=[
            result(**GOOD),
            result("csat", role="guardrail", tolerance=0.02, rel_lift=-0.01, **PASSED),
            result("meetings", role="secondary", rel_lift=0.05),
        ]
    )
    assert (row.decision, row.rule) == ("scale", "primary_good")
    assert row.rationale.startswith(
        "Conv rose 20.0% with treatment (adjusted 95% CI +5.0% to +35.0%; "
        "adjusted p = 0.001), with every guardrail passed (csat (overall): -1.0% "
        "(lower bound -1.5% vs tolerance -2.0%)) and no secondary significantly "
        "worse"
    )
    assert row.guardrail_statuses == (
        "csat: passed, -1.0% (lower bound -1.5% vs tolerance -2.0%)"
    )
    assert pd.isna(row.guardrails_inconclusive) and pd.isna(row.harm_summary)
    assert row.primary_rel_ci_low_adjusted == pytest.approx(0.05)
    assert row.primary_rel_ci_high_adjusted == pytest.approx(0.35)
    assert "100% of the planned sample (2,000 of 2,000 units)" in row.rationale
    assert row.recommended_action == "Roll out treatment to all traffic."
    assert pd.isna(row.guardrails_breached) and pd.isna(row.bad_secondaries)
    assert row.primary_variant == "treatment"
    assert row.primary_rel_lift == 0.2


def test_rule_guardrail_breached_overall_iterates():
    row = decide(
        results=[
            result(**GOOD),
            result("csat", role="guardrail", tolerance=0.02, **BAD),
        ]
    )
    assert (row.decision, row.rule) == ("iterate", "primary_good_with_harm")
    assert row.guardrails_breached == "csat (overall): -20.0% (tolerance 2.0%)"
    assert row.recommended_action == (
        "Iterate: keep the gain on conv and fix the guardrail breach before rollout."
    )


def test_guardrail_significantly_bad_within_tolerance_is_no_breach():
    # Significantly worse, but the whole interval lies within the tolerance
    # (no guardrail_status column: read from the interval).
    small = {
        "rel_lift": -0.015,
        "p_adjusted": 0.01,
        "direction": "bad",
        "rel_ci_low": -0.019,
        "rel_ci_high": -0.011,
    }
    row = decide(
        results=[
            result(**GOOD),
            result("csat", role="guardrail", tolerance=0.02, **small),
        ]
    )
    assert row.rule == "primary_good"
    # An empty tolerance means 0: any significant worsening breaches.
    row = decide(results=[result(**GOOD), result("csat", role="guardrail", **small)])
    assert row.rule == "primary_good_with_harm"


def test_guardrail_breached_in_a_segment_iterates_and_names_the_segment():
    guard = {"metric_id": "csat", "role": "guardrail", "tolerance": 0.02}
    row = decide(
        results=[
            result(**GOOD),
            result(**guard, rel_lift=0.03, p_adjusted=0.001, direction="good"),
        ],
        segments=[
            segment(
                "technical", **guard, rel_lift=-0.087, p_adjusted=1e-6, direction="bad"
            ),
            segment("billing", **guard, **GOOD),
        ],
    )
    assert (row.decision, row.rule) == ("iterate", "primary_good_with_harm")
    assert row.guardrails_breached == (
        "csat (segment technical): -8.7% (tolerance 2.0%)"
    )
    assert "guardrail breached: csat (segment technical): -8.7%" in row.rationale
    assert row.recommended_action == (
        "Iterate: keep the gain on conv and fix the guardrail breach in segment "
        "technical before rollout."
    )


def test_guardrail_in_a_suppressed_segment_or_another_variant_is_ignored():
    guard = {"metric_id": "csat", "role": "guardrail", "tolerance": 0.02}
    row = decide(
        results=[result(**GOOD), result(variant="other", rel_lift=0.01)],
        segments=[
            segment("tiny", suppressed=True, **guard, **BAD),
            segment("technical", **guard, variant="other", **BAD),
        ],
    )
    assert row.rule == "primary_good"


def test_decreasing_guardrail_breaches_when_it_rises():
    row = decide(
        results=[
            result(**GOOD),
            result(
                "wait_minutes",
                role="guardrail",
                desired="decrease",
                tolerance=0.05,
                rel_lift=0.1,
                p_adjusted=0.001,
                direction="bad",
            ),
        ]
    )
    assert row.rule == "primary_good_with_harm"
    assert row.guardrails_breached == "wait_minutes (overall): +10.0% (tolerance 5.0%)"


def test_rule_secondary_significantly_bad_iterates():
    row = decide(results=[result(**GOOD), result("meetings", role="secondary", **BAD)])
    assert (row.decision, row.rule) == ("iterate", "primary_good_with_harm")
    assert row.bad_secondaries == (
        "meetings: -20.0% (adjusted 95% CI -35.0% to -5.0%; adjusted p = 0.001)"
    )
    assert "secondary metric significantly worse" in row.rationale
    assert row.recommended_action.endswith(
        "fix the drop in the secondary metrics before rollout."
    )


def test_rule_inconclusive_follows_the_var():
    flat = result(rel_lift=0.03, p_adjusted=0.4, direction="flat")
    row = decide(results=[flat])
    assert (row.decision, row.rule) == ("iterate", "inconclusive")
    assert row.rationale == (
        "No significant effect on conv: best variant treatment +3.0% "
        "(adjusted 95% CI -12.0% to +18.0%; adjusted p = 0.4); 100% of the planned "
        "sample "
        "(2,000 of 2,000 units)."
    )
    assert row.recommended_action.startswith("Iterate: rework the treatment")
    row = decide(results=[flat], config=DecisionConfig(inconclusive_decision="stop"))
    assert (row.decision, row.rule) == ("stop", "inconclusive")
    assert row.recommended_action == "Stop: keep control; conv did not move."


def test_rule_inconclusive_names_segment_winners():
    rows = [
        result(variant=v, rel_lift=0.1, p_adjusted=0.3)
        for v in ("urgent", "friendly", "informational")
    ]
    segments = [
        segment(
            "High-Value Recent",
            variant="urgent",
            rel_lift=0.52,
            p_adjusted=0.01,
            direction="good",
        ),
        segment(
            "High-Value Recent",
            variant="friendly",
            rel_lift=0.2,
            p_adjusted=0.04,
            direction="good",
        ),
        segment(
            "New Customer",
            variant="friendly",
            rel_lift=0.9,
            p_adjusted=0.001,
            direction="good",
        ),
        segment("New Customer", variant="urgent", rel_lift=-0.1, p_adjusted=0.9),
        segment("Standard", variant="urgent", rel_lift=0.3, p_adjusted=0.2),
        segment("Tiny", suppressed=True, variant="urgent", **GOOD),
    ]
    row = decide(results=rows, segments=segments)
    assert (row.decision, row.rule) == ("iterate", "inconclusive")
    winners = "High-Value Recent: urgent (+52.0%); New Customer: friendly (+90.0%)"
    assert row.segment_winners == winners
    assert f"Segment winners on conv: {winners}." in row.rationale
    assert row.recommended_action == (
        "Iterate: follow up with a segment-targeted test of urgent for "
        "High-Value Recent and friendly for New Customer."
    )


# ---------------------------------------------------------------------------
# Best variant, order, config, shape
# ---------------------------------------------------------------------------


def test_best_variant_is_the_largest_good_lift_else_the_smallest_p():
    rows = [
        result(variant="a", rel_lift=0.10, p_adjusted=0.0001, direction="good"),
        result(variant="b", rel_lift=0.30, p_adjusted=0.04, direction="good"),
        result(variant="c", rel_lift=0.50, p_adjusted=0.2, direction="flat"),
    ]
    row = decide(results=rows)
    assert (row.primary_variant, row.rule) == ("b", "primary_good")
    rows = [
        result(variant="a", rel_lift=0.10, p_adjusted=0.3),
        result(variant="b", rel_lift=0.30, p_adjusted=0.2),
        result(variant="c", rel_lift=None, p_adjusted=None, direction=None),
    ]
    assert decide(results=rows).primary_variant == "b"
    # For a metric that should fall, the largest fall is the best.
    down = {"desired": "decrease", "direction": "good", "p_adjusted": 0.01}
    rows = [
        result(variant="a", rel_lift=-0.1, **down),
        result(variant="b", rel_lift=-0.3, **down),
    ]
    assert decide(results=rows).primary_variant == "b"


def test_primary_bad_needs_no_good_variant():
    rows = [result(variant="a", **BAD), result(variant="b", **GOOD)]
    row = decide(results=rows)
    assert (row.rule, row.primary_variant) == ("primary_good", "b")


def test_rules_apply_in_the_documented_order():
    assert list(RULES) == [
        "planned_not_ready",
        "planned_ready",
        "data_quality_failed",
        "waiting_for_data",
        "no_primary_metric",
        "below_planned_sample",
        "primary_bad",
        "primary_good",
        "primary_good_with_harm",
        "primary_good_guardrail_inconclusive",
        "inconclusive",
    ]
    # Data quality comes before "no data" and before results.
    row = decide(status="running", units=0, srm_flag=True, results=[result(**BAD)])
    assert row.rule == "data_quality_failed"
    # Planned comes first even with a (stale) SRM flag.
    assert decide(status="planned", units=0, srm_flag=True).rule == "planned_ready"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inconclusive_decision": "scale"}, "inconclusive_decision must be one of"),
        ({"max_days_to_target": 0}, "max_days_to_target must be > 0"),
        ({"max_multi_variant_share": 1.5}, "max_multi_variant_share must lie"),
        ({"sequential_experiments": "E1"}, "must be a collection"),
    ],
)
def test_config_rejects_unusable_thresholds(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecisionConfig(**kwargs)


def test_decisions_frame_has_fixed_columns_and_dtypes():
    row = decide(results=[result(**GOOD)])
    assert row.decided_at == AS_OF
    out = experiment_decisions(
        pd.DataFrame(columns=["experiment_id", "status"]),
        pd.DataFrame(columns=["experiment_id", "metric_id", "role"]),
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
    )
    assert out.empty
    assert list(out.columns) == list(DECISION_COLUMNS)
    assert {c: str(t) for c, t in out.dtypes.items()} == DECISION_COLUMNS


def test_decided_at_is_stored_in_utc_to_the_second():
    out = experiment_decisions(
        pd.DataFrame([{"experiment_id": "X1", "status": "planned"}]),
        pd.DataFrame(columns=["experiment_id", "metric_id", "role"]),
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        decided_at=pd.Timestamp("2024-11-01 13:00:00.75", tz="Europe/Paris"),
    )
    assert out.decided_at.iloc[0] == pd.Timestamp("2024-11-01 12:00:00")


# ---------------------------------------------------------------------------
# End to end on the demo warehouse
# ---------------------------------------------------------------------------

PORTFOLIO_COLUMNS = [
    "experiment_id",
    "experiment_name",
    "domain",
    "owner",
    "status",
    "start_date",
    "end_date",
    "days_running",
    "units",
    "srm_flag",
    "primary_metric_id",
    "primary_rel_lift",
    "primary_p_value",
    "decision",
    "analysis_summary",
    "recommended_action",
    "hypothesis",
]
POWER_CONTRACT = [
    "experiment_id",
    "metric_id",
    "status",
    "aggregation",
    "alpha",
    "power",
    "mde_relative",
    "baseline_source",
    "baseline_mean",
    "baseline_std",
    "n_arms",
    "required_units_per_arm",
    "required_units_total",
    "current_units",
    "min_arm_units",
    "share_of_target",
    "daily_units",
    "days_observed",
    "projected_days_to_target",
    "error_message",
]


@pytest.fixture(scope="module")
def marts(demo_warehouse):
    return read_tables(
        demo_warehouse["database"],
        "marts.experiment_decisions",
        "marts.experiment_power",
        "marts.experiment_portfolio",
        "raw.exposures",
        "raw.events",
    )


@pytest.fixture(scope="module")
def decisions(marts):
    return marts["marts.experiment_decisions"].set_index("experiment_id")


@pytest.mark.warehouse
def test_demo_e001_email_drafting_scales(decisions):
    row = decisions.loc["E001"]
    assert (row.decision, row.rule) == ("scale", "primary_good")
    assert row.primary_variant == "ai_drafted"
    assert row.recommended_action == "Roll out ai_drafted to all traffic."
    assert "Reply rate rose 44.2% with ai_drafted" in row.rationale


@pytest.mark.warehouse
def test_demo_e002_support_bot_iterates_on_the_csat_guardrail(decisions):
    row = decisions.loc["E002"]
    assert (row.decision, row.rule) == ("iterate", "primary_good_with_harm")
    assert row.primary_direction == "good"
    assert row.guardrails_breached.startswith("csat_score (segment technical): -")
    assert "technical" in row.recommended_action
    assert "csat_score (segment technical)" in row.rationale


@pytest.mark.warehouse
def test_demo_e003_screening_is_do_not_start(decisions):
    row = decisions.loc["E003"]
    assert (row.decision, row.rule) == ("do_not_start", "planned_not_ready")
    assert row.recommended_action.startswith(
        "Refine the experiment design before launch"
    )


@pytest.mark.warehouse
def test_demo_e004_names_the_winning_tone_per_segment(decisions):
    row = decisions.loc["E004"]
    winners = dict(
        part.split(" (")[0].split(": ") for part in row.segment_winners.split("; ")
    )
    assert winners["High-Value Recent"] == "urgent"
    assert winners["New Customer"] == "friendly"
    assert "High-Value Recent: urgent" in row.rationale
    assert "New Customer: friendly" in row.rationale
    assert row.decision in ("scale", "iterate")


@pytest.mark.warehouse
def test_demo_e005_home_feed_scales(decisions):
    row = decisions.loc["E005"]
    assert (row.decision, row.rule) == ("scale", "primary_good")
    assert row.primary_variant == "personalised_feed"


@pytest.mark.warehouse
def test_demo_decisions_cover_the_registry(decisions):
    registry = Registry.from_seeds(REPO / "seeds")
    assert sorted(decisions.index) == sorted(registry.experiments.experiment_id)
    assert decisions.rationale.notna().all()
    # One as-of time for the whole build: XP_AS_OF, or when the model ran.
    assert decisions.decided_at.notna().all()
    assert decisions.decided_at.nunique() == 1


@pytest.mark.warehouse
def test_demo_portfolio_has_one_row_per_experiment_with_contract_columns(
    marts, decisions
):
    portfolio = marts["marts.experiment_portfolio"]
    contract = [c for c in portfolio.columns if c in PORTFOLIO_COLUMNS]
    assert contract == PORTFOLIO_COLUMNS
    registry = Registry.from_seeds(REPO / "seeds")
    assert sorted(portfolio.experiment_id) == sorted(registry.experiments.experiment_id)
    rows = portfolio.set_index("experiment_id")
    assert (rows.decision == decisions.decision.reindex(rows.index)).all()
    assert rows.loc["E001", "days_running"] == 14  # 2024-10-01 to 2024-10-14
    assert rows.loc["E005", "days_running"] == 28
    assert pd.isna(rows.loc["E003", "days_running"])
    assert rows.loc["E001", "units"] == 1020
    assert rows.loc["E003", "units"] == 0
    assert rows.analysis_summary.notna().all()
    assert rows.loc["E001", "primary_p_value"] < 0.05


@pytest.fixture(scope="module")
def oracle_arrays(marts, demo_warehouse):
    raw = {"exposures": marts["raw.exposures"], "events": marts["raw.events"]}
    registry = Registry.from_seeds(REPO / "seeds")
    return raw, registry, unit_arrays(raw, registry, demo_warehouse["now"])


@pytest.mark.warehouse
def test_demo_power_equals_statsmodels_on_raw_control_arrays(
    marts, oracle_arrays, demo_warehouse
):
    raw, registry, arrays = oracle_arrays
    power = marts["marts.experiment_power"].set_index("experiment_id")
    assert list(power.reset_index().columns[: len(POWER_CONTRACT)]) == POWER_CONTRACT
    experiments = registry.experiments.set_index("experiment_id")
    exposures = usable_exposures(raw["exposures"], registry, demo_warehouse["now"])
    first = assignments(exposures)
    first = first[first.n_variants == 1]
    checked = 0
    for experiment_id, row in power.iterrows():
        if row.status == "planned":
            continue
        experiment = experiments.loc[experiment_id]
        control = arrays[(experiment_id, experiment.control_variant, row.metric_id)]
        m = control["m"]
        if row.aggregation == "binary":
            mean = m.mean()
            std = math.sqrt(mean * (1 - mean))
            h = proportion_effectsize(mean * (1 + row.mde_relative), mean)
            want = NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
        else:
            if row.aggregation == "ratio":
                d = control["d"]
                mean = m.sum() / d.sum()
                values = mean + (m - mean * d) / d.mean()
            else:
                mean, values = m.mean(), m
            std = np.std(values, ddof=1)
            effect = row.mde_relative * abs(mean) / std
            want = TTestIndPower().solve_power(effect, alpha=0.05, power=0.8)
        assert row.baseline_mean == pytest.approx(mean, rel=1e-9)
        assert row.baseline_std == pytest.approx(std, rel=1e-9)
        assert row.required_units_per_arm == math.ceil(want)
        assert row.required_units_total == math.ceil(want) * row.n_arms
        units = first[first.experiment_id == experiment_id]
        assert row.current_units == len(units)
        assert row.share_of_target == pytest.approx(
            len(units) / (math.ceil(want) * row.n_arms), rel=1e-12
        )
        dates = units.fe.dt.normalize()
        span = (dates.max() - dates.min()).days + 1
        assert row.days_observed == span
        assert row.daily_units == pytest.approx(len(units) / span, rel=1e-12)
        checked += 1
    assert checked == 4


@pytest.mark.warehouse
def test_demo_planned_power_equals_the_pre_period_oracle(marts, demo_warehouse):
    """E003's baseline: recruiters with resume_screened events in the 28 days
    before the as-of time; minutes per resume as a ratio of sums, its
    delta-method sd, and units per day. Depends on the build's as-of: with the
    fixture's as-of of 'now' the period holds no events."""
    registry = Registry.from_seeds(REPO / "seeds")
    now = demo_warehouse["now"]
    events = usable_events(marts["raw.events"], registry, now)
    window = events[
        (events.event_name == "resume_screened")
        & (events.ts >= now - pd.Timedelta(days=28))
        & (events.ts < now)
    ]
    row = marts["marts.experiment_power"].set_index("experiment_id").loc["E003"]
    assert row.baseline_source == "pre_period"
    assert row.current_units == 0
    if window.empty:
        assert pd.isna(row.required_units_per_arm)
        assert row.error_message == (
            "no units with the metric's events in the pre-period"
        )
        return
    per_unit = window.groupby("unit_id")["value"].agg(["sum", "size"])
    m, d = per_unit["sum"].to_numpy(), per_unit["size"].to_numpy(float)
    ratio = m.sum() / d.sum()
    std = np.std(ratio + (m - ratio * d) / d.mean(), ddof=1)
    want = TTestIndPower().solve_power(0.1 * ratio / std, alpha=0.05, power=0.8)
    assert row.baseline_mean == pytest.approx(ratio, rel=1e-9)
    assert row.baseline_std == pytest.approx(std, rel=1e-9)
    assert row.required_units_per_arm == math.ceil(want)
    assert row.daily_units == pytest.approx(len(per_unit) / 28, rel=1e-12)
    assert row.projected_days_to_target == pytest.approx(
        2 * math.ceil(want) / (len(per_unit) / 28), rel=1e-12
    )
