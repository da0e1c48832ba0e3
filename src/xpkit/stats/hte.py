"""Heterogeneous treatment effects: T-, S- and X-learner estimates of the
conditional average treatment effect (CATE), cohort cells of mean CATE, the
uplift (ROI-versus-budget) curve of targeting by predicted uplift, the
calibration of predicted against observed uplift by decile and the gain of
targeting over random targeting at each budget, with 95% intervals.

Every estimate is out-of-fold (cross-fitting): the units are split into
``n_folds`` folds at random (a fixed seed), and a unit's CATE comes from models
fitted on the other folds only, so the uplift curve is judged on held-out data.
Methodology: docs/methodology.md, "Heterogeneous effects".

Size: the learners and the three ways of judging their rankings on held-out
units (the uplift curve, the gain over random, calibration) share the ranking
and the group-mean helpers; split them when a fourth judgement comes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

__all__ = [
    "LEARNERS",
    "BUDGET_SHARES",
    "design_matrix",
    "fit_meta_learners",
    "uplift_curve",
    "cate_cells",
    "calibration",
    "gain_over_random",
    "targeting_verdict",
    "TARGETING_VERDICTS",
]

TARGETING_VERDICTS = ("beats random", "no better than random", "worse than random")

LEARNERS = ("t_learner", "s_learner", "x_learner")
BUDGET_SHARES = tuple(round(0.05 * k, 2) for k in range(1, 21))


def _regressor(random_state: int) -> HistGradientBoostingRegressor:
    """The base learner: small, regularised gradient-boosted trees (missing
    feature values are handled natively). No early stopping, so a fit depends
    on its data and ``random_state`` only."""
    return HistGradientBoostingRegressor(
        max_iter=50,
        learning_rate=0.1,
        max_bins=63,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def design_matrix(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
) -> np.ndarray:
    """Features as a float matrix: the numeric columns as they are (nulls kept
    as NaN) and one indicator column per category of each categorical column
    (categories sorted, nulls as their own category). Columns absent from
    ``frame`` or null on every row are left out."""
    columns: list[np.ndarray] = []
    for name in numeric:
        if name not in frame.columns:
            continue
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        if np.isnan(values).all():
            continue
        columns.append(values)
    for name in categorical:
        if name not in frame.columns or frame[name].isna().all():
            continue
        labels = frame[name].astype("string").fillna("(missing)")
        for category in sorted(labels.unique()):
            columns.append((labels == category).to_numpy(dtype=float))
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack(columns)


def _folds(n: int, n_folds: int, random_state: int) -> np.ndarray:
    """Fold number of each row: a seeded permutation dealt round-robin."""
    folds = np.empty(n, dtype=np.int64)
    folds[np.random.default_rng(random_state).permutation(n)] = np.arange(n) % n_folds
    return folds


def fit_meta_learners(
    features: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    learners: Sequence[str] = LEARNERS,
    n_folds: int = 2,
    random_state: int = 0,
) -> dict[str, np.ndarray]:
    """Out-of-fold CATE estimates of each meta-learner.

    - T-learner: separate outcome models mu1 (treated) and mu0 (control);
      tau(x) = mu1(x) - mu0(x).
    - S-learner: one outcome model f(x, t) with the treatment as a feature;
      tau(x) = f(x, 1) - f(x, 0).
    - X-learner: imputed effects D1 = y - mu0(x) on the treated and
      D0 = mu1(x) - y on the controls, each regressed on x (tau1, tau0) and
      combined as tau(x) = e tau0(x) + (1 - e) tau1(x), with e the treated
      share (the propensity of a randomised experiment).

    Args:
        features: (n, p) float matrix (NaN allowed).
        treated: n booleans (or 0/1): assigned to the treatment arm.
        outcome: n outcome values.
        learners: Which of ``LEARNERS`` to fit.
        n_folds: Cross-fitting folds (>= 2).
        random_state: Seed of the folds and the base learners.

    Returns:
        learner name -> n out-of-fold CATE estimates.
    """
    x = np.asarray(features, dtype=float)
    t = np.asarray(treated).astype(bool)
    y = np.asarray(outcome, dtype=float)
    n = len(y)
    if x.ndim != 2 or x.shape[0] != n or t.shape != (n,):
        raise ValueError("features, treated and outcome differ in length")
    unknown = set(learners) - set(LEARNERS)
    if unknown:
        raise ValueError(f"unknown learners {sorted(unknown)}; choose from {LEARNERS}")
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2 (out-of-fold estimates)")
    if x.shape[1] == 0:
        x = np.zeros((n, 1))
    folds = _folds(n, n_folds, random_state)
    out = {name: np.full(n, np.nan) for name in learners}
    # One thread: these small fits gain little from OpenMP, and on a shared
    # machine oversubscribed threads make them many times slower.
    with threadpool_limits(limits=1):
        for fold in range(n_folds):
            _fit_fold(x, t, y, folds == fold, learners, random_state, out)
    return out


def _fit_fold(
    x: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    test: np.ndarray,
    learners: Sequence[str],
    random_state: int,
    out: dict[str, np.ndarray],
) -> None:
    """Fit the learners on the rows outside ``test`` and write their CATE
    estimates of the ``test`` rows into ``out``."""
    train_t = ~test & t
    train_c = ~test & ~t
    if train_t.sum() < 2 or train_c.sum() < 2:
        raise ValueError("each training fold needs treated and control units")
    x_test = x[test]
    if "t_learner" in learners or "x_learner" in learners:
        mu1 = _regressor(random_state).fit(x[train_t], y[train_t])
        mu0 = _regressor(random_state).fit(x[train_c], y[train_c])
    if "t_learner" in learners:
        out["t_learner"][test] = mu1.predict(x_test) - mu0.predict(x_test)
    if "s_learner" in learners:
        train = ~test
        joint = np.column_stack([x[train], t[train].astype(float)])
        f = _regressor(random_state).fit(joint, y[train])
        ones = np.column_stack([x_test, np.ones(len(x_test))])
        zeros = np.column_stack([x_test, np.zeros(len(x_test))])
        out["s_learner"][test] = f.predict(ones) - f.predict(zeros)
    if "x_learner" in learners:
        d1 = y[train_t] - mu0.predict(x[train_t])
        d0 = mu1.predict(x[train_c]) - y[train_c]
        tau1 = _regressor(random_state).fit(x[train_t], d1)
        tau0 = _regressor(random_state).fit(x[train_c], d0)
        e = train_t.sum() / (train_t.sum() + train_c.sum())
        out["x_learner"][test] = e * tau0.predict(x_test) + (1 - e) * tau1.predict(
            x_test
        )


def _diff_in_means(y: np.ndarray, t: np.ndarray) -> float:
    if t.sum() == 0 or (~t).sum() == 0:
        return math.nan
    return float(y[t].mean() - y[~t].mean())


def uplift_curve(
    score: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    shares: Sequence[float] = BUDGET_SHARES,
) -> pd.DataFrame:
    """The ROI-versus-budget curve of treating the top share of units by score.

    Units are ranked by ``score`` (highest first; ties keep the input order).
    For each budget share q the targeted set is the first ceil(q n) units; its
    observed uplift is the difference in mean outcome between its treated and
    control units (an unbiased estimate of the targeted units' average effect
    in a randomised experiment), and the incremental outcome of treating it is
    units x observed uplift. Targeting at random would give units x the
    overall difference in means (random_outcome).

    Returns:
        One row per share: budget_share, units, treated_units, control_units,
        mean_score, observed_uplift, incremental_outcome, random_outcome
        (uplift and outcomes NaN when the set lacks a treated or a control
        unit).
    """
    s = np.asarray(score, dtype=float)
    t = np.asarray(treated).astype(bool)
    y = np.asarray(outcome, dtype=float)
    n = len(s)
    if t.shape != (n,) or y.shape != (n,):
        raise ValueError("score, treated and outcome differ in length")
    order = np.argsort(-s, kind="stable")
    ate = _diff_in_means(y, t)
    rows = []
    for share in shares:
        if not 0 < share <= 1:
            raise ValueError("budget shares must be in (0, 1]")
        k = min(n, math.ceil(round(share * n, 9)))
        top = order[:k]
        uplift = _diff_in_means(y[top], t[top])
        rows.append(
            {
                "budget_share": float(share),
                "units": k,
                "treated_units": int(t[top].sum()),
                "control_units": int(k - t[top].sum()),
                "mean_score": float(s[top].mean()) if k else math.nan,
                "observed_uplift": uplift,
                "incremental_outcome": k * uplift,
                "random_outcome": k * ate,
            }
        )
    return pd.DataFrame(rows)


def cate_cells(
    frame: pd.DataFrame,
    by: Sequence[str],
    estimates: dict[str, np.ndarray],
    treated: np.ndarray,
    outcome: np.ndarray,
    min_units: int = 0,
) -> pd.DataFrame:
    """Mean estimated CATE per cell of ``by`` (e.g. segment x activity bin).

    Returns:
        One row per cell and learner: the ``by`` columns, learner, units,
        treated_units, control_units, mean_cate and observed_uplift (the
        cell's difference in mean outcome, treated - control). Both figures
        are NaN when the cell has fewer than ``min_units`` units in an arm
        (small-cell suppression).
    """
    t = np.asarray(treated).astype(bool)
    y = np.asarray(outcome, dtype=float)
    keys = frame[list(by)].astype("string").fillna("(missing)").reset_index(drop=True)
    rows = []
    for cell, index in keys.groupby(list(by), sort=True).indices.items():
        cell = cell if isinstance(cell, tuple) else (cell,)
        n_t = int(t[index].sum())
        n_c = len(index) - n_t
        shown = n_t >= min_units and n_c >= min_units
        uplift = _diff_in_means(y[index], t[index]) if shown else math.nan
        for learner, values in estimates.items():
            rows.append(
                {
                    **dict(zip(by, cell, strict=True)),
                    "learner": learner,
                    "units": len(index),
                    "treated_units": n_t,
                    "control_units": n_c,
                    "mean_cate": float(values[index].mean()) if shown else math.nan,
                    "observed_uplift": uplift,
                }
            )
    return pd.DataFrame(rows)


def _mean_and_variance(values: np.ndarray) -> tuple[float, float]:
    """The mean and the variance of the mean (sample variance / n) of a group;
    the variance is NaN below 2 values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values[0]), math.nan
    return float(values.mean()), float(values.var(ddof=1)) / n


def calibration(
    score: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    n_bins: int = 10,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Predicted against observed uplift by decile of predicted uplift.

    Units are ranked by ``score`` (highest first, ties in input order) and cut
    into ``n_bins`` groups of equal size (the first groups one unit larger
    when n is not a multiple): decile 1 holds the highest predictions. Per
    group, the observed uplift is the difference in mean outcome, treated -
    control, with its unequal-variance (Welch) standard error
    sqrt(s1^2/n1 + s0^2/n0) and a normal (1 - alpha) interval. A calibrated
    learner's mean prediction lies inside the observed interval.

    Returns:
        One row per group: decile, units, treated_units, control_units,
        mean_score, observed_uplift, observed_uplift_low, observed_uplift_high
        (NaN when an arm has fewer than 2 units).
    """
    s = np.asarray(score, dtype=float)
    t = np.asarray(treated).astype(bool)
    y = np.asarray(outcome, dtype=float)
    if t.shape != s.shape or y.shape != s.shape:
        raise ValueError("score, treated and outcome differ in length")
    z = float(norm.ppf(1 - alpha / 2))
    order = np.argsort(-s, kind="stable")
    rows = []
    for decile, group in enumerate(np.array_split(order, n_bins), start=1):
        m1, v1 = _mean_and_variance(y[group][t[group]])
        m0, v0 = _mean_and_variance(y[group][~t[group]])
        uplift, se = m1 - m0, math.sqrt(v1 + v0)
        rows.append(
            {
                "decile": decile,
                "units": len(group),
                "treated_units": int(t[group].sum()),
                "control_units": int(len(group) - t[group].sum()),
                "mean_score": float(s[group].mean()) if len(group) else math.nan,
                "observed_uplift": uplift if not math.isnan(se) else math.nan,
                "observed_uplift_low": uplift - z * se,
                "observed_uplift_high": uplift + z * se,
            }
        )
    return pd.DataFrame(rows)


def targeting_verdict(low: float, high: float) -> str | None:
    """``beats random`` when the gain's interval lies above 0, ``worse than
    random`` below 0, ``no better than random`` when it holds 0; None without
    an interval."""
    if math.isnan(low) or math.isnan(high):
        return None
    if low > 0:
        return TARGETING_VERDICTS[0]
    if high < 0:
        return TARGETING_VERDICTS[2]
    return TARGETING_VERDICTS[1]


def gain_over_random(
    score: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    shares: Sequence[float] = BUDGET_SHARES,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The extra outcome of treating the top share by ``score`` instead of the
    same number of units at random, with a (1 - alpha) interval.

    With k targeted units (as in ``uplift_curve``), the gain is
    k x (D_top - D_all), D the difference in means treated - control. Writing
    the experiment as the targeted units (top) and the rest (r),
    D_top - D_all = (n1r / n1)(y1_top - y1_r) - (n0r / n0)(y0_top - y0_r),
    a difference of four independent group means given the ranking, so its
    variance is (n1r/n1)^2 (v1_top + v1_r) + (n0r/n0)^2 (v0_top + v0_r), with
    v the variance of a group's mean (s^2 / n). The interval is normal; the
    ranking is taken as fixed (the scores are out-of-fold). At a budget of
    100% the gain is 0 exactly (targeting everyone is random targeting).

    Returns:
        One row per share: budget_share, units, gain_over_random,
        gain_over_random_low, gain_over_random_high, targeting_verdict.
    """
    s = np.asarray(score, dtype=float)
    t = np.asarray(treated).astype(bool)
    y = np.asarray(outcome, dtype=float)
    n = len(s)
    if t.shape != (n,) or y.shape != (n,):
        raise ValueError("score, treated and outcome differ in length")
    z = float(norm.ppf(1 - alpha / 2))
    order = np.argsort(-s, kind="stable")
    n1, n0 = int(t.sum()), int(n - t.sum())
    rows = []
    for share in shares:
        if not 0 < share <= 1:
            raise ValueError("budget shares must be in (0, 1]")
        k = min(n, math.ceil(round(share * n, 9)))
        top = np.zeros(n, dtype=bool)
        top[order[:k]] = True
        gain, low, high = math.nan, math.nan, math.nan
        if k == n:
            gain = low = high = 0.0
        elif n1 and n0:
            parts = []
            for arm, size in ((t, n1), (~t, n0)):
                m_top, v_top = _mean_and_variance(y[arm & top])
                m_rest, v_rest = _mean_and_variance(y[arm & ~top])
                rest = int((arm & ~top).sum())
                parts.append((rest / size, m_top - m_rest, v_top + v_rest))
            (w1, d1, v1), (w0, d0, v0) = parts
            difference = w1 * d1 - w0 * d0
            se = math.sqrt(w1**2 * v1 + w0**2 * v0)
            if not math.isnan(se):
                gain = k * difference
                low, high = k * (difference - z * se), k * (difference + z * se)
        rows.append(
            {
                "budget_share": float(share),
                "units": k,
                "gain_over_random": gain,
                "gain_over_random_low": low,
                "gain_over_random_high": high,
                "targeting_verdict": targeting_verdict(low, high),
            }
        )
    return pd.DataFrame(rows)
