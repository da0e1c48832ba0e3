"""The methodology section of an experiment page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from xpkit.narrative import report as fmt
from xpkit.report.common import (
    CORRECTION_NAMES,
    ROLE_RANK,
    first,
)
from xpkit.settings import SRM_THRESHOLD
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["methodology"]


def methodology(
    report: ReportBuilder, experiment: Mapping[str, Any], results: list[dict[str, Any]]
) -> list[str]:
    alpha = finite(experiment.get("alpha")) or 0.05
    methods = sorted({r["method"] for r in results if r.get("method")})
    correction = first(r.get("correction_method") for r in results) or "holm"
    families = sorted(
        {str(r["correction_family"]) for r in results if r.get("correction_family")},
        key=lambda f: (ROLE_RANK.get(f, 3), f),
    )
    lookback = finite(experiment.get("cuped_lookback_days"))
    lines = [
        "Units: each unit is analysed in the arm it was first exposed to; units "
        "exposed to more than one variant are excluded. A unit's metrics count "
        "its events during the "
        f"{fmt.plural(experiment.get('analysis_window_days'), 'day')} after its "
        "first exposure; units without events count as 0.",
        "Tests: "
        + (
            "; ".join(fmt.METHOD_LABELS.get(m, m) for m in methods)
            if methods
            else "none computed yet"
        )
        + f". Two-sided at alpha = {alpha:g}; every interval inverts the "
        "statistic of its p-value, so it excludes 0 exactly when the test "
        "rejects. Relative lifts use Fieller's interval (the score interval "
        "of the risk ratio for rates).",
        f"Multiple testing: {CORRECTION_NAMES.get(correction, correction)} "
        + (
            "correction within the experiment, separately in each family of "
            "metrics x variants: " + ", ".join(families) + ". "
            if families
            else "correction within the experiment, over primary and "
            "secondary metrics x variants, and separately over guardrails. "
        )
        + "Significance and the good/bad/flat direction use the adjusted "
        "p-value"
        + (
            ", and the adjusted intervals beside it exclude 0 exactly when it "
            "is below alpha."
            if any("rel_ci_low_adjusted" in r for r in results)
            else "."
        ),
        "Guardrails: a guardrail passes only when the one-sided interval of "
        "its relative change shows the harm is smaller than its tolerance; "
        "breached when it is significantly worse than the tolerance; "
        "inconclusive otherwise. Only when every guardrail passed may the "
        "decision be to scale.",
        "CUPED: "
        + (
            f"the same metric over the {fmt.plural(lookback, 'day')} before first "
            "exposure adjusts each lift (regression adjustment); reported beside "
            "the unadjusted figures, which the decision uses."
            if lookback
            else "not used (no pre-period registered)."
        ),
        "Sample ratio mismatch: chi-square test of analysed units per arm against "
        f"the allocation weights, flagged when p < {SRM_THRESHOLD:g}.",
        "Decisions follow pre-registered rules (project variables), recorded "
        "with the figures they used in marts.experiment_decisions.",
    ]
    if report.data.for_experiment(
        "compliance_results", experiment.get("experiment_id")
    ):
        lines.append(
            "Non-compliance: exposures record whether each unit actually "
            "received the treatment. The results above are intention-to-treat "
            "(by assigned arm); the Non-compliance section adds the complier "
            "effect (intention-to-treat divided by the uptake difference, 2SLS "
            "with a robust standard error) beside the naive comparisons."
        )
    return lines
