"""The assignment_balance and planned_assignment_balance marts: observed and
expected shares and the sample-ratio-mismatch test per experiment and arm."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.marts.frames import native, records, typed_frame
from xpkit.stats.numbers import is_missing
from xpkit.stats.srm import SRM_THRESHOLD, srm_test

__all__ = [
    "ARM_COUNT_COLUMNS",
    "PLANNED_DECLARATION",
    "DECLARATION",
    "BALANCE_COLUMNS",
    "assignment_balance",
]

BALANCE_COLUMNS: dict[str, str] = {
    "expected_share": "Float64",
    "observed_share": "Float64",
    "srm_chi2": "Float64",
    "srm_p_value": "Float64",
    "srm_flag": "boolean",
    "srm_error_message": "string",
    "srm_degrees_of_freedom": "Int64",
}


def _shares(values: list[Any]) -> list[float | None]:
    """Each value's share of the total; None unless all are finite, >= 0, sum > 0."""
    if any(is_missing(v) for v in values):
        return [None] * len(values)
    numbers = [float(v) for v in values]
    total = sum(numbers)
    if not all(math.isfinite(v) and v >= 0 for v in numbers) or total <= 0:
        return [None] * len(values)
    return [v / total for v in numbers]


def assignment_balance(
    counts: pd.DataFrame, threshold: float = SRM_THRESHOLD
) -> pd.DataFrame:
    """Add observed and expected shares and the SRM test to per-arm unit counts.

    Args:
        counts: One row per experiment and variant with at least
            ``experiment_id``, ``variant``, ``units`` and ``allocation_weight``;
            other columns pass through unchanged.
        threshold: ``srm_flag`` is ``srm_p_value < threshold`` (default 0.001).

    Returns:
        ``counts`` (same row order, fresh index) plus the columns of
        ``BALANCE_COLUMNS``; the SRM figures of an experiment repeat on each of
        its rows, and are null with ``srm_error_message`` set when the test
        cannot run.
    """
    missing = {"experiment_id", "variant", "units", "allocation_weight"} - set(
        counts.columns
    )
    if missing:
        raise ValueError(f"counts lacks columns {sorted(missing)}")
    out = counts.reset_index(drop=True)
    arms = records(out[["experiment_id", "units", "allocation_weight"]])
    groups: dict[Any, list[int]] = defaultdict(list)
    for index, row in enumerate(arms):
        groups[row["experiment_id"]].append(index)
    added: list[dict[str, Any]] = [{} for _ in arms]
    for indices in groups.values():
        units = [native(arms[i]["units"]) for i in indices]
        weights = [native(arms[i]["allocation_weight"]) for i in indices]
        result = srm_test(units, weights, threshold)
        expected = _shares(weights)
        observed = _shares(units)
        for position, i in enumerate(indices):
            added[i] = {
                "expected_share": expected[position],
                "observed_share": observed[position],
                "srm_chi2": result.chi2,
                "srm_p_value": result.p_value,
                "srm_flag": result.is_mismatch,
                "srm_error_message": result.error_message,
                "srm_degrees_of_freedom": result.df,
            }
    extra = typed_frame(added, BALANCE_COLUMNS)
    out = out.drop(columns=[c for c in BALANCE_COLUMNS if c in out.columns])
    return pd.concat([out, extra], axis=1)


# The per-arm counts it reads (int_arms_counted, int_planned_arms_counted),
# passed through in front of BALANCE_COLUMNS.
ARM_COUNT_COLUMNS: dict[str, str] = {
    "experiment_id": "string",
    "variant": "string",
    "is_control": "boolean",
    "allocation_weight": "Float64",
    "status": "string",
    "units": "Int64",
}

DECLARATION = MartDeclaration(
    name="assignment_balance",
    inputs=("intermediate.int_arms_counted",),
    settings=(),
    columns={**ARM_COUNT_COLUMNS, **BALANCE_COLUMNS},
    build=lambda inputs, settings: assignment_balance(inputs["int_arms_counted"]),
)

PLANNED_DECLARATION = MartDeclaration(
    name="planned_assignment_balance",
    inputs=("intermediate.int_planned_arms_counted",),
    settings=(),
    columns={**ARM_COUNT_COLUMNS, **BALANCE_COLUMNS},
    build=lambda inputs, settings: assignment_balance(
        inputs["int_planned_arms_counted"]
    ),
)
