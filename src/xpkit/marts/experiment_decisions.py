"""Pre-registered decision rules: one decision per experiment (pure, no I/O).

``experiment_decisions`` reads the small marts (``experiment_results``,
``segment_results``, ``assignment_balance``, ``experiment_health``,
``experiment_power``) and applies the rules of ``RULES`` in order; the first
rule that fires decides, and its id is recorded in ``rule``. Thresholds come
from ``DecisionConfig`` (dbt vars ``max_days_to_target``,
``max_multi_variant_share``, ``inconclusive_decision``). docs/decisions.md
states every rule with its thresholds.

Evidence used, for the experiment's decisive primary metric (the first primary
metric by metric_id when several are registered):

- the *best variant*: the significantly good variant with the largest lift in
  the desired direction, else the variant with the smallest adjusted p-value;
- *guardrail checks*: each guardrail's ``guardrail_status`` (passed, breached
  or inconclusive: the non-inferiority test of ``experiment_results``) with
  its one-sided bound ``guardrail_bound`` and ``guardrail_tolerance``. A
  guardrail without a status is never passed (``_guardrail_check``). The best
  variant is scaled only when every guardrail passed; a breach, overall or
  in any non-suppressed segment of ``segment_results``, makes it iterate; an
  inconclusive overall guardrail makes it keep running (iterate once the
  experiment has ended);
- a *bad secondary*: a secondary metric (or another primary metric) of the
  best variant that is significantly bad overall;
- *harms*: every significantly bad primary or secondary metric and every
  breached or inconclusive guardrail of any treatment variant (segment
  breaches included). Every rationale that reads results names them all, and
  ``harm_summary`` lists them for the portfolio and the report;
- *segment winners*: per segment, the significantly good variant with the
  largest lift on the decisive primary metric;
- a *sequential call*: for an experiment in sequential mode (dbt var
  ``sequential_experiments``), the decisive primary metric's always-valid
  result on the latest day of ``daily_results``. Below the planned sample, a
  running experiment is decided early only on it (``_early_decision_allowed``).

Size: one module, past the project's ~400 lines, because the rules, their
order and the evidence they read form one decision table (``RULES``); the
phrases are in ``xpkit.narrative.decisions``. Splitting the evidence from
the rules is the next step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import clean, records, typed_frame
from xpkit.narrative.decisions import (
    adjusted_interval,
    breach_text,
    count,
    harm_list,
    harm_sentences,
    in_sentence,
    interval_text,
    lift_phrase,
    percent,
    segment_label,
    share_phrase,
    worse_text,
)
from xpkit.narrative.numbers import format_p
from xpkit.settings import (
    DEFAULT_ALPHA,
    SRM_THRESHOLD,
    default_float,
    default_str,
)
from xpkit.stats.numbers import finite, is_missing

__all__ = [
    "DECLARATION",
    "DECISIONS",
    "DECISION_COLUMNS",
    "INCONCLUSIVE_DECISIONS",
    "RULES",
    "DecisionConfig",
    "Evidence",
    "Verdict",
    "evaluate",
    "experiment_decisions",
    "gather_evidence",
    "harm_lines",
]

DECISIONS = ("scale", "iterate", "stop", "do_not_start", "keep_running")
INCONCLUSIVE_DECISIONS = ("iterate", "stop")

# Rule id -> (decision, when it fires), in the order the rules are applied.
RULES: dict[str, tuple[str, str]] = {
    "planned_not_ready": (
        "do_not_start",
        "planned, and no primary metric, no usable baseline or sample size, or "
        "more than max_days_to_target days to reach the planned sample",
    ),
    "planned_ready": (
        "keep_running",
        "planned, and the planned sample is reachable within max_days_to_target",
    ),
    "data_quality_failed": (
        "stop",
        "sample ratio mismatch, or multi-variant share above max_multi_variant_share",
    ),
    "waiting_for_data": ("keep_running", "no analysed units yet"),
    "no_primary_metric": ("iterate", "no primary metric registered"),
    "below_planned_sample": (
        "keep_running",
        "running and share_of_target below 1 (or unknown): no early decision",
    ),
    "primary_bad": (
        "stop",
        "no variant significantly good and the best variant significantly bad",
    ),
    "primary_good": (
        "scale",
        "primary significantly good, no guardrail breached, no secondary "
        "significantly bad",
    ),
    "primary_good_with_harm": (
        "iterate",
        "primary significantly good but a guardrail breached (overall or in a "
        "segment) or a secondary significantly bad",
    ),
    "primary_good_guardrail_inconclusive": (
        "keep_running (running) or iterate (completed, stopped)",
        "primary significantly good, nothing breached, but a guardrail "
        "inconclusive: its interval reaches past its tolerance",
    ),
    "inconclusive": (
        "iterate or stop (var inconclusive_decision)",
        "planned sample reached (or experiment completed) without a significant "
        "primary effect",
    ),
}

DECISION_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "decision": "string",
    "rule": "string",
    "rationale": "string",
    "recommended_action": "string",
    "decided_at": "datetime64[us]",
    "status": "string",
    "srm_flag": "boolean",
    "data_quality_passed": "boolean",
    "primary_metric_id": "string",
    "primary_variant": "string",
    "primary_rel_lift": "Float64",
    "primary_p_value_adjusted": "Float64",
    "primary_direction": "string",
    "share_of_target": "Float64",
    "guardrails_breached": "string",
    "bad_secondaries": "string",
    "segment_winners": "string",
    "control_variant": "string",
    "primary_rel_ci_low": "Float64",
    "primary_rel_ci_high": "Float64",
    "srm_p_value": "Float64",
    "multi_variant_share": "Float64",
    "units_analysed": "Int64",
    "required_units_total": "Int64",
    "projected_days_to_target": "Float64",
    "is_sequential": "boolean",
    "is_early_call": "boolean",
    "primary_rel_ci_low_adjusted": "Float64",
    "primary_rel_ci_high_adjusted": "Float64",
    "guardrail_statuses": "string",
    "guardrails_inconclusive": "string",
    "harm_summary": "string",
}

GUARDRAIL_STATUSES = ("passed", "breached", "inconclusive")


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    """Thresholds of the decision rules (dbt vars).

    Attributes:
        max_days_to_target: A planned experiment whose projected days to reach
            its planned sample exceed this is ``do_not_start`` (default 90).
        max_multi_variant_share: Data-quality limit on the share of exposed
            units that saw more than one variant (default 0.01).
        inconclusive_decision: Decision when the planned sample is reached (or
            the experiment completed) without a significant primary effect:
            ``iterate`` (default) or ``stop``.
        sequential_experiments: Experiment ids in sequential mode (dbt var
            ``sequential_experiments``). Only these may be decided before
            their planned sample, and only on the always-valid result of
            ``daily_results``; the others never get an early winner.
    """

    max_days_to_target: float = default_float("max_days_to_target")
    max_multi_variant_share: float = default_float("max_multi_variant_share")
    inconclusive_decision: str = default_str("inconclusive_decision")
    sequential_experiments: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Reject thresholds the rules cannot use."""
        days = self.max_days_to_target
        if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
            raise ValueError(f"max_days_to_target must be > 0, got {days!r}")
        share = self.max_multi_variant_share
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0 <= share <= 1
        ):
            raise ValueError(
                f"max_multi_variant_share must lie in [0, 1], got {share!r}"
            )
        if self.inconclusive_decision not in INCONCLUSIVE_DECISIONS:
            raise ValueError(
                f"inconclusive_decision must be one of {INCONCLUSIVE_DECISIONS}, "
                f"got {self.inconclusive_decision!r}"
            )
        listed = self.sequential_experiments
        if isinstance(listed, str) or not isinstance(
            listed, frozenset | set | list | tuple
        ):
            raise ValueError(
                "sequential_experiments must be a collection of experiment ids, "
                f"got {listed!r}"
            )
        object.__setattr__(self, "sequential_experiments", frozenset(map(str, listed)))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of the rule that fired.

    Attributes:
        decision: One of ``DECISIONS``.
        rule: The rule id (a key of ``RULES``).
        rationale: One or two sentences naming the figures.
        recommended_action: A short imperative sentence.
    """

    decision: str
    rule: str
    rationale: str
    recommended_action: str


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    """One guardrail result read as a non-inferiority test.

    Attributes:
        metric_id: The guardrail metric.
        variant: The treatment variant.
        where: ``overall`` or ``segment <dimension> <value>``.
        status: ``passed``, ``breached`` or ``inconclusive``.
        rel_lift: The relative change (None when undefined).
        bound: The one-sided bound of the relative change in the metric's
            bad direction (the lower bound when the metric should rise);
            None when unknown.
        tolerance: ``guardrail_tolerance`` (relative, >= 0; 0 when empty).
        decrease: True when the metric should fall (a rise is the harm).
    """

    metric_id: str
    variant: str
    where: str
    status: str
    rel_lift: float | None
    bound: float | None
    tolerance: float
    decrease: bool = False

    def figures(self) -> str:
        """``-3.1% (lower bound -9.0% vs tolerance -2.0%)``."""
        lift = (
            percent(self.rel_lift)
            if self.rel_lift is not None
            else "relative change undefined"
        )
        side = "upper" if self.decrease else "lower"
        bound = (
            f"{side} bound {percent(self.bound)}"
            if self.bound is not None
            else "no bound"
        )
        if self.tolerance == 0:
            limit = "0%"
        else:
            limit = percent(self.tolerance if self.decrease else -self.tolerance)
        return f"{lift} ({bound} vs tolerance {limit})"

    def describe(self, with_variant: bool = False) -> str:
        """``csat (segment technical): -8.7% (lower bound ... vs tolerance ...)``."""
        where = f"{self.where}, {self.variant}" if with_variant else self.where
        return f"{self.metric_id} ({where}): {self.figures()}"


@dataclass(frozen=True, slots=True)
class Harm:
    """A harm or an unresolved guardrail, for the summaries.

    Attributes:
        kind: ``worse`` (a primary or secondary metric significantly bad),
            ``breached`` or ``inconclusive`` (a guardrail).
        key: Identifies the item (kind, variant, metric, where) so that a
            rationale does not name it twice.
        text: The description with its figures.
        name: A short name for the recommended action (e.g. ``aov``).
    """

    kind: str
    key: tuple[str, ...]
    text: str
    name: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the rules read about one experiment.

    Attributes:
        experiment_id: The experiment.
        status: planned, running, completed or stopped.
        control_variant: The control arm.
        srm_flag: True when the arms' sizes mismatch the allocation.
        srm_p_value: The SRM test's p-value.
        multi_variant_share: Share of exposed units that saw several variants.
        data_quality_passed: ``multi_variant_share <= max_multi_variant_share``;
            None when there are no exposures.
        units_analysed: Analysed units, all arms.
        primary_metric_id: The decisive primary metric (None if none).
        primary_metric_name: Its display name (its id when unknown).
        primary: The decisive primary metric's ``experiment_results`` row of
            the best variant (None without a result).
        power: The decisive primary metric's ``experiment_power`` row.
        guardrails_breached: Breach descriptions (metric, where, change) of
            the best variant, overall and in segments.
        breach_segments: Segments with a breach (``<dimension> <value>``).
        guardrail_checks: The best variant's overall guardrail checks.
        segment_breach_checks: The best variant's guardrails breached in a
            segment.
        guardrails_inconclusive: The best variant's overall guardrails that
            are inconclusive, with bound and tolerance.
        harms: Every harm of every treatment variant (see ``Harm``).
        bad_secondaries: Descriptions of significantly bad secondaries.
        segment_winners: ``value: variant (+lift)`` per segment with a winner.
        segment_winner_pairs: ``(segment label, winning variant)`` per segment.
        is_sequential: True when the experiment is in sequential mode.
        sequential: The always-valid call on the decisive primary metric (the
            latest ``daily_results`` row of the chosen variant, with
            ``direction`` good, bad or flat and ``threshold`` = alpha / number
            of treatment variants); None without daily results.
        is_early_call: True when ``sequential`` is significant and the
            experiment is running below its planned sample: ``primary`` is
            then that always-valid row.
    """

    experiment_id: Any
    status: str | None
    control_variant: str | None = None
    srm_flag: bool | None = None
    srm_p_value: float | None = None
    multi_variant_share: float | None = None
    data_quality_passed: bool | None = None
    units_analysed: int = 0
    primary_metric_id: str | None = None
    primary_metric_name: str | None = None
    primary: dict[str, Any] | None = None
    power: dict[str, Any] = field(default_factory=dict)
    guardrails_breached: tuple[str, ...] = ()
    breach_segments: tuple[str, ...] = ()
    guardrail_checks: tuple[GuardrailCheck, ...] = ()
    segment_breach_checks: tuple[GuardrailCheck, ...] = ()
    guardrails_inconclusive: tuple[str, ...] = ()
    harms: tuple[Harm, ...] = ()
    bad_secondaries: tuple[str, ...] = ()
    segment_winners: tuple[str, ...] = ()
    segment_winner_pairs: tuple[tuple[str, str], ...] = ()
    is_sequential: bool = False
    sequential: dict[str, Any] | None = None
    is_early_call: bool = False


# ---------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------


def _good_lift(row: dict[str, Any]) -> float:
    """The lift signed so that larger is better (relative, else absolute)."""
    lift = row.get("rel_lift")
    if lift is None:
        lift = row.get("abs_lift") or 0.0
    return -lift if row.get("desired_direction") == "decrease" else lift


def _best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Largest good lift among significantly good rows, else smallest adjusted p."""
    tested = [r for r in rows if r.get("p_value_adjusted") is not None]
    good = [r for r in tested if r.get("direction") == "good"]
    if good:
        return max(good, key=lambda r: (_good_lift(r), str(r.get("variant"))))
    if tested:
        return min(tested, key=lambda r: (r["p_value_adjusted"], str(r["variant"])))
    return None


def _guardrail_check(row: dict[str, Any], where: str) -> GuardrailCheck:
    """Read one guardrail row as a non-inferiority test.

    The status is ``guardrail_status`` (experiment_results / segment_results;
    methodology, "Guardrails"). Without that column (results built before it
    existed) it is derived from the two-sided interval, which is stricter than
    the one-sided (1 - alpha) bound: passed when the whole interval lies within
    the tolerance; breached when the whole interval lies beyond it, or when the
    result is significantly bad and its change exceeds the tolerance (the
    earlier rule); inconclusive otherwise. A row whose status is missing is
    never passed: breached by the earlier rule, else inconclusive.
    """
    tolerance = max(finite(row.get("guardrail_tolerance")) or 0.0, 0.0)
    decrease = row.get("desired_direction") == "decrease"
    rel = finite(row.get("rel_lift"))
    low, high = finite(row.get("rel_ci_low")), finite(row.get("rel_ci_high"))
    bad_end, good_end = (high, low) if decrease else (low, high)

    def harm(value: float) -> float:
        """The relative change in the bad direction (positive = worse)."""
        return value if decrease else -value

    earlier_breach = row.get("direction") == "bad" and (
        rel is None or harm(rel) > tolerance
    )
    if "guardrail_status" in row:
        status = row.get("guardrail_status")
        bound = finite(row.get("guardrail_bound")) if "guardrail_bound" in row else None
        if status not in GUARDRAIL_STATUSES:
            status = "breached" if earlier_breach else "inconclusive"
    else:
        bound = bad_end
        if bad_end is not None and good_end is not None and harm(bad_end) < tolerance:
            status = "passed"
        elif earlier_breach or (good_end is not None and harm(good_end) > tolerance):
            status = "breached"
        else:
            status = "inconclusive"
    return GuardrailCheck(
        metric_id=str(row.get("metric_id")),
        variant=str(row.get("variant")),
        where=where,
        status=str(status),
        rel_lift=rel,
        bound=bound,
        tolerance=tolerance,
        decrease=decrease,
    )


def _segment_winners(
    rows: list[dict[str, Any]],
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Per segment, the significantly good variant with the largest lift."""
    by_segment: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if not row.get("is_suppressed") and row.get("direction") == "good":
            by_segment[(row.get("segment_dimension"), row.get("segment_value"))].append(
                row
            )
    dimensions = len({key[0] for key in by_segment})
    texts, pairs = [], []
    for key in sorted(by_segment, key=lambda k: (str(k[0]), str(k[1]))):
        best = max(by_segment[key], key=lambda r: (_good_lift(r), str(r["variant"])))
        lift = best.get("rel_lift")
        # The segments table's precision, so the text and the table agree.
        figure = f" ({percent(lift, None)})" if lift is not None else ""
        label = segment_label(best, dimensions)
        texts.append(f"{label}: {best['variant']}{figure}")
        pairs.append((label, str(best["variant"])))
    return tuple(texts), tuple(pairs)


def _experiment_srm(rows: list[dict[str, Any]]) -> tuple[bool | None, float | None]:
    """The experiment's SRM flag (any arm row true) and p-value."""
    flags = [r.get("srm_flag") for r in rows if r.get("srm_flag") is not None]
    p_values: list[Any] = [
        r.get("srm_p_value") for r in rows if r.get("srm_p_value") is not None
    ]
    flag = any(bool(f) for f in flags) if flags else None
    return flag, (min(p_values) if p_values else None)


def _sequential_call(
    daily: list[dict[str, Any]],
    results: list[dict[str, Any]],
    metric_id: str | None,
) -> dict[str, Any] | None:
    """The always-valid call on the decisive primary metric, or None.

    Reads the latest day of ``daily_results`` for the metric. A variant is
    significant when its always-valid p-value is below alpha / k (Bonferroni
    over the k treatment variants); the call is the significantly good variant
    with the largest good lift, else the significantly bad one with the
    smallest p-value, else the smallest p-value (direction flat). The returned
    row is the variant's ``experiment_results`` row with the always-valid
    interval of the relative lift and ``p_value_adjusted = min(1, k p)``.
    """
    rows = [r for r in daily if metric_id and r.get("metric_id") == metric_id]
    if not rows:
        return None
    latest = max(str(r.get("exposure_date")) for r in rows)
    last = [r for r in rows if str(r.get("exposure_date")) == latest]
    tested = [r for r in last if r.get("always_valid_p_value") is not None]
    if not tested:
        return None
    k = len({r.get("variant") for r in last})
    alpha = finite(tested[0].get("alpha")) or DEFAULT_ALPHA
    threshold = alpha / k
    by_variant = {
        r.get("variant"): r for r in results if r.get("metric_id") == metric_id
    }
    calls = []
    for row in tested:
        base = dict(by_variant.get(row.get("variant"), {}))
        merged = {
            **row,
            **base,
            "rel_ci_low": row.get("always_valid_rel_ci_low"),
            "rel_ci_high": row.get("always_valid_rel_ci_high"),
            "interval_kind": "always-valid",
            "p_value_adjusted": min(1.0, k * row["always_valid_p_value"]),
            "always_valid_p_value": row["always_valid_p_value"],
            "threshold": threshold,
            "alpha": alpha,
        }
        merged["direction"] = "flat"
        lift = merged.get("abs_lift")
        if row["always_valid_p_value"] < threshold and lift:
            increase = merged.get("desired_direction") != "decrease"
            merged["direction"] = "good" if (lift > 0) == increase else "bad"
        calls.append(merged)
    good = [c for c in calls if c["direction"] == "good"]
    if good:
        return max(good, key=lambda c: (_good_lift(c), str(c.get("variant"))))
    bad = [c for c in calls if c["direction"] == "bad"]
    pool = bad or calls
    return min(pool, key=lambda c: (c["always_valid_p_value"], str(c["variant"])))


_ROLE_ORDER: dict[Any, int] = {"primary": 0, "secondary": 1, "guardrail": 2}


def _harms(
    worse: list[dict[str, Any]],
    checks: list[GuardrailCheck],
    segment_breaches: list[GuardrailCheck],
) -> tuple[Harm, ...]:
    """Every harm: significantly bad metrics, then breached guardrails
    (overall and in segments), then inconclusive ones, all variants."""
    harms = []
    for row in sorted(
        worse,
        key=lambda r: (
            _ROLE_ORDER.get(r.get("role"), 3),
            str(r.get("metric_id")),
            str(r.get("variant")),
        ),
    ):
        metric, variant = str(row.get("metric_id")), str(row.get("variant"))
        harms.append(
            Harm(
                "worse",
                ("worse", variant, metric, "overall"),
                lift_phrase(row),
                metric,
            )
        )
    guardrails = sorted(
        [c for c in checks if c.status in ("breached", "inconclusive")]
        + segment_breaches,
        key=lambda c: (
            c.status != "breached",
            c.metric_id,
            c.where != "overall",
            c.where,
            c.variant,
        ),
    )
    for check in guardrails:
        where = "" if check.where == "overall" else f" in {check.where}"
        harms.append(
            Harm(
                check.status,
                (check.status, check.variant, check.metric_id, check.where),
                check.describe(with_variant=True),
                f"the {check.metric_id} breach{where}",
            )
        )
    return tuple(harms)


def _harm_inputs(
    results: list[dict[str, Any]], segments: list[dict[str, Any]]
) -> tuple[list[GuardrailCheck], list[GuardrailCheck], list[dict[str, Any]]]:
    """Overall guardrail checks, segment breaches (non-suppressed cells) and
    significantly bad primary or secondary rows, all treatment variants."""
    checks = [
        _guardrail_check(row, "overall")
        for row in results
        if row.get("role") == "guardrail" and row.get("variant") is not None
    ]
    segment_breaches = []
    for row in sorted(
        segments,
        key=lambda r: (
            str(r.get("segment_dimension")),
            str(r.get("segment_value")),
            str(r.get("variant")),
        ),
    ):
        if (
            row.get("role") == "guardrail"
            and row.get("variant") is not None
            and not row.get("is_suppressed")
        ):
            where = f"{row.get('segment_dimension')} {row.get('segment_value')}"
            check = _guardrail_check(row, where)
            if check.status == "breached":
                segment_breaches.append(check)
    worse = [
        row
        for row in results
        if row.get("role") != "guardrail"
        and row.get("direction") == "bad"
        and row.get("variant") is not None
    ]
    return checks, segment_breaches, worse


def harm_lines(
    results: list[dict[str, Any]], segments: list[dict[str, Any]] | None = None
) -> list[str]:
    """Every harm of one experiment, one sentence per kind (the report's
    headline; the same text as ``harm_summary``).

    Args:
        results: The experiment's ``experiment_results`` rows (dicts).
        segments: Its ``segment_results`` rows.

    Returns:
        ``Significantly worse: ...``, ``Guardrail(s) breached: ...`` and
        ``Guardrail(s) inconclusive ...: ...`` sentences, those that apply.
    """
    cleaned = [{k: clean(v) for k, v in r.items()} for r in results]
    cells = [{k: clean(v) for k, v in r.items()} for r in segments or []]
    checks, segment_breaches, worse = _harm_inputs(cleaned, cells)
    return harm_list(_harms(worse, checks, segment_breaches))


def _below_planned_sample(status: Any, power: dict[str, Any]) -> bool:
    """Running with share_of_target below 1 or unknown."""
    share = power.get("share_of_target")
    return status == "running" and (share is None or share < 1)


def gather_evidence(
    experiment: dict[str, Any],
    primary_metric_ids: list[str],
    results: list[dict[str, Any]],
    segments: list[dict[str, Any]],
    balance: list[dict[str, Any]],
    health: dict[str, Any] | None,
    power: dict[str, Any] | None,
    config: DecisionConfig,
    daily: list[dict[str, Any]] | None = None,
) -> Evidence:
    """Collect the evidence for one experiment from its rows of each mart.

    For an experiment in sequential mode that is below its planned sample and
    whose always-valid call is significant, the call's row replaces the
    fixed-horizon best row as ``primary`` (so guardrails and secondaries are
    read for the called variant).
    """
    experiment_id = experiment.get("experiment_id")
    health = health or {}
    srm_flag, srm_p_value = _experiment_srm(balance)
    share = finite(health.get("multi_variant_share"))
    quality = None if share is None else share <= config.max_multi_variant_share
    metric_id = sorted(primary_metric_ids)[0] if primary_metric_ids else None
    primary = _best_row(
        [r for r in results if r.get("metric_id") == metric_id and metric_id]
    )
    is_sequential = str(experiment_id) in config.sequential_experiments
    sequential = (
        _sequential_call(daily or [], results, metric_id) if is_sequential else None
    )
    is_early_call = (
        sequential is not None
        and sequential["direction"] in ("good", "bad")
        and _below_planned_sample(experiment.get("status"), power or {})
    )
    if is_early_call:
        primary = sequential
    variant = None if primary is None else primary.get("variant")

    checks, segment_breaches, worse = _harm_inputs(results, segments)
    mine = [c for c in checks if variant is not None and c.variant == variant]
    breaches = [breach_text(c) for c in mine if c.status == "breached"]
    mine_in_segments = [
        c for c in segment_breaches if variant is not None and c.variant == variant
    ]
    breaches += [breach_text(c) for c in mine_in_segments]
    breach_segments = [c.where for c in mine_in_segments]
    bad_secondaries = [
        worse_text(row)
        for row in worse
        if row.get("variant") == variant and row.get("metric_id") != metric_id
    ]
    harms = _harms(worse, checks, segment_breaches)
    names = [r.get("metric_name") for r in results if r.get("metric_id") == metric_id]
    winners, winner_pairs = _segment_winners(
        [r for r in segments if r.get("metric_id") == metric_id and metric_id]
    )
    return Evidence(
        experiment_id=experiment_id,
        status=experiment.get("status"),
        control_variant=experiment.get("control_variant"),
        srm_flag=srm_flag,
        srm_p_value=srm_p_value,
        multi_variant_share=share,
        data_quality_passed=quality,
        units_analysed=int(finite(health.get("units_analysed")) or 0),
        primary_metric_id=metric_id,
        primary_metric_name=next((str(n) for n in names if n), metric_id),
        primary=primary,
        power=power or {},
        guardrails_breached=tuple(breaches),
        breach_segments=tuple(dict.fromkeys(breach_segments)),
        guardrail_checks=tuple(mine),
        segment_breach_checks=tuple(mine_in_segments),
        guardrails_inconclusive=tuple(
            c.describe() for c in mine if c.status == "inconclusive"
        ),
        harms=harms,
        bad_secondaries=tuple(bad_secondaries),
        segment_winners=winners,
        segment_winner_pairs=winner_pairs,
        is_sequential=is_sequential,
        sequential=sequential,
        is_early_call=is_early_call,
    )


# ---------------------------------------------------------------------------
# The rules, in order
# ---------------------------------------------------------------------------


def _name(evidence: Evidence) -> str:
    """The decisive primary metric's name for mid-sentence use."""
    name = evidence.primary_metric_name or evidence.primary_metric_id
    return in_sentence(str(name)) if name else "the primary metric"


def _rule_planned(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """Planned: do_not_start unless the design can reach its sample in time."""
    if evidence.status != "planned":
        return None
    refine = "Refine the experiment design before launch"
    if evidence.primary_metric_id is None:
        return Verdict(
            "do_not_start",
            "planned_not_ready",
            "No primary metric is registered, so there is no success criterion "
            "and no sample size.",
            f"{refine}: register a primary metric and its minimum detectable effect.",
        )
    power = evidence.power
    name = _name(evidence)
    required = power.get("required_units_total")
    if required is None:
        reason = power.get("error_message") or "no power figures"
        return Verdict(
            "do_not_start",
            "planned_not_ready",
            f"No usable baseline or sample size for {name}: {reason}.",
            f"{refine}: establish a baseline for {name} and the traffic available.",
        )
    need = (
        f"{count(required)} units ({count(power.get('required_units_per_arm'))} "
        f"per arm to detect a {percent(power.get('mde_relative'), 0, False)} change in "
        f"{name} at alpha {power.get('alpha'):g} and power {power.get('power'):g})"
    )
    days = power.get("projected_days_to_target")
    daily = power.get("daily_units")
    limit = f"{config.max_days_to_target:g}-day limit"
    if days is None or daily is None:
        reason = power.get("error_message") or "no pre-period traffic"
        return Verdict(
            "do_not_start",
            "planned_not_ready",
            f"The design needs {need}, but the time to reach it is unknown: {reason}.",
            f"{refine}: find enough traffic for {count(required)} units.",
        )
    if days > config.max_days_to_target:
        return Verdict(
            "do_not_start",
            "planned_not_ready",
            f"The design needs {need}; at the pre-period traffic of {daily:,.1f} "
            f"units/day that takes about {days:,.0f} days, beyond the {limit}.",
            f"{refine}: raise traffic or the minimum detectable effect so the "
            f"sample is reached within {config.max_days_to_target:g} days.",
        )
    return Verdict(
        "keep_running",
        "planned_ready",
        f"The design needs {need}, reachable in about {days:,.0f} days at "
        f"{daily:,.1f} units/day (within the {limit}).",
        "Launch as designed.",
    )


def _rule_data_quality(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """SRM or too many multi-variant units: stop and investigate."""
    problems, causes = [], []
    if evidence.srm_flag:
        p = evidence.srm_p_value
        problems.append(
            "the arm sizes do not match the allocation (sample ratio mismatch, "
            f"{format_p(p) if p is not None else 'p n/a'} < {SRM_THRESHOLD:g})"
        )
        causes.append("the sample ratio mismatch")
    if evidence.data_quality_passed is False:
        problems.append(
            f"{percent(evidence.multi_variant_share, 1, False)} of exposed units saw "
            "more than one variant (limit "
            f"{percent(config.max_multi_variant_share, 1, False)})"
        )
        causes.append("the multi-variant exposures")
    if not problems:
        return None
    return Verdict(
        "stop",
        "data_quality_failed",
        f"Results are not trustworthy: {' and '.join(problems)}.",
        f"Investigate data: find the cause of {' and '.join(causes)} before "
        "reading any result.",
    )


def _rule_waiting(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """No analysed units yet."""
    if evidence.units_analysed > 0:
        return None
    return Verdict(
        "keep_running",
        "waiting_for_data",
        f"No analysed units yet (status {evidence.status}).",
        "Keep running: waiting for data.",
    )


def _rule_no_primary(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """Data but no primary metric: nothing to decide on."""
    if evidence.primary_metric_id is not None:
        return None
    return Verdict(
        "iterate",
        "no_primary_metric",
        f"{count(evidence.units_analysed)} units were analysed, but no primary "
        "metric is registered, so there is no success criterion.",
        "Register a primary metric, then re-analyse before deciding.",
    )


def _early_decision_allowed(evidence: Evidence, config: DecisionConfig) -> bool:
    """May a result be called before the planned sample? Only for an experiment
    in sequential mode (``config.sequential_experiments``) whose always-valid
    call on the decisive primary metric is significant (``is_early_call``);
    fixed-horizon results never end an experiment early."""
    return (
        evidence.is_early_call
        and str(evidence.experiment_id) in config.sequential_experiments
    )


def _rule_below_sample(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """Running below the planned sample: keep running, no early winner."""
    if evidence.status != "running":
        return None
    power = evidence.power
    share = power.get("share_of_target")
    if share is not None and share >= 1:
        return None
    if _early_decision_allowed(evidence, config):
        return None
    days = power.get("projected_days_to_target")
    daily = power.get("daily_units")
    projection = ""
    if days is not None and daily is not None:
        projection = f"; about {days:,.0f} more days at {daily:,.1f} new units/day"
    required = power.get("required_units_total")
    phrase = share_phrase(power)
    call = evidence.sequential
    if not evidence.is_sequential:
        why = "No result is called before the planned sample (sequential mode is off)."
    elif call is None:
        why = "Sequential mode is on, but there is no always-valid result yet."
    else:
        why = (
            "Sequential mode is on, but no always-valid result is significant "
            f"(best: {call.get('variant')}, always-valid "
            f"{format_p(call['always_valid_p_value'])}, needs below "
            f"{call['threshold']:.3g})."
        )
    return Verdict(
        "keep_running",
        "below_planned_sample",
        f"{phrase[:1].upper()}{phrase[1:]}{projection}. {why}",
        f"Keep running until {count(required)} units are analysed."
        if required is not None
        else "Keep running, and fix the sample-size inputs to know when to decide.",
    )


def _rule_primary_bad(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """The best variant is significantly worse on the primary metric."""
    row = evidence.primary
    if row is None or row.get("direction") != "bad":
        return None
    control = row.get("control_variant") or evidence.control_variant
    return Verdict(
        "stop",
        "primary_bad",
        f"{lift_phrase(row)}: significantly worse than {control}, and no "
        "variant improved it.",
        f"Stop: roll back {row.get('variant')} and keep {control}.",
    )


def _winners_sentence(evidence: Evidence) -> str:
    """`` Segment winners on <metric>: ...`` or an empty string."""
    if not evidence.segment_winners:
        return ""
    return (
        f" Segment winners on {_name(evidence)}: {'; '.join(evidence.segment_winners)}."
    )


def _guardrail_phrase(checks: tuple[GuardrailCheck, ...]) -> str:
    """``every guardrail passed (csat: -1.0% (lower bound ...))`` or none."""
    if not checks:
        return "no guardrail registered"
    listed = "; ".join(c.describe() for c in checks)
    return f"every guardrail passed ({listed})"


def _rule_primary_good(evidence: Evidence, config: DecisionConfig) -> Verdict | None:
    """Primary good: scale only when every guardrail passed and no secondary is
    significantly worse; iterate on a breach or a bad secondary; keep running
    (iterate once ended) while a guardrail is inconclusive."""
    row = evidence.primary
    if row is None or row.get("direction") != "good":
        return None
    name = _name(evidence)
    variant = row.get("variant")
    if evidence.guardrails_breached or evidence.bad_secondaries:
        harms = []
        breached = [
            c.describe()
            for c in (*evidence.guardrail_checks, *evidence.segment_breach_checks)
            if c.status == "breached"
        ]
        if breached:
            harms.append(f"guardrail breached: {'; '.join(breached)}")
        if evidence.bad_secondaries:
            harms.append(
                "secondary metric significantly worse: "
                f"{'; '.join(evidence.bad_secondaries)}"
            )
        if evidence.breach_segments:
            fix = f"fix the guardrail breach in {', '.join(evidence.breach_segments)}"
        elif evidence.guardrails_breached:
            fix = "fix the guardrail breach"
        else:
            fix = "fix the drop in the secondary metrics"
        return Verdict(
            "iterate",
            "primary_good_with_harm",
            f"{lift_phrase(row)}, but {' and '.join(harms)}.",
            f"Iterate: keep the gain on {name} and {fix} before rollout.",
        )
    unresolved = [c for c in evidence.guardrail_checks if c.status != "passed"]
    if unresolved:
        names = ", ".join(c.metric_id for c in unresolved)
        listed = "; ".join(c.describe() for c in unresolved)
        several = len(unresolved) > 1
        rationale = (
            f"{lift_phrase(row)}, but guardrail{'s' if several else ''} "
            f"inconclusive: {listed}, so harm beyond the tolerance is not ruled "
            f"out; {share_phrase(evidence.power)}."
        )
        if evidence.status == "running":
            return Verdict(
                "keep_running",
                "primary_good_guardrail_inconclusive",
                rationale,
                f"Keep running: do not roll out {variant} until {names} "
                f"{'are' if several else 'is'} shown within tolerance.",
            )
        return Verdict(
            "iterate",
            "primary_good_guardrail_inconclusive",
            rationale,
            f"Iterate: re-test {variant} with enough units to show {names} within "
            "tolerance before rollout.",
        )
    differs = any(v != variant for _, v in evidence.segment_winner_pairs)
    return Verdict(
        "scale",
        "primary_good",
        f"{lift_phrase(row)}, with {_guardrail_phrase(evidence.guardrail_checks)} "
        f"and no secondary significantly worse; {share_phrase(evidence.power)}."
        f"{_winners_sentence(evidence) if differs else ''}",
        f"Roll out {variant} to all traffic.",
    )


def _rule_inconclusive(evidence: Evidence, config: DecisionConfig) -> Verdict:
    """Planned sample reached (or completed) with no significant primary effect."""
    row = evidence.primary
    name = _name(evidence)
    if row is None:
        figures = f"No result for {name}"
    else:
        interval = interval_text(row)
        interval = f"{interval}; " if interval else ""
        figures = (
            f"No significant effect on {name}: best variant {row.get('variant')} "
            f"{percent(row.get('rel_lift'))} ({interval}"
            f"adjusted {format_p(row['p_value_adjusted'])})"
        )
    rationale = (
        f"{figures}; {share_phrase(evidence.power)}.{_winners_sentence(evidence)}"
    )
    control = evidence.control_variant or "control"
    targeted = " and ".join(
        f"{variant} for {label}" for label, variant in evidence.segment_winner_pairs
    )
    # The harm to fix first (worse metrics, breached guardrails).
    fix = ", ".join(
        dict.fromkeys(h.name for h in evidence.harms if h.kind != "inconclusive")
    )
    if config.inconclusive_decision == "stop":
        action = f"Stop: keep {control}; {name} did not move."
        if targeted:
            action = (
                f"Stop: keep {control}; consider a segment-targeted follow-up of "
                f"{targeted}"
                + (f" only once the harm to {fix} is fixed." if fix else ".")
            )
    elif targeted and fix:
        action = (
            f"Iterate: fix the harm to {fix}, then follow up with a "
            f"segment-targeted test of {targeted}."
        )
    elif targeted:
        action = f"Iterate: follow up with a segment-targeted test of {targeted}."
    elif fix:
        action = (
            f"Iterate: rework the treatment to remove the harm to {fix} and "
            f"re-test; {name} did not move."
        )
    else:
        action = (
            f"Iterate: rework the treatment (or the MDE) and re-test; {name} "
            "did not move."
        )
    return Verdict(config.inconclusive_decision, "inconclusive", rationale, action)


_ORDERED_RULES = (
    _rule_planned,
    _rule_data_quality,
    _rule_waiting,
    _rule_no_primary,
    _rule_below_sample,
    _rule_primary_bad,
    _rule_primary_good,
)


def evaluate(evidence: Evidence, config: DecisionConfig | None = None) -> Verdict:
    """Apply the rules in order; the first that fires decides."""
    config = config or DecisionConfig()
    for rule in _ORDERED_RULES:
        verdict = rule(evidence, config)
        if verdict is not None:
            break
    else:
        verdict = _rule_inconclusive(evidence, config)
    return _with_early_call_note(_with_harms(verdict, evidence), evidence, config)


def _covered(verdict: Verdict, evidence: Evidence) -> frozenset:
    """Keys of the harms the rule's own sentence already names."""
    row = evidence.primary or {}
    variant, metric = str(row.get("variant")), str(evidence.primary_metric_id)
    if verdict.rule == "primary_bad":
        return frozenset({("worse", variant, metric, "overall")})
    if verdict.rule in (
        "primary_good_with_harm",
        "primary_good_guardrail_inconclusive",
    ):
        checks = (*evidence.guardrail_checks, *evidence.segment_breach_checks)
        keys: set[tuple[str, ...]] = {
            (c.status, c.variant, c.metric_id, c.where) for c in checks
        }
        if verdict.rule == "primary_good_with_harm":
            keys = {k for k in keys if k[0] == "breached"}
            keys |= {
                h.key
                for h in evidence.harms
                if h.kind == "worse" and h.key[1] == variant and h.key[2] != metric
            }
        return frozenset(keys)
    return frozenset()


def _with_harms(verdict: Verdict, evidence: Evidence) -> Verdict:
    """Name every harm the rule's sentence did not: no summary hides one."""
    extra = harm_sentences(evidence.harms, _covered(verdict, evidence))
    if not extra:
        return verdict
    return Verdict(
        verdict.decision,
        verdict.rule,
        f"{verdict.rationale} {extra}",
        verdict.recommended_action,
    )


def _with_early_call_note(
    verdict: Verdict, evidence: Evidence, config: DecisionConfig
) -> Verdict:
    """Say so in the rationale when a primary rule decided early."""
    early_rules = (
        "primary_bad",
        "primary_good",
        "primary_good_with_harm",
        "primary_good_guardrail_inconclusive",
    )
    call = evidence.sequential
    if (
        verdict.rule not in early_rules
        or call is None
        or not _early_decision_allowed(evidence, config)
    ):
        return verdict
    share = share_phrase(evidence.power)
    when = "before the planned sample" if share in verdict.rationale else f"at {share}"
    note = (
        f" Called early, {when}, on "
        f"the always-valid result (sequential mode): always-valid "
        f"{format_p(call['always_valid_p_value'])} < {call['threshold']:.3g}; "
        "the interval is the confidence sequence."
    )
    return Verdict(
        verdict.decision,
        verdict.rule,
        verdict.rationale + note,
        verdict.recommended_action,
    )


def _grouped(frame: pd.DataFrame | None) -> dict[Any, list[dict[str, Any]]]:
    """Rows of a frame grouped by experiment_id."""
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if frame is not None:
        for row in records(frame):
            groups[row.get("experiment_id")].append(row)
    return groups


def experiment_decisions(
    experiments: pd.DataFrame,
    experiment_metrics: pd.DataFrame,
    experiment_results: pd.DataFrame,
    segment_results: pd.DataFrame,
    assignment_balance: pd.DataFrame,
    experiment_health: pd.DataFrame,
    experiment_power: pd.DataFrame,
    config: DecisionConfig | None = None,
    decided_at: Any = None,
    daily_results: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One decision per registered experiment.

    Args:
        experiments: The experiments registry.
        experiment_metrics: Metrics per experiment with their role.
        experiment_results: Rows of ``marts.experiment_results``.
        segment_results: Rows of ``marts.segment_results``.
        assignment_balance: Rows of ``marts.assignment_balance``.
        experiment_health: Rows of ``marts.experiment_health``.
        experiment_power: Rows of ``marts.experiment_power``.
        config: Rule thresholds (defaults: 90 days, 0.01, iterate).
        decided_at: The build's as-of time, copied to ``decided_at`` (UTC, to
            the second); None leaves it null.
        daily_results: Rows of ``marts.daily_results`` (always-valid results);
            read only for experiments in ``config.sequential_experiments``.

    Returns:
        The columns of ``DECISION_COLUMNS`` in that order and dtype, one row
        per experiment, sorted by experiment_id.
    """
    config = config or DecisionConfig()
    decided = None if is_missing(decided_at) else pd.Timestamp(decided_at)
    if decided is not None:
        if decided.tzinfo is not None:
            decided = decided.tz_convert("UTC").tz_localize(None)
        decided = decided.floor("s")
    primaries: dict[Any, list[Any]] = defaultdict(list)
    for row in records(experiment_metrics):
        if row.get("role") == "primary":
            primaries[row.get("experiment_id")].append(row.get("metric_id"))
    results = _grouped(experiment_results)
    segments = _grouped(segment_results)
    daily = _grouped(daily_results)
    balance = _grouped(assignment_balance)
    health = {k: v[0] for k, v in _grouped(experiment_health).items()}
    power = {
        (row.get("experiment_id"), row.get("metric_id")): row
        for row in records(experiment_power)
    }

    rows = []
    for experiment in records(experiments):
        experiment_id = experiment.get("experiment_id")
        metric_ids = sorted(set(primaries.get(experiment_id, [])), key=str)
        decisive = metric_ids[0] if metric_ids else None
        evidence = gather_evidence(
            experiment,
            metric_ids,
            results.get(experiment_id, []),
            segments.get(experiment_id, []),
            balance.get(experiment_id, []),
            health.get(experiment_id),
            power.get((experiment_id, decisive)),
            config,
            daily.get(experiment_id, []),
        )
        verdict = evaluate(evidence, config)
        primary = evidence.primary or {}
        low, high, kind = adjusted_interval(primary)
        if kind == "unadjusted":
            low = high = None
        rows.append(
            {
                "experiment_id": experiment_id,
                "decision": verdict.decision,
                "rule": verdict.rule,
                "rationale": verdict.rationale,
                "recommended_action": verdict.recommended_action,
                "decided_at": decided,
                "status": evidence.status,
                "srm_flag": evidence.srm_flag,
                "data_quality_passed": evidence.data_quality_passed,
                "primary_metric_id": evidence.primary_metric_id,
                "primary_variant": primary.get("variant"),
                "primary_rel_lift": primary.get("rel_lift"),
                "primary_p_value_adjusted": primary.get("p_value_adjusted"),
                "primary_direction": primary.get("direction"),
                "share_of_target": evidence.power.get("share_of_target"),
                "guardrails_breached": "; ".join(evidence.guardrails_breached) or None,
                "bad_secondaries": "; ".join(evidence.bad_secondaries) or None,
                "segment_winners": "; ".join(evidence.segment_winners) or None,
                "control_variant": evidence.control_variant,
                "primary_rel_ci_low": primary.get("rel_ci_low"),
                "primary_rel_ci_high": primary.get("rel_ci_high"),
                "srm_p_value": evidence.srm_p_value,
                "multi_variant_share": evidence.multi_variant_share,
                "units_analysed": evidence.units_analysed,
                "required_units_total": evidence.power.get("required_units_total"),
                "projected_days_to_target": evidence.power.get(
                    "projected_days_to_target"
                ),
                "is_sequential": evidence.is_sequential,
                "is_early_call": evidence.is_early_call,
                "primary_rel_ci_low_adjusted": low,
                "primary_rel_ci_high_adjusted": high,
                "guardrail_statuses": "; ".join(
                    f"{c.metric_id}: {c.status}, {c.figures()}"
                    for c in evidence.guardrail_checks
                )
                or None,
                "guardrails_inconclusive": "; ".join(evidence.guardrails_inconclusive)
                or None,
                "harm_summary": harm_sentences(evidence.harms) or None,
            }
        )
    rows.sort(key=lambda r: str(r["experiment_id"]))
    return typed_frame(rows, DECISION_COLUMNS)


def _build(
    inputs: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    config = DecisionConfig(
        max_days_to_target=settings["max_days_to_target"],
        max_multi_variant_share=settings["max_multi_variant_share"],
        inconclusive_decision=settings["inconclusive_decision"],
        sequential_experiments=frozenset(settings["sequential_experiments"]),
    )
    # The build's as-of time: the var as_of (env XP_AS_OF) when set, else now.
    return experiment_decisions(
        inputs["stg_registry__experiments"],
        inputs["stg_registry__experiment_metrics"],
        inputs["experiment_results"],
        inputs["segment_results"],
        inputs["assignment_balance"],
        inputs["experiment_health"],
        inputs["experiment_power"],
        config=config,
        decided_at=settings["as_of"] or datetime.now(UTC),
        daily_results=inputs["daily_results"],
    )


DECLARATION = MartDeclaration(
    name="experiment_decisions",
    inputs=(
        "staging.stg_registry__experiments",
        "staging.stg_registry__experiment_metrics",
        "marts.experiment_results",
        "marts.segment_results",
        "marts.assignment_balance",
        "marts.experiment_health",
        "marts.experiment_power",
        "marts.daily_results",
    ),
    settings=(
        "max_days_to_target",
        "max_multi_variant_share",
        "inconclusive_decision",
        "sequential_experiments",
        "as_of",
    ),
    columns=DECISION_COLUMNS,
    build=_build,
)
