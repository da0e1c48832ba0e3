"""Regression adjustment with several covariates from per-arm sufficient statistics.

Lin's (2013) estimator with treatment-by-covariate interactions: each arm has
its own slopes on the covariates, centred at the mean of both arms together,
and its own residual variance. It generalises ``frequentist.cuped_test`` (one
covariate, the metric's own pre-period) to any number of covariates: other
metrics' pre-periods, numeric unit attributes and a prediction column (CUPAC).

Input per arm, never a unit-level row: ``n``, the sums of the terms
``(y, x_1, ..., x_k)`` and the sums of their pairwise products (a
``(k + 1) x (k + 1)`` matrix). The sums may be Python ints or
``fractions.Fraction`` (the warehouse's exact integer sums divided by their
power-of-2 scales): centring them is then exact, so large means with a small
spread lose no digits. Floats work too.

With ``xbar`` the covariate mean of both arms, ``N = n_c + n_t``, and per arm
``Sxx_a``, ``Sxy_a``, ``Syy_a`` the centred sums (about the arm's own means):

- ``beta_a = Sxx_a^-1 Sxy_a`` (the arm's own slopes),
- ``lift = (ybar_t - beta_t'(xbar_t - xbar)) - (ybar_c - beta_c'(xbar_c - xbar))``:
  the coefficient of ``T`` in the OLS fit ``y ~ T * (x - xbar)``,
- ``s2_a = (Syy_a - beta_a' Sxy_a) / (n_a - k - 1)``, the arm's residual variance,
- ``A_a = s2_a (1 / n_a + d_a' Sxx_a^-1 d_a)`` with ``d_a = xbar_a - xbar``:
  the OLS variance of the arm's fitted mean at ``xbar``,
- ``B = (beta_t - beta_c)' S_x (beta_t - beta_c) / N`` with ``S_x = (Sxx_c +
  Sxx_t) / (N - 2)``: the variance carried by estimating ``xbar`` when the
  slopes differ (Lin 2013, section 5; zero when the slopes are equal),
- ``se^2 = A_c + A_t + B``; Student's t at the Welch-Satterthwaite degrees of
  freedom of ``A_c + A_t`` (``n_a - k - 1`` per arm) gives the p-value and the
  interval, so the interval excludes 0 exactly when ``p < alpha``.
- ``variance_reduction = 1 - se^2 / se0^2`` against Welch's variance of the
  plain difference in means.

``A_c + A_t`` is, to O(1/n) relative, what the heteroskedasticity-robust
(HC0/HC2) sandwich gives for the ``T`` coefficient: the interacted regression
separates into one regression per arm, and each arm's robust intercept
variance at ``xbar`` tends to ``s2_a / n_a``. ``B`` is the part the sandwich
leaves out because it treats ``xbar`` as fixed.

Covariates that are constant or collinear with earlier ones (in either arm)
are dropped, in the order given, with a message; at most ``MAX_COVARIATES``
are used, and each arm needs more than ``k + 2`` units. Degenerate input gives
None figures and an ``error_message``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import stats

from xpkit.stats.numbers import finite

__all__ = [
    "COLLINEARITY_TOLERANCE",
    "MAX_COVARIATES",
    "METHOD_REGRESSION",
    "ArmCrossProducts",
    "RegressionResult",
    "regression_adjusted_test",
]

METHOD_REGRESSION = "lin_regression_welch_t"
MAX_COVARIATES = 10
"""The cap on covariates per metric: the first ten usable ones, in the order
registered, are kept (the rest are named in the message). Ten slopes per arm
cost nothing in precision at the arm sizes experiments have, and stop a
registry from fitting noise."""
COLLINEARITY_TOLERANCE = 1e-9
"""A covariate whose variance left after regressing it on the covariates kept
before it is below this share of its own variance, in either arm, is dropped."""

Number = int | float | Fraction


@dataclass(frozen=True, slots=True)
class ArmCrossProducts:
    """One arm's sufficient statistics for the regression.

    Attributes:
        n: Units in the arm (units without events count, with values 0).
        sums: ``[sum y, sum x_1, ..., sum x_k]``.
        products: ``products[i][j] = sum term_i * term_j`` over the same terms
            (symmetric; ``products[0][0] = sum y^2``).
    """

    n: int
    sums: Sequence[Number]
    products: Sequence[Sequence[Number]]


@dataclass(frozen=True, slots=True)
class RegressionResult:
    """Regression-adjusted comparison (treatment minus control).

    Attributes:
        method: ``lin_regression_welch_t``.
        abs_lift: The adjusted difference in means.
        ci_low: Lower end of the ``1 - alpha`` interval.
        ci_high: Upper end of that interval.
        std_error: Its standard error (``A_c + A_t + B``, module docstring).
        statistic: ``abs_lift / std_error``.
        degrees_of_freedom: Welch-Satterthwaite df.
        p_value: Two-sided p-value.
        variance_reduction: ``1 - std_error^2 / se0^2`` (Welch's unadjusted).
        covariates: The covariates used, in order.
        dropped: Covariates left out, each with the reason.
        slopes_control: The control arm's slopes, one per covariate used.
        slopes_treatment: The treatment arm's slopes.
        error_message: Why figures are None; None when computed.
    """

    method: str = METHOD_REGRESSION
    abs_lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    std_error: float | None = None
    statistic: float | None = None
    degrees_of_freedom: float | None = None
    p_value: float | None = None
    variance_reduction: float | None = None
    covariates: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    slopes_control: tuple[float, ...] = ()
    slopes_treatment: tuple[float, ...] = ()
    error_message: str | None = None

    @property
    def message(self) -> str | None:
        """The error, or the dropped covariates, as one sentence; None if neither."""
        parts = [self.error_message] if self.error_message else []
        if self.dropped:
            parts.append("covariates not used: " + "; ".join(self.dropped))
        return "; ".join(parts) or None


def _exact(value: Number) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not math.isfinite(float(value)):
        raise ValueError(f"not a finite number: {value!r}")
    return Fraction(value)


def _centred(arm: ArmCrossProducts, size: int) -> tuple[list[Fraction], np.ndarray]:
    """The arm's means and centred cross products (exact, then one rounding)."""
    n = arm.n
    sums = [_exact(arm.sums[i]) for i in range(size)]
    centred = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            value = _exact(arm.products[i][j]) - sums[i] * sums[j] / n
            centred[i, j] = centred[j, i] = float(value)
    return [s / n for s in sums], centred


def _select(
    names: Sequence[str], sxx: Sequence[np.ndarray], arm_names: Sequence[str]
) -> tuple[list[int], list[str]]:
    """Indices of usable covariates, in order, and reasons for the others.

    Sequential (Gram-Schmidt) test in each arm: the variance of covariate j left
    after regressing it on the kept ones must be a positive share of its own.
    """
    kept: list[int] = []
    dropped: list[str] = []
    for j, name in enumerate(names):
        reason = None
        for matrix, arm in zip(sxx, arm_names, strict=True):
            own = matrix[j, j]
            if not own > 0:
                reason = f"{name} is constant in the {arm} arm"
                break
            if kept:
                block = matrix[np.ix_(kept, kept)]
                cross = matrix[kept, j]
                left = own - cross @ np.linalg.solve(block, cross)
                if left <= COLLINEARITY_TOLERANCE * own:
                    reason = (
                        f"{name} is collinear with earlier covariates in the {arm} arm"
                    )
                    break
        if reason is None and len(kept) >= MAX_COVARIATES:
            reason = f"{name} is past the cap of {MAX_COVARIATES} covariates"
        if reason is None:
            kept.append(j)
        else:
            dropped.append(reason)
    return kept, dropped


def regression_adjusted_test(
    control: ArmCrossProducts | None,
    treatment: ArmCrossProducts | None,
    covariates: Sequence[str],
    alpha: float = 0.05,
) -> RegressionResult:
    """Lin's regression-adjusted difference in means (module docstring).

    Args:
        control: Control arm's sums (None when missing).
        treatment: Treatment arm's sums (None when missing).
        covariates: Names of ``x_1 .. x_k`` (the order of ``sums[1:]``).
        alpha: Two-sided level of the interval.

    Returns:
        The comparison; figures None with a reason when degenerate.
    """
    names = tuple(covariates)
    if control is None or treatment is None:
        return RegressionResult(error_message="control or treatment arm missing")
    if not 0 < alpha < 1:
        return RegressionResult(
            error_message=f"alpha must lie in (0, 1), got {alpha!r}"
        )
    size = len(names) + 1
    for label, arm in (("control", control), ("treatment", treatment)):
        if len(arm.sums) != size or len(arm.products) != size:
            return RegressionResult(
                error_message=f"{label} arm has sums for {len(arm.sums) - 1} "
                f"covariates, expected {size - 1}"
            )
        if arm.n < 3:
            return RegressionResult(
                error_message=f"{label} arm has {arm.n} units; at least 3 are needed"
            )
    try:
        return _regression(control, treatment, names, alpha)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as error:
        return RegressionResult(
            covariates=names, error_message=f"numerical failure ({error}): no test"
        )


def _regression(
    control: ArmCrossProducts,
    treatment: ArmCrossProducts,
    names: tuple[str, ...],
    alpha: float,
) -> RegressionResult:
    size = len(names) + 1
    means_c, moments_c = _centred(control, size)
    means_t, moments_t = _centred(treatment, size)
    n_c, n_t = control.n, treatment.n
    total = n_c + n_t
    syy_c, syy_t = moments_c[0, 0], moments_t[0, 0]
    if not syy_c + syy_t > 0:
        return RegressionResult(
            covariates=names, error_message="zero variance in both arms: no test"
        )
    for label, syy in (("control", syy_c), ("treatment", syy_t)):
        if syy < 0:
            return RegressionResult(
                covariates=names,
                error_message=f"negative sum of squares in the {label} arm: "
                "sums no data could produce",
            )
    kept, dropped = _select(
        names, [moments_c[1:, 1:], moments_t[1:, 1:]], ("control", "treatment")
    )
    k = len(kept)
    used = tuple(names[j] for j in kept)
    for label, n in (("control", n_c), ("treatment", n_t)):
        if n - k - 1 < 2:
            return RegressionResult(
                covariates=used,
                dropped=tuple(dropped),
                error_message=f"{label} arm has {n} units: too few for {k} covariates",
            )
    index = [0] + [j + 1 for j in kept]
    moments_c = moments_c[np.ix_(index, index)]
    moments_t = moments_t[np.ix_(index, index)]
    # Differences of means, exact before rounding: d_a = xbar_a - xbar.
    pooled = [(n_c * means_c[i] + n_t * means_t[i]) / total for i in index[1:]]
    d_c = np.array(
        [float(means_c[i] - p) for i, p in zip(index[1:], pooled, strict=True)]
    )
    d_t = np.array(
        [float(means_t[i] - p) for i, p in zip(index[1:], pooled, strict=True)]
    )
    raw_difference = float(means_t[0] - means_c[0])

    def fit(
        moments: np.ndarray, n: int, d: np.ndarray
    ) -> tuple[np.ndarray, float, float]:
        sxx, sxy, syy = moments[1:, 1:], moments[1:, 0], moments[0, 0]
        beta = np.linalg.solve(sxx, sxy) if k else np.zeros(0)
        residual = syy - float(sxy @ beta)
        residual = 0.0 if residual <= 1e-10 * syy else residual
        leverage = float(d @ np.linalg.solve(sxx, d)) if k else 0.0
        return beta, residual, residual / (n - k - 1) * (1 / n + leverage)

    beta_c, residual_c, arm_c = fit(moments_c, n_c, d_c)
    beta_t, residual_t, arm_t = fit(moments_t, n_t, d_t)
    lift = raw_difference - float(beta_t @ d_t) + float(beta_c @ d_c)
    slopes = (tuple(float(b) for b in beta_c), tuple(float(b) for b in beta_t))
    if residual_c == 0 and residual_t == 0:
        return RegressionResult(
            abs_lift=finite(lift),
            covariates=used,
            dropped=tuple(dropped),
            slopes_control=slopes[0],
            slopes_treatment=slopes[1],
            error_message="covariates explain the metric exactly: no test",
        )
    gap = beta_t - beta_c
    spread = (moments_c[1:, 1:] + moments_t[1:, 1:]) / (total - 2)
    carried = float(gap @ spread @ gap) / total if k else 0.0
    variance = arm_c + arm_t + carried
    unadjusted = syy_c / ((n_c - 1) * n_c) + syy_t / ((n_t - 1) * n_t)
    scale = max(arm_c, arm_t)
    a_c, a_t = arm_c / scale, arm_t / scale
    dof = (a_c + a_t) ** 2 / (a_c * a_c / (n_c - k - 1) + a_t * a_t / (n_t - k - 1))
    std_error = math.sqrt(variance)
    statistic = lift / std_error
    quantile = float(stats.t.isf(alpha / 2, dof))
    result = RegressionResult(
        abs_lift=finite(lift),
        ci_low=finite(lift - quantile * std_error),
        ci_high=finite(lift + quantile * std_error),
        std_error=finite(std_error),
        statistic=finite(statistic),
        degrees_of_freedom=finite(dof),
        p_value=finite(2 * stats.t.sf(abs(statistic), dof)),
        variance_reduction=finite(1 - variance / unadjusted),
        covariates=used,
        dropped=tuple(dropped),
        slopes_control=slopes[0],
        slopes_treatment=slopes[1],
    )
    if None in (result.abs_lift, result.std_error, result.p_value, result.ci_low):
        return RegressionResult(
            covariates=used, dropped=tuple(dropped), error_message="non-finite figures"
        )
    return result
