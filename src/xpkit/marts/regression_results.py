"""The regression-adjustment columns of ``experiment_results`` (issue 17 item 2).

Reads ``int_regression_cross_products`` (one row per experiment x metric x arm x
pair of terms: exact integer sums and their power-of-2 scales, a few dozen rows
per metric) and calls ``xpkit.stats.regression.regression_adjusted_test`` on
each treatment arm against control. Nothing unit-level is read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

import pandas as pd

from xpkit.marts.frames import records
from xpkit.stats.numbers import finite, is_missing
from xpkit.stats.regression import ArmCrossProducts, regression_adjusted_test

__all__ = ["REGRESSION_COLUMNS", "add_regression", "arm_cross_products"]

REGRESSION_COLUMNS: dict[str, str] = {
    "regression_abs_lift": "Float64",
    "regression_ci_low": "Float64",
    "regression_ci_high": "Float64",
    "regression_p_value": "Float64",
    "regression_std_error": "Float64",
    "regression_covariates": "string",
    "regression_variance_reduction": "Float64",
    "regression_error_message": "string",
}

RATIO_MESSAGE = (
    "regression adjustment is for non-ratio metrics: ratio metrics keep their "
    "CUPED adjustment"
)
NO_COVARIATE_MESSAGE = (
    "no covariates: cuped_lookback_days is 0 and the metric has no rows in "
    "seeds/experiment_metric_covariates.csv"
)

ArmKey = tuple[Any, Any, Any]


def _exact(value: Any) -> Fraction:
    return Fraction(int(str(value).strip()))


def arm_cross_products(
    cross_products: pd.DataFrame | Iterable[Mapping[str, Any]],
) -> dict[ArmKey, tuple[ArmCrossProducts, tuple[str, ...]]]:
    """Per (experiment_id, metric_id, variant): the arm's sums and covariate names.

    Each exact sum is an integer (as text) over ``term_i_scale * term_j_scale``;
    both scales are powers of 2, so the Fraction is the warehouse's sum exactly.
    """
    rows: list[Mapping[str, Any]] = (
        list(records(cross_products))
        if isinstance(cross_products, pd.DataFrame)
        else list(cross_products)
    )
    grouped: dict[ArmKey, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(row["experiment_id"], row["metric_id"], row["variant"])].append(row)
    arms: dict[ArmKey, tuple[ArmCrossProducts, tuple[str, ...]]] = {}
    for key, items in grouped.items():
        names = {
            int(r["term_i_index"]): str(r["term_i"])
            for r in items
            if int(r["term_i_index"]) >= 0
        }
        size = max(names) + 1
        sums: list[Fraction] = [Fraction(0)] * size
        products = [[Fraction(0)] * size for _ in range(size)]
        for r in items:
            i, j = int(r["term_i_index"]), int(r["term_j_index"])
            scale = Fraction(float(r["term_i_scale"])) * Fraction(
                float(r["term_j_scale"])
            )
            value = _exact(r["exact_sum"]) / scale
            if j < 0:
                sums[i] = value
            else:
                products[i][j] = products[j][i] = value
        n = int(items[0]["n_units"])
        covariates = tuple(names[i] for i in range(1, size))
        arms[key] = (ArmCrossProducts(n=n, sums=sums, products=products), covariates)
    return arms


def add_regression(
    rows: list[dict[str, Any]], cross_products: pd.DataFrame | None
) -> None:
    """Fill the ``REGRESSION_COLUMNS`` of each ``experiment_results`` row in place.

    A row that already has an error (no units, a planned experiment, ...) keeps
    it as its regression error; ratio metrics and metrics without covariates
    get a reason. ``regression_error_message`` also names covariates that were
    left out (constant, collinear or past the cap) while the figures stand.
    """
    arms = arm_cross_products(cross_products) if cross_products is not None else {}
    for row in rows:
        row.update(_regression_row(row, arms))


def _regression_row(
    row: Mapping[str, Any],
    arms: Mapping[ArmKey, tuple[ArmCrossProducts, tuple[str, ...]]],
) -> dict[str, Any]:
    if row.get("aggregation") == "ratio":
        return {"regression_error_message": RATIO_MESSAGE}
    experiment_id, metric_id = row.get("experiment_id"), row.get("metric_id")
    control = arms.get((experiment_id, metric_id, row.get("control_variant")))
    treatment = arms.get((experiment_id, metric_id, row.get("variant")))
    error = row.get("error_message") if row.get("abs_lift") is None else None
    if not is_missing(error) and error:
        return {"regression_error_message": error}
    if control is None and treatment is None:
        return {"regression_error_message": NO_COVARIATE_MESSAGE}
    if control is None or treatment is None:
        return {"regression_error_message": "control or treatment arm missing"}
    if control[1] != treatment[1]:
        return {"regression_error_message": "the arms' covariates differ"}
    alpha = finite(row.get("alpha")) or 0.05
    result = regression_adjusted_test(control[0], treatment[0], control[1], alpha)
    return {
        "regression_abs_lift": result.abs_lift,
        "regression_ci_low": result.ci_low,
        "regression_ci_high": result.ci_high,
        "regression_p_value": result.p_value,
        "regression_std_error": result.std_error,
        "regression_covariates": ", ".join(result.covariates) or None,
        "regression_variance_reduction": result.variance_reduction,
        "regression_error_message": result.message,
    }
