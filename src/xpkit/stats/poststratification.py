"""Post-stratification from per-stratum, per-arm sums (issue 17 item 3).

The difference in means within each stratum of a declared categorical unit
attribute, weighted by the stratum's share of all units (Miratrix, Sekhon and
Yu 2013). Input per stratum and arm: ``n``, ``sum y``, ``sum y^2``.

With ``w_s = N_s / N`` (``N_s = n_c,s + n_t,s``), ``tau_s = ybar_t,s - ybar_c,s``:

- ``lift = sum_s w_s tau_s``: the coefficient of ``T`` in the OLS fit
  ``y ~ T * C(stratum)`` with the stratum dummies centred at their means,
- ``V_cond = sum_s w_s^2 (s2_t,s / n_t,s + s2_c,s / n_c,s)`` (each cell's own
  variance, ddof 1): exactly the HC2 variance of that coefficient (the design
  is saturated, so every leverage is ``1 / n_cell``),
- ``V_w = sum_s w_s (tau_s - lift)^2 / N``: the variance carried by the
  estimated weights when the effect differs between strata (the sandwich
  treats them as fixed),
- ``se^2 = V_cond + V_w``; Student's t at the Welch-Satterthwaite df of the
  cell terms gives the p-value and the interval.

Pooling rule (small strata): a stratum with fewer than ``min_units`` units in
either arm is merged, with every other such stratum, into one pooled stratum;
if the pooled stratum still has fewer than ``min_units`` in an arm it is merged
into the largest stratum. ``pooled`` lists the merged strata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from xpkit.stats.numbers import finite

__all__ = [
    "DEFAULT_MIN_UNITS",
    "METHOD_POSTSTRATIFIED",
    "PostStratifiedResult",
    "StratumArm",
    "poststratified_test",
]

METHOD_POSTSTRATIFIED = "poststratified_welch_t"
DEFAULT_MIN_UNITS = 10
POOLED = "(pooled)"


@dataclass(frozen=True, slots=True)
class StratumArm:
    """One stratum x arm: units, sum and sum of squares of the metric."""

    n: int
    sum: float
    sum_squares: float

    def __add__(self, other: StratumArm) -> StratumArm:
        return StratumArm(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )


@dataclass(frozen=True, slots=True)
class PostStratifiedResult:
    """Post-stratified comparison (treatment minus control).

    Attributes:
        method: ``poststratified_welch_t``.
        abs_lift: The weighted within-stratum difference in means.
        ci_low: Lower end of the ``1 - alpha`` interval.
        ci_high: Upper end.
        std_error: ``sqrt(V_cond + V_w)``.
        degrees_of_freedom: Welch-Satterthwaite df of the cell terms.
        p_value: Two-sided p-value.
        strata: The strata used (after pooling), in order.
        pooled: The strata merged by the pooling rule.
        error_message: Why figures are None; None when computed.
    """

    method: str = METHOD_POSTSTRATIFIED
    abs_lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    std_error: float | None = None
    degrees_of_freedom: float | None = None
    p_value: float | None = None
    strata: tuple[str, ...] = ()
    pooled: tuple[str, ...] = ()
    error_message: str | None = None


Cells = dict[str, tuple[StratumArm, StratumArm]]


def _pool(cells: Cells, min_units: int) -> tuple[Cells, tuple[str, ...]]:
    """Apply the pooling rule (module docstring)."""
    small = sorted(s for s, (c, t) in cells.items() if min(c.n, t.n) < min_units)
    if not small:
        return cells, ()
    kept = {s: v for s, v in cells.items() if s not in small}
    control = treatment = StratumArm(0, 0.0, 0.0)
    for name in small:
        control, treatment = control + cells[name][0], treatment + cells[name][1]
    if min(control.n, treatment.n) >= min_units or not kept:
        kept[POOLED] = (control, treatment)
    else:
        largest = max(kept, key=lambda s: (kept[s][0].n + kept[s][1].n, s))
        c, t = kept[largest]
        kept[largest] = (c + control, t + treatment)
    return kept, tuple(small)


def poststratified_test(
    strata: Mapping[str, tuple[StratumArm, StratumArm]],
    alpha: float = 0.05,
    min_units: int = DEFAULT_MIN_UNITS,
) -> PostStratifiedResult:
    """The post-stratified difference in means (module docstring).

    Args:
        strata: Stratum value -> (control, treatment) statistics.
        alpha: Two-sided level of the interval.
        min_units: Pooling threshold per arm (at least 2).

    Returns:
        The comparison; figures None with a reason when degenerate.
    """
    if not 0 < alpha < 1:
        return PostStratifiedResult(
            error_message=f"alpha must lie in (0, 1), got {alpha!r}"
        )
    if min_units < 2:
        return PostStratifiedResult(error_message="min_units must be at least 2")
    cells, pooled = _pool(dict(strata), min_units)
    names = tuple(sorted(cells))
    if not cells:
        return PostStratifiedResult(error_message="no strata")
    for name in names:
        control, treatment = cells[name]
        if min(control.n, treatment.n) < 2:
            return PostStratifiedResult(
                strata=names,
                pooled=pooled,
                error_message="fewer than 2 units in an arm of stratum "
                f"{name!r} even after pooling",
            )
    total = sum(c.n + t.n for c, t in cells.values())
    lift = 0.0
    terms: list[tuple[float, int]] = []  # (variance term, dof) per cell
    effects: list[tuple[float, float]] = []
    for name in names:
        control, treatment = cells[name]
        weight = (control.n + treatment.n) / total
        means = []
        for arm in (control, treatment):
            mean = arm.sum / arm.n
            variance = max((arm.sum_squares - arm.sum * mean) / (arm.n - 1), 0.0)
            terms.append((weight * weight * variance / arm.n, arm.n - 1))
            means.append(mean)
        effect = means[1] - means[0]
        effects.append((weight, effect))
        lift += weight * effect
    conditional = sum(term for term, _ in terms)
    if not conditional > 0:
        return PostStratifiedResult(
            strata=names,
            pooled=pooled,
            error_message="zero variance in every cell: no test",
        )
    between = sum(w * (e - lift) ** 2 for w, e in effects) / total
    variance = conditional + between
    scaled = [(term / conditional, dof) for term, dof in terms]
    dof = 1.0 / sum(t * t / d for t, d in scaled)
    std_error = math.sqrt(variance)
    statistic = lift / std_error
    quantile = float(stats.t.isf(alpha / 2, dof))
    return PostStratifiedResult(
        abs_lift=finite(lift),
        ci_low=finite(lift - quantile * std_error),
        ci_high=finite(lift + quantile * std_error),
        std_error=finite(std_error),
        degrees_of_freedom=finite(dof),
        p_value=finite(2 * stats.t.sf(abs(statistic), dof)),
        strata=names,
        pooled=pooled,
    )


def strata_from_units(
    values: Sequence[float], arms: Sequence[int], strata: Sequence[str]
) -> dict[str, tuple[StratumArm, StratumArm]]:
    """Per-stratum sums from unit-level values (arm 0 = control, 1 = treatment):
    a helper for tests and small data; the warehouse forms the same sums in SQL."""
    cells: dict[str, list[list[float]]] = {}
    for value, arm, stratum in zip(values, arms, strata, strict=True):
        cell = cells.setdefault(stratum, [[0, 0.0, 0.0], [0, 0.0, 0.0]])[arm]
        cell[0] += 1
        cell[1] += value
        cell[2] += value * value
    return {
        s: (StratumArm(int(c[0]), c[1], c[2]), StratumArm(int(t[0]), t[1], t[2]))
        for s, (c, t) in cells.items()
    }
