"""Build the report: page contexts from the warehouse rows, rendered to files.

Page assembly: ``ReportBuilder`` reads the warehouse once, builds the
portfolio's context and each experiment page's context from the section
modules of ``xpkit.report.sections`` (one per section), and renders the package
templates (``xpkit.report.templates``). Every figure on a page is a mart value
formatted for reading (``xpkit.narrative.report``); nothing is recomputed. Each
section falls back to a notice that says why it is empty: the mart is not
built yet, or the experiment has no data yet.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from xpkit.marts.experiment_decisions import harm_lines
from xpkit.narrative import report as fmt
from xpkit.narrative.numbers import confidence_label
from xpkit.report.common import (
    CORRECTION_NAMES,
    DECISION_COLUMNS,
    ROLE_RANK,
    dates,
    distinct,
    first,
    headline,
    missing_notice,
    sorted_results,
)
from xpkit.report.data import Provenance, WarehouseData, provenance, read_warehouse
from xpkit.report.sections.balance import balance_section
from xpkit.report.sections.compliance import compliance_section
from xpkit.report.sections.cumulative import cumulative_section
from xpkit.report.sections.heterogeneity import heterogeneity_section
from xpkit.report.sections.history import history_section
from xpkit.report.sections.methodology import methodology
from xpkit.report.sections.planned_assignment import planned_assignment_section
from xpkit.report.sections.portfolio import portfolio_context
from xpkit.report.sections.power import power_section
from xpkit.report.sections.results import results_section
from xpkit.report.sections.segments import segment_section
from xpkit.report.sections.summary import criteria, decision_inputs, design, tiles
from xpkit.report.templates import STYLE, TEMPLATES
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
    ("history", "Results history across builds"),
    ("reproducibility", "Reproducibility"),
)
LOAD_LOG_COLUMNS = ("table_name", "source_file", "row_count", "loaded_at", "load_id")


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
        plural=fmt.plural,
    )
    return env


def _file_name(row: Mapping[str, Any]) -> dict[str, Any]:
    """The source file by name only: published pages name no absolute path
    (raw._load_log keeps the full path)."""
    source = row.get("source_file")
    return {"source_file": Path(str(source)).name} if source else {}


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
                dict.fromkeys(LOAD_LOG_COLUMNS) | row | _file_name(row)
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

    def doc_href(self, page_dir: Path, name: str) -> str | None:
        """A link to the project's ``docs/<name>``, copied into the report's own
        ``docs/`` folder so that the report links only inside itself (it is
        published and opened without the repository)."""
        source = self.project_dir / "docs" / name
        if not source.exists():
            return None
        target = self.out / "docs" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix()

    def one(self, table: str, experiment_id: Any) -> Mapping[str, Any] | None:
        return first(self.data.for_experiment(table, experiment_id))

    def units(self, experiment_id: Any) -> int | None:
        balance = self.data.for_experiment("assignment_balance", experiment_id)
        if balance:
            return sum(int(r.get("units") or 0) for r in balance)
        health = self.one("experiment_health", experiment_id)
        if health is not None and health.get("units_analysed") is not None:
            return int(health["units_analysed"])
        return None

    def srm_flag(self, experiment_id: Any) -> bool | None:
        balance = self.one("assignment_balance", experiment_id)
        if balance is not None:
            flag = balance.get("srm_flag")
            return None if flag is None else bool(flag)
        portfolio = self.one("experiment_portfolio", experiment_id)
        if portfolio is not None and portfolio.get("srm_flag") is not None:
            return bool(portfolio["srm_flag"])
        return None

    def decision(self, experiment_id: Any) -> Mapping[str, Any] | None:
        row = self.one("experiment_decisions", experiment_id)
        # Columns of the contract that a build lacks read as null.
        return None if row is None else dict.fromkeys(DECISION_COLUMNS) | dict(row)

    def _decision_notices(self, experiment_id: Any) -> list[dict[str, str]]:
        if not self.data.has("experiment_decisions"):
            return [missing_notice("experiment_decisions", "the decision")]
        if self.decision(experiment_id) is None:
            return [
                {
                    "kind": "missing",
                    "text": "No decision recorded for this experiment in "
                    "marts.experiment_decisions.",
                }
            ]
        return []

    # -- index -----------------------------------------------------------------

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
        results = sorted_results(data.for_experiment("experiment_results", eid))
        decision = self.decision(eid)
        portfolio = self.one("experiment_portfolio", eid)
        units = self.units(eid)
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
                "dates": dates(experiment),
                "hypothesis": experiment.get("hypothesis"),
            },
            "has_data": has_data,
            "no_data": no_data,
            "decision": decision,
            "decision_notices": self._decision_notices(eid),
            "summary_text": distinct(
                (portfolio or {}).get("analysis_summary"),
                (decision or {}).get("rationale"),
            ),
            "headline_action": headline(decision),
            "headline_harms": harm_lines(
                results, data.for_experiment("segment_results", eid)
            )
            if has_data
            else [],
            "prov": self.prov,
            "load_log": self.load_log,
            "methodology_href": self.doc_href(page_dir, "methodology.md"),
            "report_doc_href": self.doc_href(page_dir, "report.md"),
            "decisions_doc_href": self.doc_href(page_dir, "decisions.md"),
            "ci_label": confidence_label(alpha),
        }
        correction = first(r.get("correction_method") for r in results) or "holm"
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
        context["tiles"] = tiles(self, experiment, units, results, decision, portfolio)
        context["criteria"] = criteria(self, registered)
        context["design"] = design(self, experiment, variants)
        context["decision_inputs"] = decision_inputs(self, decision)
        context["methodology"] = methodology(self, experiment, results)
        context.update(results_section(self, results, has_data, no_data))
        context.update(
            cumulative_section(self, experiment, registered, alpha, has_data, no_data)
        )
        context.update(balance_section(self, eid, has_data, no_data))
        context.update(
            segment_section(self, eid, registered, decision, has_data, no_data)
        )
        context.update(power_section(self, eid, has_data, no_data, status))
        context.update(compliance_section(self, eid, has_data, no_data))
        context.update(planned_assignment_section(self, eid, status))
        context.update(heterogeneity_section(self, eid, has_data, no_data))
        context.update(history_section(self, eid))
        return context

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
            self.env.get_template("index.html").render(**portfolio_context(self)),
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
