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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["ipw_mean", "probability_best", "thompson_weights"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(2000)
_X = 0.5 * (_NODES + 1.0)
_W = 0.5 * _WEIGHTS


def probability_best(successes: Sequence[int], trials: Sequence[int]) -> np.ndarray:
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
    p = probability_best(successes, trials)
    k = p.size
    if not 0.0 <= floor < 1.0 / k:
        raise ValueError("floor must lie in [0, 1 / arms)")
    return floor + (1.0 - k * floor) * p


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
