"""The ``daily_results`` mart: the cumulative comparison after each exposure day.

Each arm after day d is the sum of its daily ``arm_metrics_daily`` statistics
up to d (``xpkit.stats.statistics`` statistics add); each look is compared by
the fixed-horizon test and the always-valid confidence sequence of
``xpkit.stats.sequential``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import alpha_or_default, records, typed_frame
from xpkit.stats.frequentist import METHOD_UNKNOWN, ComparisonConfig, ComparisonResult
from xpkit.stats.frequentist import compare as fixed_horizon_compare
from xpkit.stats.sequential import (
    DEFAULT_TUNING_UNITS,
    RunningSequence,
    SequentialConfig,
    mean_variance,
    sequential_interval,
)
from xpkit.stats.statistics import Statistic, accumulate, unadjusted_from_row

__all__ = ["DAILY_RESULT_COLUMNS", "DECLARATION", "daily_results"]

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


def _day(value: Any) -> Any:
    """A date from a date, timestamp or ISO string."""
    return pd.Timestamp(value).date()


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
    registry = {str(r.get("experiment_id")): r for r in records(experiments)}
    rows: list[dict[str, Any]] = []
    if arm_metrics_daily.empty:
        return typed_frame(rows, DAILY_RESULT_COLUMNS)
    daily = records(arm_metrics_daily)
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for row in daily:
        by_experiment.setdefault(str(row.get("experiment_id")), []).append(row)
    for experiment_id, experiment_rows in sorted(by_experiment.items()):
        info = registry.get(experiment_id, {})
        control = info.get("control_variant") or next(
            (r.get("variant") for r in experiment_rows if r.get("is_control")), None
        )
        alpha = alpha_or_default(info.get("alpha"))
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
    return typed_frame(rows, DAILY_RESULT_COLUMNS)


def _metric_series(
    experiment_id: str,
    metric_id: str,
    rows: Sequence[Mapping[str, Any]],
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
    # Each arm's running statistic: None before its first units, the reason
    # when one of its rows cannot be read.
    running: dict[str, Statistic | str | None] = dict.fromkeys([*by_arm, str(control)])
    best_p: dict[str, float | None] = dict.fromkeys(variants)
    sequences = {v: RunningSequence() for v in variants}
    out = []
    for number, current in enumerate(days, start=1):
        for variant, by_day in by_arm.items():
            running[variant] = accumulate(
                running[variant],
                by_day.get(current),
                lambda row: unadjusted_from_row(row, aggregation),
            )
        for variant in variants:
            result, arm_variances = _compare_arms(
                running.get(str(control)), running[variant], config
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


def _compare_arms(
    control: Statistic | str | None,
    treatment: Statistic | str | None,
    config: SequentialConfig,
) -> tuple[ComparisonResult, tuple[float, float] | None]:
    """The fixed-horizon comparison of two cumulative arms (no CUPED), and the
    variances of the two arm means (None when undefined)."""
    for arm in (control, treatment):
        if isinstance(arm, str):
            failed = ComparisonResult(
                method=METHOD_UNKNOWN, alpha=config.alpha, error_message=arm
            )
            return failed, None
    assert not isinstance(control, str) and not isinstance(treatment, str)
    control_stat = None if control is None or control.n == 0 else control
    treatment_stat = None if treatment is None or treatment.n == 0 else treatment
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
    v_c, v_t = mean_variance(control_stat), mean_variance(treatment_stat)
    return result, None if v_c is None or v_t is None else (v_c, v_t)


DECLARATION = MartDeclaration(
    name="daily_results",
    inputs=("marts.arm_metrics_daily", "staging.stg_registry__experiments"),
    settings=("sequential_experiments", "sequential_tuning_units"),
    columns=DAILY_RESULT_COLUMNS,
    build=lambda inputs, settings: daily_results(
        inputs["arm_metrics_daily"],
        inputs["stg_registry__experiments"],
        sequential_experiments=settings["sequential_experiments"],
        tuning_units=settings["sequential_tuning_units"],
    ),
)
