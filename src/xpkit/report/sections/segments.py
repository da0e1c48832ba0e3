"""The segments section of an experiment page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from xpkit.narrative import report as fmt
from xpkit.report import charts
from xpkit.report.common import (
    adjusted_label,
    missing_notice,
)
from xpkit.settings import SRM_THRESHOLD
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["segment_section"]


def segment_section(
    report: ReportBuilder,
    experiment_id: Any,
    registered: list[dict[str, Any]],
    decision: Mapping[str, Any] | None,
    has_data: bool,
    no_data: dict[str, str],
) -> dict[str, Any]:
    if not report.data.has("segment_results"):
        return {
            "segments": [],
            "segment_notices": [
                missing_notice("segment_results", "the segment breakdown")
            ],
        }
    if not has_data:
        return {"segments": [], "segment_notices": [no_data]}
    rows = report.data.for_experiment("segment_results", experiment_id)
    out = []
    shown = [m for m in registered if m.get("role") in ("primary", "guardrail")]
    for item in shown:
        metric_id, role = item.get("metric_id"), item.get("role")
        metric_rows = [r for r in rows if r.get("metric_id") == metric_id]
        if not metric_rows:
            continue
        dimensions = {r.get("segment_dimension") for r in metric_rows}
        metric_rows.sort(
            key=lambda r: (
                str(r.get("segment_dimension")),
                str(r.get("segment_value")),
                str(r.get("variant")),
            )
        )

        def label(row: Mapping[str, Any], many: bool = len(dimensions) > 1) -> str:
            value = str(row.get("segment_value"))
            return f"{row.get('segment_dimension')}: {value}" if many else value

        cells = [
            charts.HeatmapCell(
                row=label(r),
                column=str(r.get("variant")),
                value=finite(r.get("rel_lift")),
                desired_direction=r.get("desired_direction"),
                is_significant=bool(r.get("is_significant")),
                is_suppressed=bool(r.get("is_suppressed")),
            )
            for r in metric_rows
        ]
        notes = []
        mismatched = sorted(
            {
                label(r)
                for r in metric_rows
                if (p := finite(r.get("segment_srm_p_value"))) is not None
                and p < SRM_THRESHOLD
            }
        )
        if mismatched:
            notes.append(
                "Sample ratio mismatch within segment(s): "
                + ", ".join(mismatched)
                + "; treat those cells with caution."
            )
        significant = [
            f"{label(r)}: {r.get('variant')} {fmt.pct(r.get('rel_lift'))} "
            f"({adjusted_label(r)})"
            for r in metric_rows
            if r.get("is_significant")
        ]
        breached = [
            f"{label(r)}: {r.get('variant')} {fmt.pct(r.get('rel_lift'))}"
            for r in metric_rows
            if role == "guardrail"
            and r.get("guardrail_status") == "breached"
            and not r.get("is_suppressed")
        ]
        if breached:
            notes.append(
                "Guardrail breached (significantly worse than its tolerance) "
                "in: " + "; ".join(breached) + "."
            )
        if significant:
            notes.append("Significant cells: " + "; ".join(significant) + ".")
        versus_rest = [
            f"{label(r)}: {r.get('variant')} "
            f"{fmt.p_value(r.get('lift_difference_p_value_adjusted'))}"
            + (" (differs)" if r.get("is_heterogeneous") else "")
            for r in metric_rows
            if r.get("lift_difference_p_value_adjusted") is not None
        ]
        if versus_rest:
            notes.append(
                "Segment vs rest (is the lift in the segment different from "
                "the lift in the other units? Benjamini-Hochberg-adjusted "
                "p): " + "; ".join(versus_rest) + "."
            )
        if role == "primary" and decision and decision.get("segment_winners"):
            notes.append(f"Winner per segment: {decision['segment_winners']}.")
        if role == "guardrail" and decision and decision.get("guardrails_breached"):
            notes.append(f"Guardrails breached: {decision['guardrails_breached']}.")
        name = report.metrics.get(metric_id, {}).get("metric_name") or str(metric_id)
        out.append(
            {
                "metric": f"{name} ({role})",
                "svg": Markup(
                    charts.segment_heatmap(cells, title=f"Relative lift: {name}")
                ),
                "notes": notes,
            }
        )
    if not out:
        return {
            "segments": [],
            "segment_notices": [
                {
                    "kind": "nodata",
                    "text": "No segment breakdown for the primary metric (no "
                    "dimension is declared in seeds/unit_attributes.csv).",
                }
            ],
        }
    return {"segments": out, "segment_notices": []}
