"""The regression columns of experiment_results from int_regression_cross_products rows.

The rows are built here as the warehouse builds them (each value times a
power-of-2 scale, rounded, summed as integers, sent as text); the oracle is
statsmodels OLS ``y ~ T * (x - xbar)`` on the rounded unit values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from xpkit.marts.regression_results import (
    NO_COVARIATE_MESSAGE,
    RATIO_MESSAGE,
    add_regression,
    arm_cross_products,
)


def long_rows(experiment, metric, variant, y, x, names, scales):
    """One arm's rows: exact integer sums of scaled values, as text."""
    terms = np.column_stack([y, x])
    labels = ["metric", *names]
    ints = [[round(v * scales[i]) for i, v in enumerate(row)] for row in terms]
    rows = []
    for i in range(len(labels)):
        for j in [-1, *range(i, len(labels))]:
            if j < 0:
                total = sum(row[i] for row in ints)
            else:
                total = sum(row[i] * row[j] for row in ints)
            rows.append(
                {
                    "experiment_id": experiment,
                    "variant": variant,
                    "metric_id": metric,
                    "n_units": len(y),
                    "term_i_index": i,
                    "term_i": labels[i],
                    "term_j_index": j,
                    "term_j": "1" if j < 0 else labels[j],
                    "exact_sum": str(total),
                    "term_i_scale": scales[i],
                    "term_j_scale": 1.0 if j < 0 else scales[j],
                }
            )
    return rows, np.array(ints, dtype=float) / np.array(scales)


def test_rows_to_regression_columns_match_statsmodels():
    rng = np.random.default_rng(9)
    n_c, n_t = 300, 1_200
    x_c, x_t = rng.normal(1e6, 1, (n_c, 2)), rng.normal(1e6, 1, (n_t, 2))
    y_c = 3 + (x_c - 1e6) @ [1.0, 0.5] + rng.normal(0, 1, n_c)
    y_t = 3.2 + (x_t - 1e6) @ [1.5, 0.5] + rng.normal(0, 2, n_t)
    scales = [2.0**40, 2.0**26, 2.0**26]  # |value| * scale < 2^47
    names = ["pre:m", "attribute:a"]
    control, units_c = long_rows("E", "m", "c", y_c, x_c, names, scales)
    treatment, units_t = long_rows("E", "m", "t", y_t, x_t, names, scales)
    frame = pd.DataFrame(control + treatment)
    arms = arm_cross_products(frame)
    assert arms[("E", "m", "c")][1] == tuple(names)
    row = {
        "experiment_id": "E",
        "metric_id": "m",
        "variant": "t",
        "control_variant": "c",
        "aggregation": "sum",
        "abs_lift": 0.2,
        "alpha": 0.05,
    }
    add_regression([row], frame)
    units = np.vstack([units_c, units_t])
    t = np.r_[np.zeros(n_c), np.ones(n_t)]
    centred = units[:, 1:] - units[:, 1:].mean(axis=0)
    design = sm.add_constant(np.column_stack([t, centred, t[:, None] * centred]))
    expected = sm.OLS(units[:, 0], design).fit().params[1]
    assert row["regression_abs_lift"] == pytest.approx(expected, rel=1e-9)
    assert row["regression_covariates"] == "pre:m, attribute:a"
    assert row["regression_error_message"] is None
    assert row["regression_ci_low"] < expected < row["regression_ci_high"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"aggregation": "ratio"}, RATIO_MESSAGE),
        ({"aggregation": "sum", "abs_lift": 1.0}, NO_COVARIATE_MESSAGE),
        ({"aggregation": "sum", "error_message": "no units yet"}, "no units yet"),
    ],
)
def test_rows_without_a_regression_say_why(row, message):
    row = {"experiment_id": "E", "metric_id": "m", "variant": "t"} | row
    add_regression([row], None)
    assert row["regression_error_message"] == message
    assert row.get("regression_abs_lift") is None
