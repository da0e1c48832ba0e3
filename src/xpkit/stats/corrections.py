"""Multiple-testing corrections of p-values (Holm, Benjamini-Hochberg).

Missing p-values (None or NaN) stay None and do not count towards the family
size. The arithmetic follows ``statsmodels.stats.multitest.multipletests``
(methods ``holm`` and ``fdr_bh``) operation for operation, so results agree to
the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xpkit.stats.numbers import is_missing

__all__ = ["CORRECTIONS", "adjust_p_values", "benjamini_hochberg", "holm"]

CORRECTIONS = ("holm", "bh", "none")


def _present(p_values: Sequence[float | None]) -> tuple[list[int], np.ndarray]:
    """Positions and values of the non-missing p-values."""
    positions = [i for i, p in enumerate(p_values) if not is_missing(p)]
    values = np.array([float(p_values[i]) for i in positions], dtype=float)
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


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values.

    With the m present p-values sorted ascending, ``p_(i)`` gets
    ``min(1, max_{j <= i} (m - j + 1) p_(j))`` (i, j counted from 1).

    Args:
        p_values: Raw p-values; None or NaN entries are skipped.

    Returns:
        Adjusted p-values in the input order, None where the input was missing.
    """
    positions, values = _present(p_values)
    if values.size:
        order = np.argsort(values)
        ranked = np.take(values, order) * np.arange(values.size, 0, -1)
        ranked = np.maximum.accumulate(ranked)
        ranked[ranked > 1] = 1
        values = np.empty_like(ranked)
        values[order] = ranked
    return _scatter(len(p_values), positions, values)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate).

    With the m present p-values sorted ascending, ``p_(i)`` gets
    ``min(1, min_{j >= i} p_(j) / (j / m))``.

    Args:
        p_values: Raw p-values; None or NaN entries are skipped.

    Returns:
        Adjusted p-values in the input order, None where the input was missing.
    """
    positions, values = _present(p_values)
    if values.size:
        order = np.argsort(values)
        factor = np.arange(1, values.size + 1) / float(values.size)
        ranked = np.take(values, order) / factor
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        ranked[ranked > 1] = 1
        values = np.empty_like(ranked)
        values[order] = ranked
    return _scatter(len(p_values), positions, values)


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
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        positions, values = _present(p_values)
        return _scatter(len(p_values), positions, values)
    raise ValueError(f"unknown correction {method!r}; expected one of {CORRECTIONS}")
