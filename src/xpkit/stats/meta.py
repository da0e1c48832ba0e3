"""Meta-analysis across experiments: DerSimonian-Laird random effects,
empirical-Bayes shrinkage of each experiment's lift, and the summed impact of
the shipped ones (docs/methodology.md, "Meta-analysis across experiments").

Inputs are one estimate and its sampling variance per experiment (a relative
improvement and its squared standard error). Pure functions; degenerate input
never raises: the figures are None and ``error_message`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = [
    "MetaResult",
    "Shrunken",
    "ValueOfInformation",
    "expected_value_of_information",
    "random_effects",
    "shrink",
    "summed_impact",
]


@dataclass(frozen=True, slots=True)
class MetaResult:
    """DerSimonian-Laird random-effects pooling of k estimates.

    Attributes:
        k: Number of estimates pooled.
        fixed_effect: Inverse-variance weighted mean ``sum(w y) / sum(w)``,
            ``w = 1 / v``.
        fixed_effect_se: ``sqrt(1 / sum(w))``.
        q_statistic: Cochran's Q, ``sum(w (y - fixed_effect)**2)``.
        tau_squared: Between-experiment variance, DerSimonian-Laird moment
            estimate ``max(0, (Q - (k - 1)) / (sum(w) - sum(w**2) / sum(w)))``;
            0 for one estimate (nothing to estimate it from).
        i_squared: Share of the variation beyond chance, ``max(0, (Q - (k - 1)) / Q)``.
        pooled: Random-effects mean, weights ``1 / (v + tau_squared)``.
        pooled_se: ``sqrt(1 / sum(1 / (v + tau_squared)))``.
        ci_low, ci_high: ``pooled -+ z(1 - alpha / 2) pooled_se`` (normal).
        error_message: Why the figures are None, or a note (one estimate).
    """

    k: int = 0
    fixed_effect: float | None = None
    fixed_effect_se: float | None = None
    q_statistic: float | None = None
    tau_squared: float | None = None
    i_squared: float | None = None
    pooled: float | None = None
    pooled_se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Shrunken:
    """One experiment's empirical-Bayes (normal-normal) shrunken estimate.

    Attributes:
        estimate: ``pooled + tau2 / (tau2 + v) (y - pooled)``.
        sd: ``sqrt(tau2 v / (tau2 + v) + (v / (tau2 + v))**2 pooled_se**2)``:
            the posterior variance given the pooled mean plus the share of the
            pooled mean's own uncertainty that the shrinkage carries.
        weight: ``tau2 / (tau2 + v)``, the weight kept on the experiment's own
            estimate (0: fully pooled, 1: not shrunk).
    """

    estimate: float
    sd: float
    weight: float


@dataclass(frozen=True, slots=True)
class ValueOfInformation:
    """Expected value of a decision under a normal posterior of its value.

    Attributes:
        expected_value: The posterior mean ``m``.
        ci_low, ci_high: ``m -+ z(1 - alpha / 2) s``.
        evpi: Expected value of perfect information for the ship / do not ship
            choice: ``E[max(V, 0)] - max(E[V], 0) = s phi(m / s) - |m| Phi(-|m| / s)``,
            what knowing the true value would be worth before deciding.
        probability_positive: ``Phi(m / s)``.
    """

    expected_value: float
    ci_low: float
    ci_high: float
    evpi: float
    probability_positive: float


def _usable(estimates: Sequence[float], variances: Sequence[float]) -> bool:
    return len(estimates) == len(variances) and all(
        math.isfinite(y) and math.isfinite(v) and v > 0
        for y, v in zip(estimates, variances, strict=True)
    )


def random_effects(
    estimates: Sequence[float], variances: Sequence[float], alpha: float = 0.05
) -> MetaResult:
    """DerSimonian and Laird (1986) random-effects meta-analysis.

    Args:
        estimates: One estimate per experiment.
        variances: Their sampling variances (squared standard errors), > 0.
        alpha: The interval's level is ``1 - alpha``.
    """
    k = len(estimates)
    if k == 0:
        return MetaResult(error_message="no experiment with an estimate")
    if not _usable(estimates, variances):
        return MetaResult(
            k=k,
            error_message="every estimate needs a finite value and a positive variance",
        )
    w = [1.0 / v for v in variances]
    sw = math.fsum(w)
    fixed = math.fsum(wi * y for wi, y in zip(w, estimates, strict=True)) / sw
    q = math.fsum(wi * (y - fixed) ** 2 for wi, y in zip(w, estimates, strict=True))
    note = None
    if k == 1:
        tau2 = 0.0
        note = "one experiment: the between-experiment variance is taken as 0"
    else:
        c = sw - math.fsum(wi * wi for wi in w) / sw
        tau2 = max(0.0, (q - (k - 1)) / c)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    w_re = [1.0 / (v + tau2) for v in variances]
    sw_re = math.fsum(w_re)
    pooled = math.fsum(wi * y for wi, y in zip(w_re, estimates, strict=True)) / sw_re
    se = math.sqrt(1.0 / sw_re)
    z = float(stats.norm.ppf(1 - alpha / 2))
    return MetaResult(
        k=k,
        fixed_effect=fixed,
        fixed_effect_se=math.sqrt(1.0 / sw),
        q_statistic=q,
        tau_squared=tau2,
        i_squared=i2,
        pooled=pooled,
        pooled_se=se,
        ci_low=pooled - z * se,
        ci_high=pooled + z * se,
        error_message=note,
    )


def shrink(estimate: float, variance: float, meta: MetaResult) -> Shrunken | None:
    """The empirical-Bayes estimate of one experiment's true effect: its own
    estimate pulled towards the pooled mean by ``v / (tau2 + v)`` (a normal
    prior N(pooled, tau2) with the DerSimonian-Laird tau2). None when the
    pooling failed or the input is unusable."""
    if (
        meta.pooled is None
        or meta.tau_squared is None
        or meta.pooled_se is None
        or not _usable([estimate], [variance])
    ):
        return None
    tau2 = meta.tau_squared
    weight = tau2 / (tau2 + variance)
    value = meta.pooled + weight * (estimate - meta.pooled)
    var = weight * variance + (1 - weight) ** 2 * meta.pooled_se**2
    return Shrunken(estimate=value, sd=math.sqrt(var), weight=weight)


def summed_impact(
    shrunken: Sequence[Shrunken], alpha: float = 0.05
) -> tuple[float, float, float] | None:
    """Sum of shrunken estimates with a normal interval whose variance is the
    sum of their variances (taken as independent): (sum, low, high); None for
    an empty list."""
    if not shrunken:
        return None
    total = math.fsum(s.estimate for s in shrunken)
    sd = math.sqrt(math.fsum(s.sd**2 for s in shrunken))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return total, total - z * sd, total + z * sd


def expected_value_of_information(
    mean: float, sd: float, alpha: float = 0.05
) -> ValueOfInformation | None:
    """Expected value, its interval, and the EVPI of shipping under a normal
    posterior N(mean, sd**2) of the value; None for unusable input."""
    if not (math.isfinite(mean) and math.isfinite(sd)) or sd < 0:
        return None
    z = float(stats.norm.ppf(1 - alpha / 2))
    if sd == 0:
        return ValueOfInformation(mean, mean, mean, 0.0, 1.0 if mean > 0 else 0.0)
    m = abs(mean)
    evpi = sd * float(stats.norm.pdf(m / sd)) - m * float(stats.norm.cdf(-m / sd))
    return ValueOfInformation(
        expected_value=mean,
        ci_low=mean - z * sd,
        ci_high=mean + z * sd,
        evpi=max(0.0, evpi),
        probability_positive=float(stats.norm.cdf(mean / sd)),
    )
