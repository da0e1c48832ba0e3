"""Sample ratio mismatch: chi-square goodness of fit to the allocation weights."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from xpkit.settings import SRM_THRESHOLD

__all__ = ["SRM_THRESHOLD", "SrmResult", "srm_test"]


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Outcome of a sample-ratio-mismatch test.

    Attributes:
        chi2: Pearson statistic ``sum((o - e)**2 / e)``.
        p_value: Upper tail of chi-square with ``df`` degrees of freedom.
        df: Number of arms minus 1.
        is_mismatch: ``p_value < threshold``; None when the test could not run.
        error_message: Why the figures are None; None when computed.
    """

    chi2: float | None = None
    p_value: float | None = None
    df: int | None = None
    is_mismatch: bool | None = None
    error_message: str | None = None


def _is_number(value: object) -> bool:
    """True for a finite real number, numpy scalars included (bools excluded)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
    )


def srm_test(
    observed_counts: Sequence[Any],
    weights: Sequence[Any],
    threshold: float = SRM_THRESHOLD,
) -> SrmResult:
    """Chi-square goodness-of-fit test of arm sizes against allocation weights.

    Weights are normalised to sum to 1; the expected count of arm i is
    ``N w_i / sum(w)`` with ``N = sum(observed_counts)``.

    Args:
        observed_counts: Units per arm.
        weights: Allocation weight per arm, in the same order (any positive scale).
        threshold: Flag a mismatch when ``p_value < threshold`` (default 0.001).

    Returns:
        The test; figures None with an error message when there are fewer than 2
        arms, no units, a weight <= 0 or missing, or malformed counts.
    """
    counts = list(observed_counts)
    weights = list(weights)
    if len(counts) != len(weights):
        return SrmResult(error_message="counts and weights differ in length")
    if len(counts) < 2:
        return SrmResult(error_message="fewer than 2 arms: no SRM test")
    if not all(_is_number(c) and c >= 0 and float(c).is_integer() for c in counts):
        return SrmResult(error_message="unit counts must be non-negative integers")
    if not all(_is_number(w) and w > 0 for w in weights):
        return SrmResult(error_message="allocation weights must be positive numbers")
    total = float(sum(counts))
    if total == 0:
        return SrmResult(error_message="no units assigned: no SRM test")
    weight_total = float(sum(weights))
    expected = [total * w / weight_total for w in weights]
    chi2 = sum((o - e) * (o - e) / e for o, e in zip(counts, expected, strict=True))
    df = len(counts) - 1
    p_value = float(stats.chi2.sf(chi2, df))
    return SrmResult(
        chi2=float(chi2), p_value=p_value, df=df, is_mismatch=p_value < threshold
    )
