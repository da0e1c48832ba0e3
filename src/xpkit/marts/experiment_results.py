"""The experiment_results mart: one row per experiment x registered metric x
treatment variant, from ``arm_metrics`` rows plus the experiment registry.

Output dtypes are pandas nullable dtypes fixed per column, so a frame of nulls
materialises as the same table as a full one.

Size: one module, past the project's ~400 lines, because the comparison, the
families of the multiple-testing correction, the adjusted intervals, the
guardrail test and the Bayesian columns all fill the same mart row.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import records, typed_frame
from xpkit.marts.regression_results import REGRESSION_COLUMNS, add_regression
from xpkit.narrative.results import result_summary
from xpkit.settings import DEFAULT_ALPHA, default_str
from xpkit.stats.bayesian import Prior, relative_lift_posterior
from xpkit.stats.corrections import CORRECTIONS, adjust_p_values
from xpkit.stats.frequentist import (
    METHOD_UNKNOWN,
    ComparisonConfig,
    ComparisonResult,
    compare,
    mann_whitney_from_rank_sums,
)
from xpkit.stats.numbers import finite, guardrail_tolerance, is_missing
from xpkit.stats.one_sided import (
    NON_INFERIORITY,
    TWO_SIDED,
    one_sided_test,
)
from xpkit.stats.pre_period import pre_period_test
from xpkit.stats.quantiles import QuantileEstimate, compare_quantiles
from xpkit.stats.statistics import SampleMean, Statistic, from_row

__all__ = [
    "REGISTRY_INPUTS",
    "DECLARATION",
    "CAPPING_COLUMNS",
    "CORRECTION_FAMILIES",
    "DEFAULT_ALPHA",
    "EXPERIMENT_RESULT_COLUMNS",
    "RESULT_COLUMNS",
    "experiment_results",
]


RESULT_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "metric_id": "string",
    "variant": "string",
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
    "method": "string",
    "cuped_abs_lift": "Float64",
    "cuped_ci_low": "Float64",
    "cuped_ci_high": "Float64",
    "cuped_p_value": "Float64",
    "variance_reduction": "Float64",
    "p_value_adjusted": "Float64",
    "is_significant": "boolean",
    "direction": "string",
    "error_message": "string",
    "summary": "string",
    "metric_name": "string",
    "role": "string",
    "aggregation": "string",
    "desired_direction": "string",
    "experiment_status": "string",
    "alpha": "Float64",
    "correction_method": "string",
    "std_error": "Float64",
    "statistic": "Float64",
    "degrees_of_freedom": "Float64",
    "rel_std_error": "Float64",
    "cuped_method": "string",
    "cuped_std_error": "Float64",
    "cuped_statistic": "Float64",
    "cuped_degrees_of_freedom": "Float64",
    "cuped_theta": "Float64",
    "cuped_p_value_adjusted": "Float64",
    "cuped_error_message": "string",
    "guardrail_tolerance": "Float64",
    "posterior_rel_lift": "Float64",
    "posterior_rel_lift_sd": "Float64",
    "credible_rel_low": "Float64",
    "credible_rel_high": "Float64",
    "chance_to_beat_control": "Float64",
    "expected_loss": "Float64",
    "expected_loss_control": "Float64",
    "prior_mean": "Float64",
    "prior_sd": "Float64",
    "bayesian_error_message": "string",
    "abs_ci_low_adjusted": "Float64",
    "abs_ci_high_adjusted": "Float64",
    "rel_ci_low_adjusted": "Float64",
    "rel_ci_high_adjusted": "Float64",
    "cuped_ci_low_adjusted": "Float64",
    "cuped_ci_high_adjusted": "Float64",
    "correction_family": "string",
    "guardrail_status": "string",
    "guardrail_bound": "Float64",
    "interval_error_message": "string",
    # Issue 17 (one block): one-sided tests (item 7).
    "test_type": "string",
    "non_inferiority_margin": "Float64",
    "non_inferiority_margin_abs": "Float64",
    "one_sided_p_value": "Float64",
    "one_sided_p_value_adjusted": "Float64",
    "one_sided_bound": "Float64",
    "cuped_one_sided_p_value": "Float64",
    "cuped_one_sided_bound": "Float64",
    "one_sided_error_message": "string",
    # Pre-exposure bias check (item 4).
    "pre_period_abs_diff": "Float64",
    "pre_period_p_value": "Float64",
    "pre_period_imbalance_flag": "boolean",
    "pre_period_error_message": "string",
    # Mann-Whitney U from SQL rank sums (item 9).
    "mann_whitney_u": "Float64",
    "mann_whitney_p_value": "Float64",
    "mann_whitney_error_message": "string",
}
# Percentile capping (issue 17 item 8): the cap and the uncapped result beside
# the capped one. experiment_results only (segment_results has no uncapped
# sums, so it leaves these out).
CAPPING_COLUMNS: dict[str, str] = {
    "metric_cap": "Float64",
    "uncapped_mean_control": "Float64",
    "uncapped_mean_treatment": "Float64",
    "uncapped_abs_lift": "Float64",
    "uncapped_ci_low": "Float64",
    "uncapped_ci_high": "Float64",
    "uncapped_p_value": "Float64",
}
RESULT_COLUMNS |= CAPPING_COLUMNS

# The columns of the experiment_results mart: RESULT_COLUMNS (shared with
# segment_results) and, at the end, the regression adjustment's
# (xpkit.marts.regression_results; issue 17 item 2).
EXPERIMENT_RESULT_COLUMNS: dict[str, str] = {**RESULT_COLUMNS, **REGRESSION_COLUMNS}

# How rows are grouped into multiple-testing families (var correction_families):
# by_role (default): primary, secondary and guardrail metrics x treatment
# variants are three families of one experiment; combined: primary and
# secondary share one family (the rule before issue 12), guardrails their own.
CORRECTION_FAMILIES = ("by_role", "combined")
COMBINED_FAMILY = "primary_secondary"
GUARDRAIL_STATUSES = ("passed", "breached", "inconclusive")

# Columns filled by ``_bayesian`` (the posterior figures, without the prior).
BAYESIAN_FIGURES = (
    "posterior_rel_lift",
    "posterior_rel_lift_sd",
    "credible_rel_low",
    "credible_rel_high",
    "chance_to_beat_control",
    "expected_loss",
    "expected_loss_control",
)

_ROLE_RANK: dict[Any, int] = {"primary": 0, "secondary": 1, "guardrail": 2}
PLANNED_MESSAGE = "planned experiment: no data yet"
NO_UNITS_MESSAGE = "no units exposed"


def _alpha(value: Any) -> tuple[float | None, str | None]:
    """The experiment's alpha (0.05 when empty), or an error."""
    if is_missing(value):
        return DEFAULT_ALPHA, None
    try:
        alpha = float(value)
    except (TypeError, ValueError):
        return None, f"alpha {value!r} is not a number"
    if not 0 < alpha < 1:
        return None, f"alpha {alpha} is outside (0, 1)"
    return alpha, None


def _direction(row: Mapping[str, Any]) -> str | None:
    """good / bad / flat from significance, sign of the lift and desired direction.

    For a one-sided test (``test_type`` superiority or non_inferiority) a
    significant row is ``good`` (the test can only reject towards better, or
    not worse than the margin); harm is never hidden: a row whose two-sided
    adjusted p-value is below alpha with the lift in the bad direction is
    ``bad`` whatever the one-sided test says; else ``flat``.
    """
    if row.get("test_type") not in (None, TWO_SIDED):
        if row.get("is_significant") is None:
            return None
        two_sided = {**row, "test_type": TWO_SIDED}
        p_adjusted, alpha = row.get("p_value_adjusted"), row.get("alpha")
        two_sided["is_significant"] = (
            None if p_adjusted is None or alpha is None else p_adjusted < alpha
        )
        if _direction(two_sided) == "bad":
            return "bad"
        return "good" if row["is_significant"] else "flat"
    significant = row.get("is_significant")
    if significant is None:
        return None
    if not significant:
        return "flat"
    desired = row.get("desired_direction")
    lift = row.get("abs_lift")
    if desired not in ("increase", "decrease") or lift is None or lift == 0:
        return None
    return "good" if (lift > 0) == (desired == "increase") else "bad"


def _figures(result: ComparisonResult) -> dict[str, Any]:
    """Result-row fields from a comparison."""
    cuped = result.cuped
    row = {
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
        "method": None if result.method == METHOD_UNKNOWN else result.method,
        "std_error": result.std_error,
        "statistic": result.statistic,
        "degrees_of_freedom": result.degrees_of_freedom,
        "rel_std_error": result.rel_std_error,
        "error_message": result.error_message,
        "interval_error_message": result.interval_error_message,
    }
    if cuped is not None:
        row |= {
            "cuped_abs_lift": cuped.abs_lift,
            "cuped_ci_low": cuped.ci_low,
            "cuped_ci_high": cuped.ci_high,
            "cuped_p_value": cuped.p_value,
            "variance_reduction": cuped.variance_reduction,
            "cuped_method": cuped.method,
            "cuped_std_error": cuped.std_error,
            "cuped_statistic": cuped.statistic,
            "cuped_degrees_of_freedom": cuped.degrees_of_freedom,
            "cuped_theta": cuped.theta,
            "cuped_error_message": cuped.error_message,
        }
    return row


def _comparison_row(
    arms: Mapping[tuple[Any, Any, Any], list[dict[str, Any]]],
    experiment_id: Any,
    metric_id: Any,
    control: Any,
    variant: Any,
    alpha: float,
) -> dict[str, Any]:
    """Compare one treatment variant with control on one metric.

    The two arms' statistics are kept under the private key ``_arms`` (they are
    compared again at other levels for the adjusted intervals and the
    guardrail bounds; ``_typed_frame`` drops the key).
    """
    statistics: list[Statistic | QuantileEstimate | None] = []
    for arm_variant in (control, variant):
        rows = arms.get((experiment_id, arm_variant, metric_id), [])
        error = None
        if len(rows) > 1:
            error = f"duplicate arm_metrics rows for {arm_variant}"
        elif rows:
            try:
                statistics.append(_statistic(rows[0]))
            except ValueError as problem:
                error = f"invalid arm_metrics row ({arm_variant}): {problem}"
        else:
            statistics.append(None)
        if error is not None:
            return {"error_message": error, "cuped_error_message": error}
    figures = _figures(_compare_arms((statistics[0], statistics[1]), alpha))
    if any(isinstance(s, QuantileEstimate) for s in statistics):
        figures["cuped_error_message"] = QUANTILE_CUPED_MESSAGE
    arm_rows = [arms.get((experiment_id, v, metric_id), []) for v in (control, variant)]
    if all(arm_rows):
        figures |= _uncapped([rows[0] for rows in arm_rows], alpha)
    return figures | {"_arms": (statistics[0], statistics[1])}


QUANTILE_CUPED_MESSAGE = "CUPED does not apply to quantile metrics"


def _statistic(row: Mapping[str, Any]) -> Statistic | QuantileEstimate:
    """An arm_metrics row as a statistic; a quantile metric's as its estimate.

    Raises:
        ValueError: For a row ``from_row`` cannot read, or a quantile row
            without its quantiles.
    """
    if row.get("aggregation") != "quantile":
        return from_row(row)
    n = finite(row.get("n_units"))
    figures = [
        finite(row.get(column))
        for column in (
            "quantile_level",
            "quantile_value",
            "quantile_lower_value",
            "quantile_upper_value",
        )
    ]
    if n is None or n < 0 or n != int(n):
        raise ValueError("arm_metrics column 'n_units' must be a non-negative integer")
    if int(n) == 0:
        # An arm without units: compare_quantiles reports it.
        return QuantileEstimate(0, figures[0] or 0.5, math.nan, math.nan, math.nan)
    level, value, lower, upper = figures
    if level is None or value is None or lower is None or upper is None:
        raise ValueError("a quantile metric's row has no quantile figures")
    return QuantileEstimate(int(n), level, value, lower, upper)


def _compare_arms(arms: tuple[Any, Any], alpha: float) -> ComparisonResult:
    """``frequentist.compare``, or ``quantiles.compare_quantiles`` for quantile
    estimates: the comparison at level alpha, wherever it is run again."""
    if isinstance(arms[0], QuantileEstimate) or isinstance(arms[1], QuantileEstimate):
        return compare_quantiles(arms[0], arms[1], alpha)
    return compare(arms[0], arms[1], ComparisonConfig(alpha))


def _uncapped(rows: list[dict[str, Any]], alpha: float) -> dict[str, Any]:
    """The cap and the uncapped comparison of a metric with a percentile cap.

    ``metric_cap`` is pooled over the experiment's arms (the same on every
    row); the uncapped figures are ``frequentist.compare`` (Welch's t-test)
    on the sums of the values before the cap. Empty for other metrics.
    """
    cap = finite(rows[0].get("metric_cap"))
    if cap is None or any(
        is_missing(row.get(column))
        for row in rows
        for column in ("uncapped_metric_sum", "uncapped_metric_sum_squares")
    ):
        return {}
    control, treatment = (
        SampleMean(
            int(row["n_units"]),
            float(row["uncapped_metric_sum"]),
            float(row["uncapped_metric_sum_squares"]),
        )
        for row in rows
    )
    result = compare(control, treatment, ComparisonConfig(alpha))
    return {
        "metric_cap": cap,
        "uncapped_mean_control": result.mean_control,
        "uncapped_mean_treatment": result.mean_treatment,
        "uncapped_abs_lift": result.abs_lift,
        "uncapped_ci_low": result.abs_ci_low,
        "uncapped_ci_high": result.abs_ci_high,
        "uncapped_p_value": result.p_value,
    }


def _pre_period(row: dict[str, Any]) -> dict[str, Any]:
    """The pre-period difference and its Welch p-value (``stats.pre_period``)."""
    arms = row.get("_arms")
    if arms is None:
        reason = row.get("error_message") or "no comparison"
        return {"pre_period_error_message": reason}
    result = pre_period_test(arms[0], arms[1])
    return {
        "pre_period_abs_diff": result.abs_diff,
        "pre_period_p_value": result.p_value,
        "pre_period_error_message": result.error_message,
    }


def _flag_pre_period(rows: list[dict[str, Any]]) -> None:
    """pre_period_imbalance_flag: Bonferroni within each experiment.

    The family is the experiment's comparisons with a pre-period p-value
    (its metrics x treatment variants): flagged when ``p < alpha / m``.
    """
    sizes: dict[Any, int] = defaultdict(int)
    for row in rows:
        if row.get("pre_period_p_value") is not None:
            sizes[row["experiment_id"]] += 1
    for row in rows:
        p_value, alpha = row.get("pre_period_p_value"), row.get("alpha")
        if p_value is not None and alpha is not None:
            row["pre_period_imbalance_flag"] = (
                p_value < alpha / sizes[row["experiment_id"]]
            )


def _mann_whitney(
    row: dict[str, Any], rank_sums: Mapping[tuple[Any, Any, Any], dict[str, Any]]
) -> dict[str, Any]:
    """U and its p-value from the SQL rank sums (``int_rank_sums_pooled``)."""
    if row.get("aggregation") == "ratio":
        return {"mann_whitney_error_message": "not computed for ratio metrics"}
    found = rank_sums.get((row["experiment_id"], row["metric_id"], row["variant"]))
    if found is None:
        reason = row.get("error_message") or "no rank sums"
        return {"mann_whitney_error_message": reason}
    names = ("n_control", "n_treatment", "treatment_rank_sum", "tie_term")
    figures: list[Any] = [found.get(name) for name in names]
    if any(value is None for value in figures):
        return {"mann_whitney_error_message": "rank sums missing"}
    n_c, n_t, rank_sum, ties = figures
    result = mann_whitney_from_rank_sums(
        int(n_c), int(n_t), float(rank_sum), float(ties)
    )
    return {
        "mann_whitney_u": result.u_statistic,
        "mann_whitney_p_value": result.p_value,
        "mann_whitney_error_message": result.error_message,
    }


def _margin(value: Any) -> float | None:
    """A registered non_inferiority_margin as a float (None when empty or bad)."""
    if is_missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _one_sided(row: dict[str, Any]) -> dict[str, Any]:
    """The one-sided columns of a row (``stats.one_sided``); null when two-sided.

    ``_chosen_p`` is the p-value of the registered test (two-sided or one-sided)
    that the multiple-testing correction adjusts for ``is_significant``.
    """
    test_type = row.get("test_type") or TWO_SIDED
    out: dict[str, Any] = {"_chosen_p": row.get("p_value")}
    arms, alpha = row.get("_arms"), row.get("alpha")
    if test_type == TWO_SIDED:
        return out
    if arms is None or alpha is None:
        return out | {
            "_chosen_p": None,
            "one_sided_error_message": row.get("error_message") or "no comparison",
        }
    result = one_sided_test(
        arms[0],
        arms[1],
        alpha,
        test_type,
        row.get("desired_direction"),
        row.get("non_inferiority_margin"),
    )
    return out | {
        "_chosen_p": result.p_value,
        "_one_sided_other": result.other_bound,
        "non_inferiority_margin_abs": result.absolute_margin
        if test_type == NON_INFERIORITY
        else None,
        "one_sided_p_value": result.p_value,
        "one_sided_bound": result.bound,
        "cuped_one_sided_p_value": result.cuped_p_value,
        "cuped_one_sided_bound": result.cuped_bound,
        "one_sided_error_message": result.error_message,
    }


def _variants(
    experiment_id: Any,
    control: Any,
    registered: Mapping[Any, list[dict[str, Any]]],
    from_arms: Mapping[Any, list[Any]],
) -> list[Any]:
    """Treatment variants: registered ones when known, else those in arm_metrics."""
    if experiment_id in registered:
        names = [
            row["variant"]
            for row in registered[experiment_id]
            if row["variant"] != control and not row.get("is_control")
        ]
    else:
        names = [v for v in from_arms.get(experiment_id, []) if v != control]
    return sorted(set(names), key=str)


def _family(role: Any, families: str) -> str:
    """The correction family of a row's role (see ``CORRECTION_FAMILIES``).

    A role other than primary or guardrail counts as secondary (exploratory).
    """
    if role == "guardrail":
        return "guardrail"
    if families == "combined":
        return COMBINED_FAMILY
    return "primary" if role == "primary" else "secondary"


def _adjust_families(
    rows: list[dict[str, Any]], correction: str, families: str
) -> None:
    """Fill correction_family and adjusted p-values per experiment and family.

    Families (``families="by_role"``, the default): primary metrics x treatment
    variants of one experiment; secondary metrics x variants; guardrails x
    variants. ``"combined"`` puts primary and secondary in one family. The
    number of p-values each row's family holds is kept under ``_family_size``
    and ``_cuped_family_size`` (for the adjusted intervals).
    """
    members: dict[tuple[Any, str], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        row["correction_family"] = _family(row.get("role"), families)
        members[(row["experiment_id"], row["correction_family"])].append(index)
    for indices in members.values():
        for source, target, size in (
            ("p_value", "p_value_adjusted", "_family_size"),
            ("cuped_p_value", "cuped_p_value_adjusted", "_cuped_family_size"),
            ("_chosen_p", "_chosen_p_adjusted", "_chosen_family_size"),
        ):
            p_values = [rows[i].get(source) for i in indices]
            adjusted = adjust_p_values(p_values, correction)
            present = sum(p is not None for p in adjusted)
            for i, value in zip(indices, adjusted, strict=True):
                rows[i][target] = value
                rows[i][size] = present


def effective_alpha(
    alpha: float, p_value: float | None, p_adjusted: float | None, family_size: int
) -> float | None:
    """The level at which an unadjusted test rejects exactly when the adjusted one does.

    ``alpha * p / p_adjusted``: then ``p < alpha_eff`` iff ``p_adjusted < alpha``
    whenever ``p_adjusted >= p`` (true of Holm, Benjamini-Hochberg, with their
    monotonicity steps and the cap at 1, and of no correction). Holm and BH
    give ``p <= p_adjusted <= m p``, so the level lies in ``[alpha / m, alpha]``.
    ``p_adjusted == p`` (no correction, a family of one, and ``p = 0``, which
    Holm and BH leave at 0: significant at any level) keeps alpha; a zero on
    one side only (not produced by these corrections) gets the Bonferroni
    level ``alpha / m``. No p-value gives None.
    """
    if p_value is None or p_adjusted is None:
        return None
    if p_adjusted == p_value:
        return alpha
    if p_value == 0 or p_adjusted == 0:
        return alpha / max(1, family_size)
    return alpha * (p_value / p_adjusted)


def _adjusted_intervals(row: dict[str, Any]) -> dict[str, Any]:
    """The multiplicity-adjusted intervals of a result row.

    The comparison is run again (``frequentist.compare``) at the effective
    levels of ``effective_alpha``, for the unadjusted test and for CUPED. Every
    interval of ``compare`` excludes 0 exactly when its p-value is below the
    level, so each adjusted interval excludes 0 exactly when its adjusted
    p-value is below alpha.
    """
    arms, alpha = row.get("_arms"), row.get("alpha")
    out: dict[str, Any] = {}
    if arms is None or alpha is None:
        return out
    level = effective_alpha(
        alpha, row.get("p_value"), row.get("p_value_adjusted"), row["_family_size"]
    )
    cuped_level = effective_alpha(
        alpha,
        row.get("cuped_p_value"),
        row.get("cuped_p_value_adjusted"),
        row["_cuped_family_size"],
    )
    results: dict[float, ComparisonResult] = {}

    def at(value: float) -> ComparisonResult:
        if value not in results:
            results[value] = _compare_arms(arms, value)
        return results[value]

    if level is not None:
        result = at(level)
        out |= {
            "abs_ci_low_adjusted": result.abs_ci_low,
            "abs_ci_high_adjusted": result.abs_ci_high,
            "rel_ci_low_adjusted": result.rel_ci_low,
            "rel_ci_high_adjusted": result.rel_ci_high,
        }
    if cuped_level is not None:
        cuped = at(cuped_level).cuped
        if cuped is not None:
            out |= {
                "cuped_ci_low_adjusted": cuped.ci_low,
                "cuped_ci_high_adjusted": cuped.ci_high,
            }
    return out


def _registered_non_inferiority(row: dict[str, Any]) -> dict[str, Any]:
    """The guardrail columns of a guardrail registered with test_type non_inferiority.

    The registered test decides: ``passed`` when its one-sided p-value is
    below alpha (unadjusted, as for every guardrail), which is exactly when
    the one-sided bound clears the margin; ``breached`` when the opposite
    one-sided bound lies beyond the margin in the bad direction; else
    ``inconclusive``. ``guardrail_bound`` is the one-sided bound as a relative
    change (``bound / |mean_control|``, the scale of the margin).
    """
    out: dict[str, Any] = {"guardrail_status": "inconclusive", "guardrail_bound": None}
    p_value, alpha = row.get("one_sided_p_value"), row.get("alpha")
    mean_c, delta = row.get("mean_control"), row.get("non_inferiority_margin_abs")
    sign = -1 if row.get("desired_direction") == "decrease" else 1
    if p_value is None or alpha is None or not mean_c or delta is None:
        return out
    scale = abs(mean_c)
    bound, other = row.get("one_sided_bound"), row.get("_one_sided_other")
    breached = other is not None and sign * other < -delta
    status = "passed" if p_value < alpha else "breached" if breached else "inconclusive"
    return {
        "guardrail_status": status,
        "guardrail_bound": None if bound is None else bound / scale,
        "_guardrail_other": None if other is None else other / scale,
    }


def _guardrail(row: dict[str, Any]) -> dict[str, Any]:
    """guardrail_status and guardrail_bound of a guardrail row (non-inferiority).

    A guardrail registered with ``test_type`` non_inferiority is judged by that
    test against its margin (``_registered_non_inferiority``); the rest as
    follows.

    With tolerance t (relative, in the bad direction; empty = 0) and the
    one-sided ``1 - alpha`` bounds of the relative lift (the ends of the
    two-sided ``1 - 2 alpha`` interval of ``frequentist.compare``):

    - desired increase: bound = lower bound L; ``passed`` when L > -t,
      ``breached`` when the upper bound U < -t, else ``inconclusive``;
    - desired decrease: bound = U; ``passed`` when U < t, ``breached`` when
      L > t, else ``inconclusive``.

    ``inconclusive`` also whenever a needed bound cannot be computed. The
    other one-sided bound is kept under ``_guardrail_other`` for the summary.
    """
    if row.get("role") != "guardrail":
        return {"guardrail_status": None, "guardrail_bound": None}
    if row.get("test_type") == NON_INFERIORITY:
        return _registered_non_inferiority(row)
    out: dict[str, Any] = {"guardrail_status": "inconclusive", "guardrail_bound": None}
    arms, alpha = row.get("_arms"), row.get("alpha")
    tolerance = guardrail_tolerance(row.get("guardrail_tolerance"))
    desired = row.get("desired_direction")
    if (
        arms is None
        or alpha is None
        or not alpha < 0.5
        or tolerance is None
        or desired not in ("increase", "decrease")
    ):
        return out
    result = _compare_arms(arms, 2 * alpha)
    low, high = result.rel_ci_low, result.rel_ci_high
    if desired == "increase":
        bound, other = low, high
        passed = low is not None and low > -tolerance
        breached = high is not None and high < -tolerance
    else:
        bound, other = high, low
        passed = high is not None and high < tolerance
        breached = low is not None and low > tolerance
    status = "passed" if passed else "breached" if breached else "inconclusive"
    return {"guardrail_status": status, "guardrail_bound": bound} | {
        "_guardrail_other": other
    }


def _bayesian(row: Mapping[str, Any], prior: Prior) -> dict[str, Any]:
    """The posterior columns of a result row (see ``xpkit.stats.bayesian``)."""
    alpha = row.get("alpha")
    result = relative_lift_posterior(
        row.get("rel_lift"),
        row.get("rel_std_error"),
        prior,
        alpha if alpha is not None else DEFAULT_ALPHA,
        row.get("desired_direction"),
        reason=row.get("error_message") or row.get("interval_error_message"),
    )
    return {
        "posterior_rel_lift": result.posterior_mean,
        "posterior_rel_lift_sd": result.posterior_sd,
        "credible_rel_low": result.credible_low,
        "credible_rel_high": result.credible_high,
        "chance_to_beat_control": result.chance_to_beat_control,
        "expected_loss": result.expected_loss,
        "expected_loss_control": result.expected_loss_control,
        "prior_mean": prior.mean,
        "prior_sd": prior.sd,
        "bayesian_error_message": result.error_message,
    }


def experiment_results(
    arm_metrics: pd.DataFrame,
    experiments: pd.DataFrame,
    metrics: pd.DataFrame,
    experiment_metrics: pd.DataFrame,
    correction: str = default_str("multiple_testing_correction"),
    experiment_variants: pd.DataFrame | None = None,
    prior: Prior | None = None,
    correction_families: str = default_str("correction_families"),
    cross_products: pd.DataFrame | None = None,
    rank_sums: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per experiment x registered metric x treatment variant.

    Treatment variants come from ``experiment_variants`` when given (so planned
    experiments with no ``arm_metrics`` rows still get a row per variant), else
    from ``arm_metrics``; an experiment with neither gets one row per metric with
    a null variant. Each comparison uses ``frequentist.compare`` at the
    experiment's alpha (0.05 when empty). Adjusted p-values are computed per
    experiment and family (``correction_family``): by default primary metrics x
    variants, secondary metrics x variants, and guardrails x variants.
    ``is_significant = p_value_adjusted < alpha`` for a two-sided metric, and
    ``one_sided_p_value_adjusted < alpha`` for one registered with
    ``test_type`` superiority or non_inferiority (``stats.one_sided``; the
    family's correction then adjusts each row's registered p-value);
    ``direction`` is flat when
    not significant, else good or bad from the lift's sign and the metric's
    desired direction (null when there is no test). The ``*_adjusted``
    intervals are the comparison at the level ``effective_alpha``, so they
    exclude 0 exactly when the adjusted p-value is below alpha. Guardrail rows
    get ``guardrail_status`` and ``guardrail_bound`` from a one-sided
    non-inferiority test against ``guardrail_tolerance`` (``_guardrail``). The
    Bayesian columns hold the normal-approximation posterior of the relative
    lift under ``prior`` (``bayesian.relative_lift_posterior``).

    Args:
        arm_metrics: Rows of the ``arm_metrics`` mart.
        experiments: The experiments registry.
        metrics: The metrics registry.
        experiment_metrics: Metrics registered per experiment with their role.
        correction: ``"holm"`` (default), ``"bh"`` or ``"none"``.
        experiment_variants: Optional variants registry (experiment_id, variant,
            is_control).
        prior: Prior of the relative lift (flat when None).
        correction_families: ``"by_role"`` (default: primary, secondary and
            guardrail families) or ``"combined"`` (primary and secondary in one
            family; var ``correction_families``).
        cross_products: Rows of ``int_regression_cross_products`` for the
            regression-adjusted columns (``REGRESSION_COLUMNS``; their error
            message says there are no covariates when None).
        rank_sums: Optional ``int_rank_sums_pooled`` rows (Mann-Whitney
            sufficient statistics per comparison); without them the
            ``mann_whitney_*`` columns are null.

    Returns:
        A frame with the columns of ``EXPERIMENT_RESULT_COLUMNS``, in that order
        and dtype, sorted by experiment, role (primary, secondary, guardrail),
        metric and variant.

    Raises:
        ValueError: For an unknown correction or family rule.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if correction_families not in CORRECTION_FAMILIES:
        raise ValueError(
            f"correction_families must be one of {CORRECTION_FAMILIES}, "
            f"got {correction_families!r}"
        )
    prior = prior or Prior()
    arm_rows = records(arm_metrics)
    arms: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = defaultdict(list)
    units: dict[Any, float] = defaultdict(float)
    variants_in_arms: dict[Any, list[Any]] = defaultdict(list)
    control_in_arms: dict[Any, Any] = {}
    for row in arm_rows:
        experiment_id = row.get("experiment_id")
        arms[(experiment_id, row.get("variant"), row.get("metric_id"))].append(row)
        units[experiment_id] += float(row.get("n_units") or 0)
        variants_in_arms[experiment_id].append(row.get("variant"))
        if row.get("is_control"):
            control_in_arms[experiment_id] = row.get("variant")
    registered: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if experiment_variants is not None:
        for row in records(experiment_variants):
            registered[row.get("experiment_id")].append(row)
    metric_info = {row["metric_id"]: row for row in records(metrics)}
    metrics_by_experiment: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in records(experiment_metrics):
        metrics_by_experiment[row.get("experiment_id")].append(row)

    ranks: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    if rank_sums is not None:
        for rank_row in records(rank_sums):
            key = (
                rank_row.get("experiment_id"),
                rank_row.get("metric_id"),
                rank_row.get("variant"),
            )
            ranks[key] = rank_row
    rows: list[dict[str, Any]] = []
    for experiment in records(experiments):
        experiment_id = experiment.get("experiment_id")
        status = experiment.get("status")
        control = experiment.get("control_variant") or control_in_arms.get(
            experiment_id
        )
        alpha, alpha_error = _alpha(experiment.get("alpha"))
        variants = _variants(experiment_id, control, registered, variants_in_arms)
        if units[experiment_id] > 0:
            experiment_error = alpha_error
        elif status == "planned":
            experiment_error = PLANNED_MESSAGE
        else:
            experiment_error = NO_UNITS_MESSAGE
        for link in metrics_by_experiment.get(experiment_id, []):
            metric_id = link.get("metric_id")
            info = metric_info.get(metric_id, {})
            for variant in variants or [None]:
                row = {
                    "experiment_id": experiment_id,
                    "metric_id": metric_id,
                    "variant": variant,
                    "control_variant": control,
                    "metric_name": info.get("metric_name"),
                    "role": link.get("role"),
                    "aggregation": info.get("aggregation"),
                    "desired_direction": info.get("desired_direction"),
                    "experiment_status": status,
                    "alpha": alpha,
                    "correction_method": correction,
                    "guardrail_tolerance": link.get("guardrail_tolerance"),
                    "test_type": link.get("test_type") or TWO_SIDED,
                    "non_inferiority_margin": _margin(
                        link.get("non_inferiority_margin")
                    ),
                }
                if experiment_error is not None:
                    error = experiment_error
                elif not info:
                    error = f"metric {metric_id!r} is not in the metrics registry"
                elif control is None:
                    error = "no control variant registered"
                elif variant is None:
                    error = "no treatment variant registered"
                else:
                    error = None
                if error is not None:
                    row |= {"error_message": error, "cuped_error_message": error}
                else:
                    # No error: the experiment's alpha was read.
                    assert alpha is not None
                    row |= _comparison_row(
                        arms, experiment_id, metric_id, control, variant, alpha
                    )
                row |= _one_sided(row)
                row |= _pre_period(row)
                if rank_sums is not None:
                    row |= _mann_whitney(row, ranks)
                rows.append(row)

    rows.sort(
        key=lambda r: (
            str(r["experiment_id"]),
            _ROLE_RANK.get(r.get("role"), len(_ROLE_RANK)),
            str(r["metric_id"]),
            str(r["variant"]),
        )
    )
    _adjust_families(rows, correction, correction_families)
    _flag_pre_period(rows)
    for row in rows:
        p_adjusted = row.get("p_value_adjusted")
        if row["test_type"] != TWO_SIDED:
            p_adjusted = row.get("_chosen_p_adjusted")
            row["one_sided_p_value_adjusted"] = p_adjusted
        if p_adjusted is not None:
            row["is_significant"] = p_adjusted < row["alpha"]
        row["direction"] = _direction(row)
        row |= _adjusted_intervals(row)
        row |= _guardrail(row)
        row["summary"] = result_summary(row, correction)
        row |= _bayesian(row, prior)
    add_regression(rows, cross_products)
    return typed_frame(rows, EXPERIMENT_RESULT_COLUMNS)


REGISTRY_INPUTS = (
    "staging.stg_registry__experiments",
    "staging.stg_registry__metrics",
    "staging.stg_registry__experiment_metrics",
    "staging.stg_registry__experiment_variants",
)


def _build(
    inputs: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    return experiment_results(
        inputs["arm_metrics"],
        inputs["stg_registry__experiments"],
        inputs["stg_registry__metrics"],
        inputs["stg_registry__experiment_metrics"],
        correction=settings["multiple_testing_correction"],
        correction_families=settings["correction_families"],
        prior=Prior.from_vars(
            settings["bayesian_prior_mean"], settings["bayesian_prior_sd"]
        ),
        experiment_variants=inputs["stg_registry__experiment_variants"],
        cross_products=inputs["int_regression_cross_products"],
        rank_sums=inputs["int_rank_sums_pooled"],
    )


DECLARATION = MartDeclaration(
    name="experiment_results",
    inputs=(
        "marts.arm_metrics",
        *REGISTRY_INPUTS,
        "intermediate.int_regression_cross_products",
        "intermediate.int_rank_sums_pooled",
    ),
    settings=(
        "multiple_testing_correction",
        "correction_families",
        "bayesian_prior_mean",
        "bayesian_prior_sd",
    ),
    columns=EXPERIMENT_RESULT_COLUMNS,
    build=_build,
)
