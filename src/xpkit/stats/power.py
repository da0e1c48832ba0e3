"""Power and sample size for a registered experiment (pure, no I/O).

``sample_size`` answers "how many units per arm does a two-sided test at
``alpha`` need to detect a relative change of ``mde_relative`` with probability
``power``?" using statsmodels' power classes:

- binary metrics: ``NormalIndPower`` on Cohen's h,
  ``h = proportion_effectsize(p1, p0) = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))``
  with ``p0`` the baseline rate and ``p1 = p0 (1 + mde)`` (``p0 (1 - mde)`` when
  the metric should decrease);
- count, sum and ratio metrics: ``TTestIndPower`` on Cohen's d,
  ``d = mde |mean| / sd``, with ``sd`` the unit-level standard deviation (for
  ratio metrics the delta-method standard deviation of the linearised values,
  the square root of the ``variance`` column of ``arm_metrics``).

Arms are assumed equal in size. Degenerate input never raises: the figure is
None and ``error_message`` says why. ``experiment_power`` builds the
``experiment_power`` mart from the registry, ``arm_metrics``,
``arm_metrics_daily`` and the pre-period baselines of planned experiments.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from xpkit.results import DEFAULT_ALPHA, _missing, _records, _typed_frame

__all__ = [
    "DEFAULT_POWER",
    "METHOD_NORMAL_ARCSINE",
    "METHOD_T_COHENS_D",
    "MIN_UNITS_PER_ARM",
    "POWER_COLUMNS",
    "SampleSize",
    "experiment_power",
    "projected_days_to_target",
    "sample_size",
    "share_of_target",
]

DEFAULT_POWER = 0.8
# A two-sample test needs a variance in each arm, so never fewer than 2 units.
MIN_UNITS_PER_ARM = 2
METHOD_NORMAL_ARCSINE = "normal_cohens_h"
METHOD_T_COHENS_D = "t_cohens_d"
# solve_power's root can land a hair above an integer (510.0000000003); a
# required size within this of an integer is that integer.
_CEIL_TOLERANCE = 1e-6

POWER_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "metric_id": "string",
    "status": "string",
    "aggregation": "string",
    "alpha": "Float64",
    "power": "Float64",
    "mde_relative": "Float64",
    "baseline_source": "string",
    "baseline_mean": "Float64",
    "baseline_std": "Float64",
    "n_arms": "Int64",
    "required_units_per_arm": "Int64",
    "required_units_total": "Int64",
    "current_units": "Int64",
    "min_arm_units": "Int64",
    "share_of_target": "Float64",
    "daily_units": "Float64",
    "days_observed": "Int64",
    "projected_days_to_target": "Float64",
    "error_message": "string",
    "effect_size": "Float64",
    "power_method": "string",
    "baseline_units": "Int64",
}


@dataclass(frozen=True, slots=True)
class SampleSize:
    """Required units per arm for a two-sided two-sample test.

    Attributes:
        units_per_arm: Required units in each arm (ceiling of the solution,
            at least ``MIN_UNITS_PER_ARM``); None when it cannot be computed.
        effect_size: Cohen's h (binary) or Cohen's d (other metrics).
        method: ``normal_cohens_h`` or ``t_cohens_d``.
        solution: The unrounded solution of statsmodels' ``solve_power``.
        error_message: Why ``units_per_arm`` is None; None when computed.
    """

    units_per_arm: int | None = None
    effect_size: float | None = None
    method: str | None = None
    solution: float | None = None
    error_message: str | None = None


def _number(value: Any) -> float | None:
    """The value as a finite float, or None (missing, not a number, infinite)."""
    if _missing(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _check_design(
    alpha: float | None, power: float | None, mde_relative: float | None
) -> str | None:
    """Why the design parameters cannot be used, or None."""
    if alpha is None or not 0 < alpha < 1:
        return f"alpha must lie in (0, 1), got {alpha!r}"
    if power is None or not 0 < power < 1:
        return f"power must lie in (0, 1), got {power!r}"
    if mde_relative is None:
        return "no mde_relative registered"
    if mde_relative <= 0:
        return f"mde_relative must be > 0, got {mde_relative!r}"
    return None


def _solve(
    analysis: NormalIndPower | TTestIndPower,
    effect_size: float,
    alpha: float,
    power: float,
    method: str,
) -> SampleSize:
    """Solve for nobs1 (equal arms), floored at ``MIN_UNITS_PER_ARM``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        floor_power = analysis.power(
            effect_size, MIN_UNITS_PER_ARM, alpha, ratio=1.0, alternative="two-sided"
        )
        if _number(floor_power) is not None and floor_power >= power:
            return SampleSize(MIN_UNITS_PER_ARM, effect_size, method, None)
        try:
            solution = analysis.solve_power(
                effect_size=effect_size,
                nobs1=None,
                alpha=alpha,
                power=power,
                ratio=1.0,
                alternative="two-sided",
            )
        except (ArithmeticError, ValueError, RuntimeError) as error:
            return SampleSize(
                None, effect_size, method, None, f"power solver failed: {error}"
            )
    solution = _number(solution)
    if solution is None or solution <= 0:
        return SampleSize(
            None, effect_size, method, None, "power solver did not converge"
        )
    units = max(MIN_UNITS_PER_ARM, math.ceil(solution - _CEIL_TOLERANCE))
    return SampleSize(units, effect_size, method, solution)


def binary_sample_size(
    baseline_rate: float | None,
    mde_relative: float | None,
    alpha: float | None = DEFAULT_ALPHA,
    power: float | None = DEFAULT_POWER,
    decrease: bool = False,
) -> SampleSize:
    """Units per arm to detect a relative change of a rate (z-test, Cohen's h).

    ``h = proportion_effectsize(p0 (1 +/- mde), p0)`` and
    ``NormalIndPower().solve_power(h, alpha=alpha, power=power, ratio=1)``:
    approximately ``n = ((z_{1-alpha/2} + z_{power}) / h)**2``.

    Args:
        baseline_rate: The control (or baseline) rate p0.
        mde_relative: Minimum detectable relative change, > 0.
        alpha: Two-sided significance level.
        power: Target power.
        decrease: Plan for ``p0 (1 - mde)`` instead of ``p0 (1 + mde)``.

    Returns:
        The sample size, or an error message for degenerate input.
    """
    method = METHOD_NORMAL_ARCSINE
    p0, mde = _number(baseline_rate), _number(mde_relative)
    alpha, power = _number(alpha), _number(power)
    error = _check_design(alpha, power, mde)
    if error is not None:
        return SampleSize(method=method, error_message=error)
    if p0 is None:
        return SampleSize(method=method, error_message="no baseline rate")
    if not 0 < p0 < 1:
        return SampleSize(
            method=method,
            error_message=f"baseline rate {p0:g} is not strictly between 0 and 1",
        )
    target = p0 * (1 - mde) if decrease else p0 * (1 + mde)
    if not 0 <= target <= 1:
        return SampleSize(
            method=method,
            error_message=(
                f"target rate {target:g} (baseline {p0:g} "
                f"{'-' if decrease else '+'} {mde:g} relative) is outside [0, 1]"
            ),
        )
    effect = float(abs(proportion_effectsize(target, p0)))
    return _solve(NormalIndPower(), effect, alpha, power, method)


def continuous_sample_size(
    baseline_mean: float | None,
    baseline_std: float | None,
    mde_relative: float | None,
    alpha: float | None = DEFAULT_ALPHA,
    power: float | None = DEFAULT_POWER,
) -> SampleSize:
    """Units per arm to detect a relative change of a mean (t-test, Cohen's d).

    ``d = mde |mean| / sd`` and
    ``TTestIndPower().solve_power(d, alpha=alpha, power=power, ratio=1)``:
    approximately ``n = 2 ((z_{1-alpha/2} + z_{power}) / d)**2`` plus a small
    t correction.

    Args:
        baseline_mean: The control (or baseline) mean; for ratio metrics the
            ratio of sums.
        baseline_std: Unit-level standard deviation (for ratio metrics the
            delta-method one).
        mde_relative: Minimum detectable relative change, > 0.
        alpha: Two-sided significance level.
        power: Target power.

    Returns:
        The sample size, or an error message for degenerate input.
    """
    method = METHOD_T_COHENS_D
    mean, std = _number(baseline_mean), _number(baseline_std)
    mde, alpha, power = _number(mde_relative), _number(alpha), _number(power)
    error = _check_design(alpha, power, mde)
    if error is not None:
        return SampleSize(method=method, error_message=error)
    if mean is None:
        return SampleSize(method=method, error_message="no baseline mean")
    if mean == 0:
        return SampleSize(
            method=method,
            error_message="baseline mean is 0: a relative MDE is undefined",
        )
    if std is None:
        return SampleSize(method=method, error_message="no baseline standard deviation")
    if std <= 0:
        return SampleSize(
            method=method,
            error_message="baseline standard deviation is 0: effect size undefined",
        )
    effect = mde * abs(mean) / std
    return _solve(TTestIndPower(), effect, alpha, power, method)


def sample_size(
    aggregation: str | None,
    baseline_mean: float | None,
    baseline_std: float | None,
    mde_relative: float | None,
    alpha: float | None = DEFAULT_ALPHA,
    power: float | None = DEFAULT_POWER,
    decrease: bool = False,
) -> SampleSize:
    """Units per arm for a metric of the given aggregation.

    Binary metrics use ``binary_sample_size`` (``baseline_std`` is ignored);
    count, sum and ratio metrics use ``continuous_sample_size``.
    """
    if aggregation == "binary":
        return binary_sample_size(baseline_mean, mde_relative, alpha, power, decrease)
    if aggregation in ("count", "sum", "ratio"):
        return continuous_sample_size(
            baseline_mean, baseline_std, mde_relative, alpha, power
        )
    return SampleSize(error_message=f"unknown aggregation {aggregation!r}")


def share_of_target(
    current_units: float | None, required_units_total: float | None
) -> float | None:
    """``current_units / required_units_total`` (may exceed 1); None if unknown."""
    current, required = _number(current_units), _number(required_units_total)
    if current is None or required is None or required <= 0:
        return None
    return current / required


def projected_days_to_target(
    current_units: float | None,
    required_units_total: float | None,
    daily_units: float | None,
) -> tuple[float | None, str | None]:
    """Days until the target at the observed traffic: 0 when it is reached.

    Returns:
        ``(max(0, required - current) / daily_units, None)``, or ``(None, why)``.
    """
    current = _number(current_units) or 0.0
    required = _number(required_units_total)
    daily = _number(daily_units)
    if required is None:
        return None, "no required sample size"
    if current >= required:
        return 0.0, None
    if daily is None:
        return None, "no observed daily traffic"
    if daily <= 0:
        return None, "no daily traffic: the target is never reached"
    return (required - current) / daily, None


def _join(messages: list[str | None]) -> str | None:
    """Distinct non-empty messages joined with '; ' (None when there are none)."""
    kept = list(dict.fromkeys(m for m in messages if m))
    return "; ".join(kept) if kept else None


def _design(experiment: dict[str, Any]) -> tuple[float | None, float | None]:
    """The registered alpha and power, defaulting to 0.05 and 0.8 when empty."""
    alpha = experiment.get("alpha")
    power = experiment.get("power")
    return (
        DEFAULT_ALPHA if _missing(alpha) else _number(alpha),
        DEFAULT_POWER if _missing(power) else _number(power),
    )


def _observed_traffic(
    days: list[dict[str, Any]],
) -> tuple[float | None, int | None]:
    """Units first exposed per day over the observed span, and the span in days.

    The span runs from the first to the last exposure date, both included.
    """
    dates = [pd.Timestamp(row["exposure_date"]) for row in days]
    if not dates:
        return None, None
    span = (max(dates) - min(dates)).days + 1
    units = sum(int(row.get("n_units") or 0) for row in days)
    return units / span, span


def _power_row(
    experiment: dict[str, Any],
    metric: dict[str, Any],
    arms: list[dict[str, Any]],
    days: list[dict[str, Any]],
    baseline: dict[str, Any] | None,
    n_arms: int,
) -> dict[str, Any]:
    """One experiment_power row for a primary metric."""
    status = experiment.get("status")
    aggregation = metric.get("aggregation")
    alpha, power = _design(experiment)
    mde = _number(experiment.get("mde_relative"))
    errors: list[str | None] = []
    row: dict[str, Any] = {
        "experiment_id": experiment.get("experiment_id"),
        "metric_id": metric.get("metric_id"),
        "status": status,
        "aggregation": aggregation,
        "alpha": alpha,
        "power": power,
        "mde_relative": mde,
        "n_arms": n_arms,
    }
    mean = std = daily = source = baseline_units = days_observed = None
    if status == "planned":
        if baseline is None:
            errors.append("no pre-period baseline for this planned experiment")
        else:
            source = "pre_period"
            baseline_units = int(baseline.get("n_units") or 0)
            days_observed = _number(baseline.get("baseline_days"))
            days_observed = None if days_observed is None else int(days_observed)
            daily = _number(baseline.get("daily_units"))
            if aggregation == "binary":
                errors.append(
                    "binary metric: the baseline rate of a planned experiment is "
                    "not estimable from pre-period events without a target "
                    "population (units without events are unknown)"
                )
            elif baseline_units == 0:
                errors.append("no units with the metric's events in the pre-period")
            else:
                mean = _number(baseline.get("mean"))
                variance = _number(baseline.get("variance"))
                std = None if variance is None else math.sqrt(max(variance, 0.0))
        current_units, min_arm_units = 0, 0
    else:
        control = [a for a in arms if a.get("is_control")]
        current_units = sum(int(a.get("n_units") or 0) for a in arms)
        min_arm_units = min((int(a.get("n_units") or 0) for a in arms), default=0)
        if not control:
            errors.append("no control arm in arm_metrics")
        elif int(control[0].get("n_units") or 0) == 0:
            errors.append("no units in the control arm yet: no baseline")
        else:
            source = "control_arm"
            baseline_units = int(control[0].get("n_units") or 0)
            mean = _number(control[0].get("mean"))
            if aggregation == "binary":
                std = None if mean is None else math.sqrt(mean * (1 - mean))
            else:
                variance = _number(control[0].get("variance"))
                std = None if variance is None else math.sqrt(max(variance, 0.0))
        daily, days_observed = _observed_traffic(days)
    if n_arms < 2:
        size = SampleSize(error_message=f"{n_arms} arm(s) registered: need 2 or more")
    elif source is None or any(errors):
        size = SampleSize()  # the baseline's own error says why
    else:
        size = sample_size(
            aggregation,
            mean,
            std,
            mde,
            alpha,
            power,
            decrease=metric.get("desired_direction") == "decrease",
        )
    errors.append(size.error_message)
    required_total = None if size.units_per_arm is None else size.units_per_arm * n_arms
    projected, projection_error = projected_days_to_target(
        current_units, required_total, daily
    )
    if required_total is not None:
        errors.append(projection_error)
    row |= {
        "baseline_source": source,
        "baseline_mean": mean,
        "baseline_std": std,
        "baseline_units": baseline_units,
        "required_units_per_arm": size.units_per_arm,
        "required_units_total": required_total,
        "current_units": current_units,
        "min_arm_units": min_arm_units,
        "share_of_target": share_of_target(current_units, required_total),
        "daily_units": daily,
        "days_observed": days_observed,
        "projected_days_to_target": projected,
        "effect_size": size.effect_size,
        "power_method": size.method,
        "error_message": _join(errors),
    }
    return row


def experiment_power(
    experiments: pd.DataFrame,
    metrics: pd.DataFrame,
    experiment_metrics: pd.DataFrame,
    experiment_variants: pd.DataFrame,
    arm_metrics: pd.DataFrame,
    arm_metrics_daily: pd.DataFrame,
    planned_baselines: pd.DataFrame,
) -> pd.DataFrame:
    """One row per experiment x primary metric: sample size and progress.

    The baseline is the control arm of ``arm_metrics`` (running, completed and
    stopped experiments) or, for planned experiments, the pre-period
    statistics of ``planned_baselines`` (``int_planned_metric_baselines``).
    ``current_units`` and ``min_arm_units`` are the analysed units of the
    metric's arms; ``daily_units`` is the units first exposed per day between
    the first and last exposure date (``arm_metrics_daily``), or for planned
    experiments the units with the metric's events in the baseline period per
    day of that period.

    Args:
        experiments: The experiments registry.
        metrics: The metrics registry.
        experiment_metrics: Metrics per experiment with their role.
        experiment_variants: Variants per experiment (arms counted from it).
        arm_metrics: Rows of the ``arm_metrics`` mart.
        arm_metrics_daily: Rows of the ``arm_metrics_daily`` mart.
        planned_baselines: Rows of ``int_planned_metric_baselines``.

    Returns:
        The columns of ``POWER_COLUMNS`` in that order and dtype, sorted by
        experiment and metric.
    """
    metric_info = {row["metric_id"]: row for row in _records(metrics)}
    arm_counts: dict[Any, set[Any]] = defaultdict(set)
    for row in _records(experiment_variants):
        arm_counts[row.get("experiment_id")].add(row.get("variant"))
    arms: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in _records(arm_metrics):
        arms[(row.get("experiment_id"), row.get("metric_id"))].append(row)
    days: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in _records(arm_metrics_daily):
        days[(row.get("experiment_id"), row.get("metric_id"))].append(row)
    baselines = {
        (row.get("experiment_id"), row.get("metric_id")): row
        for row in _records(planned_baselines)
    }
    primaries: dict[Any, list[Any]] = defaultdict(list)
    for row in _records(experiment_metrics):
        if row.get("role") == "primary":
            primaries[row.get("experiment_id")].append(row.get("metric_id"))

    rows = []
    for experiment in _records(experiments):
        experiment_id = experiment.get("experiment_id")
        for metric_id in sorted(set(primaries.get(experiment_id, [])), key=str):
            key = (experiment_id, metric_id)
            metric = metric_info.get(metric_id) or {"metric_id": metric_id}
            n_arms = len(arm_counts.get(experiment_id, set())) or len(
                {a.get("variant") for a in arms.get(key, [])}
            )
            row = _power_row(
                experiment,
                metric,
                arms.get(key, []),
                days.get(key, []),
                baselines.get(key),
                n_arms,
            )
            if metric_id not in metric_info:
                row["error_message"] = _join(
                    [f"metric {metric_id!r} is not in the metrics registry"]
                    + [row["error_message"]]
                )
            rows.append(row)
    rows.sort(key=lambda r: (str(r["experiment_id"]), str(r["metric_id"])))
    return _typed_frame(rows, POWER_COLUMNS)
