"""One-sided tests: superiority and non-inferiority (issue 17 item 7).

A registered metric is tested two-sided (the default), for superiority (the
treatment is better in the metric's desired direction) or for
non-inferiority (the treatment is not worse than a relative margin ``m``).
With ``s = +1`` for a metric that should increase and ``s = -1`` for one that
should decrease, the hypotheses on the absolute lift ``D = mu_t - mu_c`` are

- superiority: ``H0: s D <= 0`` against ``H1: s D > 0``;
- non-inferiority: ``H0: s D <= -delta`` against ``H1: s D > -delta``, with
  the absolute margin ``delta = m |mean_control|`` (the relative margin read
  at the observed control mean, treated as known: the plug-in that
  statsmodels' ``ttest_ind(..., value=...)`` tests).

Each p-value is that of the comparison's own statistic at the shifted null
(Welch's t, the delta-method t of a ratio, CUPED's t, the pooled score z or
the binary score z with the restricted ML variance of Farrington & Manning),
and each bound is the matching end of the two-sided ``1 - 2 alpha`` interval
of ``frequentist.compare`` (which inverts the same statistic), so that
``p < alpha`` exactly when the bound clears ``0`` (superiority) or
``-delta`` (non-inferiority) in the favoured direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from xpkit.stats.frequentist import (
    METHOD_POOLED_SCORE,
    METHOD_TWO_PROPORTION,
    METHOD_TWO_PROPORTION_CORRECTED,
    ComparisonConfig,
    ComparisonResult,
    CupedResult,
    compare,
    restricted_difference,
)
from xpkit.stats.numbers import finite
from xpkit.stats.statistics import (
    Proportion,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    Statistic,
)

__all__ = [
    "NON_INFERIORITY",
    "SUPERIORITY",
    "TEST_TYPES",
    "TWO_SIDED",
    "OneSidedResult",
    "one_sided_test",
]

TWO_SIDED = "two_sided"
SUPERIORITY = "superiority"
NON_INFERIORITY = "non_inferiority"
TEST_TYPES = (TWO_SIDED, SUPERIORITY, NON_INFERIORITY)


@dataclass(frozen=True, slots=True)
class OneSidedResult:
    """A one-sided test of a treatment against control.

    Attributes:
        test_type: ``two_sided``, ``superiority`` or ``non_inferiority``.
        margin: The relative non-inferiority margin (None otherwise).
        absolute_margin: ``delta = margin * |mean_control|`` (0 for superiority).
        p_value: One-sided p-value of the unadjusted comparison.
        bound: One-sided ``1 - alpha`` bound of the absolute lift in the
            favoured direction: the lower bound for a metric that should
            increase, the upper bound for one that should decrease.
        other_bound: The opposite one-sided ``1 - alpha`` bound (a
            non-inferiority guardrail is breached when it lies beyond the
            margin).
        cuped_p_value: One-sided p-value of the CUPED comparison.
        cuped_bound: CUPED's one-sided bound in the favoured direction.
        error_message: Why figures are None; None when all were computed (and
            always None for a two-sided test, which has no one-sided figures).
    """

    test_type: str
    margin: float | None = None
    absolute_margin: float | None = None
    p_value: float | None = None
    bound: float | None = None
    other_bound: float | None = None
    cuped_p_value: float | None = None
    cuped_bound: float | None = None
    error_message: str | None = None


def _t_p_value(
    oriented_lift: float, shift: float, std_error: float | None, dof: float | None
) -> float | None:
    """``P(T > (s D + delta) / se)``: Student's t, or the normal when dof is None."""
    if std_error is None or not std_error > 0:
        return None
    statistic = (oriented_lift + shift) / std_error
    if dof is None:
        return finite(float(stats.norm.sf(statistic)))
    return finite(float(stats.t.sf(statistic, dof)))


def _pooled_score_p_value(
    result: ComparisonResult, sign: int, shift: float
) -> float | None:
    """The pooled score z at the null ``D0 = -s delta`` (its variance restricted there).

    The within-arm sum of squares ``W`` is recovered from the test's standard
    error at ``D = 0``: ``se**2 = (W + d**2 / h) h / (N - 1)``.
    """
    n_c, n_t, d, se = (
        result.n_control,
        result.n_treatment,
        result.abs_lift,
        result.std_error,
    )
    if n_c is None or n_t is None or d is None or se is None:
        return None
    inverse_n = 1 / n_c + 1 / n_t
    total_n = n_c + n_t
    within = se * se * (total_n - 1) / inverse_n - d * d / inverse_n
    null = -sign * shift
    spread = (max(within, 0.0) + (d - null) ** 2 / inverse_n) / (total_n - 1)
    if not spread > 0:
        return None
    z = sign * (d - null) / math.sqrt(spread * inverse_n)
    return finite(float(stats.norm.sf(z)))


def _binary_p_value(
    control: Proportion, treatment: Proportion, corrected: bool, sign: int, shift: float
) -> float | None:
    """The binary score z at ``D0 = -s delta`` with the restricted ML variance.

    ``z = (s (d - D0) - c) / sqrt(V(D0))`` with ``V`` and ``c`` those of the
    score interval of ``frequentist._score_bounds`` (Farrington & Manning
    1990 without the Miettinen-Nurminen ``N / (N - 1)`` factor; Yates' ``c =
    h / 2`` where ``compare`` corrects).
    """
    x_c, n_c, x_t, n_t = control.sum, control.n, treatment.sum, treatment.n
    null = -sign * shift
    if not -1 < null < 1:
        return None
    p_c, p_t = restricted_difference(x_c, n_c, x_t, n_t, null)
    variance = p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c
    if not variance > 0:
        return None
    correction = 0.5 * (1 / n_c + 1 / n_t) if corrected else 0.0
    d = x_t / n_t - x_c / n_c
    z = (sign * (d - null) - correction) / math.sqrt(variance)
    return finite(float(stats.norm.sf(z)))


def _post(arm: Statistic) -> Statistic:
    if isinstance(arm, RegressionAdjusted | RegressionAdjustedRatio):
        return arm.post
    return arm


def _p_value(
    control: Statistic,
    treatment: Statistic,
    result: ComparisonResult,
    sign: int,
    shift: float,
) -> float | None:
    """The unadjusted comparison's one-sided p-value (see the module docstring)."""
    if result.p_value is None or result.abs_lift is None:
        return None
    if result.method in (METHOD_TWO_PROPORTION, METHOD_TWO_PROPORTION_CORRECTED):
        post_c, post_t = _post(control), _post(treatment)
        assert isinstance(post_c, Proportion) and isinstance(post_t, Proportion)
        corrected = result.method == METHOD_TWO_PROPORTION_CORRECTED
        return _binary_p_value(post_c, post_t, corrected, sign, shift)
    if result.method == METHOD_POOLED_SCORE:
        return _pooled_score_p_value(result, sign, shift)
    return _t_p_value(
        sign * result.abs_lift, shift, result.std_error, result.degrees_of_freedom
    )


def _cuped_p_value(cuped: CupedResult | None, sign: int, shift: float) -> float | None:
    if cuped is None or cuped.abs_lift is None or cuped.p_value is None:
        return None
    return _t_p_value(
        sign * cuped.abs_lift, shift, cuped.std_error, cuped.degrees_of_freedom
    )


def _ends(
    low: float | None, high: float | None, sign: int
) -> tuple[float | None, float | None]:
    """(favoured bound, other bound) of a ``1 - 2 alpha`` interval."""
    return (low, high) if sign > 0 else (high, low)


def one_sided_test(
    control: Statistic | None,
    treatment: Statistic | None,
    alpha: float,
    test_type: str,
    desired_direction: str | None,
    margin: float | None = None,
) -> OneSidedResult:
    """The one-sided test a metric is registered for (see the module docstring).

    Args:
        control: Control-arm statistic (None when the arm is missing).
        treatment: Treatment-arm statistic (None when the arm is missing).
        alpha: One-sided level; the bounds have confidence ``1 - alpha``.
        test_type: One of ``TEST_TYPES``; ``two_sided`` gives no figures.
        desired_direction: ``increase`` or ``decrease``: which way is better.
        margin: Relative non-inferiority margin (> 0; non_inferiority only).

    Returns:
        The one-sided figures; None with a reason when they cannot be computed.
    """
    result = OneSidedResult(test_type=test_type, margin=margin)
    if test_type == TWO_SIDED:
        return result
    if test_type not in TEST_TYPES:
        return OneSidedResult(
            test_type=test_type, error_message=f"unknown test_type {test_type!r}"
        )
    if desired_direction not in ("increase", "decrease"):
        return _error(result, "a one-sided test needs desired_direction")
    if not 0 < alpha < 0.5:
        return _error(result, "a one-sided test needs alpha in (0, 0.5)")
    if test_type == NON_INFERIORITY and (
        margin is None or not math.isfinite(margin) or not margin > 0
    ):
        return _error(result, "non_inferiority needs a positive margin")
    if control is None or treatment is None:
        return _error(result, "control or treatment arm missing")
    sign = 1 if desired_direction == "increase" else -1
    at_alpha = compare(control, treatment, ComparisonConfig(alpha))
    at_double = compare(control, treatment, ComparisonConfig(2 * alpha))
    shift = 0.0
    if test_type == NON_INFERIORITY:
        assert margin is not None
        mean_c = at_alpha.mean_control
        if mean_c is None or mean_c == 0:
            return _error(result, "control mean is 0 or missing: margin undefined")
        shift = margin * abs(mean_c)
    bound, other = _ends(at_double.abs_ci_low, at_double.abs_ci_high, sign)
    p_value = _p_value(control, treatment, at_alpha, sign, shift)
    cuped_bound = None
    if at_double.cuped is not None:
        cuped_bound = _ends(at_double.cuped.ci_low, at_double.cuped.ci_high, sign)[0]
    errors = []
    if p_value is None:
        errors.append(at_alpha.error_message or "no one-sided p-value")
    return OneSidedResult(
        test_type=test_type,
        margin=margin,
        absolute_margin=shift,
        p_value=p_value,
        bound=bound,
        other_bound=other,
        cuped_p_value=_cuped_p_value(at_alpha.cuped, sign, shift),
        cuped_bound=cuped_bound,
        error_message="; ".join(errors) or None,
    )


def _error(result: OneSidedResult, message: str) -> OneSidedResult:
    return OneSidedResult(
        test_type=result.test_type, margin=result.margin, error_message=message
    )
