"""Reading values that may be missing or non-finite (None, NaN, pandas NA).

One definition for the whole package, without pandas, so that the statistics,
the mart builders and the report agree on what "missing" means.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["finite", "guardrail_tolerance", "is_missing"]


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas NA; False for any other value."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are not equal to themselves
    except TypeError:  # pandas NA: its truth value is ambiguous
        return True
    except ValueError:  # array-like: not a missing scalar
        return False


def finite(value: Any) -> float | None:
    """The value as a finite float; None when missing, boolean, not a number
    or not finite."""
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def guardrail_tolerance(value: Any) -> float | None:
    """A guardrail's tolerance: the registered value, 0 when empty, None if invalid."""
    if is_missing(value):
        return 0.0
    try:
        tolerance = float(value)
    except (TypeError, ValueError):
        return None
    return tolerance if math.isfinite(tolerance) and tolerance >= 0 else None
