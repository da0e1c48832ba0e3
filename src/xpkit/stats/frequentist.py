"""Frequentist comparisons of a treatment arm against its control arm.

Every comparison takes two per-arm statistics (see ``xpkit.stats.statistics``) and a
config, and returns a frozen result. Degenerate input never raises: the figures
that cannot be computed are None and ``error_message`` says why. No figure is
ever NaN or infinite.

Method strings (the ``method`` column of ``experiment_results``):

- ``welch_t``: Welch's t-test, Welch-Satterthwaite degrees of freedom.
- ``pooled_score_z``: the null-restricted (pooled-variance) score z-test of a
  difference in means, used for count and sum metrics with a sparse arm (few
  effective units, see ``_is_sparse``) where Welch is oversized.
- ``two_proportion_score_z``: pooled score z-test for binary metrics, with the
  Miettinen-Nurminen (Mee) score interval of the difference and the Koopman
  score interval of the risk ratio.
- ``two_proportion_score_z_continuity_corrected``: the same with Yates'
  continuity correction in the test and both intervals, for small designs
  (see ``SCORE_CORRECTION_MIN_UNITS``, ``SCORE_CORRECTION_MIN_EXPECTED``).
- ``ratio_delta_welch_t``: Welch's t-test on delta-method variances of a ratio.
- ``cuped_lin_welch_t`` / ``ratio_cuped_lin_welch_t``: CUPED as Lin's regression
  adjustment with a slope per arm and each arm's own residual variance
  (Welch-Satterthwaite df); on delta-method linearised values for ratios.
- ``mann_whitney_u_asymptotic``: opt-in rank test on unit-level values, or on
  per-arm mid-rank sums and the tie term (``mann_whitney_from_rank_sums``).

Every method's absolute and relative intervals invert the statistic of its
p-value, so for any alpha they exclude 0 exactly when ``p_value < alpha``. The
relative interval is Fieller's (for the t and pooled score tests, with the
test's own variance components and quantile) or the score interval of the risk
ratio (binary); the delta-method bounds are kept as ``rel_ci_low_delta`` and
``rel_ci_high_delta``.

Size: one module, past the project's ~400 lines, because every test here
runs through the same ``_compare`` core and the interval inversions it
shares (score, Fieller, Welch-Satterthwaite); apart, they would import each
other's private helpers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
from scipy import stats

from xpkit.stats.numbers import finite
from xpkit.stats.statistics import (
    RELATIVE_ZERO,
    Proportion,
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
    Statistic,
    statistic_problems,
)

__all__ = [
    "METHOD_CUPED",
    "METHOD_MANN_WHITNEY",
    "METHOD_POOLED_SCORE",
    "METHOD_RATIO",
    "METHOD_RATIO_CUPED",
    "METHOD_TWO_PROPORTION",
    "METHOD_TWO_PROPORTION_CORRECTED",
    "METHOD_UNKNOWN",
    "METHOD_WELCH",
    "POOLED_SCORE_MAX_EFFECTIVE_SHARE",
    "POOLED_SCORE_MAX_EFFECTIVE_UNITS",
    "SCORE_CORRECTION_MIN_EXPECTED",
    "SCORE_CORRECTION_MIN_UNITS",
    "ComparisonConfig",
    "ComparisonResult",
    "CupedResult",
    "MannWhitneyResult",
    "compare",
    "cuped_test",
    "fieller_interval",
    "mann_whitney",
    "mann_whitney_from_rank_sums",
    "mean_difference_p_values",
    "mean_difference_test",
    "pooled_score_test",
    "restricted_difference",
    "ratio_delta_test",
    "two_proportion_score_p_values",
    "two_proportion_z_test",
    "welch_t_test",
]

METHOD_WELCH = "welch_t"
METHOD_POOLED_SCORE = "pooled_score_z"
METHOD_TWO_PROPORTION = "two_proportion_score_z"
METHOD_TWO_PROPORTION_CORRECTED = "two_proportion_score_z_continuity_corrected"
METHOD_RATIO = "ratio_delta_welch_t"
METHOD_CUPED = "cuped_lin_welch_t"
METHOD_RATIO_CUPED = "ratio_cuped_lin_welch_t"
METHOD_MANN_WHITNEY = "mann_whitney_u_asymptotic"
# No test could be chosen (both arms missing, or arms of different kinds).
METHOD_UNKNOWN = "unknown"
_PROPORTION_METHODS = (METHOD_TWO_PROPORTION, METHOD_TWO_PROPORTION_CORRECTED)

# The binary score test is continuity-corrected (Yates) when the smaller arm has
# fewer units than this, or when the smaller arm's expected number of events or
# of non-events under the pooled rate is below SCORE_CORRECTION_MIN_EXPECTED.
# Exact enumeration (tests/stats/test_binary_calibration.py) shows the plain
# score test rejecting up to 7% at nominal 5% there (8% with 3 units against
# 30; 5.7% with 50 units per arm at a 50% rate); with the correction the size
# stays within alpha + 0.5 pp on the whole grid.
SCORE_CORRECTION_MIN_UNITS = 200
SCORE_CORRECTION_MIN_EXPECTED = 5.0
# Count and sum metrics use the pooled score test when either arm is sparse:
# its effective number of units (sum m)**2 / sum m**2 (about the number of
# units with an event for a rare count) is below POOLED_SCORE_MAX_EFFECTIVE_UNITS
# and below POOLED_SCORE_MAX_EFFECTIVE_SHARE of its units (a coefficient of
# variation above 1: mostly zeros, or a long right tail). Welch elsewhere.
# Seeded simulations (tests/stats/test_binary_calibration.py) show Welch
# rejecting 14% at nominal 5% for a 1% Poisson count with a 200/1800 split, and
# the pooled test rejecting 36% for a dense metric in a 90/10 split whose small
# arm has 3x the spread (the Behrens-Fisher problem): the share condition keeps
# dense metrics, however few their units, on Welch.
POOLED_SCORE_MAX_EFFECTIVE_UNITS = 200.0
POOLED_SCORE_MAX_EFFECTIVE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class ComparisonConfig:
    """Settings shared by all comparisons.

    Attributes:
        alpha: Two-sided significance level; intervals have confidence 1 - alpha.
    """

    alpha: float = 0.05

    def __post_init__(self) -> None:
        """Reject an alpha outside (0, 1)."""
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise ValueError(f"alpha must be a number, got {alpha!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha!r}")


@dataclass(frozen=True, slots=True)
class CupedResult:
    """CUPED-adjusted comparison (treatment minus control).

    Attributes:
        method: ``cuped_lin_welch_t`` or ``ratio_cuped_lin_welch_t``; None when
            not attempted.
        abs_lift: Adjusted difference ``(ybar_t - ybar_c) - theta (xbar_t - xbar_c)``.
        ci_low: Lower end of the 1 - alpha interval of ``abs_lift``.
        ci_high: Upper end of that interval.
        std_error: Standard error of ``abs_lift`` from each arm's own residual
            variance (see ``cuped_test``).
        statistic: ``abs_lift / std_error``.
        degrees_of_freedom: Welch-Satterthwaite df of the two arm terms, with
            ``n - 2`` per arm.
        p_value: Two-sided p-value from Student's t at those degrees of freedom.
        theta: Effective slope, ``(n_c theta_treatment + n_t theta_control) / N``:
            the one for which ``abs_lift`` reads as above.
        variance_reduction: ``1 - std_error**2 / unadjusted**2``, where the
            unadjusted standard error is Welch's for the plain difference.
        error_message: Why figures are None; None when all were computed.
        theta_control: Slope of the metric on its covariate in the control arm.
        theta_treatment: That slope in the treatment arm.
    """

    method: str | None = None
    abs_lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    std_error: float | None = None
    statistic: float | None = None
    degrees_of_freedom: float | None = None
    p_value: float | None = None
    theta: float | None = None
    variance_reduction: float | None = None
    error_message: str | None = None
    theta_control: float | None = None
    theta_treatment: float | None = None


@dataclass(frozen=True, slots=True)
class ComparisonResult:
    """Unadjusted comparison of a treatment arm with its control arm.

    Attributes:
        method: The test used (see the module docstring).
        alpha: Significance level; intervals have confidence 1 - alpha.
        n_control: Units in the control arm (None when the arm is missing).
        n_treatment: Units in the treatment arm (None when the arm is missing).
        mean_control: Control mean (or ratio, or proportion).
        mean_treatment: Treatment mean.
        abs_lift: ``mean_treatment - mean_control``.
        abs_ci_low: Lower end of the 1 - alpha interval of ``abs_lift``.
        abs_ci_high: Upper end of that interval.
        std_error: Standard error of ``abs_lift`` (the one the p-value uses).
        statistic: ``abs_lift / std_error`` (t or z).
        degrees_of_freedom: Welch-Satterthwaite df; None for z-tests.
        p_value: Two-sided p-value.
        rel_lift: ``mean_treatment / mean_control - 1``.
        rel_ci_low: Lower end of the 1 - alpha interval of ``rel_lift`` that
            inverts the test's statistic (Fieller, or the score interval of the
            risk ratio for binary metrics); None when unbounded or undefined.
        rel_ci_high: Upper end of that interval (None when unbounded).
        rel_std_error: Delta-method standard error of ``rel_lift``.
        error_message: Why the test's figures are None; None when the test ran.
        cuped: The CUPED-adjusted comparison (with its own error message).
        rel_ci_low_delta: Lower end of the delta-method interval of
            ``rel_lift`` (the pre-Fieller figure; it can disagree with the test).
        rel_ci_high_delta: Upper end of that interval.
        interval_error_message: Why a relative figure is None while the test ran
            (control mean 0, unbounded Fieller set); None otherwise.
    """

    method: str
    alpha: float
    n_control: int | None = None
    n_treatment: int | None = None
    mean_control: float | None = None
    mean_treatment: float | None = None
    abs_lift: float | None = None
    abs_ci_low: float | None = None
    abs_ci_high: float | None = None
    std_error: float | None = None
    statistic: float | None = None
    degrees_of_freedom: float | None = None
    p_value: float | None = None
    rel_lift: float | None = None
    rel_ci_low: float | None = None
    rel_ci_high: float | None = None
    rel_std_error: float | None = None
    error_message: str | None = None
    cuped: CupedResult | None = None
    rel_ci_low_delta: float | None = None
    rel_ci_high_delta: float | None = None
    interval_error_message: str | None = None


@dataclass(frozen=True, slots=True)
class MannWhitneyResult:
    """Mann-Whitney U test of treatment against control on unit-level values.

    Attributes:
        method: ``mann_whitney_u_asymptotic``.
        n_control: Number of control values.
        n_treatment: Number of treatment values.
        u_statistic: U of the treatment sample (pairs where treatment > control,
            ties counted 1/2).
        probability_of_superiority: ``u_statistic / (n_control * n_treatment)``.
        z: Continuity-corrected normal score ``(|U - mu| - 1/2) / sigma``.
        p_value: Two-sided p-value ``min(1, 2 * (1 - Phi(z)))``.
        error_message: Why figures are None; None when all were computed.
    """

    method: str
    n_control: int
    n_treatment: int
    u_statistic: float | None = None
    probability_of_superiority: float | None = None
    z: float | None = None
    p_value: float | None = None
    error_message: str | None = None


def _join(errors: Sequence[str]) -> str | None:
    """Join error reasons into one message (None when there are none)."""
    return "; ".join(errors) if errors else None


def _is_all_zero(statistic: Statistic) -> bool:
    """True when every unit value of the metric (numerator for ratios) is 0."""
    if isinstance(statistic, RegressionAdjusted | RegressionAdjustedRatio):
        statistic = statistic.post
    if isinstance(statistic, Ratio):
        return statistic.numerator_sum == 0 and statistic.numerator_sum_squares == 0
    return statistic.sum == 0 and statistic.sum_squares == 0


def _estimator_variance(method: str, statistic: Statistic) -> float | None:
    """Unpooled variance of an arm's mean: ``variance / n``, or ``p (1 - p) / n``.

    These are the Welch (and ratio) test's variance components; for the score
    tests they feed only the delta-method ``rel_std_error``.
    """
    if method in _PROPORTION_METHODS:
        p = statistic.mean
        return None if p is None else p * (1 - p) / statistic.n
    variance = statistic.variance
    return None if variance is None else variance / statistic.n


def _satterthwaite(a: float, b: float, dof_a: int, dof_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of the variance ``a + b``.

    The formula is scale-free, so both terms are divided by the larger first to
    keep tiny or huge variances from underflowing or overflowing.
    """
    scale = max(a, b)
    a, b = a / scale, b / scale
    return (a + b) * (a + b) / (a * a / dof_a + b * b / dof_b)


# --- Binary metrics: the pooled score test and the intervals that invert it ---


def _needs_continuity_correction(
    pooled: np.ndarray, n_c: np.ndarray, n_t: np.ndarray
) -> np.ndarray:
    """True where the design is small enough for Yates' correction (see constants)."""
    small = np.minimum(n_c, n_t)
    expected = small * np.minimum(pooled, 1 - pooled)
    return (small < SCORE_CORRECTION_MIN_UNITS) | (
        expected < SCORE_CORRECTION_MIN_EXPECTED
    )


def two_proportion_score_p_values(
    x_c: np.ndarray | float,
    n_c: np.ndarray | float,
    x_t: np.ndarray | float,
    n_t: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised pooled score test of ``p_t = p_c`` (the decision of ``compare``).

    With ``pbar = (x_c + x_t) / (n_c + n_t)`` and ``h = 1/n_c + 1/n_t``:
    ``z = sign(d) max(|d| - c, 0) / sqrt(pbar (1 - pbar) h)``, ``d = p_t - p_c``,
    ``c = h / 2`` where ``_needs_continuity_correction`` (Yates) and 0 otherwise;
    ``p = 2 (1 - Phi(|z|))``. Uncorrected this is the Pearson chi-square test
    without correction, corrected the Yates chi-square test.

    Args:
        x_c: Control successes.
        n_c: Control units.
        x_t: Treatment successes.
        n_t: Treatment units.

    Returns:
        ``(z, p_value, corrected)`` arrays; z and p are NaN where there is no
        test (pooled rate 0 or 1, or an arm with fewer than 2 units).
    """
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (x_c, n_c, x_t, n_t))
    )
    x_c, n_c, x_t, n_t = arrays
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pooled = (x_c + x_t) / (n_c + n_t)
        inverse_n = 1 / n_c + 1 / n_t
        variance = pooled * (1 - pooled) * inverse_n
        corrected = _needs_continuity_correction(pooled, n_c, n_t)
        diff = x_t / n_t - x_c / n_c
        shift = np.where(corrected, 0.5 * inverse_n, 0.0)
        excess = np.maximum(np.abs(diff) - shift, 0.0)
        valid = (variance > 0) & (n_c >= 2) & (n_t >= 2)
        root = np.sqrt(np.where(valid, variance, 1.0))
        z = np.where(valid, np.sign(diff) * excess / root, np.nan)
    return z, 2 * stats.norm.sf(np.abs(z)), corrected


def restricted_difference(
    x_c: float, n_c: int, x_t: float, n_t: int, delta: float
) -> tuple[float, float]:
    """ML ``(p_c, p_t)`` under ``p_t - p_c = delta``.

    The closed-form root of the likelihood cubic (Miettinen & Nurminen 1985;
    Farrington & Manning 1990), clipped to the feasible range.
    """
    total = n_c + n_t
    count = x_c + x_t
    b = ((n_t + 2 * n_c) * delta - total - count) / (3 * total)
    c = ((x_c * delta - total - 2 * x_c) * delta + count) / (3 * total)
    d = x_c * delta * (1 - delta) / (2 * total)
    v = b * b * b - 1.5 * b * c + d
    u = math.copysign(math.sqrt(max(b * b - c, 0.0)), v)
    if u == 0:
        p_c = -b
    else:
        cosine = min(1.0, max(-1.0, v / (u * u * u)))
        p_c = 2 * u * math.cos((math.pi + math.acos(cosine)) / 3) - b
    p_c = min(min(1.0, 1 - delta), max(max(0.0, -delta), p_c))
    return p_c, p_c + delta


def _restricted_ratio(
    x_c: float, n_c: int, x_t: float, n_t: int, ratio: float
) -> tuple[float, float]:
    """ML ``(p_c, p_t)`` under ``p_t = ratio * p_c`` (Miettinen & Nurminen 1985)."""
    a = (n_c + n_t) * ratio
    b = -(n_t * ratio + x_t + n_c + x_c * ratio)
    count = x_c + x_t
    # the smaller root of a p**2 + b p + count, in the form without cancellation
    p_c = 2 * count / (-b + math.sqrt(max(b * b - 4 * a * count, 0.0)))
    p_c = min(p_c, 1.0, 1 / ratio)
    return p_c, ratio * p_c


def _bisect(accepts, rejected: float, accepted: float) -> float:
    """Narrow ``[rejected, accepted]`` to adjacent floats; return the accepted end.

    The returned bound is always a point the test accepts, on the accepted
    side of ``rejected``: with ``rejected`` the null value this is what makes
    an interval exclude the null exactly when the test rejects it.
    """
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (rejected + accepted)
        if middle in (rejected, accepted):
            break
        if accepts(middle):
            accepted = middle
        else:
            rejected = middle
    return accepted


_BISECTION_STEPS = 400


def _score_bounds(
    control: Proportion,
    treatment: Proportion,
    quantile: float,
    corrected: bool,
    reject: bool,
) -> tuple[tuple[float, float], tuple[float, float | None] | None]:
    """Score intervals of ``p_t - p_c`` and of ``p_t / p_c`` inverting the test.

    The difference interval is ``{D: |d - D| - c <= q sqrt(V(D))}`` with
    ``V(D) = p~_t (1 - p~_t)/n_t + p~_c (1 - p~_c)/n_c`` at the ML estimates under
    ``p_t - p_c = D`` (Mee 1984; Miettinen-Nurminen without their n/(n-1)
    factor), the ratio interval ``{R: |p_t - R p_c| - c(R) <= q sqrt(V(R))}``
    with ``V(R) = p~_t (1 - p~_t)/n_t + R**2 p~_c (1 - p~_c)/n_c`` under
    ``p_t = R p_c`` (Koopman 1984), ``c = h / 2`` and ``c(R) = (1/n_t + R/n_c) / 2``
    when corrected (else 0). At ``D = 0`` and ``R = 1`` both are the pooled score
    statistic. The ratio interval is None when the control rate is 0; its upper
    end is None when unbounded.
    """
    x_c, n_c, x_t, n_t = control.sum, control.n, treatment.sum, treatment.n
    diff = x_t / n_t - x_c / n_c
    shift = 0.5 * (1 / n_c + 1 / n_t) if corrected else 0.0
    q2 = quantile * quantile

    def accepts_difference(delta: float) -> bool:
        excess = abs(diff - delta) - shift
        if excess <= 0:
            return True
        p_c, p_t = restricted_difference(x_c, n_c, x_t, n_t, delta)
        variance = p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c
        return variance > 0 and excess * excess <= q2 * variance

    if reject and diff > 0:
        low = _bisect(accepts_difference, 0.0, diff)
    else:
        start = min(diff, 0.0)
        low = (
            -1.0
            if accepts_difference(-1.0)
            else _bisect(accepts_difference, -1.0, start)
        )
    if reject and diff < 0:
        high = _bisect(accepts_difference, 0.0, diff)
    else:
        start = max(diff, 0.0)
        high = (
            1.0 if accepts_difference(1.0) else _bisect(accepts_difference, 1.0, start)
        )
    if x_c == 0:
        return (low, high), None

    ratio = (x_t / n_t) / (x_c / n_c)

    def accepts_ratio(value: float) -> bool:
        excess = abs(x_t / n_t - value * x_c / n_c)
        if corrected:
            excess -= 0.5 * (1 / n_t + value / n_c)
        if excess <= 0:
            return True
        p_c, p_t = _restricted_ratio(x_c, n_c, x_t, n_t, value)
        variance = p_t * (1 - p_t) / n_t + value * value * p_c * (1 - p_c) / n_c
        return variance > 0 and excess * excess <= q2 * variance

    if reject and ratio > 1:
        ratio_low = _bisect(accepts_ratio, 1.0, ratio)
    elif x_t == 0:
        ratio_low = 0.0
    else:
        ratio_low = _bisect(accepts_ratio, 0.0, min(ratio, 1.0))
    ratio_high: float | None
    if reject and ratio < 1:
        ratio_high = _bisect(accepts_ratio, 1.0, ratio)
    else:
        start = max(ratio, 1.0)
        far = 2 * start
        while accepts_ratio(far) and far < _FAR:
            far *= 2
        ratio_high = None if far >= _FAR else _bisect(accepts_ratio, far, start)
    return (low, high), (ratio_low, ratio_high)


_FAR = 1e300


# --- Relative lift: Fieller's interval -----------------------------------------


def fieller_interval(
    mean_c: float,
    mean_t: float,
    v_c: float,
    v_t: float,
    quantile: float,
    non_negative: bool,
) -> tuple[float | None, float | None, str | None]:
    """Fieller's ``1 - alpha`` set for ``mean_t / mean_c - 1``.

    The set of ratios R the test of ``mean_t - R mean_c = 0`` accepts:
    ``(mean_t - R mean_c)**2 <= q**2 (v_t + R**2 v_c)`` with the test's own
    variance components and quantile, so at ``R = 1`` it is the absolute test.
    With ``non_negative`` it is intersected with ``R >= 0`` (the relative lift
    of a metric that cannot be negative is at least -100%).

    Returns:
        ``(low, high, reason)``: an end is None when the set is unbounded on that
        side; both are None when the set is not one interval.
    """
    mean_c, mean_t, v_c, v_t, quantile = (
        float(v) for v in (mean_c, mean_t, v_c, v_t, quantile)
    )
    scale = max(abs(mean_c), abs(mean_t))
    mc, mt = mean_c / scale, mean_t / scale
    wc = (quantile * math.sqrt(v_c) / scale) ** 2
    wt = (quantile * math.sqrt(v_t) / scale) ** 2
    a = mc * mc - wc
    b = mc * mt
    c = mt * mt - wt
    disc = wc * mt * mt + wt * a  # b**2 - a c, without the cancellation
    if not all(math.isfinite(v) for v in (a, b, c, disc)):
        return None, None, "relative interval not computable (overflow)"
    inf = math.inf
    pieces: list[tuple[float, float]]
    if a > 0:
        root = math.sqrt(max(disc, 0.0))
        if b >= 0:
            high = (b + root) / a
            low = c / (a * high) if high != 0 else (b - root) / a
        else:
            low = (b - root) / a
            high = c / (a * low)
        pieces = [(low, high)]
    elif disc <= 0 or (a == 0 and b == 0):
        pieces = [(-inf, inf)]
    elif a == 0:
        edge = c / (2 * b)
        pieces = [(edge, inf)] if b > 0 else [(-inf, edge)]
    else:
        root = math.sqrt(disc)
        first, second = sorted(((b + root) / a, (b - root) / a))
        pieces = [(-inf, first), (second, inf)]
    if non_negative:
        pieces = [(max(lo, 0.0), hi) for lo, hi in pieces if hi >= 0]
    if len(pieces) != 1:
        return (
            None,
            None,
            "relative interval undefined: Fieller's set is two disjoint rays "
            "(the control mean is not distinguishable from 0 at this alpha)",
        )
    low, high = pieces[0]
    reason = None
    if math.isinf(low) or math.isinf(high):
        reason = (
            "relative interval unbounded: the control mean is not "
            "distinguishable from 0 at this alpha (Fieller)"
        )
    return (
        None if math.isinf(low) else finite(low - 1),
        None if math.isinf(high) else finite(high - 1),
        reason,
    )


# --- Count and sum metrics: Welch or the pooled score test ---------------------


def _effective_units(statistic: Statistic) -> float | None:
    """``(sum m)**2 / sum m**2`` from the mean and variance (None when unknown)."""
    mean, variance, n = statistic.mean, statistic.variance, statistic.n
    if mean is None or variance is None:
        return None
    second = mean * mean + variance * (n - 1) / n
    return 0.0 if second <= 0 else n * mean * mean / second


def _is_sparse(statistic: Statistic) -> bool:
    """True when the arm's effective units are few, both absolutely and relatively."""
    units = _effective_units(statistic)
    return units is not None and (
        units < POOLED_SCORE_MAX_EFFECTIVE_UNITS
        and units < POOLED_SCORE_MAX_EFFECTIVE_SHARE * statistic.n
    )


def _mean_method(control: Statistic | None, treatment: Statistic | None) -> str:
    """``pooled_score_z`` when either arm is sparse (``_is_sparse``), else Welch."""
    if control is None or treatment is None:
        return METHOD_WELCH
    if _is_sparse(control) or _is_sparse(treatment):
        return METHOD_POOLED_SCORE
    return METHOD_WELCH


def mean_difference_p_values(
    n_c: np.ndarray | float,
    sum_c: np.ndarray | float,
    sum_squares_c: np.ndarray | float,
    n_t: np.ndarray | float,
    sum_t: np.ndarray | float,
    sum_squares_t: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised p-values of ``compare`` for count and sum metrics.

    ``pooled_score_z`` where either arm's ``sum**2 / sum_squares`` is below
    ``POOLED_SCORE_MAX_EFFECTIVE_UNITS`` and below
    ``POOLED_SCORE_MAX_EFFECTIVE_SHARE`` of its units, Welch's t-test elsewhere (see
    ``pooled_score_test`` and ``welch_t_test``).

    Returns:
        ``(p_value, pooled)``: p is NaN where there is no test; ``pooled`` marks
        the replicates that used the pooled score test.
    """
    arrays = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=float)
            for a in (n_c, sum_c, sum_squares_c, n_t, sum_t, sum_squares_t)
        )
    )
    n_c, s_c, q_c, n_t, s_t, q_t = arrays
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ss_c = np.maximum(q_c - s_c * s_c / n_c, 0.0)
        ss_t = np.maximum(q_t - s_t * s_t / n_t, 0.0)
        v_c, v_t = ss_c / (n_c - 1) / n_c, ss_t / (n_t - 1) / n_t
        diff = s_t / n_t - s_c / n_c
        welch = np.abs(diff) / np.sqrt(v_c + v_t)
        dof = (v_c + v_t) ** 2 / (v_c * v_c / (n_c - 1) + v_t * v_t / (n_t - 1))
        p_welch = 2 * stats.t.sf(welch, dof)
        inverse_n = 1 / n_c + 1 / n_t
        total = ss_c + ss_t + diff * diff / inverse_n
        score = np.abs(diff) / np.sqrt(total / (n_c + n_t - 1) * inverse_n)
        p_score = 2 * stats.norm.sf(score)
        units_c = np.where(q_c > 0, s_c * s_c / q_c, 0.0)
        units_t = np.where(q_t > 0, s_t * s_t / q_t, 0.0)
    limit, share = POOLED_SCORE_MAX_EFFECTIVE_UNITS, POOLED_SCORE_MAX_EFFECTIVE_SHARE
    pooled = ((units_c < limit) & (units_c < share * n_c)) | (
        (units_t < limit) & (units_t < share * n_t)
    )
    within = ss_c + ss_t
    p = np.where(pooled, p_score, p_welch)
    p = np.where((within > 0) & (n_c >= 2) & (n_t >= 2), p, np.nan)
    return p, pooled


# --- The shared comparison -----------------------------------------------------


def _compare(
    method: str,
    control: Statistic | None,
    treatment: Statistic | None,
    config: ComparisonConfig,
) -> ComparisonResult:
    """Shared two-sample comparison for the Welch, score and ratio methods."""
    try:
        return _compare_unguarded(method, control, treatment, config)
    except ArithmeticError as error:  # float division by an underflowed zero
        return ComparisonResult(
            method=method,
            alpha=config.alpha,
            n_control=None if control is None else control.n,
            n_treatment=None if treatment is None else treatment.n,
            error_message=f"numerical failure ({error}): no test",
        )


def _compare_unguarded(
    method: str,
    control: Statistic | None,
    treatment: Statistic | None,
    config: ComparisonConfig,
) -> ComparisonResult:
    """``_compare`` without the guard against floating-point exceptions."""
    alpha = config.alpha
    n_c = None if control is None else control.n
    n_t = None if treatment is None else treatment.n
    if control is None or treatment is None:
        missing = [
            f"{name} arm missing"
            for name, arm in (("control", control), ("treatment", treatment))
            if arm is None
        ]
        return ComparisonResult(
            method=method,
            alpha=alpha,
            n_control=n_c,
            n_treatment=n_t,
            error_message=_join(missing),
        )

    errors: list[str] = []
    rel_errors: list[str] = []
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n == 0:
            errors.append(f"{name} arm has no units")
        elif arm.mean is None:
            errors.append(f"denominator sum is 0 in the {name} arm: ratio undefined")
    mean_c = finite(control.mean)
    mean_t = finite(treatment.mean)
    abs_lift = rel_lift = None
    if mean_c is not None and mean_t is not None:
        abs_lift = finite(mean_t - mean_c)
        if abs_lift is None:
            errors.append("difference of means overflows")
        elif mean_c == 0:
            rel_errors.append("control mean is 0: relative lift undefined")
        else:
            rel_lift = finite(mean_t / mean_c - 1)
    base: dict[str, Any] = {
        "method": method,
        "alpha": alpha,
        "n_control": n_c,
        "n_treatment": n_t,
        "mean_control": mean_c,
        "mean_treatment": mean_t,
        "abs_lift": abs_lift,
        "rel_lift": rel_lift,
    }

    def no_test() -> ComparisonResult:
        return ComparisonResult(**base, error_message=_join(errors + rel_errors))

    if abs_lift is None:
        return no_test()
    # A lift exists only when both means do.
    assert mean_c is not None and mean_t is not None
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n == 1:
            errors.append(f"{name} arm has only 1 unit: variance undefined")
    if control.n < 2 or treatment.n < 2:
        return no_test()

    proportion = method in _PROPORTION_METHODS
    v_c = _estimator_variance(method, control)
    v_t = _estimator_variance(method, treatment)
    if proportion:
        # The score tests run on proportions only (two_proportion_z_test).
        prop_c, prop_t = cast(Proportion, control), cast(Proportion, treatment)
        events = prop_c.sum + prop_t.sum
        untestable = events <= 0 or events >= control.n + treatment.n
    else:
        untestable = v_c is None or v_t is None or v_c + v_t <= 0
    if untestable:
        if _is_all_zero(control) and _is_all_zero(treatment):
            errors.append("no events in either arm (every unit value is 0): no test")
        else:
            errors.append("zero variance in both arms: no test")
        return no_test()
    # Both means exist, so both estimator variances do.
    assert v_c is not None and v_t is not None

    non_negative = mean_c >= 0 and mean_t >= 0
    required = ["std_error", "statistic", "p_value"]
    rel_bounds: tuple[float | None, float | None] = (None, None)
    abs_low: float | None
    abs_high: float | None
    if proportion:
        z, p, corrected = (
            v.item()
            for v in two_proportion_score_p_values(
                prop_c.sum, prop_c.n, prop_t.sum, prop_t.n
            )
        )
        method = METHOD_TWO_PROPORTION_CORRECTED if corrected else METHOD_TWO_PROPORTION
        base["method"] = method
        pooled = (prop_c.sum + prop_t.sum) / (prop_c.n + prop_t.n)
        std_error = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
        statistic, p_value, dof = z, p, None
        quantile = stats.norm.isf(alpha / 2)
        (abs_low, abs_high), ratio_bounds = _score_bounds(
            prop_c, prop_t, quantile, corrected, p_value < alpha
        )
        required += ["abs_ci_low", "abs_ci_high"]
        if rel_lift is not None and ratio_bounds is not None:
            ratio_low, ratio_high = ratio_bounds
            rel_bounds = (ratio_low - 1, None if ratio_high is None else ratio_high - 1)
            if ratio_high is None:
                rel_errors.append("relative interval unbounded above (score)")
    elif method == METHOD_POOLED_SCORE:
        # Null-restricted variance: all units about their common mean, so
        # total = within + k d**2 with k = n_c n_t / N = 1 / h.
        inverse_n = 1 / control.n + 1 / treatment.n
        within = v_c * control.n * (control.n - 1) + v_t * treatment.n * (
            treatment.n - 1
        )
        total_n = control.n + treatment.n
        total = within + abs_lift * abs_lift / inverse_n
        std_error = math.sqrt(total / (total_n - 1) * inverse_n)
        statistic = abs_lift / std_error
        dof = None
        p_value = 2 * stats.norm.sf(abs(statistic))
        quantile = stats.norm.isf(alpha / 2)
        # Inverting the same statistic at D: (d - D)**2 (N - 1 - q**2) <= q**2 h W.
        room = total_n - 1 - quantile * quantile
        if room > 0:
            spread = within / room
            w_c, w_t = spread / control.n, spread / treatment.n
            half = quantile * math.sqrt(w_c + w_t)
            abs_low, abs_high = abs_lift - half, abs_lift + half
            required += ["abs_ci_low", "abs_ci_high"]
            if rel_lift is not None:
                low, high, reason = fieller_interval(
                    mean_c, mean_t, w_c, w_t, quantile, non_negative
                )
                rel_bounds = (low, high)
                if reason:
                    rel_errors.append(reason)
        else:
            abs_low = abs_high = None
            rel_errors.append(
                "intervals unbounded: too few units for this alpha "
                "(n_control + n_treatment - 1 <= z**2)"
            )
    else:
        std_error = math.sqrt(v_c + v_t)
        statistic = abs_lift / std_error
        dof = _satterthwaite(v_t, v_c, treatment.n - 1, control.n - 1)
        p_value = 2 * stats.t.sf(abs(statistic), dof)
        quantile = stats.t.isf(alpha / 2, dof)
        abs_low = abs_lift - quantile * std_error
        abs_high = abs_lift + quantile * std_error
        required += ["abs_ci_low", "abs_ci_high", "degrees_of_freedom"]
        if rel_lift is not None:
            low, high, reason = fieller_interval(
                mean_c, mean_t, v_c, v_t, quantile, non_negative
            )
            rel_bounds = (low, high)
            if reason:
                rel_errors.append(reason)
    figures: dict[str, Any] = {
        "std_error": finite(std_error),
        "statistic": finite(statistic),
        "degrees_of_freedom": finite(dof),
        "p_value": finite(p_value),
        "abs_ci_low": finite(abs_low),
        "abs_ci_high": finite(abs_high),
        "rel_ci_low": finite(rel_bounds[0]),
        "rel_ci_high": finite(rel_bounds[1]),
    }

    if rel_lift is not None:
        # Delta method for mean_t / mean_c with independent arms and unpooled
        # variances (products, not powers: float ** raises on overflow).
        square_c = mean_c * mean_c
        a = v_t / square_c
        b = mean_t * mean_t * v_c / (square_c * square_c)
        if a + b <= 0:
            rel_errors.append("relative lift has zero delta-method standard error")
        else:
            rel_se = math.sqrt(a + b)
            if dof is not None:
                rel_dof = _satterthwaite(a, b, treatment.n - 1, control.n - 1)
                rel_quantile = stats.t.isf(alpha / 2, rel_dof)
            else:
                rel_quantile = quantile
            figures |= {
                "rel_std_error": finite(rel_se),
                "rel_ci_low_delta": finite(rel_lift - rel_quantile * rel_se),
                "rel_ci_high_delta": finite(rel_lift + rel_quantile * rel_se),
            }
    if any(figures[k] is None for k in required):
        errors.append("non-finite test figures")
        return no_test()
    return ComparisonResult(**base, **figures, interval_error_message=_join(rel_errors))


def welch_t_test(
    control: SampleMean | Proportion | None,
    treatment: SampleMean | Proportion | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """Welch's unequal-variance t-test of the difference in means.

    ``se = sqrt(s_c**2 / n_c + s_t**2 / n_t)`` (unit variances with ddof=1),
    ``t = (mean_t - mean_c) / se`` with Welch-Satterthwaite degrees of freedom
    ``se**4 / ((s_t**2/n_t)**2 / (n_t-1) + (s_c**2/n_c)**2 / (n_c-1))``. The
    p-value and the interval ``diff +/- t_{1-alpha/2, df} se`` share that se.
    The relative-lift interval is Fieller's with the same variance components
    and the same quantile (``fieller_interval``).

    Args:
        control: Control-arm statistic (None when the arm is missing).
        treatment: Treatment-arm statistic (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison, with ``method == "welch_t"``.
    """
    return _compare(METHOD_WELCH, control, treatment, config or ComparisonConfig())


def pooled_score_test(
    control: SampleMean | None,
    treatment: SampleMean | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """Null-restricted score z-test of a difference in means (pooled variance).

    Under the null both arms share their distribution, so the variance is that
    of all ``N`` units about their common mean: with the within-arm sum of
    squares ``W`` and ``h = 1/n_c + 1/n_t``,
    ``s0**2 = (W + d**2 / h) / (N - 1)``, ``z = d / sqrt(s0**2 h)`` and
    ``p = 2 (1 - Phi(|z|))``. The interval inverts the same statistic with the
    variance restricted to each hypothesised difference D:
    ``d +/- q sqrt(h W / (N - 1 - q**2))``; the relative interval is Fieller's
    with those components. This is the test ``compare`` uses for count and
    sum metrics with few effective units, where Welch's small-arm variance is
    too noisy.

    Args:
        control: Control-arm statistic (None when the arm is missing).
        treatment: Treatment-arm statistic (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison, with ``method == "pooled_score_z"``.
    """
    config = config or ComparisonConfig()
    return _compare(METHOD_POOLED_SCORE, control, treatment, config)


def mean_difference_test(
    control: SampleMean | None,
    treatment: SampleMean | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """The default test of a count or sum metric (as ``compare`` runs it).

    ``pooled_score_test`` when either arm is sparse: its effective number of
    units ``(sum m)**2 / sum m**2`` is below ``POOLED_SCORE_MAX_EFFECTIVE_UNITS``
    and below ``POOLED_SCORE_MAX_EFFECTIVE_SHARE`` of its units;
    ``welch_t_test`` otherwise.

    Args:
        control: Control-arm statistic (None when the arm is missing).
        treatment: Treatment-arm statistic (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison; ``method`` names the test used.
    """
    config = config or ComparisonConfig()
    return _compare(_mean_method(control, treatment), control, treatment, config)


def two_proportion_z_test(
    control: Proportion | None,
    treatment: Proportion | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """Two-proportion pooled score z-test with the score intervals it inverts.

    ``z = (p_t - p_c) / sqrt(pbar (1 - pbar) (1/n_c + 1/n_t))`` with the pooled
    rate ``pbar`` (Yates-corrected in small designs, see
    ``two_proportion_score_p_values``), ``p = 2 (1 - Phi(|z|))``. The
    difference interval is the Mee / Miettinen-Nurminen score interval and the
    relative interval the Koopman score interval of the risk ratio, both with
    the same correction: at the null they are this test, so they exclude 0
    exactly when ``p < alpha``. ``std_error`` is the pooled (null) standard
    error; ``rel_std_error`` stays the delta-method one.

    Args:
        control: Control-arm proportion (None when the arm is missing).
        treatment: Treatment-arm proportion (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison, with ``method`` ``two_proportion_score_z`` or
        ``two_proportion_score_z_continuity_corrected``.
    """
    config = config or ComparisonConfig()
    return _compare(METHOD_TWO_PROPORTION, control, treatment, config)


def ratio_delta_test(
    control: Ratio | None,
    treatment: Ratio | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """Welch t-test of a difference in ratios with delta-method variances.

    Each arm's ratio ``r = sum(m) / sum(d)`` has variance ``v / n`` with ``v``
    the delta-method unit variance (``Ratio.variance``); se, Welch-Satterthwaite
    df, p-value, interval and Fieller relative interval then follow
    ``welch_t_test``. This equals Welch's t-test on the linearised values
    ``r + (m - r d) / dbar`` of each arm.

    Args:
        control: Control-arm ratio statistic (None when the arm is missing).
        treatment: Treatment-arm ratio statistic (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison, with ``method == "ratio_delta_welch_t"``.
    """
    return _compare(METHOD_RATIO, control, treatment, config or ComparisonConfig())


def _cuped_moments(
    arm: RegressionAdjusted | RegressionAdjustedRatio,
) -> tuple[float, float, float, float, float] | None:
    """(ybar, xbar, Syy, Sxx, Sxy): means and centred sums of squares/products."""
    y_var, x_var, cov = arm.variance, arm.pre.variance, arm.covariance
    ybar, xbar = arm.mean, arm.pre.mean
    if y_var is None or x_var is None or cov is None or ybar is None or xbar is None:
        return None
    dof = arm.n - 1
    return ybar, xbar, y_var * dof, x_var * dof, cov * dof


def cuped_test(
    control: RegressionAdjusted | RegressionAdjustedRatio | None,
    treatment: RegressionAdjusted | RegressionAdjustedRatio | None,
    config: ComparisonConfig | None = None,
) -> CupedResult:
    """CUPED: the difference in means adjusted by a pre-period covariate.

    Lin's (2013) regression adjustment with a slope per arm, and a variance
    built from each arm's own residual spread (so it stays right when the arms
    differ in size and in variance). From each arm's centred sums ``Syy``,
    ``Sxx``, ``Sxy`` (``n_a`` units), with ``xbar`` the mean covariate of the
    two arms together and ``N = n_c + n_t``:

    - ``theta_a = Sxy_a / Sxx_a`` (the arm's own slope),
    - ``lift = (ybar_t - theta_t (xbar_t - xbar)) - (ybar_c - theta_c (xbar_c -
      xbar))``, which equals ``(ybar_t - ybar_c) - theta (xbar_t - xbar_c)`` with
      ``theta = (n_c theta_t + n_t theta_c) / N``,
    - ``s2_a = (Syy_a - theta_a Sxy_a) / (n_a - 2)`` (the arm's residual variance),
    - ``A_a = s2_a (1/n_a + (xbar_a - xbar)**2 / Sxx_a)``: the variance of the
      arm's adjusted mean (the OLS intercept variance of its own regression on
      ``x - xbar``),
    - ``B = (theta_t - theta_c)**2 s2_x / N`` with ``s2_x = (Sxx_c + Sxx_t) / (N -
      2)``: the variance carried by ``xbar`` when the slopes differ,
    - ``se**2 = A_c + A_t + B``; Student's t with the Welch-Satterthwaite degrees
      of freedom of ``A_c + A_t`` (``n_a - 2`` per arm) gives the p-value and the
      ``1 - alpha`` interval (so the interval excludes 0 exactly when p < alpha),
    - ``variance_reduction = 1 - se**2 / se0**2`` with ``se0**2 = Syy_c / ((n_c -
      1) n_c) + Syy_t / ((n_t - 1) n_t)``, the Welch variance of the unadjusted
      difference. Asymptotically it is never negative.

    For ratio metrics ``y`` and ``x`` are the delta-method linearised values
    ``r + (m - r d) / dbar`` and ``q + (x - q w) / wbar`` (r, q the arm's post and
    pre ratios), so ``ybar`` and ``xbar`` are the arm ratios.

    Args:
        control: Control arm with its covariate (None when missing).
        treatment: Treatment arm with its covariate (None when missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The adjusted comparison; figures None with a reason when degenerate.
    """
    config = config or ComparisonConfig()
    is_ratio = isinstance(control, RegressionAdjustedRatio) or isinstance(
        treatment, RegressionAdjustedRatio
    )
    method = METHOD_RATIO_CUPED if is_ratio else METHOD_CUPED
    try:
        return _cuped(control, treatment, config, method, is_ratio)
    except ArithmeticError as error:  # float division by an underflowed zero
        return CupedResult(
            method=method, error_message=f"numerical failure ({error}): no test"
        )


def _cuped(
    control: RegressionAdjusted | RegressionAdjustedRatio | None,
    treatment: RegressionAdjusted | RegressionAdjustedRatio | None,
    config: ComparisonConfig,
    method: str,
    is_ratio: bool,
) -> CupedResult:
    """``cuped_test`` without the guard against floating-point exceptions."""
    adjusted = RegressionAdjusted | RegressionAdjustedRatio
    if not isinstance(control, adjusted) or not isinstance(treatment, adjusted):
        if control is None or treatment is None:
            reason = "control or treatment arm missing"
        else:
            reason = "no pre-period covariate (cuped_lookback_days is 0)"
        return CupedResult(method=method, error_message=reason)
    if type(control) is not type(treatment):
        return CupedResult(
            method=method, error_message="control and treatment differ in kind"
        )
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 3:  # a slope and a residual variance per arm
            return CupedResult(
                method=method, error_message=f"{name} arm has fewer than 3 units"
            )
        if is_ratio and (arm.mean is None or arm.pre.mean is None):
            return CupedResult(
                method=method,
                error_message=f"a denominator sum is 0 in the {name} arm",
            )
    moments_c, moments_t = _cuped_moments(control), _cuped_moments(treatment)
    if moments_c is None or moments_t is None:
        return CupedResult(method=method, error_message="covariate sums undefined")
    ybar_c, xbar_c, syy_c, sxx_c, sxy_c = moments_c
    ybar_t, xbar_t, syy_t, sxx_t, sxy_t = moments_t
    n_c, n_t = control.n, treatment.n
    if syy_c + syy_t <= 0:
        if _is_all_zero(control) and _is_all_zero(treatment):
            reason = "no events in either arm (every unit value is 0): no test"
        else:
            reason = "zero variance in both arms: no test"
        return CupedResult(method=method, error_message=reason)
    if sxx_c <= 0 and sxx_t <= 0:
        return CupedResult(
            method=method,
            error_message="covariate has no variance within arms "
            "(no pre-period data): CUPED not possible",
        )
    for name, sxx in (("control", sxx_c), ("treatment", sxx_t)):
        if sxx <= 0:
            return CupedResult(
                method=method,
                error_message=f"covariate has no variance within the {name} arm: "
                "CUPED not possible",
            )
    theta_c, theta_t = sxy_c / sxx_c, sxy_t / sxx_t
    total = n_c + n_t
    theta = (n_c * theta_t + n_t * theta_c) / total
    # Residual sums of squares; below rounding noise they are 0 (exact fit).
    residual_c = syy_c - theta_c * sxy_c
    residual_t = syy_t - theta_t * sxy_t
    residual_c = 0.0 if residual_c <= RELATIVE_ZERO * syy_c else residual_c
    residual_t = 0.0 if residual_t <= RELATIVE_ZERO * syy_t else residual_t
    if residual_c == 0 and residual_t == 0:
        return CupedResult(
            method=method,
            theta=finite(theta),
            theta_control=finite(theta_c),
            theta_treatment=finite(theta_t),
            error_message="covariate explains the metric exactly: no test",
        )
    xbar = (n_c * xbar_c + n_t * xbar_t) / total
    dx_c, dx_t = xbar_c - xbar, xbar_t - xbar
    arm_c = residual_c / (n_c - 2) * (1 / n_c + dx_c * dx_c / sxx_c)
    arm_t = residual_t / (n_t - 2) * (1 / n_t + dx_t * dx_t / sxx_t)
    slopes = (theta_t - theta_c) ** 2 * (sxx_c + sxx_t) / (total - 2) / total
    variance = arm_c + arm_t + slopes
    unadjusted = syy_c / ((n_c - 1) * n_c) + syy_t / ((n_t - 1) * n_t)
    # Welch-Satterthwaite on the two arm terms (scaled first: scale-free formula).
    scale = max(arm_c, arm_t)
    a_c, a_t = arm_c / scale, arm_t / scale
    dof = (a_c + a_t) ** 2 / (a_c * a_c / (n_c - 2) + a_t * a_t / (n_t - 2))
    lift = (ybar_t - theta_t * dx_t) - (ybar_c - theta_c * dx_c)
    std_error = math.sqrt(variance)
    statistic = lift / std_error
    # isf, not ppf(1 - alpha / 2): exact for tiny alphas too, where 1 - alpha / 2
    # would round (adjusted intervals are built at such alphas).
    quantile = stats.t.isf(config.alpha / 2, dof)
    result = CupedResult(
        method=method,
        abs_lift=finite(lift),
        ci_low=finite(lift - quantile * std_error),
        ci_high=finite(lift + quantile * std_error),
        std_error=finite(std_error),
        statistic=finite(statistic),
        degrees_of_freedom=finite(dof),
        p_value=finite(2 * stats.t.sf(abs(statistic), dof)),
        theta=finite(theta),
        variance_reduction=finite(1 - variance / unadjusted),
        theta_control=finite(theta_c),
        theta_treatment=finite(theta_t),
    )
    if None in (
        result.abs_lift,
        result.std_error,
        result.statistic,
        result.degrees_of_freedom,
        result.p_value,
        result.ci_low,
        result.ci_high,
    ):
        return CupedResult(method=method, error_message="non-finite CUPED figures")
    return result


def compare(
    control: Statistic | None,
    treatment: Statistic | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """Run the default test for the statistic's kind, plus CUPED when possible.

    Proportion -> ``two_proportion_z_test`` (score test); SampleMean ->
    ``mean_difference_test`` (Welch, or the pooled score test at low effective
    counts); Ratio -> ``ratio_delta_test``; the regression-adjusted kinds run
    the test of their post-period statistic and attach ``cuped_test``. Without
    a covariate ``cuped`` holds a CupedResult whose error_message says why.

    Args:
        control: Control-arm statistic (None when the arm is missing).
        treatment: Treatment-arm statistic (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison with its ``cuped`` field set.
    """
    config = config or ComparisonConfig()
    known = (
        SampleMean,
        Proportion,
        Ratio,
        RegressionAdjusted,
        RegressionAdjustedRatio,
    )
    present = [arm for arm in (control, treatment) if arm is not None]
    if any(not isinstance(arm, known) for arm in present):
        return ComparisonResult(
            method=METHOD_UNKNOWN, alpha=config.alpha, error_message="unknown statistic"
        )
    post = [_post(arm) for arm in present]
    if len({type(arm) for arm in post}) > 1:
        return ComparisonResult(
            method=METHOD_UNKNOWN,
            alpha=config.alpha,
            n_control=None if control is None else control.n,
            n_treatment=None if treatment is None else treatment.n,
            error_message="control and treatment statistics differ in kind",
        )
    methods = {
        Proportion: METHOD_TWO_PROPORTION,
        Ratio: METHOD_RATIO,
        SampleMean: METHOD_WELCH,
    }
    method = methods[type(post[0])] if post else METHOD_UNKNOWN
    if method == METHOD_WELCH:
        method = _mean_method(_post(control), _post(treatment))

    # Sums no data could produce give no figures at all, never a p-value.
    impossible = [
        f"{name} arm: {problem}"
        for name, arm in (("control", control), ("treatment", treatment))
        if arm is not None
        for problem in statistic_problems(arm)
    ]
    if impossible:
        message = "impossible sufficient statistics: " + "; ".join(impossible)
        return ComparisonResult(
            method=method,
            alpha=config.alpha,
            n_control=None if control is None else control.n,
            n_treatment=None if treatment is None else treatment.n,
            error_message=message,
            cuped=CupedResult(error_message=message),
        )

    result = _compare(method, _post(control), _post(treatment), config)
    cuped = cuped_test(control, treatment, config)  # type: ignore[arg-type]
    return replace(result, cuped=cuped)


def _post(arm: Statistic | None) -> Statistic | None:
    """The post-period statistic of a regression-adjusted arm (else the arm)."""
    if isinstance(arm, RegressionAdjusted | RegressionAdjustedRatio):
        return arm.post
    return arm


def mann_whitney(
    control_values: Sequence[float] | np.ndarray,
    treatment_values: Sequence[float] | np.ndarray,
) -> MannWhitneyResult:
    """Opt-in Mann-Whitney U test; needs unit-level values, not per-arm sums.

    It is off the default path (``compare`` never calls it) because the marts
    hold only sufficient statistics. Normal approximation with tie correction
    and continuity correction: ``mu = n_c n_t / 2``,
    ``sigma**2 = n_c n_t / 12 ((N + 1) - sum(t**3 - t) / (N (N - 1)))`` over tie
    groups of size t, ``z = (|U - mu| - 1/2) / sigma``.

    Args:
        control_values: One value per control unit.
        treatment_values: One value per treatment unit.

    Returns:
        The test result; figures None with a reason when degenerate.
    """
    control = np.asarray(control_values, dtype=float).ravel()
    treatment = np.asarray(treatment_values, dtype=float).ravel()
    n_c, n_t = control.size, treatment.size
    result = MannWhitneyResult(
        method=METHOD_MANN_WHITNEY, n_control=n_c, n_treatment=n_t
    )
    errors = [
        f"{name} arm has no values"
        for name, size in (("control", n_c), ("treatment", n_t))
        if size == 0
    ]
    if not (np.all(np.isfinite(control)) and np.all(np.isfinite(treatment))):
        errors.append("values contain NaN or infinity")
    if errors:
        return replace(result, error_message=_join(errors))
    combined = np.concatenate([treatment, control])
    ranks = stats.rankdata(combined)
    _, tie_sizes = np.unique(combined, return_counts=True)
    ties = float(np.sum(tie_sizes.astype(float) ** 3 - tie_sizes))
    return mann_whitney_from_rank_sums(n_c, n_t, float(ranks[:n_t].sum()), ties)


def mann_whitney_from_rank_sums(
    n_control: int, n_treatment: int, treatment_rank_sum: float, tie_term: float
) -> MannWhitneyResult:
    """Mann-Whitney U test from the sufficient statistics a SQL model can hold.

    The inputs are what a warehouse computes with a window rank (issue 17
    item 9): the arm sizes, the treatment arm's sum of mid-ranks over the
    pooled sample, and the tie term ``sum(t**3 - t)`` over tie groups of size
    t. ``U = R_t - n_t (n_t + 1) / 2``; the normal approximation and the
    continuity correction are those of ``mann_whitney`` (scipy's
    ``mannwhitneyu(method="asymptotic", use_continuity=True)``).

    Args:
        n_control: Number of control units.
        n_treatment: Number of treatment units.
        treatment_rank_sum: Sum of the treatment units' mid-ranks (1-based).
        tie_term: ``sum(t**3 - t)`` over the pooled sample's tie groups.

    Returns:
        The test result; figures None with a reason when degenerate.
    """
    n_c, n_t = int(n_control), int(n_treatment)
    result = MannWhitneyResult(
        method=METHOD_MANN_WHITNEY, n_control=n_c, n_treatment=n_t
    )
    errors = [
        f"{name} arm has no values"
        for name, size in (("control", n_c), ("treatment", n_t))
        if size <= 0
    ]
    if not (math.isfinite(treatment_rank_sum) and math.isfinite(tie_term)):
        errors.append("rank sum or tie term is not finite")
    if errors:
        return replace(result, error_message=_join(errors))
    u = float(treatment_rank_sum - n_t * (n_t + 1) / 2)
    total = n_c + n_t
    ties = float(tie_term)
    sigma2 = n_c * n_t / 12 * ((total + 1) - ties / (total * (total - 1)))
    superiority = u / (n_c * n_t)
    if sigma2 <= 0:
        return replace(
            result,
            u_statistic=u,
            probability_of_superiority=superiority,
            error_message="all values are tied: no test",
        )
    z = (abs(u - n_c * n_t / 2) - 0.5) / math.sqrt(sigma2)
    return replace(
        result,
        u_statistic=u,
        probability_of_superiority=superiority,
        z=z,
        p_value=min(1.0, 2 * float(stats.norm.sf(z))),
    )
