"""The sentences of the result marts: the ``summary`` of an experiment_results
(and segment_results) row, its verdict and its guardrail clause."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xpkit.narrative.numbers import (
    confidence_label,
    decimals,
    format_p,
    format_percent,
    format_pp,
    pct,
)
from xpkit.settings import DEFAULT_ALPHA
from xpkit.stats.numbers import guardrail_tolerance

__all__ = [
    "CORRECTION_NAMES",
    "guardrail_clause",
    "one_sided_clause",
    "result_summary",
    "suppressed_message",
    "suppressed_summary",
    "verdict_sentence",
]

CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def guardrail_clause(row: Mapping[str, Any]) -> str:
    """The guardrail part of a summary: its status against the tolerance."""
    status = row.get("guardrail_status") or "inconclusive"
    tolerance = guardrail_tolerance(row.get("guardrail_tolerance"))
    bound, other = row.get("guardrail_bound"), row.get("_guardrail_other")
    alpha = row.get("alpha") or DEFAULT_ALPHA
    if tolerance is None:
        return f"guardrail {status}: its tolerance is not a number >= 0"
    sign = 1 if row.get("desired_direction") == "decrease" else -1
    limit = sign * tolerance + 0.0  # + 0.0: no "-0.0%"
    one_sided = f"one-sided {confidence_label(alpha)} bound"
    against = f"the {pct(limit)} tolerance"
    if status == "passed" and bound is not None:
        return (
            f"guardrail passed: at worst {pct(bound)} ({one_sided}), within {against}"
        )
    if status == "breached" and other is not None:
        return (
            f"guardrail breached: at best {pct(other)} ({one_sided}), "
            f"worse than {against}"
        )
    if bound is not None:
        return (
            f"guardrail inconclusive: it could be as bad as {pct(bound)} "
            f"({one_sided}), past {against}"
        )
    return f"guardrail inconclusive: no relative bound to compare with {against}"


def one_sided_clause(row: Mapping[str, Any]) -> str:
    """The verdict of a one-sided test (test_type superiority or non_inferiority)."""
    test_type = row.get("test_type")
    p_value = row.get("one_sided_p_value_adjusted")
    if p_value is None:
        p_value = row.get("one_sided_p_value")
    if p_value is None:
        reason = row.get("one_sided_error_message") or "not computed"
        return f"no one-sided {test_type} test: {reason}"
    better = "higher" if row.get("desired_direction") != "decrease" else "lower"
    if test_type == "superiority":
        claim = f"{better} than control"
    else:
        margin = row.get("non_inferiority_margin")
        label = f"{margin * 100:g}%" if margin is not None else "the margin"
        claim = f"not worse than control by {label} or more"
    shown = "shown" if row.get("is_significant") else "not shown"
    name = str(test_type).replace("_", "-")
    return f"one-sided {name} test: {claim} {shown} ({format_p(p_value)})"


def result_summary(row: Mapping[str, Any], correction: str) -> str:
    """One plain-English sentence describing a result row.

    The interval quoted is the one matching the verdict stated: the adjusted
    interval after a correction, the unadjusted one without. Guardrail rows end
    with their status against the tolerance.
    """
    sentence = verdict_sentence(row, correction)
    if row.get("test_type") in ("superiority", "non_inferiority"):
        sentence += f"; {one_sided_clause(row)}"
    if row.get("role") == "guardrail":
        sentence += f"; {guardrail_clause(row)}"
    return sentence + "."


def verdict_sentence(row: Mapping[str, Any], correction: str) -> str:
    """The summary without its final full stop and guardrail clause."""
    name = str(row.get("metric_name") or row["metric_id"])
    name = name[:1].upper() + name[1:]
    variant, control = row.get("variant"), row.get("control_variant")
    mean_c, mean_t = row.get("mean_control"), row.get("mean_treatment")
    abs_lift = row.get("abs_lift")
    error = row.get("error_message")
    if mean_c is None or mean_t is None or abs_lift is None:
        arms = f" ({variant} vs {control})" if variant and control else ""
        return f"No result for {name}{arms}: {error or 'not computed'}"

    # Binary metrics print as percentages (lifts in percentage points, pp).
    scale, unit = (100, "%") if row.get("aggregation") == "binary" else (1, "")
    places = decimals(mean_c * scale, mean_t * scale)
    if unit:
        places = max(1, places)

    def level(value: float, signed: bool = False) -> str:
        if unit:
            return format_percent(value, signed, places, sign_zero=True)
        return f"{value * scale:{'+' if signed else ''},.{places}f}{unit}"

    def lift(value: float) -> str:
        return format_pp(value, places) if unit else level(value, True)

    if mean_t == mean_c:
        sentence = f"{name} was {level(mean_t)} in both {control} and {variant}"
    else:
        verb = "rose" if mean_t > mean_c else "fell"
        sentence = (
            f"{name} {verb} from {level(mean_c)} in {control} "
            f"to {level(mean_t)} in {variant}"
        )

    alpha = row.get("alpha") or DEFAULT_ALPHA
    ci = f"{confidence_label(alpha)} CI"
    suffix = ""
    if correction != "none":
        ci = f"{CORRECTION_NAMES[correction]}-adjusted {ci}"
        suffix = "_adjusted"
    rel = row.get("rel_lift")
    rel_low, rel_high = row.get(f"rel_ci_low{suffix}"), row.get(f"rel_ci_high{suffix}")
    abs_low, abs_high = row.get(f"abs_ci_low{suffix}"), row.get(f"abs_ci_high{suffix}")
    if rel is not None and rel_low is not None and rel_high is not None:
        sentence += f" ({pct(rel)} relative, {ci} {pct(rel_low)} to {pct(rel_high)})"
    elif rel is not None:
        sentence += f" ({pct(rel)} relative)"
    elif abs_low is not None and abs_high is not None:
        sentence += (
            f" ({lift(abs_lift)} absolute, {ci} {lift(abs_low)} to {lift(abs_high)};"
            " relative lift undefined as the control mean is 0)"
        )

    p_adjusted = row.get("p_value_adjusted")
    if p_adjusted is None:
        return f"{sentence}; no test: {error or 'not computed'}"
    one_sided = row.get("test_type") in ("superiority", "non_inferiority")
    # A one-sided row's is_significant follows its one-sided test (own clause).
    significant = p_adjusted < alpha if one_sided else bool(row.get("is_significant"))
    verdict = "significant" if significant else "not significant"
    if one_sided:
        sentence = f"{sentence}; two-sided"
    if correction == "none":
        return f"{sentence}; {verdict} at alpha = {alpha:g} ({format_p(p_adjusted)})"
    method = CORRECTION_NAMES[correction]
    return (
        f"{sentence}; {verdict} after {method} correction "
        f"(adjusted {format_p(p_adjusted)})"
    )


def suppressed_message(min_units: int) -> str:
    """The ``error_message`` of a suppressed segment cell."""
    return (
        f"suppressed: fewer than {min_units} units in an arm of this "
        "segment (var min_segment_units)"
    )


def suppressed_summary(message: str, guardrail: bool = False) -> str:
    """The ``summary`` of a suppressed cell (a guardrail is inconclusive)."""
    if guardrail:
        return f"No result shown: {message}; guardrail inconclusive."
    return f"No result shown: {message}."
