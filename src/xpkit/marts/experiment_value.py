"""The experiment_value mart: what each experiment's decision is worth (issue
19 item 6), one row per registered experiment.

The registry's optional columns ``value_per_unit_lift`` (the value of a
relative improvement of 1, i.e. +100%, on the primary metric), ``cost``,
``decision_owner`` and ``custom_action`` are joined to the primary result of
the decision's primary variant. The value of shipping is
``V = value_per_unit_lift x improvement``, where the improvement is the
posterior relative lift of experiment_results (sign flipped for a metric whose
desired direction is decrease), normal with the posterior's mean and sd:
expected value, its interval, P(V > 0) and the expected value of perfect
information of the ship / do-not-ship choice (``xpkit.stats.meta``). Running
experiments are ranked by that EVPI (``voi_rank`` 1 = the most to learn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import alpha_or_default, records, typed_frame
from xpkit.stats.meta import expected_value_of_information
from xpkit.stats.numbers import finite

__all__ = ["DECLARATION", "VALUE_COLUMNS", "experiment_value"]

VALUE_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "experiment_name": "string",
    "domain": "string",
    "status": "string",
    "owner": "string",
    "decision_owner": "string",
    "decision": "string",
    "decided_at": "datetime64[us]",
    "recommended_action": "string",
    "custom_action": "string",
    "primary_metric_id": "string",
    "primary_variant": "string",
    "n_control": "Int64",
    "n_treatment": "Int64",
    "value_per_unit_lift": "Float64",
    "cost": "Float64",
    "posterior_rel_improvement": "Float64",
    "posterior_rel_improvement_sd": "Float64",
    "expected_value": "Float64",
    "expected_value_ci_low": "Float64",
    "expected_value_ci_high": "Float64",
    "probability_positive": "Float64",
    "evpi": "Float64",
    "expected_net_value": "Float64",
    "voi_rank": "Int64",
    "alpha": "Float64",
    "error_message": "string",
}


def _value(row: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    per_unit = finite(row.get("value_per_unit_lift"))
    if result is None:
        return {"error_message": "no primary result"}
    mean = finite(result.get("posterior_rel_lift"))
    sd = finite(result.get("posterior_rel_lift_sd"))
    out: dict[str, Any] = {
        "n_control": result.get("n_control"),
        "n_treatment": result.get("n_treatment"),
    }
    if mean is None or sd is None:
        return {**out, "error_message": "no posterior of the primary lift"}
    sign = -1.0 if result.get("desired_direction") == "decrease" else 1.0
    out["posterior_rel_improvement"] = sign * mean
    out["posterior_rel_improvement_sd"] = sd
    if per_unit is None:
        return {**out, "error_message": "no value_per_unit_lift registered"}
    alpha = alpha_or_default(row.get("alpha"))
    voi = expected_value_of_information(
        per_unit * sign * mean, abs(per_unit) * sd, alpha=alpha
    )
    if voi is None:
        return {**out, "error_message": "the value could not be computed"}
    cost = finite(row.get("cost"))
    return {
        **out,
        "expected_value": voi.expected_value,
        "expected_value_ci_low": voi.ci_low,
        "expected_value_ci_high": voi.ci_high,
        "probability_positive": voi.probability_positive,
        "evpi": voi.evpi,
        "expected_net_value": None if cost is None else voi.expected_value - cost,
        "alpha": alpha,
    }


def experiment_value(
    experiments: pd.DataFrame,
    experiment_results: pd.DataFrame,
    experiment_decisions: pd.DataFrame,
) -> pd.DataFrame:
    """The mart, sorted by experiment id."""
    decisions = {r["experiment_id"]: r for r in records(experiment_decisions)}
    results = {
        (r.get("experiment_id"), r.get("metric_id"), r.get("variant")): r
        for r in records(experiment_results)
    }
    rows = []
    for row in sorted(records(experiments), key=lambda r: str(r.get("experiment_id"))):
        eid = row.get("experiment_id")
        decision = decisions.get(eid) or {}
        key = (eid, decision.get("primary_metric_id"), decision.get("primary_variant"))
        rows.append(
            {
                "experiment_id": eid,
                "experiment_name": row.get("experiment_name"),
                "domain": row.get("domain"),
                "status": row.get("status"),
                "owner": row.get("owner"),
                "decision_owner": row.get("decision_owner"),
                "decision": decision.get("decision"),
                "decided_at": decision.get("decided_at"),
                "recommended_action": decision.get("recommended_action"),
                "custom_action": row.get("custom_action"),
                "primary_metric_id": decision.get("primary_metric_id"),
                "primary_variant": decision.get("primary_variant"),
                "value_per_unit_lift": finite(row.get("value_per_unit_lift")),
                "cost": finite(row.get("cost")),
                **_value(row, results.get(key)),
            }
        )
    running = sorted(
        (r for r in rows if r["status"] == "running" and r.get("evpi") is not None),
        key=lambda r: (-r["evpi"], str(r["experiment_id"])),
    )
    for rank, r in enumerate(running, start=1):
        r["voi_rank"] = rank
    return typed_frame(rows, VALUE_COLUMNS)


def _build(
    inputs: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    return experiment_value(
        inputs["stg_registry__experiments"],
        inputs["experiment_results"],
        inputs["experiment_decisions"],
    )


DECLARATION = MartDeclaration(
    name="experiment_value",
    inputs=(
        "staging.stg_registry__experiments",
        "marts.experiment_results",
        "marts.experiment_decisions",
    ),
    settings=(),
    columns=VALUE_COLUMNS,
    build=_build,
)
