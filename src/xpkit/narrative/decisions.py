"""The phrases of the decisions' rationales: percentages and counts, the
interval and lift of a result row, the share of the planned sample, guardrail
breaches, significantly worse metrics, segment labels and the harm sentences.

Guardrail checks and harms are the ``GuardrailCheck`` and ``Harm`` records of
``xpkit.marts.experiment_decisions``; only their fields are read here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xpkit.narrative.numbers import confidence_label, format_p, format_percent
from xpkit.settings import DEFAULT_ALPHA
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.marts.experiment_decisions import GuardrailCheck, Harm

__all__ = [
    "HARM_TITLES",
    "adjusted_interval",
    "breach_text",
    "count",
    "harm_list",
    "harm_sentences",
    "in_sentence",
    "interval_text",
    "lift_phrase",
    "percent",
    "segment_label",
    "share_phrase",
    "worse_text",
]


def percent(value: float | None, decimals: int | None = 1, signed: bool = True) -> str:
    """A fraction as a percentage, e.g. ``+44.2%``; ``n/a`` when missing.

    ``decimals=None`` gives the report tables' precision (``format_percent``),
    for a figure the page also shows in a table.
    """
    if value is None:
        return "n/a"
    return format_percent(value, signed=signed, decimals=decimals, sign_zero=True)


def count(value: float | None) -> str:
    """A number with thousands separators (no decimals)."""
    return "n/a" if value is None else f"{value:,.0f}"


def in_sentence(name: str) -> str:
    """A display name for mid-sentence use: ``Reply rate`` -> ``reply rate``
    (names starting with an acronym, like ``CSAT``, are kept)."""
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        return name[0].lower() + name[1:]
    return name


def adjusted_interval(
    row: dict[str, Any],
) -> tuple[float | None, float | None, str]:
    """The relative interval that goes with the row's adjusted verdict.

    The multiplicity-adjusted interval (``rel_ci_*_adjusted``, which excludes
    0 exactly when the adjusted p-value is below alpha); for a sequential
    call, the confidence sequence. Results without the adjusted columns (an
    older warehouse) give the unadjusted interval, labelled as such.
    """
    if row.get("interval_kind") == "always-valid":
        return row.get("rel_ci_low"), row.get("rel_ci_high"), "always-valid"
    if "rel_ci_low_adjusted" in row or "rel_ci_high_adjusted" in row:
        low, high = row.get("rel_ci_low_adjusted"), row.get("rel_ci_high_adjusted")
        return finite(low), finite(high), "adjusted"
    return finite(row.get("rel_ci_low")), finite(row.get("rel_ci_high")), "unadjusted"


def interval_text(row: dict[str, Any]) -> str:
    """``adjusted 95% CI +10.0% to +30.0%``, or "" without an interval."""
    low, high, kind = adjusted_interval(row)
    if low is None or high is None:
        return ""
    alpha = row.get("alpha") or DEFAULT_ALPHA
    return f"{kind} {confidence_label(alpha)} CI {percent(low)} to {percent(high)}"


def lift_phrase(row: dict[str, Any]) -> str:
    """``<Metric> rose 44.2% with <variant> (adjusted 95% CI ...; adjusted p)``."""
    name = str(row.get("metric_name") or row.get("metric_id"))
    name = name[:1].upper() + name[1:]
    rel = row.get("rel_lift")
    lift = row.get("abs_lift")
    verb = "changed"
    if lift is not None:
        verb = "rose" if lift > 0 else "fell" if lift < 0 else "did not change"
    figures = []
    interval = interval_text(row)
    if interval:
        figures.append(interval)
    p = row.get("p_value_adjusted")
    if p is not None:
        figures.append(f"adjusted {format_p(p)}")
    detail = f" ({'; '.join(figures)})" if figures else ""
    change = f" {percent(abs(rel), signed=False)}" if rel else ""
    return f"{name} {verb}{change} with {row.get('variant')}{detail}"


def share_phrase(power: dict[str, Any]) -> str:
    """``100% of the planned sample (1,020 of 1,020 units)`` or why unknown."""
    share = power.get("share_of_target")
    if share is None:
        reason = power.get("error_message") or "no sample-size target"
        return f"share of the planned sample unknown ({reason})"
    return (
        f"{percent(share, 0, signed=False)} of the planned sample "
        f"({count(power.get('current_units'))} of "
        f"{count(power.get('required_units_total'))} units)"
    )


def breach_text(check: GuardrailCheck) -> str:
    """A ``guardrails_breached`` entry: ``csat (overall): -20.0% (tolerance 2.0%)``."""
    tolerance = f"tolerance {percent(check.tolerance, signed=False)}"
    if check.rel_lift is None:
        return (
            f"{check.metric_id} ({check.where}): significantly worse, relative "
            f"change undefined ({tolerance})"
        )
    return f"{check.metric_id} ({check.where}): {percent(check.rel_lift)} ({tolerance})"


def worse_text(row: dict[str, Any]) -> str:
    """A significantly bad metric: ``meetings: -20.0% (adjusted 95% CI ...; p)``."""
    figures = [
        text
        for text in (
            interval_text(row),
            f"adjusted {format_p(row['p_value_adjusted'])}"
            if row.get("p_value_adjusted") is not None
            else "",
        )
        if text
    ]
    detail = f" ({'; '.join(figures)})" if figures else ""
    return f"{row['metric_id']}: {percent(row.get('rel_lift'))}{detail}"


def segment_label(row: dict[str, Any], dimensions: int) -> str:
    """The segment's value, prefixed by its dimension when there are several."""
    value = row.get("segment_value")
    return f"{row.get('segment_dimension')}={value}" if dimensions > 1 else str(value)


HARM_TITLES = {
    "worse": ("Significantly worse", "Significantly worse"),
    "breached": ("Guardrail breached", "Guardrails breached"),
    "inconclusive": (
        "Guardrail inconclusive (harm beyond its tolerance not ruled out)",
        "Guardrails inconclusive (harm beyond their tolerance not ruled out)",
    ),
}


def harm_list(harms: tuple[Harm, ...], covered: frozenset = frozenset()) -> list[str]:
    """``Significantly worse: ...``, ``Guardrails breached: ...``, ... sentences."""
    parts = []
    for kind, (one, many) in HARM_TITLES.items():
        items = [h.text for h in harms if h.kind == kind and h.key not in covered]
        if items:
            parts.append(f"{one if len(items) == 1 else many}: {'; '.join(items)}.")
    return parts


def harm_sentences(harms: tuple[Harm, ...], covered: frozenset = frozenset()) -> str:
    """The sentences of ``harm_list`` joined (or "")."""
    return " ".join(harm_list(harms, covered))
