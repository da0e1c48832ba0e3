"""Quantile metrics (issue 17 item 5): the difference of two arms' quantiles.

The SQL side (``int_arm_quantiles``) gives, per arm, the sample quantile
``Q(nu)`` of the unit values and the two quantiles ``Q(nu_L)``, ``Q(nu_U)`` at
the levels ``nu -/+ z0 sqrt(nu (1 - nu) / n)`` (``bound_levels``), all by the
linear interpolation between order statistics (``sample_quantile``, numpy's
default). Woodruff's (1952) interval-based standard error of the quantile,
the order-statistic normal approximation GrowthBook's quantile metrics use, is
``(Q(nu_U) - Q(nu_L)) / (2 z0)`` with ``z0 = Phi^-1(0.975)`` whatever the
experiment's alpha (the two levels bracket the binomial interval of the
rank, not the result's interval). The two arms are independent, so the
difference ``Q_t - Q_c`` has variance ``se_t**2 + se_c**2``: a z-test and its
interval; the relative difference ``Q_t / Q_c - 1`` gets Fieller's interval
with the same variance components, so it excludes 0 exactly when the test
rejects. Nothing here reads unit-level data except ``quantile_estimate``, the
unit-level reference used by the tests and the coverage simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from xpkit.stats.frequentist import ComparisonResult, fieller_interval
from xpkit.stats.numbers import finite

__all__ = [
    "BOUND_Z",
    "METHOD_QUANTILE",
    "QuantileEstimate",
    "bound_levels",
    "compare_quantiles",
    "quantile_estimate",
    "sample_quantile",
]

METHOD_QUANTILE = "quantile_woodruff_z"
# Phi^-1(0.975): the half-width in standard errors of the rank interval whose
# ends give the standard error (also hard-coded in int_arm_quantiles.sql).
BOUND_Z = 1.959963984540054


@dataclass(frozen=True, slots=True)
class QuantileEstimate:
    """One arm's quantile and the two quantiles that give its standard error.

    Attributes:
        n: Units in the arm.
        level: The quantile level nu, in (0, 1).
        value: The sample quantile ``Q(nu)``.
        lower: ``Q(nu_L)`` (``bound_levels``).
        upper: ``Q(nu_U)``.
    """

    n: int
    level: float
    value: float
    lower: float
    upper: float

    @property
    def std_error(self) -> float:
        """Woodruff's standard error ``(upper - lower) / (2 z0)``."""
        return (self.upper - self.lower) / (2 * BOUND_Z)


def bound_levels(level: float, n: int) -> tuple[float, float]:
    """``nu -/+ z0 sqrt(nu (1 - nu) / n)``, the levels of the rank interval."""
    half = BOUND_Z * math.sqrt(level * (1 - level) / n)
    return level - half, level + half


def sample_quantile(sorted_values: Sequence[float], level: float) -> float:
    """The linear interpolation between order statistics (numpy's default):
    ``h = (n - 1) level``, between the values at 0-based ranks floor(h) and
    floor(h) + 1, computed from the nearer end as numpy does."""
    n = len(sorted_values)
    h = (n - 1) * level
    below = math.floor(h)
    weight = h - below
    low = float(sorted_values[below])
    high = float(sorted_values[min(below + 1, n - 1)])
    if weight >= 0.5:
        return high - (high - low) * (1 - weight)
    return low + (high - low) * weight


def quantile_estimate(values: Sequence[float], level: float) -> QuantileEstimate:
    """The unit-level reference: the estimate from all of an arm's values."""
    ordered = sorted(float(v) for v in values)
    low_level, high_level = bound_levels(level, len(ordered))
    return QuantileEstimate(
        n=len(ordered),
        level=level,
        value=sample_quantile(ordered, level),
        lower=sample_quantile(ordered, max(low_level, 0.0)),
        upper=sample_quantile(ordered, min(high_level, 1.0)),
    )


def _problem(estimate: QuantileEstimate | None, arm: str) -> str | None:
    """Why an arm's estimate cannot be used; None when it can."""
    if estimate is None:
        return f"{arm} arm missing"
    if estimate.n < 2:
        return f"{arm} arm has fewer than 2 units"
    if not 0 < estimate.level < 1:
        return f"quantile level {estimate.level} is outside (0, 1)"
    low, high = bound_levels(estimate.level, estimate.n)
    if low < 0 or high > 1:
        return (
            f"{arm} arm has too few units ({estimate.n}) for an interval of its "
            f"{estimate.level} quantile"
        )
    if any(
        v is None or not math.isfinite(v)
        for v in (estimate.value, estimate.lower, estimate.upper)
    ):
        return f"{arm} arm quantiles missing"
    if estimate.upper < estimate.lower:
        return f"{arm} arm quantiles out of order (impossible input)"
    return None


def compare_quantiles(
    control: QuantileEstimate | None,
    treatment: QuantileEstimate | None,
    alpha: float,
) -> ComparisonResult:
    """Difference and relative difference of two arms' quantiles.

    ``abs_lift = Q_t - Q_c`` with standard error ``sqrt(se_c**2 + se_t**2)``,
    a two-sided z-test, the interval ``abs_lift -/+ z se``; ``rel_lift = Q_t /
    Q_c - 1`` with Fieller's interval and the delta-method standard error.
    ``mean_control`` and ``mean_treatment`` hold the arms' quantiles. Degenerate
    input (a missing or one-unit arm, too few units for the bound levels, no
    spread in either arm) gives null figures and an error message.
    """
    n_c = control.n if control is not None else None
    n_t = treatment.n if treatment is not None else None
    errors = [
        e for e in (_problem(control, "control"), _problem(treatment, "treatment")) if e
    ]
    if errors:
        return ComparisonResult(
            METHOD_QUANTILE, alpha, n_c, n_t, error_message="; ".join(errors)
        )
    assert control is not None and treatment is not None
    v_c, v_t = control.std_error**2, treatment.std_error**2
    se = math.sqrt(v_c + v_t)
    base = ComparisonResult(
        METHOD_QUANTILE,
        alpha,
        n_c,
        n_t,
        mean_control=control.value,
        mean_treatment=treatment.value,
    )
    if se == 0:
        return _replace(
            base, error_message="no spread: both arms' quantile bounds are equal"
        )
    diff = treatment.value - control.value
    z = float(stats.norm.ppf(1 - alpha / 2))
    statistic = diff / se
    p_value = float(2 * stats.norm.sf(abs(statistic)))
    rel = rel_se = low = high = None
    reason = None
    if control.value == 0:
        reason = "control quantile is 0: no relative difference"
    else:
        rel = treatment.value / control.value - 1
        rel_se = math.sqrt(
            v_t / control.value**2 + treatment.value**2 * v_c / control.value**4
        )
        low, high, reason = fieller_interval(
            control.value, treatment.value, v_c, v_t, z, False
        )
    return _replace(
        base,
        abs_lift=diff,
        abs_ci_low=diff - z * se,
        abs_ci_high=diff + z * se,
        std_error=se,
        statistic=statistic,
        p_value=p_value,
        rel_lift=finite(rel),
        rel_ci_low=low,
        rel_ci_high=high,
        rel_std_error=finite(rel_se),
        interval_error_message=reason,
    )


def _replace(result: ComparisonResult, **changes: object) -> ComparisonResult:
    from dataclasses import replace

    return replace(result, **changes)  # type: ignore[arg-type]
