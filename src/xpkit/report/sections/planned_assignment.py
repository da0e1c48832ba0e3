"""The planned assignment section of an experiment page."""

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

__all__ = ["planned_assignment_section"]


def planned_assignment_section(
    report: ReportBuilder, experiment_id: Any, status: Any
) -> dict[str, Any]:
    """The hash assignment of a planned experiment and its balance test."""
    if status != "planned":
        return {
            "plan": None,
            "plan_notices": [
                {
                    "kind": "nodata",
                    "text": f"Not applicable: the experiment is {status}; its "
                    "arms come from the exposures (see the assignment balance "
                    "above). Hash assignments are made for planned experiments.",
                }
            ],
        }
    if not report.data.has("planned_assignment_balance"):
        return {
            "plan": None,
            "plan_notices": [
                missing_notice("planned_assignment_balance", "the planned assignment")
            ],
        }
    rows = sorted(
        report.data.for_experiment("planned_assignment_balance", experiment_id),
        key=lambda r: (not r.get("is_control"), str(r.get("variant"))),
    )
    total = sum(int(r.get("units") or 0) for r in rows)
    if not rows or not total:
        text = (
            "No arms are registered."
            if not rows
            else "No eligible units in raw.units to assign."
        )
        return {"plan": None, "plan_notices": [{"kind": "alert", "text": text}]}
    first = rows[0]
    flag = first.get("srm_flag")
    flag = None if flag is None else bool(flag)
    p = first.get("srm_p_value")
    if p is None:
        test = f"no balance test: {first.get('srm_error_message') or 'n/a'}"
    else:
        test = (
            f"chi-square = {fmt.number(first.get('srm_chi2'), 3)}, "
            f"{fmt.p_phrase(p)} against the allocation weights"
            + (
                ": a mismatch, check the weights and the hashing"
                if flag
                else " (no mismatch)"
            )
        )
    text = (
        f"{fmt.integer(total)} eligible units of raw.units are assigned "
        "deterministically: the md5 hash of the experiment id and the unit id "
        "picks a bucket in [0, 10000), and the arm owning that bucket range "
        "(proportional to its weight) is the unit's arm: the same unit always "
        f"gets the same arm. Balance: {test}. The unit list is "
        "marts.planned_assignments."
    )
    bars = [
        charts.BalanceBar(
            variant=str(r.get("variant")),
            expected_share=finite(r.get("expected_share")),
            observed_share=finite(r.get("observed_share")),
            units=r.get("units"),
        )
        for r in rows
    ]
    return {
        "plan": {
            "flag": flag,
            "text": text,
            "svg": Markup(charts.balance_bars(bars, mismatch=bool(flag))),
            "rows": [
                {
                    "variant": r.get("variant"),
                    "is_control": bool(r.get("is_control")),
                    "expected": fmt.pct(r.get("expected_share"), signed=False),
                    "observed": fmt.pct(r.get("observed_share"), signed=False),
                    "units": fmt.integer(r.get("units")),
                }
                for r in rows
            ],
        },
        "plan_notices": [],
    }
