"""The portfolio page (index.html): every experiment with its decision."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from xpkit.marts.experiment_decisions import harm_lines
from xpkit.narrative import report as fmt
from xpkit.report.common import (
    DECISION_ORDER,
    best_primary,
    dates,
    primary_cell,
    sorted_results,
)
from xpkit.report.sections.programme import meta_analysis_context, value_context
from xpkit.report.templates import STYLE

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["portfolio_context"]


def portfolio_context(report: ReportBuilder) -> dict[str, Any]:
    """The portfolio page (index.html): one row per experiment."""
    rows = []
    for experiment, file_name in report.experiments:
        eid = experiment.get("experiment_id")
        decision = report.decision(eid)
        portfolio = report.one("experiment_portfolio", eid)
        results = sorted_results(report.data.for_experiment("experiment_results", eid))
        units = report.units(eid)
        if units is None and portfolio is not None:
            units = portfolio.get("units")
        primary = primary_cell(results, decision, portfolio)
        harms = harm_lines(results, report.data.for_experiment("segment_results", eid))
        summary = (portfolio or {}).get("analysis_summary")
        if not summary:
            best = best_primary(results, decision)
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
                "dates": dates(experiment),
                "days_running": (portfolio or {}).get("days_running"),
                "units": units,
                "srm_flag": report.srm_flag(eid),
                "primary": primary,
                "primary_note": "no data yet" if not units else "no primary result",
                "decision": None if decision is None else decision.get("decision"),
                "summary": summary,
                # Named again unless the summary already does (an older
                # portfolio, or a summary without them).
                "harms": [h for h in harms if h not in str(summary or "")],
            }
        )
    decisions: Counter[Any] = Counter(r["decision"] for r in rows if r["decision"])
    decision_counts = [(d, decisions.pop(d)) for d in DECISION_ORDER if d in decisions]
    decision_counts += sorted(decisions.items())
    statuses = Counter(str(r["status"]) for r in rows)
    absent = [
        f"{what} (marts.{table})"
        for table, what in (
            ("experiment_decisions", "decisions"),
            ("experiment_portfolio", "plain-English summaries"),
            ("experiment_power", "power and progress"),
        )
        if not report.data.has(table)
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
        **meta_analysis_context(report),
        **value_context(report),
        "style": Markup(STYLE),
        "experiments": rows,
        "decision_counts": decision_counts,
        "status_counts": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
        "page_notices": notices,
        "prov": report.prov,
        "load_log": report.load_log,
        "methodology_href": report.doc_href(report.out, "methodology.md"),
        # The gates write their own page (gates.html, static and styled) and
        # Great Expectations' data docs beside the report; GX's index needs
        # its CDN assets, so the gates page is the primary link.
        "data_docs_href": "data_docs/gates.html"
        if (report.out / "data_docs" / "gates.html").exists()
        else None,
        "ge_docs_href": "data_docs/index.html"
        if (report.out / "data_docs" / "index.html").exists()
        else None,
    }
