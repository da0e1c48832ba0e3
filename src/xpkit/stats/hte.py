"""Heterogeneous treatment effects: T-, S- and X-learner estimates of the
conditional average treatment effect (CATE), cohort cells of mean CATE and the
uplift (ROI-versus-budget) curve of targeting by predicted uplift.

Every estimate is out-of-fold (cross-fitting): the units are split into
``n_folds`` folds at random (a fixed seed), and a unit's CATE comes from models
fitted on the other folds only, so the uplift curve is judged on held-out data.
Methodology: docs/methodology.md, "Heterogeneous effects".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

__all__ = [
    "LEARNERS",
    "BUDGET_SHARES",
    "design_matrix",
    "fit_meta_learners",
    "uplift_curve",
    "cate_cells",
]

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
