"""The balance section of an experiment page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from xpkit.narrative import report as fmt
from xpkit.report import charts
from xpkit.report.common import (
    missing_notice,
)
from xpkit.settings import SRM_THRESHOLD
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["balance_section", "pre_period_text"]


def pre_period_text(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The pre-exposure bias line: which comparisons' arms differed before
    the experiment (experiment_results.pre_period_imbalance_flag), or that
    none did; None when no comparison has a pre-period test."""
    tested = [r for r in rows if r.get("pre_period_p_value") is not None]
    if not tested:
        return None
    flagged = [r for r in tested if r.get("pre_period_imbalance_flag")]
    family = f"Bonferroni over {fmt.plural(len(tested), 'comparison')}"
    if not flagged:
        return {
            "flag": False,
            "text": "No pre-period imbalance: the arms' pre-period means agree "
            f"({family}).",
        }
    named = "; ".join(
        f"{r.get('metric_name') or r.get('metric_id')} ({r.get('variant')}): "
        f"difference {fmt.number(r.get('pre_period_abs_diff'), 3, signed=True)}, "
        f"{fmt.p_phrase(r.get('pre_period_p_value'))}"
        for r in flagged
    )
    return {
        "flag": True,
        "text": f"Arms differed before the experiment: {named} ({family}). "
        "Check the assignment and the pre-period data before trusting these "
        "results; CUPED adjusts for a chance difference, not for a broken "
        "randomisation.",
    }


def balance_section(
    report: ReportBuilder, experiment_id: Any, has_data: bool, no_data: dict[str, str]
) -> dict[str, Any]:
    if not report.data.has("assignment_balance"):
        return {
            "balance": None,
            "balance_notices": [
                missing_notice("assignment_balance", "the assignment balance")
            ],
        }
    rows = sorted(
        report.data.for_experiment("assignment_balance", experiment_id),
        key=lambda r: (not r.get("is_control"), str(r.get("variant"))),
    )
    notices = [] if has_data else [no_data]
    if not rows:
        return {
            "balance": None,
            "balance_notices": notices
            or [{"kind": "alert", "text": "No arms are registered."}],
        }
    first = rows[0]
    flag = first.get("srm_flag")
    flag = None if flag is None else bool(flag)
    p = first.get("srm_p_value")
    if p is None:
        text = f"No SRM test: {first.get('srm_error_message') or 'not computed'}."
    else:
        df = first.get("srm_degrees_of_freedom")
        stats = (
            f"chi-square = {fmt.number(first.get('srm_chi2'), 3)}"
            + (
                f" with {fmt.integer(df)} degree{'s' if df != 1 else ''} of freedom"
                if df
                else ""
            )
            + f", {fmt.p_phrase(p)} (mismatch when p < {SRM_THRESHOLD:g})"
        )
        text = (
            "Sample ratio mismatch: the arms' sizes differ from the allocation "
            f"more than chance explains ({stats}). Investigate the assignment "
            "before trusting any result."
            if flag
            else f"No sample ratio mismatch: {stats}."
        )
    health = report.one("experiment_health", experiment_id)
    health_text = ""
    if health is not None:
        health_text = (
            f"{fmt.plural(health.get('units_exposed'), 'unit')} exposed, "
            f"{fmt.integer(health.get('units_analysed'))} analysed, "
            f"{fmt.integer(health.get('multi_variant_units'))} excluded for seeing "
            "more than one variant; "
            f"{fmt.integer(health.get('exposure_rows_quarantined'))} of "
            f"{fmt.integer(health.get('exposure_rows'))} exposure rows quarantined."
        )
    pre_period = pre_period_text(
        report.data.for_experiment("experiment_results", experiment_id)
        if report.data.has("experiment_results")
        else []
    )
    bars = [
        charts.BalanceBar(
            variant=str(r.get("variant")),
            expected_share=finite(r.get("expected_share")),
            observed_share=finite(r.get("observed_share")),
            units=None if r.get("units") is None else int(r["units"]),
        )
        for r in rows
    ]
    return {
        "balance_notices": notices,
        "balance": {
            "flag": flag,
            "text": text,
            "svg": Markup(charts.balance_bars(bars, mismatch=bool(flag))),
            "rows": [
                {
                    "variant": r.get("variant"),
                    "is_control": bool(r.get("is_control")),
                    "weight": fmt.number(r.get("allocation_weight")),
                    "expected": fmt.pct(r.get("expected_share"), False),
                    "observed": fmt.pct(r.get("observed_share"), False),
                    "units": fmt.integer(r.get("units")),
                }
                for r in rows
            ],
            "health": health_text,
            "pre_period": pre_period,
        },
    }
