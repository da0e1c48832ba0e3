"""The cumulative section of an experiment page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from xpkit.narrative import report as fmt
from xpkit.report import charts
from xpkit.report.common import (
    arm_units,
    missing_notice,
)
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["cumulative_section", "always_valid_chart"]


def cumulative_section(
    report: ReportBuilder,
    experiment: Mapping[str, Any],
    registered: list[dict[str, Any]],
    alpha: float,
    has_data: bool,
    no_data: dict[str, str],
) -> dict[str, Any]:
    if not report.data.has("daily_results"):
        return {
            "cumulative": [],
            "cumulative_notices": [
                missing_notice("daily_results", "the cumulative lift")
            ],
        }
    if not has_data:
        return {"cumulative": [], "cumulative_notices": [no_data]}
    eid = experiment.get("experiment_id")
    daily = report.data.for_experiment("daily_results", eid)
    primaries = [m for m in registered if m.get("role") == "primary"]
    if not primaries:
        return {
            "cumulative": [],
            "cumulative_notices": [
                {"kind": "alert", "text": "No primary metric is registered."}
            ],
        }
    charts_out = []
    for item in primaries:
        metric_id = item.get("metric_id")
        metric = report.metrics.get(metric_id, {})
        # The fixed-horizon comparison of the units first exposed by each
        # day, as marts.daily_results holds it (its last day is the final
        # result of experiment_results).
        points = by_variant([r for r in daily if r.get("metric_id") == metric_id])
        series = lift_series(points, "rel_ci_low", "rel_ci_high")
        name = metric.get("metric_name") or str(metric_id)
        last = [(v, pts[-1]) for v, pts in points.items() if pts]
        note = "; ".join(
            f"{variant}: {fmt.pct(point.get('rel_lift'))} after "
            f"{fmt.plural(arm_units(point), 'unit')}"
            for variant, point in last
        )
        charts_out.append(
            {
                "metric": f"{name} (primary)",
                "svg": Markup(
                    charts.cumulative_lift_chart(
                        series, title=f"Cumulative relative lift: {name}"
                    )
                ),
                "note": f"Final: {note}." if note else "",
                **always_valid_chart(report, eid, metric_id, name),
            }
        )
    return {"cumulative": charts_out, "cumulative_notices": []}


def always_valid_chart(
    report: ReportBuilder, eid: Any, metric_id: Any, name: str
) -> dict:
    """The always-valid (sequential) band of ``daily_results`` for one metric,
    with a note on the latest day; empty when the mart is absent."""
    if not report.data.has("daily_results"):
        return {}
    rows = [
        r
        for r in report.data.for_experiment("daily_results", eid)
        if r.get("metric_id") == metric_id
    ]
    if not rows:
        return {}
    variants = by_variant(rows)
    series = lift_series(
        variants, "always_valid_rel_ci_low", "always_valid_rel_ci_high"
    )
    sequential = any(r.get("is_sequential") for r in rows)
    latest = []
    for variant, points in variants.items():
        last = points[-1]
        low, high = (
            last.get("always_valid_rel_ci_low"),
            last.get("always_valid_rel_ci_high"),
        )
        band = (
            f"always-valid interval {fmt.interval(low, high)}, "
            if low is not None and high is not None
            else ""
        )
        latest.append(
            f"{variant}: {band}always-valid p "
            f"{fmt.p_value(last.get('always_valid_p_value'))} "
            f"(fixed-horizon p {fmt.p_value(last.get('p_value'))})"
        )
    mode = (
        "Sequential mode is on: this result may be called before the planned sample."
        if sequential
        else "Sequential mode is off (var sequential_experiments): only the "
        "final fixed-horizon result is decisive."
    )
    return {
        "sequential_svg": Markup(
            charts.cumulative_lift_chart(
                series, title=f"Always-valid relative lift: {name}"
            )
        ),
        "sequential_note": f"Latest day: {'; '.join(latest)}. {mode}",
    }


def by_variant(
    rows: Sequence[Mapping[str, Any]],
) -> dict[str, list[Mapping[str, Any]]]:
    """daily_results rows per treatment variant (sorted), each in day order."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: str(r.get("exposure_date"))):
        grouped.setdefault(str(r.get("variant")), []).append(r)
    return dict(sorted(grouped.items()))


def lift_series(
    variants: Mapping[str, list[Mapping[str, Any]]], low: str, high: str
) -> list[charts.LiftSeries]:
    """One chart series per variant: the relative lift and the interval held
    in the columns ``low`` and ``high``."""
    return [
        charts.LiftSeries(
            name=variant,
            points=[
                charts.LiftPoint(
                    day=str(r.get("exposure_date"))[:10],
                    estimate=finite(r.get("rel_lift")),
                    low=finite(r.get(low)),
                    high=finite(r.get(high)),
                )
                for r in points
            ],
        )
        for variant, points in variants.items()
    ]
