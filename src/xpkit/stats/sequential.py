"""Sequential (always-valid) inference: a normal-mixture confidence sequence.

Fixed-horizon intervals and p-values are valid at one pre-planned look only;
checking them every day and stopping at the first ``p < alpha`` inflates the
false-positive rate well above alpha. The asymptotic confidence sequence of
Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas ("Time-uniform central limit
theory and asymptotic confidence sequences", Annals of Statistics 2024) holds at
*every* sample size at once: the chance that it ever excludes the true effect,
however often it is looked at, is at most alpha (asymptotically).

With ``N = n_control + n_treatment`` units and a difference ``d`` whose
(fixed-horizon) standard error is ``se``, the ``1 - alpha`` interval at that
look is ``d +/- se * c(N)`` with

    c(N) = sqrt( 2 (N rho**2 + 1) / (N rho**2) * log( sqrt(N rho**2 + 1) / alpha ) )

This is the two-sided boundary of Robbins' normal mixture martingale
``M_N = (1 + N rho**2) ** -1/2 * exp( z**2 N rho**2 / (2 (1 + N rho**2)) )``
with ``z = d / se``, the mixing distribution of the standardised effect being
``N(0, rho**2)``; by Ville's inequality ``P(sup_N M_N >= 1/alpha) <= alpha``
under the null, so ``min(1, 1 / M_N)`` is an always-valid p-value at that look
and its running minimum over the looks so far is the always-valid p-value of
the experiment (once below alpha it stays there).

The tuning parameter ``rho`` sets where the sequence is tightest: it is chosen
so that the interval is narrowest at ``tuning_units`` total units,

    rho**2 = (-2 log alpha + log(1 - 2 log alpha)) / tuning_units,

(Waudby-Smith et al., section 3.5). Any ``rho > 0`` keeps the guarantee; a
good ``tuning_units`` is the planned total sample. Pure functions, no I/O;
the scalar helpers accept numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from xpkit.settings import DEFAULT_TUNING_UNITS
from xpkit.stats.frequentist import ComparisonResult
from xpkit.stats.numbers import finite
from xpkit.stats.statistics import (
    SUFFICIENT_STATISTIC_COLUMNS,
    Proportion,
)

__all__ = [
    "DEFAULT_TUNING_UNITS",
    "SequentialConfig",
    "RunningSequence",
    "SequentialResult",
    "always_valid_p_value",
    "confidence_sequence_multiplier",
    "log_mixture_martingale",
    "mean_variance",
    "mixture_rho",
    "fieller_relative_interval",
    "sequential_interval",
]

_SUM_COLUMNS = ("n_units", *SUFFICIENT_STATISTIC_COLUMNS)


@dataclass(frozen=True, slots=True)
class SequentialConfig:
    """Settings of the confidence sequence.

    Attributes:
        alpha: Two-sided level; the sequence covers with probability
            ``1 - alpha`` simultaneously over all looks.
        tuning_units: Total units (both arms) at which the sequence is
            narrowest (dbt var ``sequential_tuning_units``); sets ``rho``.
    """

    alpha: float = 0.05
    tuning_units: float = DEFAULT_TUNING_UNITS

    def __post_init__(self) -> None:
        """Reject an alpha outside (0, 1) or a non-positive tuning size."""
        if isinstance(self.alpha, bool) or not 0 < float(self.alpha) < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha!r}")
        units = self.tuning_units
        if isinstance(units, bool) or not float(units) > 0:
            raise ValueError(f"tuning_units must be > 0, got {units!r}")

    @property
    def rho(self) -> float:
        """The mixing scale ``rho`` (see ``mixture_rho``)."""
        return mixture_rho(self.alpha, self.tuning_units)


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """The always-valid figures of one comparison at one look.

    Attributes:
        abs_ci_low: Lower end of the confidence sequence of the difference.
        abs_ci_high: Upper end.
        rel_ci_low: Lower end of the sequence of the relative lift (its
            delta-method standard error in place of ``se``).
        rel_ci_high: Upper end.
        p_value: ``min(1, 1 / M_N)`` at this look (not yet the running minimum).
        rho: The mixing scale used.
        error_message: Why figures are None; None when all were computed.
    """

    abs_ci_low: float | None = None
    abs_ci_high: float | None = None
    rel_ci_low: float | None = None
    rel_ci_high: float | None = None
    p_value: float | None = None
    rho: float | None = None
    error_message: str | None = None


def mixture_rho(alpha: float, tuning_units: float) -> float:
    """The mixing scale that makes the sequence narrowest at ``tuning_units``.

    ``rho = sqrt((-2 log alpha + log(1 - 2 log alpha)) / tuning_units)``.
    """
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning_units)


def confidence_sequence_multiplier(
    n: float | np.ndarray, rho: float, alpha: float
) -> float | np.ndarray:
    """``c(N)``: the half-width of the sequence in units of the standard error.

    ``sqrt(2 (N rho**2 + 1) / (N rho**2) * log(sqrt(N rho**2 + 1) / alpha))``.
    """
    v = np.asarray(n, dtype=float) * rho * rho
    out = np.sqrt(2 * (v + 1) / v * (0.5 * np.log1p(v) - math.log(alpha)))
    return float(out) if np.ndim(out) == 0 else out


def log_mixture_martingale(
    z: float | np.ndarray, n: float | np.ndarray, rho: float
) -> float | np.ndarray:
    """``log M_N = -log(1 + N rho**2) / 2 + z**2 N rho**2 / (2 (1 + N rho**2))``."""
    v = np.asarray(n, dtype=float) * rho * rho
    z = np.asarray(z, dtype=float)
    out = -0.5 * np.log1p(v) + z * z * v / (2 * (1 + v))
    return float(out) if np.ndim(out) == 0 else out


def always_valid_p_value(
    z: float | np.ndarray, n: float | np.ndarray, rho: float
) -> float | np.ndarray:
    """``min(1, 1 / M_N)`` at one look: below alpha exactly when the sequence
    at that look excludes 0."""
    out = np.exp(np.minimum(0.0, -np.asarray(log_mixture_martingale(z, n, rho))))
    return float(out) if np.ndim(out) == 0 else out


def sequential_interval(
    result: ComparisonResult, config: SequentialConfig
) -> SequentialResult:
    """The always-valid interval and p-value of a fixed-horizon comparison.

    Uses the comparison's standard errors (of the difference and, by the delta
    method, of the relative lift) and ``N = n_control + n_treatment``.

    Args:
        result: A comparison from ``frequentist.compare`` at this look.
        config: Alpha and the tuning size.

    Returns:
        The sequence's figures; None with the comparison's reason when it has
        no standard error.
    """
    rho = config.rho
    se = result.std_error
    if result.abs_lift is None or se is None or se <= 0:
        reason = result.error_message or "no standard error: no interval"
        return SequentialResult(rho=rho, error_message=reason)
    n = (result.n_control or 0) + (result.n_treatment or 0)
    multiplier = confidence_sequence_multiplier(n, rho, config.alpha)
    half = se * multiplier
    z = result.abs_lift / se
    figures: dict[str, float | None] = {
        "abs_ci_low": finite(result.abs_lift - half),
        "abs_ci_high": finite(result.abs_lift + half),
        "p_value": finite(always_valid_p_value(z, n, rho)),
    }
    errors = []
    rel_se = result.rel_std_error
    if result.rel_lift is not None and rel_se is not None and rel_se > 0:
        figures["rel_ci_low"] = finite(result.rel_lift - rel_se * multiplier)
        figures["rel_ci_high"] = finite(result.rel_lift + rel_se * multiplier)
    else:
        errors.append(result.error_message or "relative lift undefined")
    if any(figures[k] is None for k in ("abs_ci_low", "abs_ci_high", "p_value")):
        return SequentialResult(rho=rho, error_message="non-finite sequential figures")
    return SequentialResult(
        **figures, rho=rho, error_message="; ".join(errors) if errors else None
    )


def fieller_relative_interval(
    mean_control: float,
    mean_treatment: float,
    variance_control: float,
    variance_treatment: float,
    multiplier: float,
) -> tuple[float, float] | None:
    """Fieller's interval of ``mean_t / mean_c - 1`` at a given multiplier.

    The set of ratios R with ``(mean_t - R mean_c)**2 <= k**2 (V_t + R**2 V_c)``
    (independent arms, ``V`` the variances of the arm means, ``k`` the
    multiplier), shifted by -1. It holds R = 1 exactly when
    ``|mean_t - mean_c| <= k sqrt(V_t + V_c)``, so it excludes a relative lift
    of 0 exactly when the absolute interval ``d +/- k se`` excludes 0. It is a
    bounded interval only when ``mean_c**2 > k**2 V_c`` (the control mean is
    clearly away from 0); otherwise the set is unbounded and None is returned.
    """
    k2 = multiplier * multiplier
    a = mean_control * mean_control - k2 * variance_control
    if not a > 0:
        return None
    b = mean_treatment * mean_control
    c = mean_treatment * mean_treatment - k2 * variance_treatment
    discriminant = b * b - a * c
    if not (math.isfinite(discriminant) and discriminant >= 0):
        return None
    root = math.sqrt(discriminant)
    # Stable roots: the one without cancellation, then the product c / a.
    far = (b + math.copysign(root, b)) / a
    near = c / (a * far) if far != 0 else (b - root) / a
    low, high = sorted((far, near))
    rel_low, rel_high = finite(low - 1), finite(high - 1)
    return None if rel_low is None or rel_high is None else (rel_low, rel_high)


def mean_variance(statistic: Any) -> float | None:
    """The variance of an arm's mean as the fixed-horizon test estimates it."""
    if statistic is None or not statistic.n:
        return None
    if isinstance(statistic, Proportion):
        p = statistic.mean
        return None if p is None else p * (1 - p) / statistic.n
    variance = statistic.variance
    return None if variance is None else variance / statistic.n


class RunningSequence:
    """The running intersection of one comparison's confidence sequences.

    The intersection over the looks so far of ``1 - alpha`` confidence
    sequences is again one (it covers whenever all of them do), and it is the
    interval dual to the always-valid p-value, the running minimum of the
    per-look values (Johari, Pekelis and Walsh, "Always valid inference",
    2017/2022; Howard et al. 2021): it excludes 0 exactly when some look's
    interval did, i.e. when ``always_valid_p_value < alpha``. The relative
    sequence at a look is Fieller's interval at the same multiplier
    (``fieller_relative_interval``); a look whose Fieller set is unbounded adds
    no bound.
    """

    def __init__(self) -> None:
        self.abs_bounds: tuple[float, float] | None = None
        self.rel_bounds: tuple[float, float] | None = None

    @staticmethod
    def _intersect(
        previous: tuple[float, float] | None, low: float, high: float
    ) -> tuple[float, float]:
        if previous is None:
            return low, high
        return max(previous[0], low), min(previous[1], high)

    def update(
        self,
        result: ComparisonResult,
        seq: SequentialResult,
        arm_variances: tuple[float, float] | None,
        config: SequentialConfig,
        running_p: float | None,
    ) -> tuple[float | None, float | None, float | None, float | None, str | None]:
        """Add one look; the bounds to show (abs low/high, rel low/high) and a note."""
        if seq.abs_ci_low is not None and seq.abs_ci_high is not None:
            self.abs_bounds = self._intersect(
                self.abs_bounds, seq.abs_ci_low, seq.abs_ci_high
            )
            fieller = self._fieller(result, arm_variances, config)
            if fieller is not None:
                self.rel_bounds = self._intersect(self.rel_bounds, *fieller)
        if self.abs_bounds is None or running_p is None:
            return None, None, None, None, None
        rejected = running_p < config.alpha
        notes = []
        abs_low: float | None
        abs_high: float | None
        abs_low, abs_high = self.abs_bounds
        if abs_low > abs_high:
            notes.append("confidence sequence empty (the data contradict it)")
            abs_low = abs_high = None
        rel_low = rel_high = None
        if self.rel_bounds is not None and result.rel_lift is not None:
            rel_low, rel_high = self.rel_bounds
            excludes = rel_low > 0 or rel_high < 0
            if rel_low > rel_high or excludes != rejected:
                # Only when the rejecting look's Fieller set was unbounded.
                notes.append("relative confidence sequence unbounded")
                rel_low = rel_high = None
        return abs_low, abs_high, rel_low, rel_high, "; ".join(notes) or None

    @staticmethod
    def _fieller(
        result: ComparisonResult,
        arm_variances: tuple[float, float] | None,
        config: SequentialConfig,
    ) -> tuple[float, float] | None:
        """This look's relative sequence, with the test's standard error."""
        se = result.std_error
        if (
            arm_variances is None
            or se is None
            or result.mean_control is None
            or result.mean_treatment is None
            or result.rel_lift is None
        ):
            return None
        v_c, v_t = arm_variances
        if not v_c + v_t > 0:
            return None
        # Split the test's variance se**2 in the arms' proportions, so that the
        # interval holds a relative lift of 0 exactly when the absolute one
        # holds 0 (whatever the test's variance formula).
        share = v_c / (v_c + v_t)
        n = (result.n_control or 0) + (result.n_treatment or 0)
        multiplier = confidence_sequence_multiplier(n, config.rho, config.alpha)
        return fieller_relative_interval(
            result.mean_control,
            result.mean_treatment,
            se * se * share,
            se * se * (1 - share),
            float(multiplier),
        )
