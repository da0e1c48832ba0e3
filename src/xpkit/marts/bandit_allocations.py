"""The bandit_allocations mart: Thompson-sampling allocation weights for the
experiments registered with ``design = bandit`` (issue 19 item 3).

One row per bandit experiment x exposure day x segment x variant, on the
experiment's decisive primary metric (the first primary metric by metric_id,
as in experiment_decisions). Each day's arms are the sums of their
``arm_metrics_daily`` rows up to and including that day (the units first
exposed by then, each with its analysis window as of the build), without
CUPED. Contextual rows (``segment_dimension`` / ``segment_value`` other than
``(all)``) come from ``arm_metrics_by_segment``, which has no daily grain:
they are written for the latest exposure day only, over all analysed units of
the segment.

Posteriors (``xpkit.stats.bandit``): a binary metric's rate is
Beta(1 + successes, 1 + failures); any other metric's mean is normal,
N(mean, variance / n) (flat prior, central limit theorem; the delta-method
variance for a ratio). The probability of being best is in the metric's
desired direction (for ``decrease``, the lowest rate or mean is best). The
allocation weight is ``min_share + (1 - arms x min_share) x P(best)`` with the
registry's ``bandit_min_share`` (default ``DEFAULT_MIN_SHARE``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import records, typed_frame
from xpkit.stats.bandit import (
    allocation_weights,
    probability_best,
    probability_best_normal,
)
from xpkit.stats.numbers import finite
from xpkit.stats.statistics import Proportion, accumulate, unadjusted_from_row

__all__ = [
    "ALL_SEGMENTS",
    "BANDIT_COLUMNS",
    "DECLARATION",
    "DEFAULT_MIN_SHARE",
    "bandit_allocations",
]

DEFAULT_MIN_SHARE = 0.05
ALL_SEGMENTS = "(all)"

BANDIT_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "exposure_date": "date32[pyarrow]",
    "day_number": "Int64",
    "segment_dimension": "string",
    "segment_value": "string",
    "variant": "string",
    "is_control": "boolean",
    "metric_id": "string",
    "aggregation": "string",
    "desired_direction": "string",
    "posterior_family": "string",
    "n_units": "Int64",
    "metric_mean": "Float64",
    "posterior_mean": "Float64",
    "posterior_sd": "Float64",
    "probability_best": "Float64",
    "allocation_weight": "Float64",
    "min_share": "Float64",
    "error_message": "string",
}


def _day(value: Any) -> Any:
    return pd.Timestamp(value).date()


def _posterior(
    statistic: Any, binary: bool
) -> tuple[int, float | None, float | None, float | None]:
    """(n, observed mean, posterior mean, posterior sd) of one arm; the
    normal posterior's sd is None when it is not positive and finite."""
    if statistic is None:
        n, total = 0, 0.0
        if binary:
            statistic = Proportion(0, 0.0)
    else:
        n = int(statistic.n)
        total = float(statistic.sum) if binary else 0.0
    if binary:
        a, b = 1.0 + total, 1.0 + n - total
        beta_sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
        return n, statistic.mean, a / (a + b), beta_sd
    if statistic is None or statistic.mean is None:
        return n, None, None, None
    variance = statistic.variance
    sd: float | None = None
    if variance is not None and n > 0:
        sd = math.sqrt(variance / n)
    if sd is None or not math.isfinite(sd) or sd <= 0:
        sd = None
    return n, statistic.mean, statistic.mean, sd


def _allocate(
    arms: list[tuple[str, bool, Any]],
    binary: bool,
    decrease: bool,
    floor: float,
) -> list[dict[str, Any]]:
    """The rows of one day (or segment): every registered arm with its
    posterior, probability of being best and allocation weight."""
    parts = [(v, c, *_posterior(s, binary)) for v, c, s in arms]
    rows = [
        {
            "variant": variant,
            "is_control": is_control,
            "posterior_family": "beta" if binary else "normal",
            "n_units": n,
            "metric_mean": observed,
            "posterior_mean": mean,
            "posterior_sd": sd,
            "min_share": floor,
        }
        for variant, is_control, n, observed, mean, sd in parts
    ]
    problem = None
    if len(parts) < 2:
        problem = "a bandit needs at least 2 registered variants"
    elif not 0.0 <= floor < 1.0 / len(parts):
        problem = f"bandit_min_share {floor} is not in [0, 1 / {len(parts)})"
    elif any(p[4] is None or p[5] is None for p in parts):
        problem = (
            "an arm has no normal posterior yet (fewer than 2 units or no "
            "spread in the metric)"
        )
    if problem is not None:
        return [{**row, "error_message": problem} for row in rows]
    if binary:
        successes = [float(s.sum) if s is not None else 0.0 for _, _, s in arms]
        trials = [float(p[2]) for p in parts]
        if decrease:
            successes = [n - s for s, n in zip(successes, trials, strict=True)]
        best = probability_best(successes, trials)
    else:
        means = [float(p[4]) for p in parts]  # type: ignore[arg-type]
        sds = [float(p[5]) for p in parts]  # type: ignore[arg-type]
        best = probability_best_normal([-m for m in means] if decrease else means, sds)
    weights = allocation_weights(best, floor)
    return [
        {**row, "probability_best": float(p), "allocation_weight": float(w)}
        for row, p, w in zip(rows, best, weights, strict=True)
    ]


def _primary_metric(links: list[dict[str, Any]], experiment_id: str) -> str | None:
    primaries = sorted(
        str(r.get("metric_id"))
        for r in links
        if r.get("experiment_id") == experiment_id
        and str(r.get("role") or "").strip().lower() == "primary"
    )
    return primaries[0] if primaries else None


def bandit_allocations(
    experiments: pd.DataFrame,
    experiment_variants: pd.DataFrame,
    metrics: pd.DataFrame,
    experiment_metrics: pd.DataFrame,
    arm_metrics_daily: pd.DataFrame,
    arm_metrics_by_segment: pd.DataFrame,
) -> pd.DataFrame:
    """The mart, sorted by experiment, day, segment and variant.

    Args:
        experiments: The registry (``design``, ``bandit_min_share``).
        experiment_variants: The registered arms (``is_control``).
        metrics: The metric registry (``desired_direction``).
        experiment_metrics: The experiment-metric links (``role``).
        arm_metrics_daily: Rows of ``marts.arm_metrics_daily``.
        arm_metrics_by_segment: Rows of ``marts.arm_metrics_by_segment``.

    Returns:
        A frame with the columns of ``BANDIT_COLUMNS``; no rows when no
        experiment is a bandit. An experiment without a primary metric or
        without exposures yet has one row naming the reason.
    """
    bandits = [
        r
        for r in records(experiments)
        if str(r.get("design") or "").strip().lower() == "bandit"
    ]
    if not bandits:
        return typed_frame([], BANDIT_COLUMNS)
    links = records(experiment_metrics)
    directions = {
        str(r.get("metric_id")): str(r.get("desired_direction") or "increase")
        .strip()
        .lower()
        for r in records(metrics)
    }
    variants = records(experiment_variants)
    daily = records(arm_metrics_daily)
    segments = records(arm_metrics_by_segment)
    rows: list[dict[str, Any]] = []
    for experiment in sorted(bandits, key=lambda r: str(r.get("experiment_id"))):
        rows.extend(
            _experiment_rows(experiment, links, directions, variants, daily, segments)
        )
    return typed_frame(rows, BANDIT_COLUMNS)


def _experiment_rows(
    experiment: dict[str, Any],
    links: list[dict[str, Any]],
    directions: dict[str, str],
    variants: list[dict[str, Any]],
    daily: list[dict[str, Any]],
    segments: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    experiment_id = str(experiment.get("experiment_id"))
    share = finite(experiment.get("bandit_min_share"))
    floor = DEFAULT_MIN_SHARE if share is None else share
    metric_id = _primary_metric(links, experiment_id)
    if metric_id is None:
        return [
            {
                "experiment_id": experiment_id,
                "min_share": floor,
                "error_message": "no primary metric registered",
            }
        ]
    direction = directions.get(metric_id, "increase")
    arms = sorted(
        (str(r.get("variant")), bool(r.get("is_control")))
        for r in variants
        if r.get("experiment_id") == experiment_id
    )
    mine = [
        r
        for r in daily
        if r.get("experiment_id") == experiment_id and r.get("metric_id") == metric_id
    ]
    base: dict[str, Any] = {
        "experiment_id": experiment_id,
        "metric_id": metric_id,
        "desired_direction": direction,
    }
    if not mine:
        return [
            {
                **base,
                "min_share": floor,
                "error_message": "no analysed units of the primary metric yet",
            }
        ]
    aggregation = mine[0].get("aggregation")
    binary = aggregation == "binary"
    decrease = direction == "decrease"
    base["aggregation"] = aggregation
    by_arm: dict[str, dict[Any, dict[str, Any]]] = {}
    for row in mine:
        by_arm.setdefault(str(row.get("variant")), {})[_day(row["exposure_date"])] = row
    days = sorted({_day(r["exposure_date"]) for r in mine})
    running: dict[str, Any] = dict.fromkeys((v for v, _ in arms), None)
    out: list[dict[str, Any]] = []
    for number, current in enumerate(days, start=1):
        for variant, _ in arms:
            running[variant] = accumulate(
                running[variant],
                by_arm.get(variant, {}).get(current),
                lambda row: unadjusted_from_row(row, aggregation),
            )
        day = {
            **base,
            "exposure_date": current,
            "day_number": number,
            "segment_dimension": ALL_SEGMENTS,
            "segment_value": ALL_SEGMENTS,
        }
        out.extend(_rows(day, arms, running, binary, decrease, floor))
    # Contextual allocation: the segments as of the latest day.
    by_segment: dict[tuple[str, str], dict[str, Any]] = {}
    for row in segments:
        if (
            row.get("experiment_id") == experiment_id
            and row.get("metric_id") == metric_id
        ):
            key = (str(row.get("segment_dimension")), str(row.get("segment_value")))
            by_segment.setdefault(key, {})[str(row.get("variant"))] = accumulate(
                None, row, lambda r: unadjusted_from_row(r, aggregation)
            )
    for (dimension, value), statistics in sorted(by_segment.items()):
        segment = {
            **base,
            "exposure_date": days[-1],
            "day_number": len(days),
            "segment_dimension": dimension,
            "segment_value": value,
        }
        out.extend(_rows(segment, arms, statistics, binary, decrease, floor))
    return out


def _rows(
    base: dict[str, Any],
    arms: list[tuple[str, bool]],
    statistics: Mapping[str, Any],
    binary: bool,
    decrease: bool,
    floor: float,
) -> list[dict[str, Any]]:
    unreadable = [s for s in statistics.values() if isinstance(s, str)]
    if unreadable:
        return [
            {
                **base,
                "variant": variant,
                "is_control": is_control,
                "min_share": floor,
                "error_message": unreadable[0],
            }
            for variant, is_control in arms
        ]
    triples = [(v, c, statistics.get(v)) for v, c in arms]
    return [{**base, **row} for row in _allocate(triples, binary, decrease, floor)]


def _build(
    inputs: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    return bandit_allocations(
        inputs["stg_registry__experiments"],
        inputs["stg_registry__experiment_variants"],
        inputs["stg_registry__metrics"],
        inputs["stg_registry__experiment_metrics"],
        inputs["arm_metrics_daily"],
        inputs["arm_metrics_by_segment"],
    )


DECLARATION = MartDeclaration(
    name="bandit_allocations",
    inputs=(
        "staging.stg_registry__experiments",
        "staging.stg_registry__experiment_variants",
        "staging.stg_registry__metrics",
        "staging.stg_registry__experiment_metrics",
        "marts.arm_metrics_daily",
        "marts.arm_metrics_by_segment",
    ),
    settings=(),
    columns=BANDIT_COLUMNS,
    build=_build,
)
