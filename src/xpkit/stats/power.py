"""Power and sample size for a registered experiment (pure, no I/O).

``sample_size`` answers "how many units per arm does a two-sided test at
``alpha`` need to detect a relative change of ``mde_relative`` with probability
``power``?" using statsmodels' power classes:

- binary metrics: ``NormalIndPower`` on Cohen's h,
  ``h = proportion_effectsize(p1, p0) = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))``
  with ``p0`` the baseline rate and ``p1 = p0 (1 + mde)`` (``p0 (1 - mde)`` when
  the metric should decrease);
- count, sum and ratio metrics: ``TTestIndPower`` on Cohen's d,
  ``d = mde |mean| / sd``, with ``sd`` the unit-level standard deviation (for
  ratio metrics the delta-method standard deviation of the linearised values,
  the square root of the ``variance`` column of ``arm_metrics``).

Arms are assumed equal in size. Degenerate input never raises: the figure is
None and ``error_message`` says why. The ``experiment_power`` mart
(``xpkit.marts.experiment_power``) calls these.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from xpkit.settings import DEFAULT_ALPHA, DEFAULT_POWER
from xpkit.stats.numbers import finite

__all__ = [
    "DEFAULT_POWER",
    "METHOD_NORMAL_ARCSINE",
    "METHOD_T_COHENS_D",
    "MIN_UNITS_PER_ARM",
    "SampleSize",
    "projected_days_to_target",
    "sample_size",
    "share_of_target",
]

# A two-sample test needs a variance in each arm, so never fewer than 2 units.
MIN_UNITS_PER_ARM = 2
METHOD_NORMAL_ARCSINE = "normal_cohens_h"
METHOD_T_COHENS_D = "t_cohens_d"
# solve_power's root can land a hair above an integer (510.0000000003); a
# required size within this of an integer is that integer.
_CEIL_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class SampleSize:
    """Required units per arm for a two-sided two-sample test.

    Attributes:
        units_per_arm: Required units in each arm (ceiling of the solution,
            at least ``MIN_UNITS_PER_ARM``); None when it cannot be computed.
        effect_size: Cohen's h (binary) or Cohen's d (other metrics).
        method: ``normal_cohens_h`` or ``t_cohens_d``.
        solution: The unrounded solution of statsmodels' ``solve_power``.
        error_message: Why ``units_per_arm`` is None; None when computed.
    """

    units_per_arm: int | None = None
    effect_size: float | None = None
    method: str | None = None
    solution: float | None = None
    error_message: str | None = None


def _check_design(
    alpha: float | None, power: float | None, mde_relative: float | None
) -> str | None:
    """Why the design parameters cannot be used, or None."""
    if alpha is None or not 0 < alpha < 1:
        return f"alpha must lie in (0, 1), got {alpha!r}"
    if power is None or not 0 < power < 1:
        return f"power must lie in (0, 1), got {power!r}"
    if mde_relative is None:
        return "no mde_relative registered"
    if mde_relative <= 0:
        return f"mde_relative must be > 0, got {mde_relative!r}"
    return None


def _solve(
    analysis: NormalIndPower | TTestIndPower,
    effect_size: float,
    alpha: float,
    power: float,
    method: str,
) -> SampleSize:
    """Solve for nobs1 (equal arms), floored at ``MIN_UNITS_PER_ARM``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        floor_power = analysis.power(
            effect_size, MIN_UNITS_PER_ARM, alpha, ratio=1.0, alternative="two-sided"
        )
        if finite(floor_power) is not None and floor_power >= power:
            return SampleSize(MIN_UNITS_PER_ARM, effect_size, method, None)
        try:
            solution = analysis.solve_power(
                effect_size=effect_size,
                nobs1=None,
                alpha=alpha,
                power=power,
                ratio=1.0,
                alternative="two-sided",
            )
        except (ArithmeticError, ValueError, RuntimeError) as error:
            return SampleSize(
                None, effect_size, method, None, f"power solver failed: {error}"
            )
    solution = finite(solution)
    if solution is None or solution <= 0:
        return SampleSize(
            None, effect_size, method, None, "power solver did not converge"
        )
    units = max(MIN_UNITS_PER_ARM, math.ceil(solution - _CEIL_TOLERANCE))
    return SampleSize(units, effect_size, method, solution)


def binary_sample_size(
    baseline_rate: float | None,
    mde_relative: float | None,
    alpha: float | None = DEFAULT_ALPHA,
    power: float | None = DEFAULT_POWER,
    decrease: bool = False,
) -> SampleSize:
    """Units per arm to detect a relative change of a rate (z-test, Cohen's h).

    ``h = proportion_effectsize(p0 (1 +/- mde), p0)`` and
    ``NormalIndPower().solve_power(h, alpha=alpha, power=power, ratio=1)``:
    approximately ``n = ((z_{1-alpha/2} + z_{power}) / h)**2``.

    Args:
        baseline_rate: The control (or baseline) rate p0.
        mde_relative: Minimum detectable relative change, > 0.
        alpha: Two-sided significance level.
        power: Target power.
        decrease: Plan for ``p0 (1 - mde)`` instead of ``p0 (1 + mde)``.

    Returns:
        The sample size, or an error message for degenerate input.
    """
    method = METHOD_NORMAL_ARCSINE
    p0, mde = finite(baseline_rate), finite(mde_relative)
    alpha, power = finite(alpha), finite(power)
    error = _check_design(alpha, power, mde)
    if error is not None:
        return SampleSize(method=method, error_message=error)
    assert alpha is not None and power is not None and mde is not None
    if p0 is None:
        return SampleSize(method=method, error_message="no baseline rate")
    if not 0 < p0 < 1:
        return SampleSize(
            method=method,
            error_message=f"baseline rate {p0:g} is not strictly between 0 and 1",
        )
    target = p0 * (1 - mde) if decrease else p0 * (1 + mde)
    if not 0 <= target <= 1:
        return SampleSize(
            method=method,
            error_message=(
                f"target rate {target:g} (baseline {p0:g} "
                f"{'-' if decrease else '+'} {mde:g} relative) is outside [0, 1]"
            ),
        )
    effect = float(abs(proportion_effectsize(target, p0)))
    return _solve(NormalIndPower(), effect, alpha, power, method)


def continuous_sample_size(
    baseline_mean: float | None,
    baseline_std: float | None,
    mde_relative: float | None,
    alpha: float | None = DEFAULT_ALPHA,
    power: float | None = DEFAULT_POWER,
) -> SampleSize:
    """Units per arm to detect a relative change of a mean (t-test, Cohen's d).

    ``d = mde |mean| / sd`` and
    ``TTestIndPower().solve_power(d, alpha=alpha, power=power, ratio=1)``:
    approximately ``n = 2 ((z_{1-alpha/2} + z_{power}) / d)**2`` plus a small
    t correction.

    Args:
        baseline_mean: The control (or baseline) mean; for ratio metrics the
            ratio of sums.
        baseline_std: Unit-level standard deviation (for ratio metrics the
            delta-method one).
        mde_relative: Minimum detectable relative change, > 0.
        alpha: Two-sided significance level.
        power: Target power.

    Returns:
        The sample size, or an error message for degenerate input.
    """
    method = METHOD_T_COHENS_D
    mean, std = finite(baseline_mean), finite(baseline_std)
    mde, alpha, power = finite(mde_relative), finite(alpha), finite(power)
    error = _check_design(alpha, power, mde)
    if error is not None:
        return SampleSize(method=method, error_message=error)
    assert alpha is not None and power is not None and mde is not None
    if mean is None:
        return SampleSize(method=method, error_message="no baseline mean")
    if mean == 0:
        return SampleSize(
            method=method,
            error_message="baseline mean is 0: a relative MDE is undefined",
        )
    if std is None:
        return SampleSize(method=method, error_message="no baseline standard deviation")
    if std <= 0:
        return SampleSize(
            method=method,
            error_message="baseline standard deviation is 0: effect size undefined",
        )
    effect = mde * abs(mean) / std
    return _solve(TTestIndPower(), effect, alpha, power, method)


def sample_size(
    aggregation: str | None,
    baseline_mean: float | None,
    baseline_std: float | None,
    mde_relative: float | None,
    alpha: float | None = DEFAULT_ALPHA,
    power: float | None = DEFAULT_POWER,
    decrease: bool = False,
) -> SampleSize:
    """Units per arm for a metric of the given aggregation.

    Binary metrics use ``binary_sample_size`` (``baseline_std`` is ignored);
    count, sum and ratio metrics use ``continuous_sample_size``.
    """
    if aggregation == "binary":
        return binary_sample_size(baseline_mean, mde_relative, alpha, power, decrease)
    if aggregation in ("count", "sum", "ratio"):
        return continuous_sample_size(
            baseline_mean, baseline_std, mde_relative, alpha, power
        )
    return SampleSize(error_message=f"unknown aggregation {aggregation!r}")


def share_of_target(
    current_units: float | None, required_units_total: float | None
) -> float | None:
    """``current_units / required_units_total`` (may exceed 1); None if unknown."""
    current, required = finite(current_units), finite(required_units_total)
    if current is None or required is None or required <= 0:
        return None
    return current / required


def projected_days_to_target(
    current_units: float | None,
    required_units_total: float | None,
    daily_units: float | None,
) -> tuple[float | None, str | None]:
    """Days until the target at the observed traffic: 0 when it is reached.

    Returns:
        ``(max(0, required - current) / daily_units, None)``, or ``(None, why)``.
    """
    current = finite(current_units) or 0.0
    required = finite(required_units_total)
    daily = finite(daily_units)
    if required is None:
        return None, "no required sample size"
    if current >= required:
        return 0.0, None
    if daily is None:
        return None, "no observed daily traffic"
    if daily <= 0:
        return None, "no daily traffic: the target is never reached"
    return (required - current) / daily, None
