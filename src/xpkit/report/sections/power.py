"""The power section of an experiment page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from xpkit.narrative import report as fmt
from xpkit.report import charts
from xpkit.report.common import (
    missing_notice,
)
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["power_section"]


def power_section(
    report: ReportBuilder,
    experiment_id: Any,
    has_data: bool,
    no_data: dict[str, str],
    status: Any = None,
) -> dict[str, Any]:
    """Progress towards the planned sample; a completed (or stopped) experiment
    shows no projection of days to go, a planned one its design figures under
    a note that progress starts with the first exposure."""
    if not report.data.has("experiment_power"):
        return {
            "power": [],
            "power_notices": [missing_notice("experiment_power", "power and progress")],
        }
    rows = report.data.for_experiment("experiment_power", experiment_id)
    notices = [] if has_data else [no_data]
    if not has_data and rows:
        # The design figures below are computed; only progress has no data.
        notices = [
            {
                "kind": "nodata",
                "text": "Planned experiment: the figures below are its design "
                "(the sample it needs); progress starts with the first exposed unit."
                if status == "planned"
                else "No units analysed yet: the figures below are the design; "
                "progress starts with the first exposed unit.",
            }
        ]
    ended = status in ("completed", "stopped")
    if not rows:
        notices.append(
            {
                "kind": "missing",
                "text": "No power calculation for this experiment in "
                "marts.experiment_power (no primary metric?).",
            }
        )
    out = []
    for r in rows:
        metric = report.metrics.get(r.get("metric_id"), {})
        aggregation = r.get("aggregation") or metric.get("aggregation")
        required = r.get("required_units_total")
        projected = finite(r.get("projected_days_to_target"))
        if ended and projected != 0:
            # No projection once it has ended; "target reached" stays a fact.
            projected = None
        caption = (
            f"{fmt.integer(r.get('current_units'))} of "
            f"{fmt.integer(required)} planned units"
            if required is not None
            else "planned sample size not computed"
        )
        if projected is not None:
            caption += (
                " · target reached"
                if projected == 0
                else f" · about {fmt.plural(projected, 'more day')} at the "
                "observed traffic"
            )
        baseline = fmt.metric_value(r.get("baseline_mean"), aggregation)
        source = r.get("baseline_source")
        facts = [
            ("Share of target reached", fmt.pct(r.get("share_of_target"), False)),
            (
                "Required units per arm",
                fmt.integer(r.get("required_units_per_arm")),
            ),
            ("Required units, all arms", fmt.integer(required)),
            ("Current units (all arms)", fmt.integer(r.get("current_units"))),
            ("Smallest arm", fmt.integer(r.get("min_arm_units"))),
            (
                "Baseline",
                f"{baseline} (sd {fmt.number(r.get('baseline_std'))})"
                + (f", from the {str(source).replace('_', ' ')}" if source else ""),
            ),
            (
                "Design",
                f"alpha {fmt.number(r.get('alpha'), 2)}, power "
                f"{fmt.setting(r.get('power'))}, MDE "
                f"{fmt.setting(r.get('mde_relative'))} relative, "
                f"{fmt.integer(r.get('n_arms'))} arms",
            ),
            ("Daily units", fmt.number(r.get("daily_units"))),
            ("Days observed", fmt.integer(r.get("days_observed"))),
        ]
        if not ended or projected == 0:
            facts.append(
                (
                    "Projected days to target",
                    fmt.DASH
                    if projected is None
                    else "reached"
                    if projected == 0
                    else fmt.number(projected, 0),
                )
            )
        if r.get("error_message"):
            facts.append(("Note", str(r["error_message"])))
        out.append(
            {
                "metric": metric.get("metric_name") or str(r.get("metric_id")),
                "svg": Markup(charts.progress_bar(r.get("share_of_target"), caption)),
                "facts": facts,
            }
        )
    return {"power": out, "power_notices": notices}
