"""The results-history section of an experiment page: how each primary
estimate moved across builds (marts.experiment_results_history), with the
decision of each build (marts.experiment_decisions_history)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from xpkit.narrative import report as fmt
from xpkit.report.common import missing_notice

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["history_section"]


def history_section(report: ReportBuilder, experiment_id: Any) -> dict[str, Any]:
    """One table per primary metric and variant: a row per build that changed
    the inputs, oldest first, with the lift, its adjusted interval, the
    adjusted p-value, the units and that build's decision."""
    if not report.data.has("experiment_results_history"):
        return {
            "history": [],
            "history_notices": [
                missing_notice("experiment_results_history", "the results history")
            ],
        }
    decisions = {
        r.get("build_id"): r.get("decision")
        for r in report.data.for_experiment(
            "experiment_decisions_history", experiment_id
        )
    }
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in report.data.for_experiment("experiment_results_history", experiment_id):
        if row.get("role") == "primary":
            key = (str(row.get("metric_id")), str(row.get("variant")))
            series[key].append(row)
    tables = []
    for (metric, variant), rows in sorted(series.items()):
        rows.sort(key=lambda r: (str(r.get("built_at")), str(r.get("build_id"))))
        tables.append(
            {
                "metric": metric,
                "variant": variant,
                "rows": [
                    {
                        "build_id": r.get("build_id"),
                        "built_at": fmt.timestamp(r.get("built_at")),
                        "as_of": fmt.timestamp(r.get("as_of")),
                        "units": fmt.integer(
                            None
                            if r.get("n_control") is None
                            or r.get("n_treatment") is None
                            else r["n_control"] + r["n_treatment"]
                        ),
                        "lift": fmt.pct(r.get("rel_lift")),
                        "interval": fmt.interval(
                            r.get("rel_ci_low_adjusted"), r.get("rel_ci_high_adjusted")
                        ),
                        "p": fmt.p_value(r.get("p_value_adjusted")),
                        "decision": fmt.decision_label(decisions.get(r.get("build_id")))
                        if decisions.get(r.get("build_id"))
                        else fmt.DASH,
                        "digest": str(r.get("inputs_digest") or "")[:12],
                    }
                    for r in rows
                ],
            }
        )
    notices = []
    if not tables:
        notices.append(
            {
                "kind": "nodata",
                "text": "No primary result recorded in the results history yet.",
            }
        )
    return {"history": tables, "history_notices": notices}
