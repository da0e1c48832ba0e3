"""Every sentence and number format the marts and the report write.

Pure functions of figures: no pandas, no I/O, so that each phrase is tested on
its own.
"""

from __future__ import annotations

import math

__all__ = ["decimals", "format_p", "pct"]


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


def pct(value: float) -> str:
    """A relative change as a signed percentage with one decimal."""
    return f"{value * 100:+.1f}%"
