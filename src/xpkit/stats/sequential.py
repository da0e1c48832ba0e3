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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xpkit.stats.frequentist import METHOD_UNKNOWN, ComparisonConfig, ComparisonResult
from xpkit.stats.frequentist import compare as fixed_horizon_compare
from xpkit.stats.statistics import (
    SHIFTED_SUM_COLUMNS,
    SUFFICIENT_STATISTIC_COLUMNS,
    Proportion,
    from_row,
)

__all__ = [
    "DAILY_RESULT_COLUMNS",
    "DEFAULT_TUNING_UNITS",
    "SequentialConfig",
    "SequentialResult",
    "always_valid_p_value",
    "confidence_sequence_multiplier",
    "daily_results",
    "experiment_list",
    "log_mixture_martingale",
    "mixture_rho",
    "fieller_relative_interval",
    "sequential_interval",
]

DEFAULT_TUNING_UNITS = 10_000.0
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


def _finite(value: float | None) -> float | None:
    """The value as float, or None when None, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


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
        "abs_ci_low": _finite(result.abs_lift - half),
        "abs_ci_high": _finite(result.abs_lift + half),
        "p_value": _finite(always_valid_p_value(z, n, rho)),
    }
    errors = []
    rel_se = result.rel_std_error
    if result.rel_lift is not None and rel_se is not None and rel_se > 0:
        figures["rel_ci_low"] = _finite(result.rel_lift - rel_se * multiplier)
        figures["rel_ci_high"] = _finite(result.rel_lift + rel_se * multiplier)
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
    low, high = _finite(low - 1), _finite(high - 1)
    return None if low is None or high is None else (low, high)


def _mean_variance(statistic: Any) -> float | None:
    """The variance of an arm's mean as the fixed-horizon test estimates it."""
    if statistic is None or not statistic.n:
        return None
    if isinstance(statistic, Proportion):
        p = statistic.mean
        return None if p is None else p * (1 - p) / statistic.n
    variance = statistic.variance
    return None if variance is None else variance / statistic.n


# ---------------------------------------------------------------------------
# The daily_results mart
# ---------------------------------------------------------------------------

DAILY_RESULT_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "metric_id": "string",
    "variant": "string",
    "exposure_date": "date32[pyarrow]",
    "day_number": "Int64",
    "control_variant": "string",
    "n_control": "Int64",
    "n_treatment": "Int64",
    "mean_control": "Float64",
    "mean_treatment": "Float64",
    "abs_lift": "Float64",
    "abs_ci_low": "Float64",
    "abs_ci_high": "Float64",
    "rel_lift": "Float64",
    "rel_ci_low": "Float64",
    "rel_ci_high": "Float64",
    "p_value": "Float64",
    "is_significant": "boolean",
    "method": "string",
    "std_error": "Float64",
    "rel_std_error": "Float64",
    "always_valid_ci_low": "Float64",
    "always_valid_ci_high": "Float64",
    "always_valid_rel_ci_low": "Float64",
    "always_valid_rel_ci_high": "Float64",
    "always_valid_p_value": "Float64",
    "is_significant_always_valid": "boolean",
    "is_sequential": "boolean",
    "alpha": "Float64",
    "sequential_rho": "Float64",
    "sequential_tuning_units": "Float64",
    "aggregation": "string",
    "error_message": "string",
}


def _missing(value: Any) -> bool:
    """True for None, NaN and pandas NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as dicts with missing values as None."""
    return [
        {k: None if _missing(v) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _alpha(value: Any) -> float:
    """The experiment's alpha; 0.05 when empty or unusable."""
    try:
        alpha = 0.05 if _missing(value) else float(value)
    except (TypeError, ValueError):
        return 0.05
    return alpha if 0 < alpha < 1 else 0.05


def _day(value: Any) -> Any:
    """A date from a date, timestamp or ISO string."""
    return pd.Timestamp(value).date()


def experiment_list(value: Any) -> list[str]:
    """Experiment ids from a dbt var value: a list, or a comma-separated string
    (how a list reaches a Python model through ``config``)."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return sorted({str(v).strip() for v in value if str(v).strip()})
    text = str(value).strip().strip("[]")
    items = (part.strip().strip("'\"") for part in text.split(","))
    return sorted({item for item in items if item})


def daily_results(
    arm_metrics_daily: pd.DataFrame,
    experiments: pd.DataFrame,
    sequential_experiments: Iterable[str] = (),
    tuning_units: float = DEFAULT_TUNING_UNITS,
) -> pd.DataFrame:
    """One row per experiment x metric x treatment variant x exposure day.

    Each row compares the arms as they stood for the units first exposed up to
    and including ``exposure_date`` (cumulative sums of ``arm_metrics_daily``,
    each unit with its whole analysis window), in two ways: the fixed-horizon
    test of ``frequentist.compare`` (the naive daily look) and the always-valid
    confidence sequence. ``always_valid_p_value`` is the running minimum of the
    per-look values, so it never rises; ``is_significant_always_valid`` is
    ``always_valid_p_value < alpha``. CUPED is not applied here.

    Args:
        arm_metrics_daily: Rows of the ``arm_metrics_daily`` mart.
        experiments: The experiments registry (control_variant, alpha).
        sequential_experiments: Experiment ids in sequential mode (dbt var
            ``sequential_experiments``); copied to ``is_sequential``.
        tuning_units: Total units at which the sequence is narrowest.

    Returns:
        A frame with the columns of ``DAILY_RESULT_COLUMNS``, sorted by
        experiment, metric, variant and day.
    """
    sequential = {str(e) for e in sequential_experiments}
    registry = {str(r.get("experiment_id")): r for r in _records(experiments)}
    rows: list[dict[str, Any]] = []
    if arm_metrics_daily.empty:
        return _typed(rows)
    daily = _records(arm_metrics_daily)
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for row in daily:
        by_experiment.setdefault(str(row.get("experiment_id")), []).append(row)
    for experiment_id, experiment_rows in sorted(by_experiment.items()):
        info = registry.get(experiment_id, {})
        control = info.get("control_variant") or next(
            (r.get("variant") for r in experiment_rows if r.get("is_control")), None
        )
        alpha = _alpha(info.get("alpha"))
        config = SequentialConfig(alpha, tuning_units)
        days = sorted({_day(r["exposure_date"]) for r in experiment_rows})
        by_metric: dict[str, list[dict[str, Any]]] = {}
        for row in experiment_rows:
            by_metric.setdefault(str(row.get("metric_id")), []).append(row)
        for metric_id, metric_rows in sorted(by_metric.items()):
            rows.extend(
                _metric_series(
                    experiment_id,
                    metric_id,
                    metric_rows,
                    days,
                    None if control is None else str(control),
                    config,
                    experiment_id in sequential,
                )
            )
    return _typed(rows)


def _typed(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a frame with the columns and dtypes of DAILY_RESULT_COLUMNS."""
    data = {
        name: pd.array([row.get(name) for row in rows], dtype=dtype)
        for name, dtype in DAILY_RESULT_COLUMNS.items()
    }
    return pd.DataFrame(data, columns=list(DAILY_RESULT_COLUMNS))


def _metric_series(
    experiment_id: str,
    metric_id: str,
    rows: list[Mapping[str, Any]],
    days: list[Any],
    control: str | None,
    config: SequentialConfig,
    is_sequential: bool,
) -> list[dict[str, Any]]:
    """The daily rows of one experiment and metric, every treatment variant."""
    aggregation = rows[0].get("aggregation")
    by_arm: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for row in rows:
        by_arm.setdefault(str(row.get("variant")), {})[_day(row["exposure_date"])] = row
    variants = sorted(v for v in by_arm if v != control)
    # Shifted sums stay None unless the rows have them (from_row then uses the
    # raw sums), so hand-built rows without them are not read as zero spread.
    empty = {c: None if c in SHIFTED_SUM_COLUMNS else 0.0 for c in _SUM_COLUMNS}
    running = {v: dict(empty) for v in [*by_arm, str(control)]}
    best_p: dict[str, float | None] = dict.fromkeys(variants)
    sequences = {v: _RunningSequence() for v in variants}
    out = []
    for number, current in enumerate(days, start=1):
        for variant, by_day in by_arm.items():
            row = by_day.get(current)
            if row is None:
                continue
            for column in _SUM_COLUMNS:
                value = row.get(column)
                if value is not None:
                    total = running[variant][column]
                    running[variant][column] = (total or 0.0) + float(value)
        for variant in variants:
            result, arm_variances = _compare_arms(
                running.get(str(control)), running[variant], aggregation, config
            )
            if control is None:
                result = ComparisonResult(
                    method=METHOD_UNKNOWN,
                    alpha=config.alpha,
                    error_message="no control variant registered",
                )
            seq = sequential_interval(result, config)
            if seq.p_value is not None:
                previous = best_p[variant]
                best_p[variant] = (
                    seq.p_value if previous is None else min(previous, seq.p_value)
                )
            running_p = best_p[variant]
            shown = sequences[variant].update(
                result, seq, arm_variances, config, running_p
            )
            out.append(
                {
                    "experiment_id": experiment_id,
                    "metric_id": metric_id,
                    "variant": variant,
                    "exposure_date": current,
                    "day_number": number,
                    "control_variant": control,
                    "n_control": result.n_control,
                    "n_treatment": result.n_treatment,
                    "mean_control": result.mean_control,
                    "mean_treatment": result.mean_treatment,
                    "abs_lift": result.abs_lift,
                    "abs_ci_low": result.abs_ci_low,
                    "abs_ci_high": result.abs_ci_high,
                    "rel_lift": result.rel_lift,
                    "rel_ci_low": result.rel_ci_low,
                    "rel_ci_high": result.rel_ci_high,
                    "p_value": result.p_value,
                    "is_significant": None
                    if result.p_value is None
                    else result.p_value < config.alpha,
                    "method": None
                    if result.method == METHOD_UNKNOWN
                    else result.method,
                    "std_error": result.std_error,
                    "rel_std_error": result.rel_std_error,
                    "always_valid_ci_low": shown[0],
                    "always_valid_ci_high": shown[1],
                    "always_valid_rel_ci_low": shown[2],
                    "always_valid_rel_ci_high": shown[3],
                    "always_valid_p_value": running_p,
                    "is_significant_always_valid": None
                    if running_p is None
                    else running_p < config.alpha,
                    "is_sequential": is_sequential,
                    "alpha": config.alpha,
                    "sequential_rho": config.rho,
                    "sequential_tuning_units": float(config.tuning_units),
                    "aggregation": aggregation,
                    "error_message": "; ".join(
                        m
                        for m in (
                            result.error_message,
                            result.interval_error_message,
                            shown[4],
                        )
                        if m
                    )
                    or None,
                }
            )
    return out


class _RunningSequence:
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


def _compare_arms(
    control: Mapping[str, float] | None,
    treatment: Mapping[str, float],
    aggregation: Any,
    config: SequentialConfig,
) -> tuple[ComparisonResult, tuple[float, float] | None]:
    """The fixed-horizon comparison of two cumulative arms (no CUPED), and the
    variances of the two arm means (None when undefined)."""

    def statistic(totals: Mapping[str, float] | None) -> Any:
        if totals is None or totals["n_units"] == 0:
            return None
        return from_row(
            {
                **totals,
                "aggregation": aggregation,
                "has_covariate": False,
                "n_units": int(totals["n_units"]),
            }
        )

    try:
        control_stat, treatment_stat = statistic(control), statistic(treatment)
    except ValueError as problem:
        failed = ComparisonResult(
            method=METHOD_UNKNOWN, alpha=config.alpha, error_message=str(problem)
        )
        return failed, None
    if control_stat is None or treatment_stat is None:
        missing = [
            f"{name} arm has no units yet"
            for name, arm in (("control", control_stat), ("treatment", treatment_stat))
            if arm is None
        ]
        absent = ComparisonResult(
            method=METHOD_UNKNOWN,
            alpha=config.alpha,
            n_control=None if control_stat is None else control_stat.n,
            n_treatment=None if treatment_stat is None else treatment_stat.n,
            error_message="; ".join(missing),
        )
        return absent, None
    result = fixed_horizon_compare(
        control_stat, treatment_stat, ComparisonConfig(config.alpha)
    )
    v_c, v_t = _mean_variance(control_stat), _mean_variance(treatment_stat)
    return result, None if v_c is None or v_t is None else (v_c, v_t)
