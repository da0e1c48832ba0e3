"""Sequential inference (xpkit.stats.sequential): the mixture boundary against a direct
numerical integration, the A/A peeking simulation (always-valid vs the naive
daily t-test), and the daily_results frame against scipy on raw arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from xpkit.marts.daily_results import DAILY_RESULT_COLUMNS, daily_results
from xpkit.stats.frequentist import ComparisonResult
from xpkit.stats.sequential import (
    SequentialConfig,
    always_valid_p_value,
    confidence_sequence_multiplier,
    log_mixture_martingale,
    mixture_rho,
    sequential_interval,
)

# ---------------------------------------------------------------------------
# The boundary
# ---------------------------------------------------------------------------


def log_mixture_by_quadrature(s: float, n: float, rho: float) -> float:
    """log of Robbins' mixture int exp(l S - l^2 n / 2) dN(0, rho^2)(l), by quad.

    The integrand is divided by a constant (its value's bound exp(shift)) so it
    stays in floating-point range; the log adds the shift back.
    """
    shift = s * s / (2 * n)  # max over l of l S - l^2 n / 2

    def integrand(lam: float) -> float:
        return math.exp(lam * s - lam * lam * n / 2 - shift) * stats.norm.pdf(
            lam, 0, rho
        )

    centre = s / (n + 1 / rho**2)
    width = 40 / math.sqrt(n + 1 / rho**2)
    value, _ = integrate.quad(
        integrand, centre - width, centre + width, epsabs=0, epsrel=1e-13, limit=200
    )
    return math.log(value) + shift


@pytest.mark.parametrize(
    ("n", "alpha", "tuning"),
    [(10, 0.05, 100), (500, 0.05, 10_000), (20_000, 0.01, 5_000), (3, 0.2, 50)],
)
def test_boundary_matches_numerical_mixture(n, alpha, tuning):
    rho = mixture_rho(alpha, tuning)
    # Root of M(S) = 1/alpha found numerically, then S / sqrt(n) = z boundary.
    root = optimize.brentq(
        lambda s: log_mixture_by_quadrature(s, n, rho) + math.log(alpha),
        0,
        20 * math.sqrt(n),
        xtol=1e-14,
        rtol=1e-14,
    )
    assert confidence_sequence_multiplier(n, rho, alpha) == pytest.approx(
        root / math.sqrt(n), rel=1e-9
    )
    # The closed-form martingale equals the integral at another point too.
    z = 1.7
    assert log_mixture_martingale(z, n, rho) == pytest.approx(
        log_mixture_by_quadrature(z * math.sqrt(n), n, rho), rel=1e-9
    )


def test_rho_minimises_the_width_at_the_tuning_size():
    alpha, tuning = 0.05, 4_000

    def width(log_rho: float) -> float:
        return confidence_sequence_multiplier(tuning, math.exp(log_rho), alpha)

    best = optimize.minimize_scalar(width, bounds=(-10, 2), method="bounded")
    # The published rho is the minimiser of the width's leading-order form;
    # the exact minimiser is within a few percent and the widths within 0.1%.
    assert math.exp(best.x) == pytest.approx(mixture_rho(alpha, tuning), rel=0.05)
    assert width(math.log(mixture_rho(alpha, tuning))) == pytest.approx(
        best.fun, rel=1e-3
    )


def test_p_value_below_alpha_exactly_when_sequence_excludes_zero():
    alpha, rho, n = 0.05, mixture_rho(0.05, 1000), 800
    c = confidence_sequence_multiplier(n, rho, alpha)
    assert always_valid_p_value(c, n, rho) == pytest.approx(alpha, rel=1e-12)
    assert always_valid_p_value(c * 1.001, n, rho) < alpha
    assert always_valid_p_value(c * 0.999, n, rho) > alpha
    assert always_valid_p_value(0.0, n, rho) == 1.0
    # Always wider than the fixed-horizon interval.
    assert c > stats.norm.ppf(1 - alpha / 2)


def test_sequential_interval_from_a_comparison():
    result = ComparisonResult(
        method="welch_t",
        alpha=0.05,
        n_control=400,
        n_treatment=600,
        abs_lift=0.3,
        std_error=0.1,
        rel_lift=0.15,
        rel_std_error=0.05,
    )
    config = SequentialConfig(alpha=0.05, tuning_units=2000)
    rho = math.sqrt((-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 2000)
    v = 1000 * rho * rho
    c = math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / 0.05))
    seq = sequential_interval(result, config)
    assert seq.rho == pytest.approx(rho, rel=1e-12)
    assert seq.abs_ci_low == pytest.approx(0.3 - 0.1 * c, rel=1e-12)
    assert seq.abs_ci_high == pytest.approx(0.3 + 0.1 * c, rel=1e-12)
    assert seq.rel_ci_low == pytest.approx(0.15 - 0.05 * c, rel=1e-12)
    martingale = (1 + v) ** -0.5 * math.exp(9 * v / (2 * (1 + v)))
    assert seq.p_value == pytest.approx(min(1, 1 / martingale), rel=1e-12)
    assert seq.error_message is None


def test_sequential_interval_degenerate_inputs_give_reasons():
    config = SequentialConfig()
    no_se = ComparisonResult(
        method="welch_t",
        alpha=0.05,
        n_control=1,
        n_treatment=1,
        abs_lift=1.0,
        error_message="control arm has only 1 unit: variance undefined",
    )
    seq = sequential_interval(no_se, config)
    assert seq.abs_ci_low is None and seq.p_value is None
    assert seq.error_message == "control arm has only 1 unit: variance undefined"
    zero_control = ComparisonResult(
        method="welch_t",
        alpha=0.05,
        n_control=10,
        n_treatment=10,
        abs_lift=1.0,
        std_error=0.5,
        error_message="control mean is 0: relative lift undefined",
    )
    seq = sequential_interval(zero_control, config)
    assert seq.abs_ci_low is not None and seq.rel_ci_low is None
    assert seq.error_message == "control mean is 0: relative lift undefined"


@pytest.mark.parametrize(
    "kwargs", [{"alpha": 0}, {"alpha": 1.5}, {"tuning_units": 0}, {"alpha": True}]
)
def test_sequential_config_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        SequentialConfig(**kwargs)


# ---------------------------------------------------------------------------
# The A/A simulation: 1,000 experiments peeked at daily for 30 days
# ---------------------------------------------------------------------------

EXPERIMENTS, DAYS, ALPHA = 1_000, 30, 0.05
# Binomial margin on a share estimated from 1,000 experiments: 2 standard errors.
MARGIN = 2 * math.sqrt(ALPHA * (1 - ALPHA) / EXPERIMENTS)


def peeking_shares(
    daily_sum: np.ndarray, daily_squares: np.ndarray, per_day: int, tuning: float
) -> tuple[float, float, float]:
    """Ever-significant shares (naive Welch, always-valid) and the final-day share.

    Arrays have shape (experiments, days, 2 arms) and hold each day's sums.
    """
    total = np.cumsum(daily_sum, axis=1)
    squares = np.cumsum(daily_squares, axis=1)
    n = per_day * np.arange(1, DAYS + 1, dtype=float)[None, :, None]
    mean = total / n
    var_of_mean = (squares - total * total / n) / (n - 1) / n
    se = np.sqrt(var_of_mean.sum(axis=2))
    lift = mean[..., 1] - mean[..., 0]
    dof = (
        se**4 / (var_of_mean[..., 0] ** 2 + var_of_mean[..., 1] ** 2) * (n[..., 0] - 1)
    )
    naive = 2 * stats.t.sf(np.abs(lift / se), dof)
    rho = mixture_rho(ALPHA, tuning)
    valid = always_valid_p_value(lift / se, 2 * n[..., 0], rho)
    return (
        float((naive < ALPHA).any(axis=1).mean()),
        float((valid < ALPHA).any(axis=1).mean()),
        float((naive[:, -1] < ALPHA).mean()),
    )


def test_aa_simulation_normal_metric_peeked_daily():
    rng = np.random.default_rng(20241101)
    per_day = 100  # units per arm per day; unit values N(0, 1)
    shape = (EXPERIMENTS, DAYS, 2)
    # Exact sufficient statistics of per_day N(0, 1) draws: the sum is
    # N(0, per_day) and the centred sum of squares chi2(per_day - 1), independent.
    daily_sum = rng.normal(0, math.sqrt(per_day), size=shape)
    daily_squares = rng.chisquare(per_day - 1, size=shape) + daily_sum**2 / per_day
    naive, valid, final = peeking_shares(
        daily_sum, daily_squares, per_day, tuning=2 * per_day * DAYS
    )
    # The fixed-horizon test is fine at one look...
    assert abs(final - ALPHA) <= 2.5 * MARGIN
    # ...but peeking at it daily and stopping at the first p < alpha is not.
    assert naive > 3 * ALPHA
    # The always-valid p-value keeps the ever-significant share at or below alpha.
    assert valid <= ALPHA + MARGIN
    assert valid < naive / 5


def test_aa_simulation_binary_metric_peeked_daily():
    rng = np.random.default_rng(7)
    per_day, rate = 200, 0.1
    daily_sum = rng.binomial(per_day, rate, size=(EXPERIMENTS, DAYS, 2)).astype(float)
    naive, valid, _ = peeking_shares(
        daily_sum, daily_sum, per_day, tuning=2 * per_day * DAYS
    )
    assert naive > 3 * ALPHA
    assert valid <= ALPHA + MARGIN


# ---------------------------------------------------------------------------
# daily_results on a hand-built arm_metrics_daily
# ---------------------------------------------------------------------------


def daily_frame(units: dict[tuple[str, str], np.ndarray], aggregation="sum"):
    """arm_metrics_daily rows from raw unit values keyed by (variant, day)."""
    rows = []
    for (variant, day), values in units.items():
        rows.append(
            {
                "experiment_id": "X1",
                "variant": variant,
                "metric_id": "m",
                "exposure_date": pd.Timestamp(day).date(),
                "is_control": variant == "control",
                "aggregation": aggregation,
                "has_covariate": False,
                "n_units": len(values),
                "metric_sum": float(values.sum()),
                "metric_sum_squares": float((values**2).sum()),
            }
        )
    return pd.DataFrame(rows)


EXPERIMENTS_REGISTRY = pd.DataFrame(
    [{"experiment_id": "X1", "control_variant": "control", "alpha": 0.1}]
)


def test_daily_results_match_scipy_on_cumulative_raw_arrays():
    rng = np.random.default_rng(3)
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    units = {
        (v, d): rng.normal(10 + (v == "b"), 3, size=rng.integers(20, 40))
        for v in ("control", "b")
        for d in days
    }
    del units[("b", "2024-01-02")]  # a day without new treatment units
    out = daily_results(
        daily_frame(units), EXPERIMENTS_REGISTRY, ["X1"], tuning_units=150
    )
    assert list(out.columns) == list(DAILY_RESULT_COLUMNS)
    assert len(out) == 3
    rho = math.sqrt((-2 * math.log(0.1) + math.log(1 - 2 * math.log(0.1))) / 150)
    running = 1.0
    for (_, row), day in zip(out.iterrows(), days, strict=True):
        control = np.concatenate(
            [units[k] for k in units if k[0] == "control" and k[1] <= day]
        )
        treat = np.concatenate([units[k] for k in units if k[0] == "b" and k[1] <= day])
        welch = stats.ttest_ind(treat, control, equal_var=False)
        assert row.p_value == pytest.approx(welch.pvalue, rel=1e-9)
        se = math.sqrt(
            control.var(ddof=1) / control.size + treat.var(ddof=1) / treat.size
        )
        lift = treat.mean() - control.mean()
        n = control.size + treat.size
        v = n * rho * rho
        c = math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / 0.1))
        assert row.always_valid_ci_low == pytest.approx(lift - c * se, rel=1e-9)
        assert row.always_valid_ci_high == pytest.approx(lift + c * se, rel=1e-9)
        z = lift / se
        running = min(running, math.sqrt(1 + v) * math.exp(-z * z * v / (2 * (1 + v))))
        assert row.always_valid_p_value == pytest.approx(running, rel=1e-9)
        assert row.is_significant_always_valid == (running < 0.1)
        assert row.n_control == control.size and row.n_treatment == treat.size
    assert out["is_sequential"].all()
    assert list(out["day_number"]) == [1, 2, 3]


def test_daily_results_degenerate_days_give_reasons_not_crashes():
    units = {
        ("control", "2024-01-01"): np.array([1.0]),
        ("b", "2024-01-01"): np.array([2.0, 3.0]),
        ("control", "2024-01-02"): np.array([1.0, 1.0]),
        ("b", "2024-01-02"): np.array([2.0]),
        ("b", "2024-01-03"): np.array([5.0]),
    }
    frame = daily_frame(units)
    out = daily_results(frame, EXPERIMENTS_REGISTRY)
    first, second, _ = (row for _, row in out.iterrows())
    assert pd.isna(first.always_valid_ci_low)
    assert "control arm has only 1 unit" in first.error_message
    assert second.n_control == 3 and second.n_treatment == 3
    assert not out["is_sequential"].any()
    # A treatment arm that starts later: no units yet on day 1.
    late = daily_frame(
        {
            ("control", "2024-01-01"): np.array([1.0, 2.0]),
            ("b", "2024-01-02"): np.array([2.0, 3.0]),
        }
    )
    out = daily_results(late, EXPERIMENTS_REGISTRY)
    assert out.iloc[0].error_message == "treatment arm has no units yet"
    assert pd.isna(out.iloc[0].always_valid_p_value)
    # Zero control mean: the absolute sequence exists, the relative one does not.
    zero = daily_frame(
        {
            ("control", "2024-01-01"): np.array([0.0, 0.0, 1.0, -1.0]),
            ("b", "2024-01-01"): np.array([2.0, 3.0, 1.0]),
        }
    )
    row = daily_results(zero, EXPERIMENTS_REGISTRY).iloc[0]
    assert not pd.isna(row.always_valid_ci_low)
    assert pd.isna(row.always_valid_rel_ci_low)
    assert "relative lift undefined" in row.error_message
    # No rows in, typed empty frame out.
    empty = daily_results(frame.iloc[:0], EXPERIMENTS_REGISTRY)
    assert list(empty.columns) == list(DAILY_RESULT_COLUMNS) and empty.empty
