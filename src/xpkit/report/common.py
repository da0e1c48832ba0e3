"""Lookups and row helpers shared by the page assembly and the sections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from xpkit.narrative import report as fmt
from xpkit.stats.numbers import finite

T = TypeVar("T")

__all__ = [
    "ROLE_RANK",
    "DECISION_ORDER",
    "CORRECTION_NAMES",
    "LEARNER_NAMES",
    "DECISION_COLUMNS",
    "AGGREGATION_LABELS",
    "metric_decimals",
    "missing_notice",
    "adjusted_interval",
    "adjusted_label",
    "first",
    "dates",
    "sorted_results",
    "best_primary",
    "primary_cell",
    "hte_learners",
    "distinct",
    "headline",
    "chance",
    "result_row",
    "arm_units",
]

ROLE_RANK: dict[Any, int] = {"primary": 0, "secondary": 1, "guardrail": 2}
DECISION_ORDER = ("scale", "iterate", "keep_running", "stop", "do_not_start")
CORRECTION_NAMES: dict[Any, str] = {
    "holm": "Holm",
    "bh": "Benjamini-Hochberg",
    "none": "no",
}
LEARNER_NAMES: dict[Any, str] = {
    "t_learner": "T-learner",
    "s_learner": "S-learner",
    "x_learner": "X-learner",
}
DECISION_COLUMNS = (
    "decision",
    "rule",
    "rationale",
    "recommended_action",
    "decided_at",
    "status",
    "srm_flag",
    "data_quality_passed",
    "primary_metric_id",
    "primary_variant",
    "primary_rel_lift",
    "primary_p_value_adjusted",
    "primary_direction",
    "share_of_target",
    "guardrails_breached",
    "bad_secondaries",
    "segment_winners",
    "primary_rel_ci_low_adjusted",
    "primary_rel_ci_high_adjusted",
    "guardrail_statuses",
    "guardrails_inconclusive",
    "harm_summary",
)
AGGREGATION_LABELS: dict[Any, str] = {
    "binary": "rate (share of units with the event)",
    "count": "count per unit",
    "sum": "sum of values per unit",
    "ratio": "ratio of sums",
}


def missing_notice(table: str, what: str) -> dict[str, str]:
    return {
        "kind": "missing",
        "text": (
            f"Not available yet: {what} comes from marts.{table}, which this "
            "warehouse does not have. Rebuild the warehouse (make build) once "
            "that mart is part of the project."
        ),
    }


def adjusted_interval(
    row: Mapping[str, Any], low: str = "rel_ci_low", high: str = "rel_ci_high"
) -> tuple[Any, Any, bool]:
    """The interval that goes with the row's adjusted verdict: the
    ``<low>_adjusted`` / ``<high>_adjusted`` columns when the mart has them
    (True), else the unadjusted interval (False, an older warehouse)."""
    if f"{low}_adjusted" in row or f"{high}_adjusted" in row:
        return row.get(f"{low}_adjusted"), row.get(f"{high}_adjusted"), True
    return row.get(low), row.get(high), False


def adjusted_label(row: Mapping[str, Any]) -> str:
    """``adj. p 0.004, adj. CI [+10.1%, +78.4%]`` (the interval as available)."""
    low, high, adjusted = adjusted_interval(row)
    label = f"adj. p {fmt.p_value(row.get('p_value_adjusted'))}"
    interval = fmt.interval(low, high)
    if interval:
        label += f", {'adj. ' if adjusted else 'unadjusted '}CI {interval}"
    return label


def first(items: Iterable[T]) -> T | None:
    """The first item, or None when there is none."""
    return next(iter(items), None)


def dates(experiment: Mapping[str, Any]) -> str:
    start, end = experiment.get("start_date"), experiment.get("end_date")
    if start is None:
        return "not started"
    if end is None:
        return f"from {fmt.day(start)}"
    return f"{fmt.day(start)} to {fmt.day(end)}"


def sorted_results(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        rows,
        key=lambda r: (
            ROLE_RANK.get(r.get("role"), 3),
            str(r.get("metric_id")),
            str(r.get("variant")),
        ),
    )


def best_primary(
    results: list[dict[str, Any]], decision: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The primary comparison to headline: the decision's, else the best one."""
    primary = [r for r in results if r.get("role") == "primary"]
    if decision and decision.get("primary_variant") is not None:
        for row in primary:
            if row.get("variant") == decision["primary_variant"] and (
                decision.get("primary_metric_id") in (None, row.get("metric_id"))
            ):
                return row
    with_lift = [r for r in primary if finite(r.get("rel_lift")) is not None]
    if not with_lift:
        return first(primary)

    def score(row: Mapping[str, Any]) -> tuple[int, float]:
        sign = -1.0 if row.get("desired_direction") == "decrease" else 1.0
        rank = {"good": 2, "flat": 1}.get(row.get("direction") or "", 0)
        return rank, sign * float(row["rel_lift"])

    return max(with_lift, key=score)


def primary_cell(
    results: list[dict[str, Any]],
    decision: Mapping[str, Any] | None,
    portfolio: Mapping[str, Any] | None,
) -> dict[str, str] | None:
    """The index's primary-metric cell: metric, variant, lift and p-value."""
    row = best_primary(results, decision)
    if row is not None and finite(row.get("rel_lift")) is not None:
        return {
            "metric": str(row.get("metric_name") or row.get("metric_id")),
            "variant": str(row.get("variant") or ""),
            "lift": fmt.pct(row.get("rel_lift")),
            "p_label": adjusted_label(row),
        }
    if portfolio and finite(portfolio.get("primary_rel_lift")) is not None:
        return {
            "metric": str(portfolio.get("primary_metric_id") or ""),
            "variant": "",
            "lift": fmt.pct(portfolio.get("primary_rel_lift")),
            "p_label": f"p {fmt.p_value(portfolio.get('primary_p_value'))}",
        }
    return None


def hte_learners(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The learners present in experiment_cate rows, T, S, X first."""
    present = {str(r.get("learner")) for r in rows if r.get("learner")}
    order = list(LEARNER_NAMES)
    return [n for n in order if n in present] + sorted(present - set(order))


def distinct(text: Any, other: Any) -> str | None:
    """``text``, unless it is empty or says the same as ``other``."""
    if not text:
        return None

    def norm(value: Any) -> str:
        return " ".join(str(value or "").split()).rstrip(".").lower()

    return None if norm(text) == norm(other) else str(text)


def headline(decision: Mapping[str, Any] | None) -> str:
    """The recommended action without a leading "Iterate:" that repeats the badge."""
    if decision is None:
        return ""
    action = str(decision.get("recommended_action") or "").strip()
    label = fmt.decision_label(decision.get("decision"))
    for prefix in {label, str(decision.get("decision") or "")}:
        if prefix and action.lower().startswith(prefix.lower() + ":"):
            action = action[len(prefix) + 1 :].strip()
    return fmt.sentence(action)


def chance(value: Any) -> str:
    """A probability as a percentage, capped at "> 99.9%" / "< 0.1%"."""
    number = finite(value)
    if number is None:
        return fmt.DASH
    if number > 0.999:
        return "> 99.9%"
    if number < 0.001:
        return "< 0.1%"
    return fmt.pct(number, signed=False)


def metric_decimals(rows: Iterable[Mapping[str, Any]]) -> dict[Any, int]:
    """Decimals per metric: the most any of its comparisons needs, so that the
    control mean reads the same in every row (1.985, never 1.985 then 1.98)."""
    places: dict[Any, int] = {}
    for r in rows:
        need = fmt.row_decimals(
            r.get("mean_control"), r.get("mean_treatment"), r.get("aggregation")
        )
        key = r.get("metric_id")
        places[key] = max(need, places.get(key, need))
    return places


def result_row(r: Mapping[str, Any], places: int | None = None) -> dict[str, Any]:
    """One experiment_results row formatted for the metric table (``places``:
    the decimals of its metric's rows, else the row's own)."""
    aggregation = r.get("aggregation")
    mean_c, mean_t = r.get("mean_control"), r.get("mean_treatment")
    if places is None:
        places = fmt.row_decimals(mean_c, mean_t, aggregation)
    reduction = finite(r.get("variance_reduction"))
    variance = ""
    if reduction is not None:
        sign = "−" if reduction >= 0 else "+"
        variance = f"variance {sign}{fmt.pct(abs(reduction), signed=False)}"

    def change(key: str) -> str:
        return fmt.metric_change(r.get(key), aggregation, places)

    def interval(low: str, high: str) -> str:
        return fmt.interval(r.get(low), r.get(high), "abs", aggregation, places)

    def adjusted(low: str, high: str, kind: str = "abs") -> str:
        """The adjusted interval (matching adj. p and the result), when known."""
        lo, hi, known = adjusted_interval(r, low, high)
        if not known:
            return ""
        text = fmt.interval(lo, hi, kind, aggregation, places)
        return f"adj. {text}" if text else ""

    status = r.get("guardrail_status") if r.get("role") == "guardrail" else None
    if r.get("role") == "guardrail" and status is None:
        status = "no status"

    return {
        "metric": r.get("metric_name") or r.get("metric_id"),
        "role": r.get("role") or "",
        "variant": r.get("variant") or fmt.DASH,
        "has_figures": mean_c is not None or mean_t is not None,
        "error": r.get("error_message"),
        "units": f"{fmt.integer(r.get('n_control'))} / "
        f"{fmt.integer(r.get('n_treatment'))}",
        "control": fmt.metric_value(mean_c, aggregation, places),
        "treatment": fmt.metric_value(mean_t, aggregation, places),
        "abs_lift": change("abs_lift"),
        "abs_ci": interval("abs_ci_low", "abs_ci_high"),
        "abs_ci_adjusted": adjusted("abs_ci_low", "abs_ci_high"),
        "rel_lift": fmt.pct(r.get("rel_lift")),
        "rel_ci": fmt.interval(r.get("rel_ci_low"), r.get("rel_ci_high")),
        "rel_ci_adjusted": adjusted("rel_ci_low", "rel_ci_high", "pct"),
        "p": fmt.p_value(r.get("p_value")),
        "p_adjusted": fmt.p_value(r.get("p_value_adjusted")),
        "cuped": change("cuped_abs_lift"),
        "cuped_ci": interval("cuped_ci_low", "cuped_ci_high"),
        "cuped_ci_adjusted": adjusted("cuped_ci_low", "cuped_ci_high"),
        "variance_reduction": variance,
        "direction": r.get("direction"),
        # Guardrails: the non-inferiority status (methodology, "Guardrails").
        "guardrail_status": status,
        "guardrail_bound": ""
        if r.get("guardrail_bound") is None
        else f"bound {fmt.pct(r.get('guardrail_bound'))}",
        # Bayesian read-out (methodology, "Bayesian"); blank when not computed.
        "chance": chance(r.get("chance_to_beat_control")),
        "expected_loss": f"loss {fmt.pct(r.get('expected_loss'), signed=False)}"
        if r.get("expected_loss") is not None
        else "",
    }


def arm_units(row: Mapping[str, Any]) -> float | None:
    """Both arms' units of a daily_results row (None when either is missing)."""
    control, treatment = finite(row.get("n_control")), finite(row.get("n_treatment"))
    return None if control is None or treatment is None else control + treatment
