"""The compliance section of an experiment page."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from xpkit.narrative import report as fmt
from xpkit.report.common import (
    missing_notice,
)
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["compliance_section"]


def compliance_section(
    report: ReportBuilder, experiment_id: Any, has_data: bool, no_data: dict[str, str]
) -> dict[str, Any]:
    """ITT, CACE and the naive estimates side by side (compliance_results)."""
    if not report.data.has("compliance_results"):
        return {
            "compliance": [],
            "compliance_notices": [
                missing_notice("compliance_results", "the non-compliance analysis")
            ],
        }
    if not has_data:
        return {"compliance": [], "compliance_notices": [no_data]}
    rows = sorted(
        report.data.for_experiment("compliance_results", experiment_id),
        key=lambda r: (str(r.get("metric_id")), str(r.get("variant"))),
    )
    if not rows:
        return {
            "compliance": [],
            "compliance_notices": [
                {
                    "kind": "nodata",
                    "text": "Not applicable: the exposures of this experiment "
                    "do not say whether units actually received the treatment "
                    "(no received_treatment values), so every analysis here is "
                    "intention-to-treat.",
                }
            ],
        }

    def figure(r: Mapping[str, Any], key: str, places: int) -> dict[str, str]:
        aggregation = r.get("aggregation")
        se = finite(r.get(f"{key}_se"))
        low, high = r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
        return {
            "estimate": fmt.metric_change(r.get(key), aggregation, places),
            "se": fmt.DASH
            if se is None
            else fmt.metric_change(se, aggregation, places).lstrip("+"),
            "ci": fmt.interval(low, high, "metric", aggregation, places),
            "p": fmt.p_value(r.get(f"{key}_p_value")),
        }

    out = []
    for r in rows:
        name = report.metrics.get(r.get("metric_id"), {}).get("metric_name")
        heading = (
            f"{name or r.get('metric_id')}: {r.get('variant')} vs "
            f"{r.get('control_variant')}"
        )
        if r.get("error_message") and finite(r.get("itt")) is None:
            out.append({"metric": heading, "error": r["error_message"]})
            continue
        # Two significant digits of the smallest standard error.
        scale = 100.0 if r.get("aggregation") == "binary" else 1.0
        errors = [
            se * scale
            for key in ("itt_se", "cace_se")
            if (se := finite(r.get(key))) is not None and se > 0
        ]
        places = (
            min(6, max(0, 1 - math.floor(math.log10(min(errors))))) if errors else 2
        )
        labels = [
            ("itt", "Intention-to-treat (ITT): by assigned arm"),
            ("cace", "Complier effect (CACE = ITT / first stage, 2SLS)"),
            (
                "per_protocol",
                "Per-protocol (naive: treated in the treatment arm vs "
                "untreated in the control arm)",
            ),
            ("as_treated", "As-treated (naive: received vs not, either arm)"),
        ]
        if finite(r.get("ipw_itt")) is not None:
            labels += [
                ("ipw_itt", "ITT weighted by 1 / P(eligible | stratum)"),
                ("ipw_cace", "CACE weighted by 1 / P(eligible | stratum)"),
            ]
        estimates = [(label, figure(r, key, places)) for key, label in labels]
        weak = r.get("is_weak_instrument")
        threshold = finite(r.get("weak_instrument_f_threshold"))
        facts = [
            (
                "Uptake (received the treatment)",
                f"{fmt.pct(r.get('uptake_treatment'), False)} of "
                f"{r.get('variant')}, {fmt.pct(r.get('uptake_control'), False)} "
                f"of {r.get('control_variant')}",
            ),
            (
                "First stage (uptake difference)",
                fmt.metric_change(r.get("first_stage"), "binary"),
            ),
            (
                "First-stage F (robust; classical)",
                f"{fmt.number(r.get('first_stage_f'), 1)}; "
                f"{fmt.number(r.get('first_stage_f_classical'), 1)}",
            ),
            (
                "Instrument strength",
                fmt.DASH
                if weak is None
                else ("weak" if weak else "strong")
                + (f" (threshold F = {threshold:g})" if threshold else ""),
            ),
            (
                "Units (treatment arm, control arm, uptake unknown)",
                f"{fmt.integer(r.get('n_treatment'))}, "
                f"{fmt.integer(r.get('n_control'))}, "
                f"{fmt.integer(r.get('n_received_unknown'))}",
            ),
        ]
        weighted = None
        if finite(r.get("ipw_itt")) is not None:
            weighted = (
                "Weighted rows: each eligible unit counts 1 / P(eligible | "
                "stratum of its attributes), so the experiment stands for all "
                f"{fmt.integer(r.get('ipw_population_units'))} units with a known "
                "eligibility ("
                f"{fmt.integer(r.get('ipw_eligible_population_units'))} "
                "eligible), assuming the effect differs between eligible and "
                "ineligible units only through those attributes."
            )
        notes = [
            text
            for text in (
                r.get("warning_message"),
                r.get("error_message"),
                weighted,
                None
                if r.get("ipw_error_message") is None
                else f"Eligibility weighting: {r['ipw_error_message']}.",
            )
            if text
        ]
        out.append(
            {
                "metric": heading,
                "error": None,
                "weak": bool(weak),
                "estimates": estimates,
                "facts": facts,
                "notes": notes,
            }
        )
    return {"compliance": out, "compliance_notices": []}
