"""Bayesian read-out of a comparison: a normal-approximation posterior of the
relative lift, the chance to beat control and the expected loss.

The likelihood is the frequentist estimate: the relative lift
``r = mean_t / mean_c - 1`` is approximately ``N(theta, s**2)`` with ``s`` its
delta-method standard error (``rel_std_error``). With a normal prior
``theta ~ N(m0, s0**2)`` the posterior is normal with

    precision = 1 / s0**2 + 1 / s**2
    mean      = (m0 / s0**2 + r / s**2) / precision
    sd        = precision ** -1/2

A flat prior (``s0`` unset, the default) gives the posterior ``N(r, s**2)``, so
the credible interval equals the delta-method z interval. Let ``g`` be the
lift in the metric's good direction (``theta`` for metrics to increase,
``-theta`` for metrics to decrease), ``N(mu, sd**2)`` its posterior. Then

    chance_to_beat_control = P(g > 0) = Phi(mu / sd)
    expected_loss          = E[max(0, -g)] = sd phi(mu / sd) - mu Phi(-mu / sd)
    expected_loss_control  = E[max(0,  g)] = sd phi(mu / sd) + mu Phi( mu / sd)

``expected_loss`` is the relative loss expected from shipping the treatment
(how much worse it could be, weighted by how likely), ``expected_loss_control``
the relative gain forgone by keeping control. Pure, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

__all__ = ["BayesianResult", "Prior", "relative_lift_posterior"]


@dataclass(frozen=True, slots=True)
class Prior:
    """Normal prior on the relative lift (dbt vars ``bayesian_prior_mean`` and
    ``bayesian_prior_sd``).

    Attributes:
        mean: Prior mean of the relative lift (default 0: no expected change).
        sd: Prior standard deviation; None (default) for a flat prior.
    """

    mean: float = 0.0
    sd: float | None = None

    def __post_init__(self) -> None:
        """Reject a non-finite mean or a non-positive sd."""
        if isinstance(self.mean, bool) or not math.isfinite(float(self.mean)):
            raise ValueError(f"prior mean must be a finite number, got {self.mean!r}")
        if self.sd is not None and (
            isinstance(self.sd, bool)
            or not math.isfinite(float(self.sd))
            or float(self.sd) <= 0
        ):
            raise ValueError(f"prior sd must be > 0 (or unset), got {self.sd!r}")

    @classmethod
    def from_vars(cls, mean: object, sd: object) -> Prior:
        """A prior from dbt var values; empty strings and None mean 0 / flat."""
        blank = (None, "", "none", "None", "null")
        mean_value = 0.0 if mean in blank else float(str(mean))
        sd_value = None if sd in blank else float(str(sd))
        return cls(mean_value, sd_value)


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Posterior summaries of the relative lift.

    Attributes:
        posterior_mean: Posterior mean of the relative lift.
        posterior_sd: Posterior standard deviation.
        credible_low: Lower end of the equal-tailed ``1 - alpha`` interval.
        credible_high: Upper end.
        chance_to_beat_control: Posterior probability that the treatment is
            better than control in the metric's desired direction.
        expected_loss: Expected relative loss of shipping the treatment.
        expected_loss_control: Expected relative loss of keeping control.
        error_message: Why figures are None; None when all were computed.
    """

    posterior_mean: float | None = None
    posterior_sd: float | None = None
    credible_low: float | None = None
    credible_high: float | None = None
    chance_to_beat_control: float | None = None
    expected_loss: float | None = None
    expected_loss_control: float | None = None
    error_message: str | None = None


def relative_lift_posterior(
    rel_lift: float | None,
    rel_std_error: float | None,
    prior: Prior | None = None,
    alpha: float = 0.05,
    desired_direction: str | None = "increase",
    reason: str | None = None,
) -> BayesianResult:
    """The normal-approximation posterior of the relative lift.

    Args:
        rel_lift: The observed relative lift (None when undefined).
        rel_std_error: Its delta-method standard error.
        prior: The prior (flat by default).
        alpha: The credible interval has probability ``1 - alpha``.
        desired_direction: ``increase`` or ``decrease``; sets what beating
            control means. Anything else counts as ``increase``.
        reason: The comparison's error message, reported when figures are None.

    Returns:
        The posterior figures, or None figures with a reason.
    """
    prior = prior or Prior()
    if rel_lift is None or rel_std_error is None:
        return BayesianResult(
            error_message=reason or "relative lift or its standard error undefined"
        )
    if not (math.isfinite(rel_lift) and math.isfinite(rel_std_error)):
        return BayesianResult(error_message="non-finite relative lift")
    if rel_std_error <= 0:
        return BayesianResult(
            error_message="relative lift has zero standard error: no posterior"
        )
    precision = 1 / (rel_std_error * rel_std_error)
    weighted = rel_lift * precision
    if prior.sd is not None:
        prior_precision = 1 / (prior.sd * prior.sd)
        precision += prior_precision
        weighted += prior.mean * prior_precision
    mean = weighted / precision
    sd = 1 / math.sqrt(precision)
    quantile = stats.norm.ppf(1 - alpha / 2)
    good = -mean if desired_direction == "decrease" else mean
    z = good / sd
    density = stats.norm.pdf(z)
    return BayesianResult(
        posterior_mean=mean,
        posterior_sd=sd,
        credible_low=mean - quantile * sd,
        credible_high=mean + quantile * sd,
        chance_to_beat_control=float(stats.norm.cdf(z)),
        # max(0, .): the closed forms are >= 0; rounding must not make them < 0.
        expected_loss=max(0.0, float(sd * density - good * stats.norm.cdf(-z))),
        expected_loss_control=max(0.0, float(sd * density + good * stats.norm.cdf(z))),
    )
