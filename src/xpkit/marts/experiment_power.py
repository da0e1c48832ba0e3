"""The ``experiment_power`` mart: required sample sizes and progress.

Built from the registry, ``arm_metrics``, ``arm_metrics_daily`` and the
pre-period baselines of planned experiments, with the math of
``xpkit.stats.power``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import records, typed_frame
from xpkit.settings import DEFAULT_ALPHA
from xpkit.stats.numbers import finite, is_missing
from xpkit.stats.power import (
    DEFAULT_POWER,
    SampleSize,
    projected_days_to_target,
    sample_size,
    share_of_target,
)

__all__ = ["DECLARATION", "POWER_COLUMNS", "experiment_power"]

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
    "population_units": "Int64",
    "is_population_sufficient": "boolean",
}


def _join(messages: list[str | None]) -> str | None:
    """Distinct non-empty messages joined with '; ' (None when there are none)."""
    kept = list(dict.fromkeys(m for m in messages if m))
    return "; ".join(kept) if kept else None


def _design(experiment: dict[str, Any]) -> tuple[float | None, float | None]:
    """The registered alpha and power, defaulting to 0.05 and 0.8 when empty."""
    alpha = experiment.get("alpha")
    power = experiment.get("power")
    return (
        DEFAULT_ALPHA if is_missing(alpha) else finite(alpha),
        DEFAULT_POWER if is_missing(power) else finite(power),
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
    mde = finite(experiment.get("mde_relative"))
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
            days_observed = finite(baseline.get("baseline_days"))
            days_observed = None if days_observed is None else int(days_observed)
            daily = finite(baseline.get("daily_units"))
            if aggregation == "binary":
                errors.append(
                    "binary metric: the baseline rate of a planned experiment is "
                    "not estimable from pre-period events without a target "
                    "population (units without events are unknown)"
                )
            elif baseline_units == 0:
                errors.append("no units with the metric's events in the pre-period")
            else:
                mean = finite(baseline.get("mean"))
                variance = finite(baseline.get("variance"))
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
            mean = finite(control[0].get("mean"))
            if aggregation == "binary":
                std = None if mean is None else math.sqrt(mean * (1 - mean))
            else:
                variance = finite(control[0].get("variance"))
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
    populations: pd.DataFrame | None = None,
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
        populations: Rows of ``int_experiment_populations``: ``population_units``
            (the units of the target population) and ``is_population_sufficient``
            (whether it holds ``required_units_total``); null when not given.

    Returns:
        The columns of ``POWER_COLUMNS`` in that order and dtype, sorted by
        experiment and metric.
    """
    metric_info = {row["metric_id"]: row for row in records(metrics)}
    arm_counts: dict[Any, set[Any]] = defaultdict(set)
    for row in records(experiment_variants):
        arm_counts[row.get("experiment_id")].add(row.get("variant"))
    arms: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in records(arm_metrics):
        arms[(row.get("experiment_id"), row.get("metric_id"))].append(row)
    days: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in records(arm_metrics_daily):
        days[(row.get("experiment_id"), row.get("metric_id"))].append(row)
    baselines = {
        (row.get("experiment_id"), row.get("metric_id")): row
        for row in records(planned_baselines)
    }
    population = {
        row.get("experiment_id"): row.get("population_units")
        for row in records(populations if populations is not None else pd.DataFrame())
    }
    primaries: dict[Any, list[Any]] = defaultdict(list)
    for row in records(experiment_metrics):
        if row.get("role") == "primary":
            primaries[row.get("experiment_id")].append(row.get("metric_id"))

    rows = []
    for experiment in records(experiments):
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
            found = population.get(experiment_id)
            size = None if found is None or is_missing(found) else int(found)
            required = row["required_units_total"]
            row["population_units"] = size
            row["is_population_sufficient"] = (
                None if size is None or is_missing(required) else size >= required
            )
            if metric_id not in metric_info:
                row["error_message"] = _join(
                    [f"metric {metric_id!r} is not in the metrics registry"]
                    + [row["error_message"]]
                )
            rows.append(row)
    rows.sort(key=lambda r: (str(r["experiment_id"]), str(r["metric_id"])))
    return typed_frame(rows, POWER_COLUMNS)


DECLARATION = MartDeclaration(
    name="experiment_power",
    inputs=(
        "staging.stg_registry__experiments",
        "staging.stg_registry__metrics",
        "staging.stg_registry__experiment_metrics",
        "staging.stg_registry__experiment_variants",
        "marts.arm_metrics",
        "marts.arm_metrics_daily",
        "intermediate.int_planned_metric_baselines",
        "intermediate.int_experiment_populations",
    ),
    settings=(),
    columns=POWER_COLUMNS,
    build=lambda inputs, settings: experiment_power(
        inputs["stg_registry__experiments"],
        inputs["stg_registry__metrics"],
        inputs["stg_registry__experiment_metrics"],
        inputs["stg_registry__experiment_variants"],
        inputs["arm_metrics"],
        inputs["arm_metrics_daily"],
        inputs["int_planned_metric_baselines"],
        inputs["int_experiment_populations"],
    ),
)
