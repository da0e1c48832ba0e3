"""The summary section of an experiment page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from xpkit.narrative import report as fmt
from xpkit.report.common import (
    AGGREGATION_LABELS,
    adjusted_label,
    best_primary,
    dates,
)
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["tiles", "criteria", "design", "decision_inputs"]


def tiles(
    report: ReportBuilder,
    experiment: Mapping[str, Any],
    units: int | None,
    results: list[dict[str, Any]],
    decision: Mapping[str, Any] | None,
    portfolio: Mapping[str, Any] | None,
) -> list[dict[str, str]]:
    eid = experiment.get("experiment_id")
    best = best_primary(results, decision)
    primary_value, primary_note = fmt.DASH, "no primary result yet"
    if best is not None and finite(best.get("rel_lift")) is not None:
        primary_value = fmt.pct(best.get("rel_lift"))
        primary_note = (
            f"{best.get('metric_name') or best.get('metric_id')}, "
            f"{best.get('variant')} vs {best.get('control_variant')}; "
            f"{adjusted_label(best)}"
        )
    srm = report.srm_flag(eid)
    balance = report.one("assignment_balance", eid)
    srm_note = "no test yet"
    if balance is not None and balance.get("srm_p_value") is not None:
        srm_note = fmt.p_phrase(balance.get("srm_p_value"))
    days = (portfolio or {}).get("days_running")
    start, end = experiment.get("start_date"), experiment.get("end_date")
    if days is None and isinstance(start, date) and isinstance(end, date):
        days = (end - start).days + 1
    return [
        {
            "label": "Decision",
            "value": fmt.decision_label(
                None if decision is None else decision.get("decision")
            ),
            "note": (decision or {}).get("rule") or "",
        },
        {
            "label": "Units analysed",
            "value": fmt.integer(units),
            "note": f"{len(report.data.for_experiment('experiment_variants', eid))}"
            " arms",
        },
        {
            "label": "Primary lift",
            "value": primary_value,
            "note": primary_note,
        },
        {
            "label": "Sample ratio",
            "value": "no test" if srm is None else "mismatch" if srm else "balanced",
            "note": srm_note,
        },
        {
            "label": "Running",
            "value": fmt.DASH if days is None else fmt.plural(days, "day"),
            "note": dates(experiment),
        },
    ]


def criteria(
    report: ReportBuilder, registered: list[dict[str, Any]]
) -> list[dict[str, str]]:
    rows = []
    for item in registered:
        metric = report.metrics.get(item.get("metric_id"), {})
        direction = metric.get("desired_direction")
        directions: dict[Any, str] = {"increase": "↑ higher", "decrease": "↓ lower"}
        better = directions.get(direction, "not registered")
        aggregation = metric.get("aggregation")
        kind = AGGREGATION_LABELS.get(aggregation, str(aggregation or "unknown"))
        if aggregation == "ratio":
            kind += (
                f" ({metric.get('numerator_metric_id')} / "
                f"{metric.get('denominator_metric_id')})"
            )
        tolerance = finite(item.get("guardrail_tolerance"))
        rows.append(
            {
                "role": item.get("role") or "unknown",
                "metric_id": str(item.get("metric_id")),
                "name": metric.get("metric_name") or str(item.get("metric_id")),
                "better": better,
                "kind": kind,
                "tolerance": fmt.DASH
                if tolerance is None
                else f"at most {fmt.setting(tolerance)} worse",
                "description": metric.get("description") or "",
            }
        )
    return rows


def design(
    report: ReportBuilder, experiment: Mapping[str, Any], variants: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    weights = [finite(v.get("allocation_weight")) for v in variants]
    total = sum(w for w in weights if w is not None)
    arms = []
    for variant, weight in zip(variants, weights, strict=True):
        notes = ["control arm"] if variant.get("is_control") else []
        if total and weight is not None:
            notes.append(fmt.format_percent(weight / total, signed=False, decimals=0))
        arms.append(f"{variant.get('variant')} ({', '.join(notes)})")
    lookback = finite(experiment.get("cuped_lookback_days"))
    mde = finite(experiment.get("mde_relative"))
    power = finite(experiment.get("power"))
    return [
        ("Variants (allocation)", ", ".join(arms) or "none registered"),
        ("Significance level (alpha)", fmt.number(experiment.get("alpha"), 2)),
        ("Power", fmt.setting(power)),
        (
            "Minimum detectable effect",
            fmt.DASH if mde is None else f"{fmt.setting(mde)} relative",
        ),
        (
            "Analysis window",
            f"{fmt.plural(experiment.get('analysis_window_days'), 'day')} after "
            "first exposure",
        ),
        (
            "CUPED pre-period",
            "none"
            if not lookback
            else f"{fmt.plural(lookback, 'day')} before first exposure",
        ),
        ("Dates", dates(experiment)),
        (
            "Domain · owner",
            f"{experiment.get('domain')} · {experiment.get('owner')}",
        ),
    ]


def decision_inputs(
    report: ReportBuilder, decision: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    if decision is None:
        return []

    def text(key: str, none: str = fmt.DASH) -> str:
        value = decision.get(key)
        if value is None:
            return none
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return [
        ("Status", text("status")),
        ("Sample ratio mismatch", text("srm_flag", "no test")),
        ("Data-quality checks passed", text("data_quality_passed", "not recorded")),
        ("Primary metric", text("primary_metric_id", "none")),
        ("Best treatment variant", text("primary_variant")),
        ("Primary relative lift", fmt.pct(decision.get("primary_rel_lift"))),
        (
            "Primary adjusted p",
            fmt.p_value(decision.get("primary_p_value_adjusted")),
        ),
        (
            "Primary adjusted interval",
            fmt.interval(
                decision.get("primary_rel_ci_low_adjusted"),
                decision.get("primary_rel_ci_high_adjusted"),
            )
            or fmt.DASH,
        ),
        ("Primary direction", text("primary_direction")),
        (
            "Share of planned sample",
            fmt.pct(decision.get("share_of_target"), False),
        ),
        ("Guardrail checks", text("guardrail_statuses", "none recorded")),
        ("Guardrails breached", text("guardrails_breached", "none")),
        ("Guardrails inconclusive", text("guardrails_inconclusive", "none")),
        ("Secondaries significantly worse", text("bad_secondaries", "none")),
        ("Segment winners", text("segment_winners", "none")),
    ]
