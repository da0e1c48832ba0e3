"""Every sentence and number format the marts and the report write.

Pure functions of figures: no pandas, no I/O, so that each phrase is tested on
its own. ``format_percent`` is the one percentage format: the marts' sentences
(``pct``, ``xpkit.narrative.decisions.percent``), the report's tables
(``xpkit.narrative.report.pct``) and its charts all call it, so a figure reads
the same in a sentence and in the table beside it.
"""

from __future__ import annotations

import math

__all__ = [
    "confidence_label",
    "decimals",
    "format_p",
    "format_percent",
    "format_pp",
    "pct",
]


def decimals(mean_control: float, mean_treatment: float) -> int:
    """Decimals showing the larger mean to 3 and the change to 2 significant digits."""

    def needed(value: float, digits: int) -> int:
        if value == 0:
            return 0
        return digits - 1 - math.floor(math.log10(abs(value)))

    largest = max(abs(mean_control), abs(mean_treatment))
    change = abs(mean_treatment - mean_control)
    return min(6, max(0, needed(largest, 3), needed(change, 2)))


def format_p(p: float) -> str:
    """A p-value with two significant digits (``< 0.0001`` below that, and
    ``> 0.99`` above 0.99, where two digits would print a bare 1)."""
    if p < 0.0001:
        return "p < 0.0001"
    if p > 0.99:
        return "p > 0.99"
    return f"p = {p:.2g}"


def format_percent(
    value: float,
    signed: bool = True,
    decimals: int | None = None,
    *,
    sign_zero: bool = False,
) -> str:
    """A proportion as a percentage (0.442 -> ``+44.2%``).

    Without ``decimals``, sensible precision: none from 100% up, one from 1%,
    two below. A figure that rounds to zero prints unsigned (``0%``, ``0.0%``)
    unless ``sign_zero``, which the marts' sentences use to say a relative
    change of exactly zero (``+0.0%``).
    """
    if decimals is None and value == 0 and not sign_zero:
        return "0%"
    if decimals is None:
        size = abs(value)
        decimals = 0 if size >= 0.9995 else 1 if size >= 0.00995 else 2
    if sign_zero:
        return f"{value * 100:{'+' if signed else ''}.{decimals}f}%"
    percent = round(value * 100, decimals)
    if percent == 0:
        return f"{0:.{decimals}f}%"
    return f"{percent:{'+' if signed else ''}.{decimals}f}%"


def pct(value: float) -> str:
    """A relative change as a signed percentage with one decimal."""
    return format_percent(value, decimals=1, sign_zero=True)


def format_pp(value: float, decimals: int) -> str:
    """A change of a rate in percentage points: 0.0645, 2 -> ``+6.45 pp``."""
    return f"{value * 100:+,.{decimals}f} pp"


def confidence_label(alpha: float) -> str:
    """The confidence level of ``alpha`` as a percentage: 0.05 -> ``95%``."""
    return f"{round((1 - alpha) * 100, 6):g}%"
