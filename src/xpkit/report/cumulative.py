"""Cumulative lift over exposure days, from ``marts.arm_metrics_daily`` rows.

The arm after day d is the sum of its daily statistics up to d: the units first
exposed by then, each with its whole analysis window. Each day's comparison is
made exactly as ``experiment_results`` makes the final one
(``statistics.from_row`` then ``frequentist.compare``), so the last point equals
the mart's figures. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from xpkit.stats.frequentist import ComparisonConfig, ComparisonResult, compare
from xpkit.stats.statistics import Statistic, accumulate, from_row

__all__ = ["CumulativePoint", "cumulative_lift"]


@dataclass(frozen=True, slots=True)
class CumulativePoint:
    """The comparison of the units first exposed up to ``day``.

    Attributes:
        day: The exposure day (UTC date).
        variant: The treatment variant.
        n_control: Control units exposed by then.
        n_treatment: Treatment units exposed by then.
        rel_lift: Relative lift (None when not computable).
        rel_ci_low: Lower end of its 1 - alpha interval.
        rel_ci_high: Upper end.
        abs_lift: Absolute lift.
        p_value: Unadjusted two-sided p-value.
        error_message: Why figures are None.
    """

    day: date
    variant: str
    n_control: int
    n_treatment: int
    rel_lift: float | None
    rel_ci_low: float | None
    rel_ci_high: float | None
    abs_lift: float | None
    p_value: float | None
    error_message: str | None


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def cumulative_lift(
    daily_rows: Iterable[Mapping[str, Any]],
    control_variant: str,
    alpha: float = 0.05,
) -> dict[str, list[CumulativePoint]]:
    """Per treatment variant, the cumulative comparison after each exposure day.

    Args:
        daily_rows: ``arm_metrics_daily`` rows of one experiment and one metric.
        control_variant: The control arm's variant.
        alpha: The experiment's alpha (intervals have confidence 1 - alpha).

    Returns:
        Variant -> points in day order, one per day on which any arm of the
        experiment had first exposures. An arm without units yet gives a point
        with None figures and the package's error message.
    """
    rows_by_arm: dict[str, dict[date, Mapping[str, Any]]] = defaultdict(dict)
    kind: dict[str, Any] = {}
    for row in daily_rows:
        rows_by_arm[str(row["variant"])][_day(row["exposure_date"])] = row
        kind.setdefault("aggregation", row.get("aggregation"))
        kind.setdefault("has_covariate", row.get("has_covariate"))
    days = sorted({d for arm in rows_by_arm.values() for d in arm})
    config = ComparisonConfig(alpha)

    # Each arm's running statistic: None before its first units, the reason
    # when one of its rows cannot be read.
    running: dict[str, Statistic | str | None] = dict.fromkeys(rows_by_arm)
    running.setdefault(control_variant, None)
    points: dict[str, list[CumulativePoint]] = {
        variant: [] for variant in sorted(rows_by_arm) if variant != control_variant
    }
    for current in days:
        for variant, by_day in rows_by_arm.items():
            running[variant] = accumulate(
                running[variant],
                by_day.get(current),
                lambda row: from_row({**row, **kind}),
            )

        for variant, series in points.items():
            try:
                result = compare(
                    _statistic(running[control_variant], kind),
                    _statistic(running[variant], kind),
                    config,
                )
            except ValueError as problem:
                result = ComparisonResult(
                    method="unknown", alpha=alpha, error_message=str(problem)
                )
            series.append(
                CumulativePoint(
                    day=current,
                    variant=variant,
                    n_control=_units(running[control_variant]),
                    n_treatment=_units(running[variant]),
                    rel_lift=result.rel_lift,
                    rel_ci_low=result.rel_ci_low,
                    rel_ci_high=result.rel_ci_high,
                    abs_lift=result.abs_lift,
                    p_value=result.p_value,
                    error_message=result.error_message,
                )
            )
    return points


def _statistic(arm: Statistic | str | None, kind: Mapping[str, Any]) -> Statistic:
    """The arm's running statistic; an arm without units is an empty one."""
    if isinstance(arm, str):
        raise ValueError(arm)
    return from_row({**kind, "n_units": 0}) if arm is None else arm


def _units(arm: Statistic | str | None) -> int:
    """Units in the arm's running statistic (0 before its first units)."""
    return arm.n if arm is not None and not isinstance(arm, str) else 0
