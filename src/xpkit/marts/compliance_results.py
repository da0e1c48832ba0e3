"""The ``compliance_results`` mart: ITT, complier effect and per-protocol figures
of ``xpkit.stats.iv`` from the cells of ``arm_metrics_by_compliance``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import alpha_or_default, clean
from xpkit.stats.iv import (
    WEAK_INSTRUMENT_F,
    Cells,
    ComplianceCell,
    compliance_estimates,
    weighted_compliance_estimates,
)

__all__ = ["DECLARATION", "COMPLIANCE_COLUMNS", "RATIO_SKIPPED", "compliance_results"]

# The columns of marts.compliance_results, in order, with their pandas dtypes.
COMPLIANCE_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "metric_id": "string",
    "variant": "string",
    "control_variant": "string",
    "aggregation": "string",
    "alpha": "Float64",
    "n_treatment": "Int64",
    "n_control": "Int64",
    "n_received_unknown": "Int64",
    "uptake_treatment": "Float64",
    "uptake_control": "Float64",
    "itt": "Float64",
    "itt_se": "Float64",
    "itt_ci_low": "Float64",
    "itt_ci_high": "Float64",
    "itt_p_value": "Float64",
    "first_stage": "Float64",
    "first_stage_se": "Float64",
    "first_stage_f": "Float64",
    "first_stage_f_classical": "Float64",
    "weak_instrument_f_threshold": "Float64",
    "is_weak_instrument": "boolean",
    "cace": "Float64",
    "cace_se": "Float64",
    "cace_se_classical": "Float64",
    "cace_ci_low": "Float64",
    "cace_ci_high": "Float64",
    "cace_p_value": "Float64",
    "per_protocol": "Float64",
    "per_protocol_se": "Float64",
    "as_treated": "Float64",
    "as_treated_se": "Float64",
    "ipw_n_eligible": "Int64",
    "ipw_population_units": "Int64",
    "ipw_eligible_population_units": "Int64",
    "ipw_population_coverage": "Float64",
    "ipw_itt": "Float64",
    "ipw_itt_se": "Float64",
    "ipw_cace": "Float64",
    "ipw_cace_se": "Float64",
    "ipw_error_message": "string",
    "warning_message": "string",
    "error_message": "string",
}

QUANTILE_SKIPPED = (
    "quantile metrics are not analysed for compliance (the estimators are for means)"
)
RATIO_SKIPPED = (
    "ratio metric: skipped (a ratio of sums has no per-unit outcome for the"
    " Wald estimator)"
)


def _get(row: Mapping[str, Any], key: str) -> Any:
    """The row's value, None when missing."""
    return clean(row.get(key))


def _unweighted_cell(row: Mapping[str, Any]) -> ComplianceCell:
    return ComplianceCell.unweighted(
        int(_get(row, "n_units") or 0),
        float(_get(row, "metric_sum") or 0.0),
        float(_get(row, "metric_sum_squares") or 0.0),
    )


def _weighted_cell(row: Mapping[str, Any]) -> ComplianceCell:
    return ComplianceCell(
        int(_get(row, "eligible_units") or 0),
        float(_get(row, "ipw_weight_sum") or 0.0),
        float(_get(row, "ipw_weighted_sum") or 0.0),
        float(_get(row, "ipw_weight_sq_sum") or 0.0),
        float(_get(row, "ipw_weight_sq_weighted_sum") or 0.0),
        float(_get(row, "ipw_weight_sq_weighted_sum_squares") or 0.0),
    )


def _ipw(rows: Sequence[Mapping[str, Any]], cells: Cells) -> dict[str, Any]:
    """The weighted figures of one comparison, or why there are none."""
    first = rows[0]
    population = int(_get(first, "population_units") or 0)
    eligible = int(_get(first, "eligible_population_units") or 0)
    covered = int(_get(first, "covered_population_units") or 0)
    n_eligible = sum(cell.n for cell in cells.values())
    out: dict[str, Any] = {
        "ipw_n_eligible": n_eligible,
        "ipw_population_units": population,
        "ipw_eligible_population_units": eligible,
    }
    if population == 0:
        out["ipw_error_message"] = "raw.units has no eligibility for these units"
        return out
    if eligible == population:
        out["ipw_error_message"] = "everyone in raw.units is eligible: no weighting"
        return out
    out["ipw_population_coverage"] = covered / population
    weighted = weighted_compliance_estimates(cells)
    out |= {
        "ipw_itt": weighted.itt,
        "ipw_itt_se": weighted.itt_se,
        "ipw_cace": weighted.cace,
        "ipw_cace_se": weighted.cace_se,
        "ipw_error_message": weighted.error_message,
    }
    if weighted.error_message is None and covered < population:
        out["ipw_error_message"] = (
            f"strata holding {1 - covered / population:.1%} of raw.units have no"
            " eligible analysed unit: the weighted figures speak for the rest"
        )
    return out


def compliance_results(
    cells: pd.DataFrame,
    experiments: pd.DataFrame,
    weak_f: float = WEAK_INSTRUMENT_F,
) -> pd.DataFrame:
    """One row per experiment x metric x treatment variant with compliance data.

    Args:
        cells: Rows of ``arm_metrics_by_compliance`` (experiment_id, variant,
            metric_id, is_control, aggregation, received_treatment, n_units,
            metric_sum, metric_sum_squares and the ipw_* / population sums).
        experiments: The experiments registry (experiment_id, control_variant,
            alpha).
        weak_f: The robust first-stage F below which the instrument is weak.

    Returns:
        A frame with ``COMPLIANCE_COLUMNS``, sorted by experiment, metric and
        variant. Experiments absent from ``cells`` (no received_treatment
        values) have no rows. Units whose received_treatment is null are left
        out of every figure and counted in ``n_received_unknown``.
    """
    registry = {
        row["experiment_id"]: row
        for row in experiments.astype(object).to_dict("records")
    }
    grouped: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    controls: dict[Any, Any] = {}
    variants: dict[Any, set[Any]] = defaultdict(set)
    for row in cells.astype(object).to_dict("records"):
        experiment_id = row["experiment_id"]
        grouped[(experiment_id, row["metric_id"])].append(row)
        variants[experiment_id].add(row["variant"])
        if _get(row, "is_control"):
            controls[experiment_id] = row["variant"]

    out: list[dict[str, Any]] = []
    for (experiment_id, metric_id), rows in sorted(grouped.items()):
        info = registry.get(experiment_id, {})
        control = _get(info, "control_variant") or controls.get(experiment_id)
        alpha = alpha_or_default(_get(info, "alpha"))
        aggregation = rows[0].get("aggregation")
        for variant in sorted(v for v in variants[experiment_id] if v != control):
            pair = [r for r in rows if r["variant"] in (variant, control)]
            record: dict[str, Any] = {
                "experiment_id": experiment_id,
                "metric_id": metric_id,
                "variant": variant,
                "control_variant": control,
                "aggregation": aggregation,
                "alpha": alpha,
                "weak_instrument_f_threshold": weak_f,
                "n_received_unknown": sum(
                    int(_get(r, "n_units") or 0)
                    for r in pair
                    if _get(r, "received_treatment") is None
                ),
            }
            known = [r for r in pair if _get(r, "received_treatment") is not None]
            plain: dict[tuple[int, int], ComplianceCell] = {}
            weighted: dict[tuple[int, int], ComplianceCell] = {}
            for r in known:
                key = (int(r["variant"] == variant), int(r["received_treatment"]))
                plain[key] = _unweighted_cell(r)
                weighted[key] = _weighted_cell(r)
            if control is None:
                record["error_message"] = "no control variant registered"
            elif aggregation == "ratio":
                record["error_message"] = RATIO_SKIPPED
            elif aggregation == "quantile":
                record["error_message"] = QUANTILE_SKIPPED
            else:
                estimates = asdict(compliance_estimates(plain, alpha, weak_f))
                record["n_treatment"] = estimates.pop("n_assigned_treatment")
                record["n_control"] = estimates.pop("n_assigned_control")
                record["warning_message"] = "; ".join(estimates.pop("warnings")) or None
                record |= estimates
                if known:
                    record |= _ipw(known, weighted)
            out.append(record)
    frame = pd.DataFrame(
        {
            column: pd.array([r.get(column) for r in out], dtype=dtype)
            for column, dtype in COMPLIANCE_COLUMNS.items()
        }
    )
    return frame


DECLARATION = MartDeclaration(
    name="compliance_results",
    inputs=("marts.arm_metrics_by_compliance", "staging.stg_registry__experiments"),
    settings=("weak_instrument_f_threshold",),
    columns=COMPLIANCE_COLUMNS,
    build=lambda inputs, settings: compliance_results(
        inputs["arm_metrics_by_compliance"],
        inputs["stg_registry__experiments"],
        weak_f=settings["weak_instrument_f_threshold"],
    ),
)
