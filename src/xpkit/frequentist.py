"""Frequentist comparisons of a treatment arm against its control arm.

Every comparison takes two per-arm statistics (see ``xpkit.statistics``) and a
config, and returns a frozen result. Degenerate input never raises: the figures
that cannot be computed are None and ``error_message`` says why. No figure is
ever NaN or infinite.

Method strings (the ``method`` column of ``experiment_results``):

- ``welch_t``: Welch's t-test, Welch-Satterthwaite degrees of freedom.
- ``two_proportion_unpooled_z``: Wald z-test with the unpooled standard error.
- ``ratio_delta_welch_t``: Welch's t-test on delta-method variances of a ratio.
- ``cuped_lin_welch_t`` / ``ratio_cuped_lin_welch_t``: CUPED as Lin's regression
  adjustment with a slope per arm and each arm's own residual variance
  (Welch-Satterthwaite df); on delta-method linearised values for ratios.
- ``mann_whitney_u_asymptotic``: opt-in rank test on unit-level values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from xpkit.statistics import (
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
    "METHOD_RATIO",
    "METHOD_RATIO_CUPED",
    "METHOD_TWO_PROPORTION",
    "METHOD_UNKNOWN",
    "METHOD_WELCH",
    "ComparisonConfig",
    "ComparisonResult",
    "CupedResult",
    "MannWhitneyResult",
    "compare",
    "cuped_test",
    "mann_whitney",
    "ratio_delta_test",
    "two_proportion_z_test",
    "welch_t_test",
]

METHOD_WELCH = "welch_t"
METHOD_TWO_PROPORTION = "two_proportion_unpooled_z"
METHOD_RATIO = "ratio_delta_welch_t"
METHOD_CUPED = "cuped_lin_welch_t"
METHOD_RATIO_CUPED = "ratio_cuped_lin_welch_t"
METHOD_MANN_WHITNEY = "mann_whitney_u_asymptotic"
# No test could be chosen (both arms missing, or arms of different kinds).
METHOD_UNKNOWN = "unknown"


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
        rel_ci_low: Lower end of the delta-method 1 - alpha interval of
            ``rel_lift``.
        rel_ci_high: Upper end of that interval.
        rel_std_error: Delta-method standard error of ``rel_lift``.
        error_message: Why figures are None; None when all were computed.
        cuped: The CUPED-adjusted comparison (with its own error message).
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


def _finite(value: float | None) -> float | None:
    """The value as float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


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
    """Variance of an arm's mean: ``variance / n``, or ``p (1 - p) / n`` for z."""
    if method == METHOD_TWO_PROPORTION:
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


def _compare(
    method: str,
    control: Statistic | None,
    treatment: Statistic | None,
    config: ComparisonConfig,
) -> ComparisonResult:
    """Shared two-sample comparison for the Welch, z and ratio methods."""
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
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n == 0:
            errors.append(f"{name} arm has no units")
        elif arm.mean is None:
            errors.append(f"denominator sum is 0 in the {name} arm: ratio undefined")
    mean_c = _finite(control.mean)
    mean_t = _finite(treatment.mean)
    abs_lift = rel_lift = None
    if mean_c is not None and mean_t is not None:
        abs_lift = _finite(mean_t - mean_c)
        if abs_lift is None:
            errors.append("difference of means overflows")
        elif mean_c == 0:
            errors.append("control mean is 0: relative lift undefined")
        else:
            rel_lift = _finite(mean_t / mean_c - 1)
    base = {
        "method": method,
        "alpha": alpha,
        "n_control": n_c,
        "n_treatment": n_t,
        "mean_control": mean_c,
        "mean_treatment": mean_t,
        "abs_lift": abs_lift,
        "rel_lift": rel_lift,
    }
    if abs_lift is None:
        return ComparisonResult(**base, error_message=_join(errors))
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n == 1:
            errors.append(f"{name} arm has only 1 unit: variance undefined")
    if control.n < 2 or treatment.n < 2:
        return ComparisonResult(**base, error_message=_join(errors))

    v_c = _estimator_variance(method, control)
    v_t = _estimator_variance(method, treatment)
    if v_c is None or v_t is None or v_c + v_t <= 0:
        if _is_all_zero(control) and _is_all_zero(treatment):
            errors.append("no events in either arm (every unit value is 0): no test")
        else:
            errors.append("zero variance in both arms: no test")
        return ComparisonResult(**base, error_message=_join(errors))

    use_t = method != METHOD_TWO_PROPORTION
    std_error = math.sqrt(v_c + v_t)
    statistic = abs_lift / std_error
    if use_t:
        dof = _satterthwaite(v_t, v_c, treatment.n - 1, control.n - 1)
        p_value = 2 * stats.t.sf(abs(statistic), dof)
        quantile = stats.t.ppf(1 - alpha / 2, dof)
    else:
        dof = None
        p_value = 2 * stats.norm.sf(abs(statistic))
        quantile = stats.norm.ppf(1 - alpha / 2)
    figures = {
        "std_error": _finite(std_error),
        "statistic": _finite(statistic),
        "degrees_of_freedom": _finite(dof),
        "p_value": _finite(p_value),
        "abs_ci_low": _finite(abs_lift - quantile * std_error),
        "abs_ci_high": _finite(abs_lift + quantile * std_error),
    }

    if rel_lift is not None:
        # Delta method for mean_t / mean_c with independent arms.
        # (products, not powers: float ** raises on overflow, * gives inf)
        square_c = mean_c * mean_c
        a = v_t / square_c
        b = mean_t * mean_t * v_c / (square_c * square_c)
        if a + b <= 0:
            errors.append("relative lift has zero standard error: no interval")
        else:
            rel_se = math.sqrt(a + b)
            if use_t:
                rel_dof = _satterthwaite(a, b, treatment.n - 1, control.n - 1)
                rel_quantile = stats.t.ppf(1 - alpha / 2, rel_dof)
            else:
                rel_quantile = quantile
            figures |= {
                "rel_std_error": _finite(rel_se),
                "rel_ci_low": _finite(rel_lift - rel_quantile * rel_se),
                "rel_ci_high": _finite(rel_lift + rel_quantile * rel_se),
            }
    # dof is None by design for z-tests; any other None here is an overflow.
    if any(v is None for k, v in figures.items() if k != "degrees_of_freedom") or (
        use_t and figures["degrees_of_freedom"] is None
    ):
        errors.append("non-finite test figures")
        figures = {}
    return ComparisonResult(**base, **figures, error_message=_join(errors))


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
    The relative-lift interval uses the Satterthwaite df of its own two
    delta-method variance terms.

    Args:
        control: Control-arm statistic (None when the arm is missing).
        treatment: Treatment-arm statistic (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison, with ``method == "welch_t"``.
    """
    return _compare(METHOD_WELCH, control, treatment, config or ComparisonConfig())


def two_proportion_z_test(
    control: Proportion | None,
    treatment: Proportion | None,
    config: ComparisonConfig | None = None,
) -> ComparisonResult:
    """Two-proportion Wald z-test with the unpooled standard error.

    ``se = sqrt(p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t)``,
    ``z = (p_t - p_c) / se``, p-value ``2 (1 - Phi(|z|))`` and interval
    ``(p_t - p_c) +/- z_{1-alpha/2} se``: the same se for both, so the interval
    excludes 0 exactly when p < alpha. The relative-lift interval also uses the
    normal quantile.

    Args:
        control: Control-arm proportion (None when the arm is missing).
        treatment: Treatment-arm proportion (None when the arm is missing).
        config: Alpha; defaults to 0.05.

    Returns:
        The comparison, with ``method == "two_proportion_unpooled_z"``.
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
    df, p-value and interval then follow ``welch_t_test``. This equals Welch's
    t-test on the linearised values ``r + (m - r d) / dbar`` of each arm.

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
    if None in (y_var, x_var, cov, ybar, xbar):
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
            theta=_finite(theta),
            theta_control=_finite(theta_c),
            theta_treatment=_finite(theta_t),
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
        abs_lift=_finite(lift),
        ci_low=_finite(lift - quantile * std_error),
        ci_high=_finite(lift + quantile * std_error),
        std_error=_finite(std_error),
        statistic=_finite(statistic),
        degrees_of_freedom=_finite(dof),
        p_value=_finite(2 * stats.t.sf(abs(statistic), dof)),
        theta=_finite(theta),
        variance_reduction=_finite(1 - variance / unadjusted),
        theta_control=_finite(theta_c),
        theta_treatment=_finite(theta_t),
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

    Proportion -> ``two_proportion_z_test``; SampleMean -> ``welch_t_test``;
    Ratio -> ``ratio_delta_test``; the regression-adjusted kinds run the test of
    their post-period statistic and attach ``cuped_test``. Without a covariate
    ``cuped`` holds a CupedResult whose error_message says why.

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
    u = float(ranks[:n_t].sum() - n_t * (n_t + 1) / 2)
    total = n_c + n_t
    _, tie_sizes = np.unique(combined, return_counts=True)
    ties = float(np.sum(tie_sizes.astype(float) ** 3 - tie_sizes))
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
