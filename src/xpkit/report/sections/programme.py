"""The programme sections of the portfolio page (index.html): what the
programme learns across experiments (marts.experiment_meta_analysis)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xpkit.narrative import report as fmt
from xpkit.report.common import missing_notice

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["meta_analysis_context"]


def _group(rows: list[dict[str, Any]]) -> dict[str, Any]:
    head = rows[0]
    return {
        "domain": head.get("domain"),
        "metric": head.get("metric_id"),
        "k": head.get("n_experiments"),
        "pooled": fmt.pct(head.get("pooled_rel_improvement")),
        "pooled_interval": fmt.interval(
            head.get("pooled_ci_low"), head.get("pooled_ci_high")
        ),
        "tau": fmt.number(head.get("tau_squared"), 6),
        "i2": fmt.pct(head.get("i_squared"), signed=False),
        "win_rate": fmt.pct(head.get("win_rate"), signed=False),
        "decided": head.get("decided_experiments"),
        "shipped": head.get("shipped_experiments"),
        "shipped_impact": fmt.pct(head.get("shipped_rel_improvement")),
        "shipped_interval": fmt.interval(
            head.get("shipped_ci_low"), head.get("shipped_ci_high")
        ),
        "note": head.get("error_message"),
        "experiments": [
            {
                "experiment_id": r.get("experiment_id"),
                "metric": r.get("estimate_metric_id"),
                "variant": r.get("variant"),
                "observed": fmt.pct(r.get("rel_improvement")),
                "shrunken": fmt.pct(r.get("shrunken_rel_improvement")),
                "shrunken_interval": fmt.interval(
                    r.get("shrunken_ci_low"), r.get("shrunken_ci_high")
                ),
                "weight": fmt.pct(r.get("shrinkage_weight"), signed=False),
                "decision": r.get("decision"),
            }
            for r in sorted(rows, key=lambda r: str(r.get("experiment_id")))
        ],
    }


def meta_analysis_context(report: ReportBuilder) -> dict[str, Any]:
    """The programme group in full, then one line per domain x metric group
    with more than one experiment."""
    if not report.data.has("experiment_meta_analysis"):
        return {
            "meta": None,
            "meta_groups": [],
            "meta_notices": [
                missing_notice("experiment_meta_analysis", "the meta-analysis")
            ],
        }
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in report.data.rows("experiment_meta_analysis"):
        key = (str(row.get("scope")), str(row.get("domain")), str(row.get("metric_id")))
        groups.setdefault(key, []).append(row)
    programme = [rows for (scope, _, _), rows in groups.items() if scope == "programme"]
    others = [
        _group(rows)
        for (scope, _, _), rows in sorted(groups.items())
        if scope != "programme" and len(rows) > 1
    ]
    notices = []
    if not programme:
        notices.append(
            {
                "kind": "nodata",
                "text": "No experiment has a primary estimate yet: nothing to pool.",
            }
        )
    return {
        "meta": _group(programme[0]) if programme else None,
        "meta_groups": others,
        "meta_notices": notices,
    }
