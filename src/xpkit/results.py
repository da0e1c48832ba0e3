"""Result marts: per-comparison results and assignment balance (pure, no I/O).

``experiment_results`` turns ``arm_metrics`` rows plus the experiment registry
into one row per experiment x registered metric x treatment variant;
``assignment_balance`` adds shares and the SRM test to per-arm unit counts.
Output dtypes are pandas nullable dtypes fixed per column, so a frame of nulls
materialises as the same table as a full one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pandas as pd
from scipy import stats

from xpkit.marts.frames import native, records, typed_frame
from xpkit.narrative import decimals, format_p, pct
from xpkit.settings import DEFAULT_ALPHA
from xpkit.stats.bayesian import Prior, relative_lift_posterior
from xpkit.stats.corrections import CORRECTIONS, adjust_p_values
from xpkit.stats.frequentist import (
    METHOD_UNKNOWN,
    ComparisonConfig,
    ComparisonResult,
    compare,
)
from xpkit.stats.numbers import is_missing
from xpkit.stats.srm import SRM_THRESHOLD, srm_test
from xpkit.stats.statistics import Statistic, from_row, unadjusted_from_row

__all__ = [
    "BALANCE_COLUMNS",
    "CORRECTION_FAMILIES",
    "DEFAULT_ALPHA",
    "RESULT_COLUMNS",
    "assignment_balance",
    "experiment_results",
    "segment_results",
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
}

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

BALANCE_COLUMNS: dict[str, str] = {
    "expected_share": "Float64",
    "observed_share": "Float64",
    "srm_chi2": "Float64",
    "srm_p_value": "Float64",
    "srm_flag": "boolean",
    "srm_error_message": "string",
    "srm_degrees_of_freedom": "Int64",
}

_ROLE_RANK = {"primary": 0, "secondary": 1, "guardrail": 2}
_CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
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


def _guardrail_clause(row: Mapping[str, Any]) -> str:
    """The guardrail part of a summary: its status against the tolerance."""
    status = row.get("guardrail_status") or "inconclusive"
    tolerance = _tolerance(row.get("guardrail_tolerance"))
    bound, other = row.get("guardrail_bound"), row.get("_guardrail_other")
    alpha = row.get("alpha") or DEFAULT_ALPHA
    if tolerance is None:
        return f"guardrail {status}: its tolerance is not a number >= 0"
    sign = 1 if row.get("desired_direction") == "decrease" else -1
    limit = sign * tolerance + 0.0  # + 0.0: no "-0.0%"
    one_sided = f"one-sided {round((1 - alpha) * 100, 6):g}% bound"
    against = f"the {pct(limit)} tolerance"
    if status == "passed" and bound is not None:
        return (
            f"guardrail passed: at worst {pct(bound)} ({one_sided}), within {against}"
        )
    if status == "breached" and other is not None:
        return (
            f"guardrail breached: at best {pct(other)} ({one_sided}), "
            f"worse than {against}"
        )
    if bound is not None:
        return (
            f"guardrail inconclusive: it could be as bad as {pct(bound)} "
            f"({one_sided}), past {against}"
        )
    return f"guardrail inconclusive: no relative bound to compare with {against}"


def _summary(row: Mapping[str, Any], correction: str) -> str:
    """One plain-English sentence describing a result row.

    The interval quoted is the one matching the verdict stated: the adjusted
    interval after a correction, the unadjusted one without. Guardrail rows end
    with their status against the tolerance.
    """
    sentence = _verdict_sentence(row, correction)
    if row.get("role") == "guardrail":
        sentence += f"; {_guardrail_clause(row)}"
    return sentence + "."


def _verdict_sentence(row: Mapping[str, Any], correction: str) -> str:
    """The summary without its final full stop and guardrail clause."""
    name = str(row.get("metric_name") or row["metric_id"])
    name = name[:1].upper() + name[1:]
    variant, control = row.get("variant"), row.get("control_variant")
    mean_c, mean_t = row.get("mean_control"), row.get("mean_treatment")
    abs_lift = row.get("abs_lift")
    error = row.get("error_message")
    if mean_c is None or mean_t is None or abs_lift is None:
        arms = f" ({variant} vs {control})" if variant and control else ""
        return f"No result for {name}{arms}: {error or 'not computed'}"

    # Binary metrics print as percentages (lifts in percentage points, pp).
    scale, unit = (100, "%") if row.get("aggregation") == "binary" else (1, "")
    places = decimals(mean_c * scale, mean_t * scale)
    if unit:
        places = max(1, places)

    def level(value: float, signed: bool = False) -> str:
        return f"{value * scale:{'+' if signed else ''},.{places}f}{unit}"

    def lift(value: float) -> str:
        return f"{level(value, True)[:-1]} pp" if unit else level(value, True)

    if mean_t == mean_c:
        sentence = f"{name} was {level(mean_t)} in both {control} and {variant}"
    else:
        verb = "rose" if mean_t > mean_c else "fell"
        sentence = (
            f"{name} {verb} from {level(mean_c)} in {control} "
            f"to {level(mean_t)} in {variant}"
        )

    alpha = row.get("alpha") or DEFAULT_ALPHA
    ci = f"{round((1 - alpha) * 100, 6):g}% CI"
    suffix = ""
    if correction != "none":
        ci = f"{_CORRECTION_NAMES[correction]}-adjusted {ci}"
        suffix = "_adjusted"
    rel = row.get("rel_lift")
    rel_low, rel_high = row.get(f"rel_ci_low{suffix}"), row.get(f"rel_ci_high{suffix}")
    abs_low, abs_high = row.get(f"abs_ci_low{suffix}"), row.get(f"abs_ci_high{suffix}")
    if rel is not None and rel_low is not None and rel_high is not None:
        sentence += f" ({pct(rel)} relative, {ci} {pct(rel_low)} to {pct(rel_high)})"
    elif rel is not None:
        sentence += f" ({pct(rel)} relative)"
    elif abs_low is not None and abs_high is not None:
        sentence += (
            f" ({lift(abs_lift)} absolute, {ci} {lift(abs_low)} to {lift(abs_high)};"
            " relative lift undefined as the control mean is 0)"
        )

    p_adjusted = row.get("p_value_adjusted")
    if p_adjusted is None:
        return f"{sentence}; no test: {error or 'not computed'}"
    verdict = "significant" if row.get("is_significant") else "not significant"
    if correction == "none":
        return f"{sentence}; {verdict} at alpha = {alpha:g} ({format_p(p_adjusted)})"
    method = _CORRECTION_NAMES[correction]
    return (
        f"{sentence}; {verdict} after {method} correction "
        f"(adjusted {format_p(p_adjusted)})"
    )


def _direction(row: Mapping[str, Any]) -> str | None:
    """good / bad / flat from significance, sign of the lift and desired direction."""
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
    statistics = []
    for arm_variant in (control, variant):
        rows = arms.get((experiment_id, arm_variant, metric_id), [])
        error = None
        if len(rows) > 1:
            error = f"duplicate arm_metrics rows for {arm_variant}"
        elif rows:
            try:
                statistics.append(from_row(rows[0]))
            except ValueError as problem:
                error = f"invalid arm_metrics row ({arm_variant}): {problem}"
        else:
            statistics.append(None)
        if error is not None:
            return {"error_message": error, "cuped_error_message": error}
    figures = _figures(compare(statistics[0], statistics[1], ComparisonConfig(alpha)))
    return figures | {"_arms": (statistics[0], statistics[1])}


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
            results[value] = compare(*arms, ComparisonConfig(value))
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


def _tolerance(value: Any) -> float | None:
    """A guardrail's tolerance: the registered value, 0 when empty, None if invalid."""
    if is_missing(value):
        return 0.0
    try:
        tolerance = float(value)
    except (TypeError, ValueError):
        return None
    return tolerance if math.isfinite(tolerance) and tolerance >= 0 else None


def _guardrail(row: dict[str, Any]) -> dict[str, Any]:
    """guardrail_status and guardrail_bound of a guardrail row (non-inferiority).

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
    out: dict[str, Any] = {"guardrail_status": "inconclusive", "guardrail_bound": None}
    arms, alpha = row.get("_arms"), row.get("alpha")
    tolerance = _tolerance(row.get("guardrail_tolerance"))
    desired = row.get("desired_direction")
    if (
        arms is None
        or alpha is None
        or not alpha < 0.5
        or tolerance is None
        or desired not in ("increase", "decrease")
    ):
        return out
    result = compare(*arms, ComparisonConfig(2 * alpha))
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
    correction: str = "holm",
    experiment_variants: pd.DataFrame | None = None,
    prior: Prior | None = None,
    correction_families: str = "by_role",
) -> pd.DataFrame:
    """One row per experiment x registered metric x treatment variant.

    Treatment variants come from ``experiment_variants`` when given (so planned
    experiments with no ``arm_metrics`` rows still get a row per variant), else
    from ``arm_metrics``; an experiment with neither gets one row per metric with
    a null variant. Each comparison uses ``frequentist.compare`` at the
    experiment's alpha (0.05 when empty). Adjusted p-values are computed per
    experiment and family (``correction_family``): by default primary metrics x
    variants, secondary metrics x variants, and guardrails x variants.
    ``is_significant = p_value_adjusted < alpha``; ``direction`` is flat when
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

    Returns:
        A frame with the columns of ``RESULT_COLUMNS``, in that order and dtype,
        sorted by experiment, role (primary, secondary, guardrail), metric and
        variant.

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
                row: dict[str, Any] = {
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
                    row |= _comparison_row(
                        arms, experiment_id, metric_id, control, variant, alpha
                    )
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
    for row in rows:
        p_adjusted = row.get("p_value_adjusted")
        if p_adjusted is not None:
            row["is_significant"] = p_adjusted < row["alpha"]
        row["direction"] = _direction(row)
        row |= _adjusted_intervals(row)
        row |= _guardrail(row)
        row["summary"] = _summary(row, correction)
        row |= _bayesian(row, prior)
    return typed_frame(rows, RESULT_COLUMNS)


def _shares(values: list[Any]) -> list[float | None]:
    """Each value's share of the total; None unless all are finite, >= 0, sum > 0."""
    if any(is_missing(v) for v in values):
        return [None] * len(values)
    numbers = [float(v) for v in values]
    total = sum(numbers)
    if not all(math.isfinite(v) and v >= 0 for v in numbers) or total <= 0:
        return [None] * len(values)
    return [v / total for v in numbers]


def assignment_balance(
    counts: pd.DataFrame, threshold: float = SRM_THRESHOLD
) -> pd.DataFrame:
    """Add observed and expected shares and the SRM test to per-arm unit counts.

    Args:
        counts: One row per experiment and variant with at least
            ``experiment_id``, ``variant``, ``units`` and ``allocation_weight``;
            other columns pass through unchanged.
        threshold: ``srm_flag`` is ``srm_p_value < threshold`` (default 0.001).

    Returns:
        ``counts`` (same row order, fresh index) plus the columns of
        ``BALANCE_COLUMNS``; the SRM figures of an experiment repeat on each of
        its rows, and are null with ``srm_error_message`` set when the test
        cannot run.
    """
    missing = {"experiment_id", "variant", "units", "allocation_weight"} - set(
        counts.columns
    )
    if missing:
        raise ValueError(f"counts lacks columns {sorted(missing)}")
    out = counts.reset_index(drop=True)
    arms = records(out[["experiment_id", "units", "allocation_weight"]])
    groups: dict[Any, list[int]] = defaultdict(list)
    for index, row in enumerate(arms):
        groups[row["experiment_id"]].append(index)
    added: list[dict[str, Any]] = [{} for _ in arms]
    for indices in groups.values():
        units = [native(arms[i]["units"]) for i in indices]
        weights = [native(arms[i]["allocation_weight"]) for i in indices]
        result = srm_test(units, weights, threshold)
        expected = _shares(weights)
        observed = _shares(units)
        for position, i in enumerate(indices):
            added[i] = {
                "expected_share": expected[position],
                "observed_share": observed[position],
                "srm_chi2": result.chi2,
                "srm_p_value": result.p_value,
                "srm_flag": result.is_mismatch,
                "srm_error_message": result.error_message,
                "srm_degrees_of_freedom": result.df,
            }
    extra = typed_frame(added, BALANCE_COLUMNS)
    out = out.drop(columns=[c for c in BALANCE_COLUMNS if c in out.columns])
    return pd.concat([out, extra], axis=1)


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


def _summed(rows: list[dict[str, Any]]) -> Statistic | str | None:
    """One arm's statistic over several segment rows (no CUPED): the sum of
    the rows' statistics; None when there are none, the reason when a row
    cannot be read."""
    if not rows:
        return None
    try:
        return sum(unadjusted_from_row(row, rows[0].get("aggregation")) for row in rows)
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
    correction: str = "holm",
    min_units: int = 0,
    prior: Prior | None = None,
    correction_families: str = "by_role",
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
    columns = {
        "segment_dimension": "string",
        "segment_value": "string",
        **RESULT_COLUMNS,
        "segment_srm_p_value": "Float64",
        "is_suppressed": "boolean",
        **SEGMENT_VS_REST_COLUMNS,
    }
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
            message = (
                f"suppressed: fewer than {min_units} units in an arm of this "
                "segment (var min_segment_units)"
            )
            results.loc[small, "error_message"] = message
            results.loc[small, "summary"] = f"No result shown: {message}."
            # Nothing known never passes: a suppressed guardrail is inconclusive.
            guarded = small & (results["role"] == "guardrail").fillna(False)
            results.loc[guarded, "guardrail_status"] = "inconclusive"
            results.loc[guarded, "summary"] = (
                f"No result shown: {message}; guardrail inconclusive."
            )
        frames.append(results)
    combined = records(pd.concat(frames, ignore_index=True))
    _segment_vs_rest(records(arm_metrics_by_segment), combined)
    return typed_frame(combined, columns)
