"""The segment_results mart: ``experiment_results`` within each segment, with a
per-segment SRM test, small-cell suppression and the segment-vs-rest test."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, cast

import pandas as pd
from scipy import stats

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.experiment_results import (
    BAYESIAN_FIGURES,
    CAPPING_COLUMNS,
    DEFAULT_ALPHA,
    REGISTRY_INPUTS,
    RESULT_COLUMNS,
    experiment_results,
)
from xpkit.marts.frames import native, records, typed_frame
from xpkit.narrative.results import suppressed_message, suppressed_summary
from xpkit.settings import default_str
from xpkit.stats.bayesian import Prior
from xpkit.stats.corrections import adjust_p_values
from xpkit.stats.srm import srm_test
from xpkit.stats.statistics import Statistic, unadjusted_from_row

__all__ = [
    "SEGMENT_RESULT_COLUMNS",
    "DECLARATION",
    "SEGMENT_VS_REST_COLUMNS",
    "segment_results",
]

SEGMENT_KEYS = ("segment_dimension", "segment_value")
SUPPRESSED_COLUMNS = (
    "mean_control",
    "mean_treatment",
    "abs_lift",
    "abs_ci_low",
    "abs_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "cuped_abs_lift",
    "cuped_ci_low",
    "cuped_ci_high",
    "cuped_p_value",
    "variance_reduction",
    "p_value_adjusted",
    "is_significant",
    "direction",
    "std_error",
    "statistic",
    "degrees_of_freedom",
    "rel_std_error",
    "cuped_std_error",
    "cuped_statistic",
    "cuped_degrees_of_freedom",
    "cuped_theta",
    "cuped_p_value_adjusted",
    *BAYESIAN_FIGURES,
    "abs_ci_low_adjusted",
    "abs_ci_high_adjusted",
    "rel_ci_low_adjusted",
    "rel_ci_high_adjusted",
    "cuped_ci_low_adjusted",
    "cuped_ci_high_adjusted",
    "guardrail_bound",
    # Issue 17: one-sided tests and the pre-exposure bias check.
    "non_inferiority_margin_abs",
    "one_sided_p_value",
    "one_sided_p_value_adjusted",
    "one_sided_bound",
    "cuped_one_sided_p_value",
    "cuped_one_sided_bound",
    "pre_period_abs_diff",
    "pre_period_p_value",
    "pre_period_imbalance_flag",
)


SEGMENT_VS_REST_COLUMNS: dict[str, str] = {
    "rest_n_control": "Int64",
    "rest_n_treatment": "Int64",
    "rest_abs_lift": "Float64",
    "lift_difference": "Float64",
    "lift_difference_std_error": "Float64",
    "lift_difference_p_value": "Float64",
    "lift_difference_p_value_adjusted": "Float64",
    "is_heterogeneous": "boolean",
    "lift_difference_error_message": "string",
}


SEGMENT_RESULT_COLUMNS: dict[str, str] = {
    "segment_dimension": "string",
    "segment_value": "string",
    **{c: t for c, t in RESULT_COLUMNS.items() if c not in CAPPING_COLUMNS},
    "segment_srm_p_value": "Float64",
    "is_suppressed": "boolean",
    **SEGMENT_VS_REST_COLUMNS,
}


def _summed(rows: list[dict[str, Any]]) -> Statistic | str | None:
    """One arm's statistic over several segment rows (no CUPED): the sum of
    the rows' statistics; None when there are none, the reason when a row
    cannot be read."""
    if not rows:
        return None
    try:
        total = sum(
            unadjusted_from_row(row, rows[0].get("aggregation")) for row in rows
        )
        return cast(Statistic, total)
    except ValueError as problem:
        return str(problem)


def _finite_or_none(value: float) -> float | None:
    """The value, or None when NaN or infinite."""
    return value if math.isfinite(value) else None


def _lift_and_variance(
    control: Statistic | str | None, treatment: Statistic | str | None, where: str
) -> tuple[float, float, int, int] | str:
    """(lift, its variance, n_c, n_t) of two arms' sums, or why not.

    The variance is ``s_t**2 / n_t + s_c**2 / n_c`` with unit-level sample
    variances (ddof=1; delta-method linearised values for ratios).
    """
    arms = []
    for name, statistic in (("control", control), ("treatment", treatment)):
        if isinstance(statistic, str):
            return f"invalid sums {where}: {statistic}"
        if statistic is None or statistic.n == 0:
            return f"no {name} units {where}"
        if statistic.n < 2:
            return f"fewer than 2 {name} units {where}"
        if statistic.mean is None or statistic.variance is None:
            return f"{name} mean undefined {where} (denominator sum is 0)"
        arms.append(statistic)
    c, t = arms
    # Checked above: both arms have a mean and a variance.
    assert c.mean is not None and t.mean is not None
    assert c.variance is not None and t.variance is not None
    variance = t.variance / t.n + c.variance / c.n
    return t.mean - c.mean, variance, c.n, t.n


def _segment_vs_rest(
    arm_rows: list[dict[str, Any]], result_rows: list[dict[str, Any]]
) -> None:
    """Fill ``SEGMENT_VS_REST_COLUMNS`` of segment result rows, in place.

    For a row (segment s of dimension D, metric, treatment variant v against
    control c): the segment's lift ``L_s = mean_v - mean_c`` over the units
    with value s, the rest's lift ``L_r`` over the arm's units with any other
    value of D (sums of the other segments' rows; the values of a dimension
    partition each arm, nulls being ``(missing)``), and the z-test of
    ``L_s - L_r`` with variance ``var(L_s) + var(L_r)`` (disjoint units).
    Benjamini-Hochberg adjusts the p-values over all segments of one
    experiment x metric x variant.
    """
    sums: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    dimension_values: dict[tuple[Any, Any], set[Any]] = defaultdict(set)
    for row in arm_rows:
        experiment, dimension = row.get("experiment_id"), row.get("segment_dimension")
        value = row.get("segment_value")
        sums[
            (experiment, dimension, value, row.get("metric_id"), row.get("variant"))
        ].append(row)
        dimension_values[(experiment, dimension)].add(value)

    def arm(
        row: Mapping[str, Any], values: Any, variant: Any
    ) -> Statistic | str | None:
        key = (row.get("experiment_id"), row.get("segment_dimension"))
        return _summed(
            [
                r
                for value in values
                for r in sums.get((*key, value, row.get("metric_id"), variant), [])
            ]
        )

    families: dict[tuple[Any, Any, Any], list[int]] = defaultdict(list)
    for index, row in enumerate(result_rows):
        figures: dict[str, Any] = {}
        control, variant = row.get("control_variant"), row.get("variant")
        value = row.get("segment_value")
        others = dimension_values[
            (row.get("experiment_id"), row.get("segment_dimension"))
        ] - {value}
        error: str | None
        if row.get("is_suppressed"):
            error = "suppressed: too few units in an arm of the segment"
        elif control is None or variant is None:
            error = row.get("error_message") or "no comparison"
        elif not others:
            error = "no units outside the segment (a single segment value)"
        else:
            segment = _lift_and_variance(
                arm(row, [value], control), arm(row, [value], variant), "in the segment"
            )
            rest = _lift_and_variance(
                arm(row, others, control), arm(row, others, variant), "in the rest"
            )
            if isinstance(rest, tuple):
                figures |= {
                    "rest_abs_lift": rest[0],
                    "rest_n_control": rest[2],
                    "rest_n_treatment": rest[3],
                }
            problems = [part for part in (segment, rest) if isinstance(part, str)]
            error = "; ".join(problems) or None
            if isinstance(segment, tuple) and isinstance(rest, tuple):
                difference = segment[0] - rest[0]
                variance = segment[1] + rest[1]
                figures["lift_difference"] = _finite_or_none(difference)
                if (
                    variance > 0
                    and math.isfinite(variance)
                    and math.isfinite(difference)
                ):
                    std_error = math.sqrt(variance)
                    p_value = float(2 * stats.norm.sf(abs(difference / std_error)))
                    figures |= {
                        "lift_difference_std_error": std_error,
                        "lift_difference_p_value": p_value,
                    }
                    families[
                        (row.get("experiment_id"), row.get("metric_id"), variant)
                    ].append(index)
                elif math.isfinite(difference):
                    error = "zero variance in the segment and the rest: no test"
                else:
                    error = "non-finite lift difference: no test"
        figures["lift_difference_error_message"] = error
        row |= figures
    for indices in families.values():
        adjusted = adjust_p_values(
            [result_rows[i]["lift_difference_p_value"] for i in indices], "bh"
        )
        for i, p in zip(indices, adjusted, strict=True):
            row = result_rows[i]
            row["lift_difference_p_value_adjusted"] = p
            alpha = row.get("alpha") or DEFAULT_ALPHA
            row["is_heterogeneous"] = None if p is None else p < alpha


def segment_results(
    arm_metrics_by_segment: pd.DataFrame,
    experiments: pd.DataFrame,
    metrics: pd.DataFrame,
    experiment_metrics: pd.DataFrame,
    experiment_variants: pd.DataFrame,
    correction: str = default_str("multiple_testing_correction"),
    min_units: int = 0,
    prior: Prior | None = None,
    correction_families: str = default_str("correction_families"),
) -> pd.DataFrame:
    """``experiment_results`` within each segment, with a per-segment SRM test.

    Each (segment_dimension, segment_value) is analysed like a whole experiment
    restricted to its units: same methods, multiple-testing families formed
    within the segment (with their adjusted intervals), and the guardrail
    non-inferiority status of each guardrail row (``inconclusive`` when the
    cell is suppressed). ``segment_srm_p_value`` tests the segment's arm counts
    against the allocation weights. Cells where either arm has fewer than
    ``min_units`` units are suppressed: their figures are null and
    ``error_message`` says why (the counts stay, so the suppression is visible).

    Args:
        arm_metrics_by_segment: Rows of the ``arm_metrics_by_segment`` mart.
        experiments: The experiments registry.
        metrics: The metrics registry.
        experiment_metrics: Metrics registered per experiment with their role.
        experiment_variants: The variants registry (with allocation_weight).
        correction: ``"holm"`` (default), ``"bh"`` or ``"none"``.
        min_units: Small-cell threshold k (0 disables suppression).
        prior: Prior of the relative lift for the Bayesian columns (flat when
            None).
        correction_families: As in ``experiment_results``.

    Returns:
        The columns of ``experiment_results`` preceded by segment_dimension and
        segment_value, plus segment_srm_p_value, is_suppressed and the
        segment-vs-rest columns of ``SEGMENT_VS_REST_COLUMNS``: the segment's
        lift minus the lift in the rest of the experiment's units, its z-test,
        and that test's p-value adjusted by Benjamini-Hochberg over the
        segments of one experiment x metric x variant (see
        ``_segment_vs_rest``); ``is_heterogeneous`` is that adjusted p-value
        below alpha.
    """
    columns = SEGMENT_RESULT_COLUMNS
    if arm_metrics_by_segment.empty:
        return typed_frame([], columns)
    weights = {
        (row["experiment_id"], row["variant"]): row.get("allocation_weight")
        for row in records(experiment_variants)
    }
    frames = []
    for (experiment_id, dimension, value), rows in arm_metrics_by_segment.groupby(
        ["experiment_id", *SEGMENT_KEYS], sort=True
    ):
        results = experiment_results(
            rows,
            experiments[experiments["experiment_id"] == experiment_id],
            metrics,
            experiment_metrics,
            correction=correction,
            experiment_variants=experiment_variants,
            prior=prior,
            correction_families=correction_families,
        )
        arm_units = rows.drop_duplicates("variant")[["variant", "n_units"]]
        srm = srm_test(
            [native(n) for n in arm_units["n_units"]],
            [weights.get((experiment_id, v)) for v in arm_units["variant"]],
        )
        results.insert(0, "segment_value", value)
        results.insert(0, "segment_dimension", dimension)
        results["segment_srm_p_value"] = srm.p_value
        small = (results["n_control"].fillna(0) < min_units) | (
            results["n_treatment"].fillna(0) < min_units
        )
        results["is_suppressed"] = small
        if small.any():
            results.loc[small, list(SUPPRESSED_COLUMNS)] = None
            message = suppressed_message(min_units)
            results.loc[small, "error_message"] = message
            results.loc[small, "summary"] = suppressed_summary(message)
            # Nothing known never passes: a suppressed guardrail is inconclusive.
            guarded = small & (results["role"] == "guardrail").fillna(False)
            results.loc[guarded, "guardrail_status"] = "inconclusive"
            results.loc[guarded, "summary"] = suppressed_summary(
                message, guardrail=True
            )
        frames.append(results)
    combined = records(pd.concat(frames, ignore_index=True))
    _segment_vs_rest(records(arm_metrics_by_segment), combined)
    return typed_frame(combined, columns)


def _build(
    inputs: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    return segment_results(
        inputs["arm_metrics_by_segment"],
        inputs["stg_registry__experiments"],
        inputs["stg_registry__metrics"],
        inputs["stg_registry__experiment_metrics"],
        inputs["stg_registry__experiment_variants"],
        correction=settings["multiple_testing_correction"],
        correction_families=settings["correction_families"],
        prior=Prior.from_vars(
            settings["bayesian_prior_mean"], settings["bayesian_prior_sd"]
        ),
        min_units=settings["min_segment_units"],
    )


DECLARATION = MartDeclaration(
    name="segment_results",
    inputs=("marts.arm_metrics_by_segment", *REGISTRY_INPUTS),
    settings=(
        "multiple_testing_correction",
        "correction_families",
        "bayesian_prior_mean",
        "bayesian_prior_sd",
        "min_segment_units",
    ),
    columns=SEGMENT_RESULT_COLUMNS,
    build=_build,
)
