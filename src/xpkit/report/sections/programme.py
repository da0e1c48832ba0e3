"""The programme sections of the portfolio page (index.html): what the
programme learns across experiments (marts.experiment_meta_analysis) and what
each decision is worth (marts.experiment_value)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xpkit.narrative import report as fmt
from xpkit.report.common import missing_notice
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["meta_analysis_context", "value_context"]


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


def _money(value: Any) -> str:
    number = finite(value)
    if number is None:
        return fmt.DASH
    return f"{number:,.0f}"


def value_context(report: ReportBuilder) -> dict[str, Any]:
    """Every experiment's value (marts.experiment_value): running experiments
    first, by value of information, then the rest by expected value."""
    if not report.data.has("experiment_value"):
        return {
            "values": [],
            "value_notices": [missing_notice("experiment_value", "the value columns")],
        }
    rows = report.data.rows("experiment_value")

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        rank = r.get("voi_rank")
        value = r.get("expected_value")
        return (
            rank is None,
            rank or 0,
            value is None,
            -(value or 0.0),
            str(r.get("experiment_id")),
        )

    values = []
    for r in sorted(rows, key=order):
        interval = ""
        if r.get("expected_value_ci_low") is not None:
            interval = (
                f"[{_money(r.get('expected_value_ci_low'))}, "
                f"{_money(r.get('expected_value_ci_high'))}]"
            )
        values.append(
            {
                "experiment_id": r.get("experiment_id"),
                "status": r.get("status"),
                "owner": r.get("decision_owner") or r.get("owner") or fmt.DASH,
                "owner_registered": r.get("decision_owner") is not None,
                "decision": r.get("decision"),
                "decided": fmt.day(r.get("decided_at")),
                "action": r.get("custom_action") or r.get("recommended_action"),
                "value": _money(r.get("expected_value")),
                "interval": interval,
                "cost": _money(r.get("cost")),
                "net": _money(r.get("expected_net_value")),
                "evpi": _money(r.get("evpi")),
                "rank": r.get("voi_rank"),
                "note": r.get("error_message"),
            }
        )
    return {"values": values, "value_notices": []}
