"""The results section of an experiment page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from xpkit.report import charts
from xpkit.report.common import (
    adjusted_interval,
    metric_decimals,
    missing_notice,
    result_row,
)
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["results_section"]


def results_section(
    report: ReportBuilder,
    results: list[dict[str, Any]],
    has_data: bool,
    no_data: dict[str, str],
) -> dict[str, Any]:
    if not report.data.has("experiment_results"):
        notice = missing_notice("experiment_results", "the metric results")
        return {
            "results": [],
            "results_adjusted": False,
            "results_notices": [notice],
            "forest_notices": [notice],
            "forest_svg": "",
        }
    if not has_data:
        return {
            "results": [],
            "results_adjusted": False,
            "results_notices": [no_data],
            "forest_notices": [no_data],
            "forest_svg": "",
        }
    rows, forest = [], []
    places = metric_decimals(results)
    for r in results:
        rows.append(result_row(r, places[r.get("metric_id")]))
        role = r.get("role")
        suffix = f" ({role})" if role and role != "primary" else ""
        # The verdict colours the bar, so the bar is the verdict's
        # (multiplicity-adjusted) interval.
        low, high, _ = adjusted_interval(r)
        forest.append(
            charts.ForestRow(
                label=f"{r.get('metric_name') or r.get('metric_id')}{suffix}",
                sublabel=f"{r.get('variant')} vs {r.get('control_variant')}",
                estimate=finite(r.get("rel_lift")),
                low=finite(low),
                high=finite(high),
                direction=r.get("direction"),
                note=r.get("error_message"),
            )
        )
    notices = []
    if not rows:
        notices = [
            {
                "kind": "alert",
                "text": "No results: no metrics are registered for this experiment.",
            }
        ]
    return {
        "results": rows,
        "results_adjusted": any(
            "rel_ci_low_adjusted" in r or "abs_ci_low_adjusted" in r for r in results
        ),
        "results_notices": notices,
        "forest_notices": notices,
        "forest_svg": Markup(charts.forest_plot(forest)) if forest else "",
    }
