"""The experiment_meta_analysis mart: what the programme learns across
experiments (issue 19 item 4).

One row per group x contributing experiment. Groups:

- ``domain_metric``: every experiment of a domain that measured the metric;
- ``programme``: every experiment's primary metric (domain ``all``, metric
  ``primary``), the programme's portfolio of bets.

Each experiment contributes one estimate: the relative improvement of its
decision's primary variant (the relative lift, sign flipped for a metric whose
desired direction is ``decrease``, so that positive is good) with variance
``rel_std_error**2``. Per group: DerSimonian-Laird random-effects pooling
(``xpkit.stats.meta``), each experiment's empirical-Bayes shrunken
improvement, the win rate (share of decided experiments, decision scale /
iterate / stop, that were scaled) and the summed shrunken improvement of the
shipped (scaled) experiments with its interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pandas as pd
from scipy import stats

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import records, typed_frame
from xpkit.settings import DEFAULT_ALPHA
from xpkit.stats.meta import random_effects, shrink, summed_impact
from xpkit.stats.numbers import finite

__all__ = ["DECLARATION", "META_COLUMNS", "experiment_meta_analysis"]

FINAL_DECISIONS = ("scale", "iterate", "stop")
SHIPPED = "scale"

META_COLUMNS: dict[str, str] = {
    "scope": "string",
    "domain": "string",
    "metric_id": "string",
    "experiment_id": "string",
    "variant": "string",
    "estimate_metric_id": "string",
    "experiment_status": "string",
    "decision": "string",
    "n_control": "Int64",
    "n_treatment": "Int64",
    "rel_lift": "Float64",
    "rel_improvement": "Float64",
    "rel_improvement_se": "Float64",
    "n_experiments": "Int64",
    "min_arm_units": "Int64",
    "fixed_effect_rel_improvement": "Float64",
    "q_statistic": "Float64",
    "tau_squared": "Float64",
    "i_squared": "Float64",
    "pooled_rel_improvement": "Float64",
    "pooled_se": "Float64",
    "pooled_ci_low": "Float64",
    "pooled_ci_high": "Float64",
    "shrunken_rel_improvement": "Float64",
    "shrunken_sd": "Float64",
    "shrunken_ci_low": "Float64",
    "shrunken_ci_high": "Float64",
    "shrinkage_weight": "Float64",
    "is_shipped": "boolean",
    "decided_experiments": "Int64",
    "shipped_experiments": "Int64",
    "win_rate": "Float64",
    "shipped_rel_improvement": "Float64",
    "shipped_ci_low": "Float64",
    "shipped_ci_high": "Float64",
    "alpha": "Float64",
    "error_message": "string",
}


def _estimates(
    experiments: pd.DataFrame, results: pd.DataFrame, decisions: pd.DataFrame
) -> list[dict[str, Any]]:
    """One row per experiment x metric with a usable estimate, on the
    decision's primary variant (or the experiment's first variant)."""
    registry = {r["experiment_id"]: r for r in records(experiments)}
    decided = {r["experiment_id"]: r for r in records(decisions)}
    by_key: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in records(results):
        by_key[(row.get("experiment_id"), row.get("metric_id"))].append(row)
    out = []
    for (experiment_id, metric_id), rows in sorted(by_key.items(), key=str):
        experiment = registry.get(experiment_id)
        if experiment is None:
            continue
        decision = decided.get(experiment_id) or {}
        wanted = decision.get("primary_variant")
        rows = sorted(rows, key=lambda r: str(r.get("variant")))
        row = next((r for r in rows if r.get("variant") == wanted), rows[0])
        lift, se = finite(row.get("rel_lift")), finite(row.get("rel_std_error"))
        if lift is None or se is None or se <= 0:
            continue
        sign = -1.0 if row.get("desired_direction") == "decrease" else 1.0
        out.append(
            {
                "experiment_id": experiment_id,
                "domain": experiment.get("domain"),
                "metric_id": metric_id,
                "role": row.get("role"),
                "variant": row.get("variant"),
                "experiment_status": experiment.get("status"),
                "decision": decision.get("decision"),
                "n_control": row.get("n_control"),
                "n_treatment": row.get("n_treatment"),
                "rel_lift": lift,
                "rel_improvement": sign * lift,
                "rel_improvement_se": se,
            }
        )
    return out


def _group_rows(
    scope: str, domain: Any, metric_id: Any, members: list[dict[str, Any]], alpha: float
) -> list[dict[str, Any]]:
    y = [m["rel_improvement"] for m in members]
    v = [m["rel_improvement_se"] ** 2 for m in members]
    meta = random_effects(y, v, alpha=alpha)
    z = float(stats.norm.ppf(1 - alpha / 2))
    shrunk = [shrink(yi, vi, meta) for yi, vi in zip(y, v, strict=True)]
    decided = [m for m in members if m["decision"] in FINAL_DECISIONS]
    shipped = [
        s
        for m, s in zip(members, shrunk, strict=True)
        if m["decision"] == SHIPPED and s is not None
    ]
    impact = summed_impact(shipped, alpha=alpha)
    arm_units = [
        int(m[c])
        for m in members
        for c in ("n_control", "n_treatment")
        if m[c] is not None
    ]
    group = {
        "scope": scope,
        "domain": domain,
        "metric_id": metric_id,
        "n_experiments": meta.k,
        "min_arm_units": min(arm_units) if arm_units else None,
        "fixed_effect_rel_improvement": meta.fixed_effect,
        "q_statistic": meta.q_statistic,
        "tau_squared": meta.tau_squared,
        "i_squared": meta.i_squared,
        "pooled_rel_improvement": meta.pooled,
        "pooled_se": meta.pooled_se,
        "pooled_ci_low": meta.ci_low,
        "pooled_ci_high": meta.ci_high,
        "decided_experiments": len(decided),
        "shipped_experiments": sum(m["decision"] == SHIPPED for m in members),
        "win_rate": sum(m["decision"] == SHIPPED for m in decided) / len(decided)
        if decided
        else None,
        "shipped_rel_improvement": None if impact is None else impact[0],
        "shipped_ci_low": None if impact is None else impact[1],
        "shipped_ci_high": None if impact is None else impact[2],
        "alpha": alpha,
        "error_message": meta.error_message,
    }
    rows = []
    for member, s in zip(members, shrunk, strict=True):
        own = {
            k: v for k, v in member.items() if k not in ("role", "domain", "metric_id")
        }
        row = {**group, **own, "estimate_metric_id": member["metric_id"]}
        row["is_shipped"] = member["decision"] == SHIPPED
        if s is not None:
            row["shrunken_rel_improvement"] = s.estimate
            row["shrunken_sd"] = s.sd
            row["shrunken_ci_low"] = s.estimate - z * s.sd
            row["shrunken_ci_high"] = s.estimate + z * s.sd
            row["shrinkage_weight"] = s.weight
        rows.append(row)
    return rows


def experiment_meta_analysis(
    experiments: pd.DataFrame,
    experiment_results: pd.DataFrame,
    experiment_decisions: pd.DataFrame,
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """The mart: rows of the ``domain_metric`` groups, then the ``programme``
    group, each sorted by experiment."""
    estimates = _estimates(experiments, experiment_results, experiment_decisions)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in estimates:
        groups[(str(e["domain"]), str(e["metric_id"]))].append(e)
    rows: list[dict[str, Any]] = []
    for (domain, metric_id), members in sorted(groups.items()):
        rows += _group_rows("domain_metric", domain, metric_id, members, alpha)
    primary = [e for e in estimates if e["role"] == "primary"]
    if primary:
        rows += _group_rows("programme", "all", "primary", primary, alpha)
    return typed_frame(rows, META_COLUMNS)


def _build(
    inputs: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    return experiment_meta_analysis(
        inputs["stg_registry__experiments"],
        inputs["experiment_results"],
        inputs["experiment_decisions"],
    )


DECLARATION = MartDeclaration(
    name="experiment_meta_analysis",
    inputs=(
        "staging.stg_registry__experiments",
        "marts.experiment_results",
        "marts.experiment_decisions",
    ),
    settings=(),
    columns=META_COLUMNS,
    build=_build,
)
