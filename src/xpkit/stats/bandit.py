"""Thompson-sampling allocation for bandit experiments (issue 19 item 3).

Binary rewards: each arm's posterior is Beta(1 + successes, 1 + failures)
(uniform prior). Thompson sampling allocates traffic to each arm with the
posterior probability that it is the best arm,

    P(arm k best) = integral_0^1 f_k(x) prod_{j != k} F_j(x) dx,

computed here by Gauss-Legendre quadrature on [0, 1] (no Monte Carlo error;
the quadrature error is below 1e-10 for the sample sizes of the tests, and
the weights are renormalised to sum to 1). Adaptively allocated arms bias the
naive per-arm means; ``ipw_mean`` gives the inverse-propensity-weighted
(Horvitz-Thompson) estimate that stays unbiased when each unit's allocation
probability is known.

Non-binary rewards (counts, sums, ratios): each arm's mean has the normal
posterior N(mean, sd^2) of a flat prior and the central limit theorem,
sd^2 = variance / n. The probability of being best is then

    P(arm k best) = integral phi(z) prod_{j != k} Phi((m_k + s_k z - m_j) / s_j) dz,

by composite Gauss-Legendre quadrature in x: the real line is cut at
m_j + s_j x {-12, -6, -3, -1, 0, 1, 3, 6, 12} for every arm j, so that each
arm's density and each step of its CDF fall on their own short segments (also
when the arms' sds differ by orders of magnitude); 64 nodes per segment. The
normal mass beyond 12 sd is below 1e-32; ``probability_best_normal``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "allocation_weights",
    "ipw_mean",
    "probability_best",
    "probability_best_normal",
    "thompson_weights",
]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(2000)
_X = 0.5 * (_NODES + 1.0)
_W = 0.5 * _WEIGHTS
_CUTS = np.array([-12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 12.0])
_SEGMENT_NODES, _SEGMENT_WEIGHTS = np.polynomial.legendre.leggauss(64)


def probability_best(successes: ArrayLike, trials: ArrayLike) -> np.ndarray:
    """P(each arm has the highest rate) under independent Beta(1+s, 1+n-s).

    Args:
        successes: successes per arm.
        trials: trials per arm (>= successes).

    Returns:
        One probability per arm, summing to 1.
    """
    s = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if s.shape != n.shape or s.ndim != 1 or s.size < 2:
        raise ValueError("need one success and one trial count per arm, 2+ arms")
    if (s < 0).any() or (s > n).any():
        raise ValueError("successes must lie in [0, trials]")
    a, b = 1.0 + s, 1.0 + n - s
    pairs = list(zip(a, b, strict=True))
    logcdf = np.array([stats.beta.logcdf(_X, ai, bi) for ai, bi in pairs])
    logpdf = np.array([stats.beta.logpdf(_X, ai, bi) for ai, bi in pairs])
    out = np.array(
        [
            np.sum(_W * np.exp(logpdf[k] + np.delete(logcdf, k, axis=0).sum(axis=0)))
            for k in range(s.size)
        ]
    )
    return out / out.sum()


def probability_best_normal(means: ArrayLike, sds: ArrayLike) -> np.ndarray:
    """P(each arm has the highest mean) under independent N(mean_k, sd_k^2).

    Args:
        means: posterior mean per arm.
        sds: posterior standard deviation per arm (> 0, finite).

    Returns:
        One probability per arm, summing to 1.
    """
    m = np.asarray(means, dtype=float)
    s = np.asarray(sds, dtype=float)
    if m.shape != s.shape or m.ndim != 1 or m.size < 2:
        raise ValueError("need one mean and one sd per arm, 2+ arms")
    if not (np.isfinite(m).all() and np.isfinite(s).all()) or (s <= 0).any():
        raise ValueError("means must be finite and sds finite and positive")
    # Shift-invariant: centred, so that x carries no large common offset.
    m = m - m.mean()
    cuts = np.unique((m[:, None] + s[:, None] * _CUTS[None, :]).ravel())
    cuts = cuts[(cuts >= (m - 12 * s).min()) & (cuts <= (m + 12 * s).max())]
    low, high = cuts[:-1], cuts[1:]
    half = 0.5 * (high - low)
    x = ((low + high) * 0.5)[:, None] + half[:, None] * _SEGMENT_NODES[None, :]
    w = (half[:, None] * _SEGMENT_WEIGHTS[None, :]).ravel()
    x = x.ravel()
    z = (x[None, :] - m[:, None]) / s[:, None]
    log_cdf = stats.norm.logcdf(z)
    log_pdf = stats.norm.logpdf(z) - np.log(s)[:, None]
    out = np.array(
        [
            np.sum(w * np.exp(log_pdf[k] + np.delete(log_cdf, k, axis=0).sum(axis=0)))
            for k in range(m.size)
        ]
    )
    return out / out.sum()


def allocation_weights(probabilities: ArrayLike, floor: float = 0.0) -> np.ndarray:
    """Thompson allocation from probabilities of being best, with a floor.

    ``floor + (1 - arms x floor) x P(best)``: every arm keeps at least
    ``floor``, the weights sum to 1.

    Args:
        probabilities: P(arm best) per arm (summing to 1).
        floor: minimum share per arm, 0 <= floor < 1 / arms.

    Returns:
        Allocation weights summing to 1.
    """
    p = np.asarray(probabilities, dtype=float)
    k = p.size
    if not 0.0 <= floor < 1.0 / k:
        raise ValueError("floor must lie in [0, 1 / arms)")
    return floor + (1.0 - k * floor) * p


def thompson_weights(
    successes: Sequence[int], trials: Sequence[int], floor: float = 0.0
) -> np.ndarray:
    """Thompson-sampling allocation weights, optionally with a minimum share.

    Args:
        successes: successes per arm.
        trials: trials per arm.
        floor: minimum share per arm (0 <= floor < 1 / arms), keeping every
            arm's propensity positive so that IPW estimates exist.

    Returns:
        Allocation weights summing to 1.
    """
    return allocation_weights(probability_best(successes, trials), floor)


def ipw_mean(
    rewards: np.ndarray, arms: np.ndarray, propensity: np.ndarray, arm: int
) -> float:
    """Horvitz-Thompson mean reward of ``arm`` under adaptive allocation.

    Args:
        rewards: reward per unit.
        arms: arm index per unit.
        propensity: the probability with which each unit got its arm's
            allocation at the time (the weight of the arm it got).
        arm: the arm to estimate.

    Returns:
        sum(reward * [arm] / propensity) / units.
    """
    chosen = arms == arm
    return float(np.sum(rewards[chosen] / propensity[chosen]) / rewards.size)
