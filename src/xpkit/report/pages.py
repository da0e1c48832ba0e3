"""Build the report: page contexts from the warehouse rows, rendered to files.

Every figure on a page is a mart value formatted for reading; the only figures
computed here are the cumulative lifts, by the statistics package (see
``cumulative``). Each section falls back to a notice that says why it is empty:
the mart is not built yet, or the experiment has no data yet.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from xpkit.marts.experiment_decisions import harm_lines
from xpkit.narrative import report as fmt
from xpkit.report import charts
from xpkit.report.cumulative import cumulative_lift
from xpkit.report.data import Provenance, WarehouseData, provenance, read_warehouse
from xpkit.report.templates import STYLE, TEMPLATES
from xpkit.settings import SRM_THRESHOLD
from xpkit.stats.numbers import finite

__all__ = ["SECTIONS", "build_report", "harm_lines", "page_file_name"]

# Section ids and headings of an experiment page, in order.
SECTIONS = (
    ("summary", "Executive summary"),
    ("hypothesis", "Hypothesis and success criteria"),
    ("decision", "Decision and recommended action"),
    ("methodology", "Methodology"),
    ("results", "Metric results"),
    ("forest", "Relative lift with confidence intervals"),
    ("cumulative", "Cumulative lift over exposure days"),
    ("balance", "Assignment balance and sample ratio mismatch"),
    ("planned_assignment", "Planned assignment"),
    ("segments", "Segments"),
    ("heterogeneity", "Heterogeneous effects and cohorts"),
    ("compliance", "Non-compliance"),
    ("power", "Power and progress"),
    ("reproducibility", "Reproducibility"),
)
ROLE_RANK = {"primary": 0, "secondary": 1, "guardrail": 2}
DECISION_ORDER = ("scale", "iterate", "keep_running", "stop", "do_not_start")
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}
LEARNER_NAMES = {
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
LOAD_LOG_COLUMNS = ("table_name", "source_file", "row_count", "loaded_at", "load_id")
AGGREGATION_LABELS = {
    "binary": "rate (share of units with the event)",
    "count": "count per unit",
    "sum": "sum of values per unit",
    "ratio": "ratio of sums",
}


def _missing_notice(table: str, what: str) -> dict[str, str]:
    return {
        "kind": "missing",
        "text": (
            f"Not available yet: {what} comes from marts.{table}, which this "
            "warehouse does not have. Rebuild the warehouse (make build) once "
            "that mart is part of the project."
        ),
    }


def page_file_name(experiment_id: Any, taken: set[str]) -> str:
    """A safe, unique file name for an experiment's page.

    Characters outside [A-Za-z0-9._-] become "_"; when the id had to change,
    or its name is already taken (compared case-insensitively, for
    case-insensitive file systems), a short hash of the id is appended.
    """
    text = str(experiment_id)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".")[:80] or "experiment"
    if stem != text or stem.lower() in taken:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        stem = f"{stem[:69]}-{digest}"
    taken.add(stem.lower())
    return f"{stem}.html"


def _environment() -> Environment:
    env = Environment(
        loader=DictLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=fmt.pct,
        pval=fmt.p_value,
        int_=fmt.integer,
        ts=fmt.timestamp,
        day=fmt.day,
        decision_label=fmt.decision_label,
        css=fmt.css_token,
        sentence=fmt.sentence,
    )
    return env


def adjusted_interval(
    row: Mapping[str, Any], low: str = "rel_ci_low", high: str = "rel_ci_high"
) -> tuple[Any, Any, bool]:
    """The interval that goes with the row's adjusted verdict: the
    ``<low>_adjusted`` / ``<high>_adjusted`` columns when the mart has them
    (True), else the unadjusted interval (False, an older warehouse)."""
    if f"{low}_adjusted" in row or f"{high}_adjusted" in row:
        return row.get(f"{low}_adjusted"), row.get(f"{high}_adjusted"), True
    return row.get(low), row.get(high), False


def _adjusted_label(row: Mapping[str, Any]) -> str:
    """``adj. p 0.004, adj. CI [+10.1%, +78.4%]`` (the interval as available)."""
    low, high, adjusted = adjusted_interval(row)
    label = f"adj. p {fmt.p_value(row.get('p_value_adjusted'))}"
    interval = fmt.interval(low, high)
    if interval:
        label += f", {'adj. ' if adjusted else 'unadjusted '}CI {interval}"
    return label


def _first(rows: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next(iter(rows), None)


def _dates(experiment: Mapping[str, Any]) -> str:
    start, end = experiment.get("start_date"), experiment.get("end_date")
    if start is None:
        return "not started"
    if end is None:
        return f"from {fmt.day(start)}"
    return f"{fmt.day(start)} to {fmt.day(end)}"


def _sorted_results(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        rows,
        key=lambda r: (
            ROLE_RANK.get(r.get("role"), 3),
            str(r.get("metric_id")),
            str(r.get("variant")),
        ),
    )


def _best_primary(
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
        return _first(primary)

    def score(row: Mapping[str, Any]) -> tuple[int, float]:
        sign = -1.0 if row.get("desired_direction") == "decrease" else 1.0
        rank = {"good": 2, "flat": 1}.get(row.get("direction") or "", 0)
        return rank, sign * float(row["rel_lift"])

    return max(with_lift, key=score)


def _primary_cell(
    results: list[dict[str, Any]],
    decision: Mapping[str, Any] | None,
    portfolio: Mapping[str, Any] | None,
) -> dict[str, str] | None:
    """The index's primary-metric cell: metric, variant, lift and p-value."""
    row = _best_primary(results, decision)
    if row is not None and finite(row.get("rel_lift")) is not None:
        return {
            "metric": str(row.get("metric_name") or row.get("metric_id")),
            "variant": str(row.get("variant") or ""),
            "lift": fmt.pct(row.get("rel_lift")),
            "p_label": _adjusted_label(row),
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


def _distinct(text: Any, other: Any) -> str | None:
    """``text``, unless it is empty or says the same as ``other``."""
    if not text:
        return None

    def norm(value: Any) -> str:
        return " ".join(str(value or "").split()).rstrip(".").lower()

    return None if norm(text) == norm(other) else str(text)


def _headline(decision: Mapping[str, Any] | None) -> str:
    """The recommended action without a leading "Iterate:" that repeats the badge."""
    if decision is None:
        return ""
    action = str(decision.get("recommended_action") or "").strip()
    label = fmt.decision_label(decision.get("decision"))
    for prefix in {label, str(decision.get("decision") or "")}:
        if prefix and action.lower().startswith(prefix.lower() + ":"):
            action = action[len(prefix) + 1 :].strip()
    return fmt.sentence(action)


def _chance(value: Any) -> str:
    """A probability as a percentage, capped at "> 99.9%" / "< 0.1%"."""
    number = finite(value)
    if number is None:
        return fmt.DASH
    if number > 0.999:
        return "> 99.9%"
    if number < 0.001:
        return "< 0.1%"
    return fmt.pct(number, signed=False)


def _result_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """One experiment_results row formatted for the metric table."""
    aggregation = r.get("aggregation")
    mean_c, mean_t = r.get("mean_control"), r.get("mean_treatment")
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
        "chance": _chance(r.get("chance_to_beat_control")),
        "expected_loss": f"loss {fmt.pct(r.get('expected_loss'), signed=False)}"
        if r.get("expected_loss") is not None
        else "",
    }


class ReportBuilder:
    """Turns warehouse rows into page contexts and renders them."""

    def __init__(
        self, data: WarehouseData, prov: Provenance, out: Path, project_dir: Path
    ) -> None:
        self.data = data
        self.prov = prov
        self.out = out
        self.project_dir = project_dir
        self.env = _environment()
        self.metrics = {m.get("metric_id"): m for m in data.rows("metrics")}
        log = data.tables.get("load_log")
        if log:
            latest: dict[Any, dict[str, Any]] = {}
            for row in sorted(log, key=lambda r: str(r.get("loaded_at"))):
                latest[row.get("table_name")] = row
            log = [
                dict.fromkeys(LOAD_LOG_COLUMNS) | row
                for row in sorted(
                    latest.values(), key=lambda r: str(r.get("table_name"))
                )
            ]
        self.load_log = log
        experiments = sorted(
            data.rows("experiments"), key=lambda e: str(e.get("experiment_id"))
        )
        taken: set[str] = set()
        self.experiments = [
            (e, page_file_name(e.get("experiment_id"), taken)) for e in experiments
        ]

    # -- shared pieces -------------------------------------------------------

    def _doc_href(self, page_dir: Path, name: str) -> str | None:
        target = self.project_dir / "docs" / name
        if not target.exists():
            return None
        return Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix()

    def _one(self, table: str, experiment_id: Any) -> Mapping[str, Any] | None:
        return _first(self.data.for_experiment(table, experiment_id))

    def _units(self, experiment_id: Any) -> int | None:
        balance = self.data.for_experiment("assignment_balance", experiment_id)
        if balance:
            return sum(int(r.get("units") or 0) for r in balance)
        health = self._one("experiment_health", experiment_id)
        if health is not None and health.get("units_analysed") is not None:
            return int(health["units_analysed"])
        return None

    def _srm_flag(self, experiment_id: Any) -> bool | None:
        balance = self._one("assignment_balance", experiment_id)
        if balance is not None:
            flag = balance.get("srm_flag")
            return None if flag is None else bool(flag)
        portfolio = self._one("experiment_portfolio", experiment_id)
        if portfolio is not None and portfolio.get("srm_flag") is not None:
            return bool(portfolio["srm_flag"])
        return None

    def _decision(self, experiment_id: Any) -> Mapping[str, Any] | None:
        row = self._one("experiment_decisions", experiment_id)
        # Columns of the contract that a build lacks read as null.
        return None if row is None else dict.fromkeys(DECISION_COLUMNS) | dict(row)

    def _decision_notices(self, experiment_id: Any) -> list[dict[str, str]]:
        if not self.data.has("experiment_decisions"):
            return [_missing_notice("experiment_decisions", "the decision")]
        if self._decision(experiment_id) is None:
            return [
                {
                    "kind": "missing",
                    "text": "No decision recorded for this experiment in "
                    "marts.experiment_decisions.",
                }
            ]
        return []

    # -- index -----------------------------------------------------------------

    def index_context(self) -> dict[str, Any]:
        rows = []
        for experiment, file_name in self.experiments:
            eid = experiment.get("experiment_id")
            decision = self._decision(eid)
            portfolio = self._one("experiment_portfolio", eid)
            results = _sorted_results(
                self.data.for_experiment("experiment_results", eid)
            )
            units = self._units(eid)
            if units is None and portfolio is not None:
                units = portfolio.get("units")
            primary = _primary_cell(results, decision, portfolio)
            harms = harm_lines(
                results, self.data.for_experiment("segment_results", eid)
            )
            summary = (portfolio or {}).get("analysis_summary")
            if not summary:
                best = _best_primary(results, decision)
                summary = None if best is None else best.get("summary")
            rows.append(
                {
                    "experiment_id": str(eid),
                    "anchor": fmt.css_token(file_name[:-5]),
                    "href": f"experiments/{file_name}",
                    "name": experiment.get("experiment_name") or str(eid),
                    "domain": experiment.get("domain"),
                    "owner": experiment.get("owner"),
                    "status": experiment.get("status"),
                    "dates": _dates(experiment),
                    "days_running": (portfolio or {}).get("days_running"),
                    "units": units,
                    "srm_flag": self._srm_flag(eid),
                    "primary": primary,
                    "primary_note": "no data yet" if not units else "no primary result",
                    "decision": None if decision is None else decision.get("decision"),
                    "summary": summary,
                    # Named again unless the summary already does (an older
                    # portfolio, or a summary without them).
                    "harms": [h for h in harms if h not in str(summary or "")],
                }
            )
        decisions = Counter(r["decision"] for r in rows if r["decision"])
        decision_counts = [
            (d, decisions.pop(d)) for d in DECISION_ORDER if d in decisions
        ]
        decision_counts += sorted(decisions.items())
        statuses = Counter(str(r["status"]) for r in rows)
        absent = [
            f"{what} (marts.{table})"
            for table, what in (
                ("experiment_decisions", "decisions"),
                ("experiment_portfolio", "plain-English summaries"),
                ("experiment_power", "power and progress"),
            )
            if not self.data.has(table)
        ]
        notices = []
        if absent:
            notices.append(
                {
                    "kind": "missing",
                    "text": "Not available yet: "
                    + ", ".join(absent)
                    + ": this warehouse does not have "
                    + ("that mart" if len(absent) == 1 else "those marts")
                    + ". Where they would appear the pages say so; rebuild the "
                    "warehouse (make build) once they are part of the project.",
                }
            )
        return {
            "style": Markup(STYLE),
            "experiments": rows,
            "decision_counts": decision_counts,
            "status_counts": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
            "page_notices": notices,
            "prov": self.prov,
            "load_log": self.load_log,
            "methodology_href": self._doc_href(self.out, "methodology.md"),
            # `make validate` writes the Great Expectations data docs beside the report.
            "data_docs_href": "data_docs/index.html"
            if (self.out / "data_docs" / "index.html").exists()
            else None,
        }

    # -- experiment page -------------------------------------------------------

    def experiment_context(
        self, experiment: Mapping[str, Any], file_name: str
    ) -> dict[str, Any]:
        data = self.data
        eid = experiment.get("experiment_id")
        status = experiment.get("status")
        alpha = finite(experiment.get("alpha")) or 0.05
        variants = sorted(
            data.for_experiment("experiment_variants", eid),
            key=lambda v: (not v.get("is_control"), str(v.get("variant"))),
        )
        registered = sorted(
            data.for_experiment("experiment_metrics", eid),
            key=lambda m: (ROLE_RANK.get(m.get("role"), 3), str(m.get("metric_id"))),
        )
        results = _sorted_results(data.for_experiment("experiment_results", eid))
        decision = self._decision(eid)
        portfolio = self._one("experiment_portfolio", eid)
        units = self._units(eid)
        has_data = bool(units)
        no_data = {
            "kind": "nodata",
            "text": "Planned experiment: no data yet. This section fills in once "
            "units are exposed."
            if status == "planned"
            else "No data yet: no units have been analysed for this experiment.",
        }
        page_dir = self.out / "experiments"
        context: dict[str, Any] = {
            "style": Markup(STYLE),
            "sections": SECTIONS,
            "e": {
                "experiment_id": str(eid),
                "name": experiment.get("experiment_name") or str(eid),
                "domain": experiment.get("domain"),
                "owner": experiment.get("owner"),
                "status": status,
                "dates": _dates(experiment),
                "hypothesis": experiment.get("hypothesis"),
            },
            "has_data": has_data,
            "no_data": no_data,
            "decision": decision,
            "decision_notices": self._decision_notices(eid),
            "summary_text": _distinct(
                (portfolio or {}).get("analysis_summary"),
                (decision or {}).get("rationale"),
            ),
            "headline_action": _headline(decision),
            "headline_harms": harm_lines(
                results, data.for_experiment("segment_results", eid)
            )
            if has_data
            else [],
            "prov": self.prov,
            "load_log": self.load_log,
            "methodology_href": self._doc_href(page_dir, "methodology.md"),
            "report_doc_href": self._doc_href(page_dir, "report.md"),
            "decisions_doc_href": self._doc_href(page_dir, "decisions.md"),
            "ci_label": f"{round((1 - alpha) * 100, 6):g}%",
        }
        correction = _first(r.get("correction_method") for r in results) or "holm"
        context["correction"] = CORRECTION_NAMES.get(correction, correction)
        context["primary_summaries"] = (
            [
                r["summary"]
                for r in results
                if r.get("role") == "primary" and r.get("summary")
            ]
            if has_data
            else []
        )
        context["tiles"] = self._tiles(experiment, units, results, decision, portfolio)
        context["criteria"] = self._criteria(registered)
        context["design"] = self._design(experiment, variants)
        context["decision_inputs"] = self._decision_inputs(decision)
        context["methodology"] = self._methodology(experiment, results)
        context.update(self._results_section(results, has_data, no_data))
        context.update(
            self._cumulative_section(experiment, registered, alpha, has_data, no_data)
        )
        context.update(self._balance_section(eid, has_data, no_data))
        context.update(
            self._segment_section(eid, registered, decision, has_data, no_data)
        )
        context.update(self._power_section(eid, has_data, no_data))
        context.update(self._compliance_section(eid, has_data, no_data))
        context.update(self._planned_assignment_section(eid, status))
        context.update(self._heterogeneity_section(eid, has_data, no_data))
        return context

    def _tiles(
        self,
        experiment: Mapping[str, Any],
        units: int | None,
        results: list[dict[str, Any]],
        decision: Mapping[str, Any] | None,
        portfolio: Mapping[str, Any] | None,
    ) -> list[dict[str, str]]:
        eid = experiment.get("experiment_id")
        best = _best_primary(results, decision)
        primary_value, primary_note = fmt.DASH, "no primary result yet"
        if best is not None and finite(best.get("rel_lift")) is not None:
            primary_value = fmt.pct(best.get("rel_lift"))
            primary_note = (
                f"{best.get('metric_name') or best.get('metric_id')}, "
                f"{best.get('variant')} vs {best.get('control_variant')}; "
                f"{_adjusted_label(best)}"
            )
        srm = self._srm_flag(eid)
        balance = self._one("assignment_balance", eid)
        srm_note = "no test yet"
        if balance is not None and balance.get("srm_p_value") is not None:
            srm_note = f"p = {fmt.p_value(balance.get('srm_p_value'))}"
        days = (portfolio or {}).get("days_running")
        start, end = experiment.get("start_date"), experiment.get("end_date")
        if days is None and isinstance(start, date) and isinstance(end, date):
            days = (end - start).days + 1
        return [
            {
                "label": "Decision",
                "value": fmt.decision_label(
                    None if decision is None else decision.get("decision")
                ),
                "note": (decision or {}).get("rule") or "",
            },
            {
                "label": "Units analysed",
                "value": fmt.integer(units),
                "note": f"{len(self.data.for_experiment('experiment_variants', eid))}"
                " arms",
            },
            {
                "label": "Primary lift",
                "value": primary_value,
                "note": primary_note,
            },
            {
                "label": "Sample ratio",
                "value": "no test"
                if srm is None
                else "mismatch"
                if srm
                else "balanced",
                "note": srm_note,
            },
            {
                "label": "Running",
                "value": fmt.DASH if days is None else f"{fmt.integer(days)} days",
                "note": _dates(experiment),
            },
        ]

    def _criteria(self, registered: list[dict[str, Any]]) -> list[dict[str, str]]:
        rows = []
        for item in registered:
            metric = self.metrics.get(item.get("metric_id"), {})
            direction = metric.get("desired_direction")
            better = {"increase": "↑ higher", "decrease": "↓ lower"}.get(
                direction, "not registered"
            )
            aggregation = metric.get("aggregation")
            kind = AGGREGATION_LABELS.get(aggregation, str(aggregation or "unknown"))
            if aggregation == "ratio":
                kind += (
                    f" ({metric.get('numerator_metric_id')} / "
                    f"{metric.get('denominator_metric_id')})"
                )
            tolerance = finite(item.get("guardrail_tolerance"))
            rows.append(
                {
                    "role": item.get("role") or "unknown",
                    "metric_id": str(item.get("metric_id")),
                    "name": metric.get("metric_name") or str(item.get("metric_id")),
                    "better": better,
                    "kind": kind,
                    "tolerance": fmt.DASH
                    if tolerance is None
                    else f"at most {fmt.setting(tolerance)} worse",
                    "description": metric.get("description") or "",
                }
            )
        return rows

    def _design(
        self, experiment: Mapping[str, Any], variants: list[dict[str, Any]]
    ) -> list[tuple[str, str]]:
        weights = [finite(v.get("allocation_weight")) for v in variants]
        total = sum(w for w in weights if w is not None)
        arms = []
        for variant, weight in zip(variants, weights, strict=True):
            notes = ["control arm"] if variant.get("is_control") else []
            if total and weight is not None:
                notes.append(f"{weight / total:.0%}")
            arms.append(f"{variant.get('variant')} ({', '.join(notes)})")
        lookback = finite(experiment.get("cuped_lookback_days"))
        mde = finite(experiment.get("mde_relative"))
        power = finite(experiment.get("power"))
        return [
            ("Variants (allocation)", ", ".join(arms) or "none registered"),
            ("Significance level (alpha)", fmt.number(experiment.get("alpha"), 2)),
            ("Power", fmt.setting(power)),
            (
                "Minimum detectable effect",
                fmt.DASH if mde is None else f"{fmt.setting(mde)} relative",
            ),
            (
                "Analysis window",
                f"{fmt.integer(experiment.get('analysis_window_days'))} days after "
                "first exposure",
            ),
            (
                "CUPED pre-period",
                "none"
                if not lookback
                else f"{fmt.integer(lookback)} days before first exposure",
            ),
            ("Dates", _dates(experiment)),
            (
                "Domain · owner",
                f"{experiment.get('domain')} · {experiment.get('owner')}",
            ),
        ]

    def _decision_inputs(
        self, decision: Mapping[str, Any] | None
    ) -> list[tuple[str, str]]:
        if decision is None:
            return []

        def text(key: str, none: str = fmt.DASH) -> str:
            value = decision.get(key)
            if value is None:
                return none
            if isinstance(value, bool):
                return "yes" if value else "no"
            return str(value)

        return [
            ("Status", text("status")),
            ("Sample ratio mismatch", text("srm_flag", "no test")),
            ("Data-quality checks passed", text("data_quality_passed", "not recorded")),
            ("Primary metric", text("primary_metric_id", "none")),
            ("Best treatment variant", text("primary_variant")),
            ("Primary relative lift", fmt.pct(decision.get("primary_rel_lift"))),
            (
                "Primary adjusted p",
                fmt.p_value(decision.get("primary_p_value_adjusted")),
            ),
            (
                "Primary adjusted interval",
                fmt.interval(
                    decision.get("primary_rel_ci_low_adjusted"),
                    decision.get("primary_rel_ci_high_adjusted"),
                )
                or fmt.DASH,
            ),
            ("Primary direction", text("primary_direction")),
            (
                "Share of planned sample",
                fmt.pct(decision.get("share_of_target"), False),
            ),
            ("Guardrail checks", text("guardrail_statuses", "none recorded")),
            ("Guardrails breached", text("guardrails_breached", "none")),
            ("Guardrails inconclusive", text("guardrails_inconclusive", "none")),
            ("Secondaries significantly worse", text("bad_secondaries", "none")),
            ("Segment winners", text("segment_winners", "none")),
        ]

    def _methodology(
        self, experiment: Mapping[str, Any], results: list[dict[str, Any]]
    ) -> list[str]:
        alpha = finite(experiment.get("alpha")) or 0.05
        methods = sorted({r.get("method") for r in results if r.get("method")})
        correction = _first(r.get("correction_method") for r in results) or "holm"
        families = sorted(
            {
                str(r["correction_family"])
                for r in results
                if r.get("correction_family")
            },
            key=lambda f: (ROLE_RANK.get(f, 3), f),
        )
        lookback = finite(experiment.get("cuped_lookback_days"))
        lines = [
            "Units: each unit is analysed in the arm it was first exposed to; units "
            "exposed to more than one variant are excluded. A unit's metrics count "
            "its events during the "
            f"{fmt.integer(experiment.get('analysis_window_days'))} days after its "
            "first exposure; units without events count as 0.",
            "Tests: "
            + (
                "; ".join(fmt.METHOD_LABELS.get(m, m) for m in methods)
                if methods
                else "none computed yet"
            )
            + f". Two-sided at alpha = {alpha:g}; every interval inverts the "
            "statistic of its p-value, so it excludes 0 exactly when the test "
            "rejects. Relative lifts use Fieller's interval (the score interval "
            "of the risk ratio for rates).",
            f"Multiple testing: {CORRECTION_NAMES.get(correction, correction)} "
            + (
                "correction within the experiment, separately in each family of "
                "metrics x variants: " + ", ".join(families) + ". "
                if families
                else "correction within the experiment, over primary and "
                "secondary metrics x variants, and separately over guardrails. "
            )
            + "Significance and the good/bad/flat direction use the adjusted "
            "p-value"
            + (
                ", and the adjusted intervals beside it exclude 0 exactly when it "
                "is below alpha."
                if any("rel_ci_low_adjusted" in r for r in results)
                else "."
            ),
            "Guardrails: a guardrail passes only when the one-sided interval of "
            "its relative change shows the harm is smaller than its tolerance; "
            "breached when it is significantly worse than the tolerance; "
            "inconclusive otherwise. Only when every guardrail passed may the "
            "decision be to scale.",
            "CUPED: "
            + (
                f"the same metric over the {fmt.integer(lookback)} days before first "
                "exposure adjusts each lift (regression adjustment); reported beside "
                "the unadjusted figures, which the decision uses."
                if lookback
                else "not used (no pre-period registered)."
            ),
            "Sample ratio mismatch: chi-square test of analysed units per arm against "
            f"the allocation weights, flagged when p < {SRM_THRESHOLD:g}.",
            "Decisions follow pre-registered rules (project variables), recorded "
            "with the figures they used in marts.experiment_decisions.",
        ]
        if self.data.for_experiment(
            "compliance_results", experiment.get("experiment_id")
        ):
            lines.append(
                "Non-compliance: exposures record whether each unit actually "
                "received the treatment. The results above are intention-to-treat "
                "(by assigned arm); the Non-compliance section adds the complier "
                "effect (intention-to-treat divided by the uptake difference, 2SLS "
                "with a robust standard error) beside the naive comparisons."
            )
        return lines

    def _results_section(
        self, results: list[dict[str, Any]], has_data: bool, no_data: dict[str, str]
    ) -> dict[str, Any]:
        if not self.data.has("experiment_results"):
            notice = _missing_notice("experiment_results", "the metric results")
            return {
                "results": [],
                "results_adjusted": False,
                "results_notices": [notice],
                "forest_notices": [notice],
                "forest_svg": "",
            }
        if not has_data:
            return {
                "results": [],
                "results_adjusted": False,
                "results_notices": [no_data],
                "forest_notices": [no_data],
                "forest_svg": "",
            }
        rows, forest = [], []
        for r in results:
            rows.append(_result_row(r))
            role = r.get("role")
            suffix = f" ({role})" if role and role != "primary" else ""
            # The verdict colours the bar, so the bar is the verdict's
            # (multiplicity-adjusted) interval.
            low, high, _ = adjusted_interval(r)
            forest.append(
                charts.ForestRow(
                    label=f"{r.get('metric_name') or r.get('metric_id')}{suffix}",
                    sublabel=f"{r.get('variant')} vs {r.get('control_variant')}",
                    estimate=finite(r.get("rel_lift")),
                    low=finite(low),
                    high=finite(high),
                    direction=r.get("direction"),
                    note=r.get("error_message"),
                )
            )
        notices = []
        if not rows:
            notices = [
                {
                    "kind": "alert",
                    "text": "No results: no metrics are registered for this "
                    "experiment.",
                }
            ]
        return {
            "results": rows,
            "results_adjusted": any(
                "rel_ci_low_adjusted" in r or "abs_ci_low_adjusted" in r
                for r in results
            ),
            "results_notices": notices,
            "forest_notices": notices,
            "forest_svg": Markup(charts.forest_plot(forest)) if forest else "",
        }

    def _cumulative_section(
        self,
        experiment: Mapping[str, Any],
        registered: list[dict[str, Any]],
        alpha: float,
        has_data: bool,
        no_data: dict[str, str],
    ) -> dict[str, Any]:
        if not self.data.has("arm_metrics_daily"):
            return {
                "cumulative": [],
                "cumulative_notices": [
                    _missing_notice("arm_metrics_daily", "the cumulative lift")
                ],
            }
        if not has_data:
            return {"cumulative": [], "cumulative_notices": [no_data]}
        eid = experiment.get("experiment_id")
        control = experiment.get("control_variant")
        daily = self.data.for_experiment("arm_metrics_daily", eid)
        primaries = [m for m in registered if m.get("role") == "primary"]
        if not primaries:
            return {
                "cumulative": [],
                "cumulative_notices": [
                    {"kind": "alert", "text": "No primary metric is registered."}
                ],
            }
        charts_out = []
        for item in primaries:
            metric_id = item.get("metric_id")
            metric = self.metrics.get(metric_id, {})
            rows = [r for r in daily if r.get("metric_id") == metric_id]
            points = cumulative_lift(rows, str(control), alpha) if rows else {}
            series = [
                charts.LiftSeries(
                    name=variant,
                    points=[
                        charts.LiftPoint(
                            day=p.day.isoformat(),
                            estimate=p.rel_lift,
                            low=p.rel_ci_low,
                            high=p.rel_ci_high,
                        )
                        for p in variant_points
                    ],
                )
                for variant, variant_points in points.items()
            ]
            name = metric.get("metric_name") or str(metric_id)
            last = [(v, pts[-1]) for v, pts in points.items() if pts]
            note = "; ".join(
                f"{variant}: {fmt.pct(point.rel_lift)} after "
                f"{fmt.integer(point.n_control + point.n_treatment)} units"
                for variant, point in last
            )
            charts_out.append(
                {
                    "metric": f"{name} (primary)",
                    "svg": Markup(
                        charts.cumulative_lift_chart(
                            series, title=f"Cumulative relative lift: {name}"
                        )
                    ),
                    "note": f"Final: {note}." if note else "",
                    **self._always_valid_chart(eid, metric_id, name),
                }
            )
        return {"cumulative": charts_out, "cumulative_notices": []}

    def _always_valid_chart(self, eid: Any, metric_id: Any, name: str) -> dict:
        """The always-valid (sequential) band of ``daily_results`` for one metric,
        with a note on the latest day; empty when the mart is absent."""
        if not self.data.has("daily_results"):
            return {}
        rows = [
            r
            for r in self.data.for_experiment("daily_results", eid)
            if r.get("metric_id") == metric_id
        ]
        if not rows:
            return {}
        by_variant: dict[str, list[Mapping[str, Any]]] = {}
        for r in sorted(rows, key=lambda r: str(r.get("exposure_date"))):
            by_variant.setdefault(str(r.get("variant")), []).append(r)
        series = [
            charts.LiftSeries(
                name=variant,
                points=[
                    charts.LiftPoint(
                        day=str(r.get("exposure_date"))[:10],
                        estimate=finite(r.get("rel_lift")),
                        low=finite(r.get("always_valid_rel_ci_low")),
                        high=finite(r.get("always_valid_rel_ci_high")),
                    )
                    for r in points
                ],
            )
            for variant, points in sorted(by_variant.items())
        ]
        sequential = any(r.get("is_sequential") for r in rows)
        latest = []
        for variant, points in sorted(by_variant.items()):
            last = points[-1]
            low, high = (
                last.get("always_valid_rel_ci_low"),
                last.get("always_valid_rel_ci_high"),
            )
            band = (
                f"always-valid interval {fmt.interval(low, high)}, "
                if low is not None and high is not None
                else ""
            )
            latest.append(
                f"{variant}: {band}always-valid p "
                f"{fmt.p_value(last.get('always_valid_p_value'))} "
                f"(fixed-horizon p {fmt.p_value(last.get('p_value'))})"
            )
        mode = (
            "Sequential mode is on: this result may be called before the planned "
            "sample."
            if sequential
            else "Sequential mode is off (var sequential_experiments): only the "
            "final fixed-horizon result is decisive."
        )
        return {
            "sequential_svg": Markup(
                charts.cumulative_lift_chart(
                    series, title=f"Always-valid relative lift: {name}"
                )
            ),
            "sequential_note": f"Latest day: {'; '.join(latest)}. {mode}",
        }

    def _balance_section(
        self, experiment_id: Any, has_data: bool, no_data: dict[str, str]
    ) -> dict[str, Any]:
        if not self.data.has("assignment_balance"):
            return {
                "balance": None,
                "balance_notices": [
                    _missing_notice("assignment_balance", "the assignment balance")
                ],
            }
        rows = sorted(
            self.data.for_experiment("assignment_balance", experiment_id),
            key=lambda r: (not r.get("is_control"), str(r.get("variant"))),
        )
        notices = [] if has_data else [no_data]
        if not rows:
            return {
                "balance": None,
                "balance_notices": notices
                or [{"kind": "alert", "text": "No arms are registered."}],
            }
        first = rows[0]
        flag = first.get("srm_flag")
        flag = None if flag is None else bool(flag)
        p = first.get("srm_p_value")
        if p is None:
            text = f"No SRM test: {first.get('srm_error_message') or 'not computed'}."
        else:
            df = first.get("srm_degrees_of_freedom")
            stats = (
                f"chi-square = {fmt.number(first.get('srm_chi2'), 3)}"
                + (
                    f" with {fmt.integer(df)} degree{'s' if df != 1 else ''} of freedom"
                    if df
                    else ""
                )
                + f", p = {fmt.p_value(p)} (mismatch when p < {SRM_THRESHOLD:g})"
            )
            text = (
                "Sample ratio mismatch: the arms' sizes differ from the allocation "
                f"more than chance explains ({stats}). Investigate the assignment "
                "before trusting any result."
                if flag
                else f"No sample ratio mismatch: {stats}."
            )
        health = self._one("experiment_health", experiment_id)
        health_text = ""
        if health is not None:
            health_text = (
                f"{fmt.integer(health.get('units_exposed'))} units exposed, "
                f"{fmt.integer(health.get('units_analysed'))} analysed, "
                f"{fmt.integer(health.get('multi_variant_units'))} excluded for seeing "
                "more than one variant; "
                f"{fmt.integer(health.get('exposure_rows_quarantined'))} of "
                f"{fmt.integer(health.get('exposure_rows'))} exposure rows quarantined."
            )
        bars = [
            charts.BalanceBar(
                variant=str(r.get("variant")),
                expected_share=finite(r.get("expected_share")),
                observed_share=finite(r.get("observed_share")),
                units=None if r.get("units") is None else int(r["units"]),
            )
            for r in rows
        ]
        return {
            "balance_notices": notices,
            "balance": {
                "flag": flag,
                "text": text,
                "svg": Markup(charts.balance_bars(bars, mismatch=bool(flag))),
                "rows": [
                    {
                        "variant": r.get("variant"),
                        "is_control": bool(r.get("is_control")),
                        "weight": fmt.number(r.get("allocation_weight")),
                        "expected": fmt.pct(r.get("expected_share"), False),
                        "observed": fmt.pct(r.get("observed_share"), False),
                        "units": fmt.integer(r.get("units")),
                    }
                    for r in rows
                ],
                "health": health_text,
            },
        }

    def _segment_section(
        self,
        experiment_id: Any,
        registered: list[dict[str, Any]],
        decision: Mapping[str, Any] | None,
        has_data: bool,
        no_data: dict[str, str],
    ) -> dict[str, Any]:
        if not self.data.has("segment_results"):
            return {
                "segments": [],
                "segment_notices": [
                    _missing_notice("segment_results", "the segment breakdown")
                ],
            }
        if not has_data:
            return {"segments": [], "segment_notices": [no_data]}
        rows = self.data.for_experiment("segment_results", experiment_id)
        out = []
        shown = [m for m in registered if m.get("role") in ("primary", "guardrail")]
        for item in shown:
            metric_id, role = item.get("metric_id"), item.get("role")
            metric_rows = [r for r in rows if r.get("metric_id") == metric_id]
            if not metric_rows:
                continue
            dimensions = {r.get("segment_dimension") for r in metric_rows}
            metric_rows.sort(
                key=lambda r: (
                    str(r.get("segment_dimension")),
                    str(r.get("segment_value")),
                    str(r.get("variant")),
                )
            )

            def label(row: Mapping[str, Any], many: bool = len(dimensions) > 1) -> str:
                value = str(row.get("segment_value"))
                return f"{row.get('segment_dimension')}: {value}" if many else value

            cells = [
                charts.HeatmapCell(
                    row=label(r),
                    column=str(r.get("variant")),
                    value=finite(r.get("rel_lift")),
                    desired_direction=r.get("desired_direction"),
                    is_significant=bool(r.get("is_significant")),
                    is_suppressed=bool(r.get("is_suppressed")),
                )
                for r in metric_rows
            ]
            notes = []
            mismatched = sorted(
                {
                    label(r)
                    for r in metric_rows
                    if (p := finite(r.get("segment_srm_p_value"))) is not None
                    and p < SRM_THRESHOLD
                }
            )
            if mismatched:
                notes.append(
                    "Sample ratio mismatch within segment(s): "
                    + ", ".join(mismatched)
                    + "; treat those cells with caution."
                )
            significant = [
                f"{label(r)}: {r.get('variant')} {fmt.pct(r.get('rel_lift'))} "
                f"({_adjusted_label(r)})"
                for r in metric_rows
                if r.get("is_significant")
            ]
            breached = [
                f"{label(r)}: {r.get('variant')} {fmt.pct(r.get('rel_lift'))}"
                for r in metric_rows
                if role == "guardrail"
                and r.get("guardrail_status") == "breached"
                and not r.get("is_suppressed")
            ]
            if breached:
                notes.append(
                    "Guardrail breached (significantly worse than its tolerance) "
                    "in: " + "; ".join(breached) + "."
                )
            if significant:
                notes.append("Significant cells: " + "; ".join(significant) + ".")
            versus_rest = [
                f"{label(r)}: {r.get('variant')} "
                f"{fmt.p_value(r.get('lift_difference_p_value_adjusted'))}"
                + (" (differs)" if r.get("is_heterogeneous") else "")
                for r in metric_rows
                if r.get("lift_difference_p_value_adjusted") is not None
            ]
            if versus_rest:
                notes.append(
                    "Segment vs rest (is the lift in the segment different from "
                    "the lift in the other units? Benjamini-Hochberg-adjusted "
                    "p): " + "; ".join(versus_rest) + "."
                )
            if role == "primary" and decision and decision.get("segment_winners"):
                notes.append(f"Winner per segment: {decision['segment_winners']}.")
            if role == "guardrail" and decision and decision.get("guardrails_breached"):
                notes.append(f"Guardrails breached: {decision['guardrails_breached']}.")
            name = self.metrics.get(metric_id, {}).get("metric_name") or str(metric_id)
            out.append(
                {
                    "metric": f"{name} ({role})",
                    "svg": Markup(
                        charts.segment_heatmap(cells, title=f"Relative lift: {name}")
                    ),
                    "notes": notes,
                }
            )
        if not out:
            return {
                "segments": [],
                "segment_notices": [
                    {
                        "kind": "nodata",
                        "text": "No segment breakdown for the primary metric (no "
                        "unit attributes are configured, var segment_columns).",
                    }
                ],
            }
        return {"segments": out, "segment_notices": []}

    def _planned_assignment_section(
        self, experiment_id: Any, status: Any
    ) -> dict[str, Any]:
        """The hash assignment of a planned experiment and its balance test."""
        if status != "planned":
            return {
                "plan": None,
                "plan_notices": [
                    {
                        "kind": "nodata",
                        "text": f"Not applicable: the experiment is {status}; its "
                        "arms come from the exposures (see the assignment balance "
                        "above). Hash assignments are made for planned experiments.",
                    }
                ],
            }
        if not self.data.has("planned_assignment_balance"):
            return {
                "plan": None,
                "plan_notices": [
                    _missing_notice(
                        "planned_assignment_balance", "the planned assignment"
                    )
                ],
            }
        rows = sorted(
            self.data.for_experiment("planned_assignment_balance", experiment_id),
            key=lambda r: (not r.get("is_control"), str(r.get("variant"))),
        )
        total = sum(int(r.get("units") or 0) for r in rows)
        if not rows or not total:
            text = (
                "No arms are registered."
                if not rows
                else "No eligible units in raw.units to assign."
            )
            return {"plan": None, "plan_notices": [{"kind": "alert", "text": text}]}
        first = rows[0]
        flag = first.get("srm_flag")
        flag = None if flag is None else bool(flag)
        p = first.get("srm_p_value")
        if p is None:
            test = f"no balance test: {first.get('srm_error_message') or 'n/a'}"
        else:
            test = (
                f"chi-square = {fmt.number(first.get('srm_chi2'), 3)}, "
                f"p = {fmt.p_value(p)} against the allocation weights"
                + (
                    ": a mismatch, check the weights and the hashing"
                    if flag
                    else " (no mismatch)"
                )
            )
        text = (
            f"{fmt.integer(total)} eligible units of raw.units are assigned "
            "deterministically: the md5 hash of the experiment id and the unit id "
            "picks a bucket in [0, 10000), and the arm owning that bucket range "
            "(proportional to its weight) is the unit's arm: the same unit always "
            f"gets the same arm. Balance: {test}. The unit list is "
            "marts.planned_assignments."
        )
        bars = [
            charts.BalanceBar(
                variant=str(r.get("variant")),
                expected_share=finite(r.get("expected_share")),
                observed_share=finite(r.get("observed_share")),
                units=r.get("units"),
            )
            for r in rows
        ]
        return {
            "plan": {
                "flag": flag,
                "text": text,
                "svg": Markup(charts.balance_bars(bars, mismatch=bool(flag))),
                "rows": [
                    {
                        "variant": r.get("variant"),
                        "is_control": bool(r.get("is_control")),
                        "expected": fmt.pct(r.get("expected_share"), signed=False),
                        "observed": fmt.pct(r.get("observed_share"), signed=False),
                        "units": fmt.integer(r.get("units")),
                    }
                    for r in rows
                ],
            },
            "plan_notices": [],
        }

    def _heterogeneity_section(
        self, experiment_id: Any, has_data: bool, no_data: dict[str, str]
    ) -> dict[str, Any]:
        """CATE heatmaps and ROI curves (experiment_cate) and the cohort table
        (experiment_cohorts)."""
        out: dict[str, Any] = {
            "hte": None,
            "hte_notices": [],
            "cohorts": [],
            "cohort_notices": [],
            "cohort_metric": None,
        }
        if not self.data.has("experiment_cate"):
            out["hte_notices"] = [
                _missing_notice("experiment_cate", "the heterogeneous effects")
            ]
        elif not has_data:
            out["hte_notices"] = [no_data]
        else:
            out.update(self._cate(experiment_id))
        if not self.data.has("experiment_cohorts"):
            out["cohort_notices"] = [
                _missing_notice("experiment_cohorts", "the cohort table")
            ]
        elif not has_data:
            out["cohort_notices"] = [no_data]
        else:
            out.update(self._cohorts(experiment_id))
        return out

    def _cate(self, experiment_id: Any) -> dict[str, Any]:
        rows = self.data.for_experiment("experiment_cate", experiment_id)
        if not rows:
            analysed = sorted(
                {
                    str(r.get("experiment_id"))
                    for r in self.data.rows("experiment_cate")
                    if r.get("experiment_id") is not None
                }
            )
            return {
                "hte_notices": [
                    {
                        "kind": "nodata",
                        "text": "Heterogeneous effects are estimated for one "
                        "experiment per build (dbt var cate_experiment_id; this "
                        f"build: {', '.join(analysed) or 'none'}), not this one.",
                    }
                ]
            }
        errors = [r.get("error_message") for r in rows if r.get("error_message")]
        if errors:
            return {"hte_notices": [{"kind": "alert", "text": errors[0]}]}
        metric_id = _first(rows).get("metric_id")
        metric = self.metrics.get(metric_id, {})
        direction = metric.get("desired_direction")
        heat = [r for r in rows if r.get("output") == "heatmap"]
        roi = [r for r in rows if r.get("output") == "roi_curve"]
        names = LEARNER_NAMES
        maps, extremes = [], []
        for learner in hte_learners(heat):
            cells = sorted(
                (r for r in heat if r.get("learner") == learner),
                key=lambda r: (
                    str(r.get("segment")),
                    r.get("activity_bin_order") or 0,
                ),
            )
            maps.append(
                {
                    "learner": names.get(learner, learner),
                    "svg": Markup(
                        charts.cate_heatmap(
                            [
                                charts.CateCell(
                                    row=str(r.get("segment")),
                                    column=str(r.get("activity_bin")),
                                    value=finite(r.get("mean_cate")),
                                    units=r.get("units"),
                                )
                                for r in cells
                            ],
                            title=f"{names.get(learner, learner)}: mean estimated "
                            "CATE by segment (rows) and activity bin (columns)",
                            desired_direction=direction,
                        )
                    ),
                }
            )
            shown = [r for r in cells if finite(r.get("mean_cate")) is not None]
            if shown:
                top = max(shown, key=lambda r: r["mean_cate"])
                low = min(shown, key=lambda r: r["mean_cate"])
                extremes.append(
                    f"{names.get(learner, learner)}: largest "
                    f"{fmt.number(top['mean_cate'], signed=True)} in "
                    f"{top.get('segment')} / activity {top.get('activity_bin')} "
                    f"(observed {fmt.number(top.get('observed_uplift'), signed=True)}),"
                    f" smallest {fmt.number(low['mean_cate'], signed=True)} in "
                    f"{low.get('segment')} / activity {low.get('activity_bin')} "
                    f"(observed {fmt.number(low.get('observed_uplift'), signed=True)})."
                )
        series, random, table = [], [], []
        for learner in hte_learners(roi):
            points = sorted(
                (r for r in roi if r.get("learner") == learner),
                key=lambda r: r.get("budget_share") or 0,
            )
            series.append(
                charts.UpliftSeries(
                    names.get(learner, learner),
                    [
                        (r.get("budget_share"), r.get("incremental_outcome"))
                        for r in points
                    ],
                )
            )
            random = [(r.get("budget_share"), r.get("random_outcome")) for r in points]
            for r in points:
                if r.get("budget_share") in (0.1, 0.2, 0.5):
                    table.append(
                        {
                            "learner": names.get(learner, learner),
                            "share": fmt.pct(r.get("budget_share"), signed=False),
                            "units": fmt.integer(r.get("units")),
                            "predicted": fmt.number(r.get("mean_cate"), signed=True),
                            "observed": fmt.number(
                                r.get("observed_uplift"), signed=True
                            ),
                            "gain": fmt.number(r.get("incremental_outcome")),
                            "random": fmt.number(r.get("random_outcome")),
                        }
                    )
        return {
            "hte": {
                "metric": metric.get("metric_name") or metric_id,
                "maps": maps,
                "extremes": extremes,
                "roi_svg": Markup(
                    charts.uplift_chart(
                        series,
                        random,
                        title="Incremental outcome of treating the top x% by "
                        "estimated CATE (held-out)",
                    )
                ),
                "roi_rows": table,
            }
        }

    def _cohorts(self, experiment_id: Any) -> dict[str, Any]:
        rows = sorted(
            self.data.for_experiment("experiment_cohorts", experiment_id),
            key=lambda r: (
                str(r.get("segment")),
                r.get("activity_bin_order") or 0,
                -1 if r.get("signup_month") is None else r.get("signup_month"),
            ),
        )
        if not rows:
            return {
                "cohort_notices": [
                    {"kind": "nodata", "text": "No analysed units in any cohort."}
                ]
            }
        aggregation = self.metrics.get(rows[0].get("primary_metric_id"), {}).get(
            "aggregation"
        )
        return {
            "cohorts": [
                {
                    "segment": r.get("segment"),
                    "activity_bin": r.get("activity_bin"),
                    "signup_month": fmt.integer(r.get("signup_month")),
                    "units": fmt.integer(r.get("units")),
                    "treatment_rate": fmt.pct(r.get("treatment_rate"), signed=False),
                    "received_rate": fmt.pct(
                        r.get("received_treatment_rate"), signed=False
                    ),
                    "pre": fmt.metric_value(r.get("mean_pre_metric"), aggregation),
                    "outcome": fmt.metric_value(r.get("mean_outcome"), aggregation),
                    "suppressed": bool(r.get("is_suppressed")),
                }
                for r in rows
            ],
            "cohort_metric": rows[0].get("primary_metric_id"),
        }

    def _compliance_section(
        self, experiment_id: Any, has_data: bool, no_data: dict[str, str]
    ) -> dict[str, Any]:
        """ITT, CACE and the naive estimates side by side (compliance_results)."""
        if not self.data.has("compliance_results"):
            return {
                "compliance": [],
                "compliance_notices": [
                    _missing_notice("compliance_results", "the non-compliance analysis")
                ],
            }
        if not has_data:
            return {"compliance": [], "compliance_notices": [no_data]}
        rows = sorted(
            self.data.for_experiment("compliance_results", experiment_id),
            key=lambda r: (str(r.get("metric_id")), str(r.get("variant"))),
        )
        if not rows:
            return {
                "compliance": [],
                "compliance_notices": [
                    {
                        "kind": "nodata",
                        "text": "Not applicable: the exposures of this experiment "
                        "do not say whether units actually received the treatment "
                        "(no received_treatment values), so every analysis here is "
                        "intention-to-treat.",
                    }
                ],
            }

        def figure(r: Mapping[str, Any], key: str, places: int) -> dict[str, str]:
            aggregation = r.get("aggregation")
            se = finite(r.get(f"{key}_se"))
            low, high = r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
            return {
                "estimate": fmt.metric_change(r.get(key), aggregation, places),
                "se": fmt.DASH
                if se is None
                else fmt.metric_change(se, aggregation, places).lstrip("+"),
                "ci": fmt.interval(low, high, "metric", aggregation, places),
                "p": fmt.p_value(r.get(f"{key}_p_value")),
            }

        out = []
        for r in rows:
            name = self.metrics.get(r.get("metric_id"), {}).get("metric_name")
            heading = (
                f"{name or r.get('metric_id')}: {r.get('variant')} vs "
                f"{r.get('control_variant')}"
            )
            if r.get("error_message") and finite(r.get("itt")) is None:
                out.append({"metric": heading, "error": r["error_message"]})
                continue
            # Two significant digits of the smallest standard error.
            scale = 100.0 if r.get("aggregation") == "binary" else 1.0
            errors = [
                se * scale
                for key in ("itt_se", "cace_se")
                if (se := finite(r.get(key))) is not None and se > 0
            ]
            places = (
                min(6, max(0, 1 - math.floor(math.log10(min(errors))))) if errors else 2
            )
            labels = [
                ("itt", "Intention-to-treat (ITT): by assigned arm"),
                ("cace", "Complier effect (CACE = ITT / first stage, 2SLS)"),
                (
                    "per_protocol",
                    "Per-protocol (naive: treated in the treatment arm vs "
                    "untreated in the control arm)",
                ),
                ("as_treated", "As-treated (naive: received vs not, either arm)"),
            ]
            if finite(r.get("ipw_itt")) is not None:
                labels += [
                    ("ipw_itt", "ITT weighted by 1 / P(eligible | stratum)"),
                    ("ipw_cace", "CACE weighted by 1 / P(eligible | stratum)"),
                ]
            estimates = [(label, figure(r, key, places)) for key, label in labels]
            weak = r.get("is_weak_instrument")
            threshold = finite(r.get("weak_instrument_f_threshold"))
            facts = [
                (
                    "Uptake (received the treatment)",
                    f"{fmt.pct(r.get('uptake_treatment'), False)} of "
                    f"{r.get('variant')}, {fmt.pct(r.get('uptake_control'), False)} "
                    f"of {r.get('control_variant')}",
                ),
                (
                    "First stage (uptake difference)",
                    fmt.metric_change(r.get("first_stage"), "binary"),
                ),
                (
                    "First-stage F (robust; classical)",
                    f"{fmt.number(r.get('first_stage_f'), 1)}; "
                    f"{fmt.number(r.get('first_stage_f_classical'), 1)}",
                ),
                (
                    "Instrument strength",
                    fmt.DASH
                    if weak is None
                    else ("weak" if weak else "strong")
                    + (f" (threshold F = {threshold:g})" if threshold else ""),
                ),
                (
                    "Units (treatment arm, control arm, uptake unknown)",
                    f"{fmt.integer(r.get('n_treatment'))}, "
                    f"{fmt.integer(r.get('n_control'))}, "
                    f"{fmt.integer(r.get('n_received_unknown'))}",
                ),
            ]
            weighted = None
            if finite(r.get("ipw_itt")) is not None:
                weighted = (
                    "Weighted rows: each eligible unit counts 1 / P(eligible | "
                    "stratum of its attributes), so the experiment stands for all "
                    f"{fmt.integer(r.get('ipw_population_units'))} units with a known "
                    "eligibility ("
                    f"{fmt.integer(r.get('ipw_eligible_population_units'))} "
                    "eligible), assuming the effect differs between eligible and "
                    "ineligible units only through those attributes."
                )
            notes = [
                text
                for text in (
                    r.get("warning_message"),
                    r.get("error_message"),
                    weighted,
                    None
                    if r.get("ipw_error_message") is None
                    else f"Eligibility weighting: {r['ipw_error_message']}.",
                )
                if text
            ]
            out.append(
                {
                    "metric": heading,
                    "error": None,
                    "weak": bool(weak),
                    "estimates": estimates,
                    "facts": facts,
                    "notes": notes,
                }
            )
        return {"compliance": out, "compliance_notices": []}

    def _power_section(
        self, experiment_id: Any, has_data: bool, no_data: dict[str, str]
    ) -> dict[str, Any]:
        if not self.data.has("experiment_power"):
            return {
                "power": [],
                "power_notices": [
                    _missing_notice("experiment_power", "power and progress")
                ],
            }
        notices = [] if has_data else [no_data]
        rows = self.data.for_experiment("experiment_power", experiment_id)
        if not rows:
            notices.append(
                {
                    "kind": "missing",
                    "text": "No power calculation for this experiment in "
                    "marts.experiment_power (no primary metric?).",
                }
            )
        out = []
        for r in rows:
            metric = self.metrics.get(r.get("metric_id"), {})
            aggregation = r.get("aggregation") or metric.get("aggregation")
            required = r.get("required_units_total")
            projected = finite(r.get("projected_days_to_target"))
            caption = (
                f"{fmt.integer(r.get('current_units'))} of "
                f"{fmt.integer(required)} planned units"
                if required is not None
                else "planned sample size not computed"
            )
            if projected is not None:
                caption += (
                    " · target reached"
                    if projected == 0
                    else f" · about {fmt.number(projected, 0)} more days at the "
                    "observed traffic"
                )
            baseline = fmt.metric_value(r.get("baseline_mean"), aggregation)
            source = r.get("baseline_source")
            facts = [
                ("Share of target reached", fmt.pct(r.get("share_of_target"), False)),
                (
                    "Required units per arm",
                    fmt.integer(r.get("required_units_per_arm")),
                ),
                ("Required units, all arms", fmt.integer(required)),
                ("Current units (all arms)", fmt.integer(r.get("current_units"))),
                ("Smallest arm", fmt.integer(r.get("min_arm_units"))),
                (
                    "Baseline",
                    f"{baseline} (sd {fmt.number(r.get('baseline_std'))})"
                    + (f", from the {str(source).replace('_', ' ')}" if source else ""),
                ),
                (
                    "Design",
                    f"alpha {fmt.number(r.get('alpha'), 2)}, power "
                    f"{fmt.setting(r.get('power'))}, MDE "
                    f"{fmt.setting(r.get('mde_relative'))} relative, "
                    f"{fmt.integer(r.get('n_arms'))} arms",
                ),
                ("Daily units", fmt.number(r.get("daily_units"))),
                ("Days observed", fmt.integer(r.get("days_observed"))),
                (
                    "Projected days to target",
                    fmt.DASH
                    if projected is None
                    else "reached"
                    if projected == 0
                    else fmt.number(projected, 0),
                ),
            ]
            if r.get("error_message"):
                facts.append(("Note", str(r["error_message"])))
            out.append(
                {
                    "metric": metric.get("metric_name") or str(r.get("metric_id")),
                    "svg": Markup(
                        charts.progress_bar(r.get("share_of_target"), caption)
                    ),
                    "facts": facts,
                }
            )
        return {"power": out, "power_notices": notices}

    # -- rendering -------------------------------------------------------------

    def render(self, log: Callable[[str], None]) -> Path:
        pages = self.out / "experiments"
        pages.mkdir(parents=True, exist_ok=True)
        page = self.env.get_template("experiment.html")
        for experiment, file_name in self.experiments:
            target = pages / file_name
            target.write_text(
                page.render(**self.experiment_context(experiment, file_name)),
                encoding="utf-8",
            )
            log(f"  experiment {experiment.get('experiment_id')}: {target}")
        index = self.out / "index.html"
        index.write_text(
            self.env.get_template("index.html").render(**self.index_context()),
            encoding="utf-8",
        )
        log(f"  portfolio: {index}")
        return index


def build_report(
    database: Path,
    out: Path,
    project_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Write the static report for a built warehouse; return index.html's path.

    Args:
        database: The DuckDB warehouse file (opened read-only).
        out: Output folder (created); pages go to ``out/experiments/``.
        project_dir: The project checkout (git commit, docs links); default cwd.
        log: Called with one progress line per page.
    """
    if not database.exists():
        raise FileNotFoundError(
            f"No warehouse at {database}: run `make run` (demo data) or "
            "`make load DATA=<dir>` then `make build`."
        )
    project_dir = Path.cwd() if project_dir is None else project_dir
    with duckdb.connect(str(database), read_only=True) as con:
        data = read_warehouse(con)
        prov = provenance(con, data, database, project_dir)
    if data.tables.get("experiments") is None:
        raise LookupError(
            f"{database} has no experiment registry (staging.stg_registry__experiments "
            "or registry.experiments): run `make build` first."
        )
    out.mkdir(parents=True, exist_ok=True)
    return ReportBuilder(data, prov, out, project_dir).render(log)
