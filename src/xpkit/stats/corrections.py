"""Multiple-testing corrections of p-values (Holm, Benjamini-Hochberg).

The arithmetic is statsmodels' ``multipletests`` (methods ``holm`` and
``fdr_bh``); this module adds what the marts need around it: missing p-values
(None or NaN) stay None and do not count towards the family size, p-values
outside [0, 1] are refused, and the results are plain Python floats.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests

from xpkit.stats.numbers import is_missing

__all__ = ["CORRECTIONS", "adjust_p_values", "benjamini_hochberg", "holm"]

CORRECTIONS = ("holm", "bh", "none")

# Our method names and statsmodels' for them.
_STATSMODELS_METHOD = {"holm": "holm", "bh": "fdr_bh"}


def _present(p_values: Sequence[float | None]) -> tuple[list[int], np.ndarray]:
    """Positions and values of the non-missing p-values."""
    positions = [i for i, p in enumerate(p_values) if not is_missing(p)]
    values = np.array([float(p_values[i] or 0.0) for i in positions], dtype=np.float64)
    if np.any((values < 0) | (values > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return positions, values


def _scatter(
    size: int, positions: list[int], adjusted: np.ndarray
) -> list[float | None]:
    """Place adjusted values back at their positions; None elsewhere."""
    out: list[float | None] = [None] * size
    for position, value in zip(positions, adjusted, strict=True):
        out[position] = float(value)
    return out


def _adjust(p_values: Sequence[float | None], method: str) -> list[float | None]:
    """Adjust the present p-values with ``multipletests``; None stays None."""
    positions, values = _present(p_values)
    if values.size:
        values = multipletests(values, method=_STATSMODELS_METHOD[method])[1]
    return _scatter(len(p_values), positions, values)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values.

    With the m present p-values sorted ascending, ``p_(i)`` gets
    ``min(1, max_{j <= i} (m - j + 1) p_(j))`` (i, j counted from 1).

    Args:
        p_values: Raw p-values; None or NaN entries are skipped.

    Returns:
        Adjusted p-values in the input order, None where the input was missing.
    """
    return _adjust(p_values, "holm")


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate).

    With the m present p-values sorted ascending, ``p_(i)`` gets
    ``min(1, min_{j >= i} p_(j) / (j / m))``.

    Args:
        p_values: Raw p-values; None or NaN entries are skipped.

    Returns:
        Adjusted p-values in the input order, None where the input was missing.
    """
    return _adjust(p_values, "bh")


def adjust_p_values(
    p_values: Sequence[float | None], method: str = "holm"
) -> list[float | None]:
    """Adjust one family of p-values.

    Args:
        p_values: Raw p-values; None or NaN entries are skipped.
        method: ``"holm"`` (default), ``"bh"`` (Benjamini-Hochberg) or ``"none"``.

    Returns:
        Adjusted p-values in the input order, None where the input was missing.

    Raises:
        ValueError: For an unknown method or a p-value outside [0, 1].
    """
    if method in _STATSMODELS_METHOD:
        return _adjust(p_values, method)
    if method == "none":
        positions, values = _present(p_values)
        return _scatter(len(p_values), positions, values)
    raise ValueError(f"unknown correction {method!r}; expected one of {CORRECTIONS}")
