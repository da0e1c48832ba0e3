"""Regression adjustment in the warehouse (issue 17 item 2c).

A small custom dataset with its own registry asks for several covariates
(seeds/experiment_metric_covariates.csv): the metric's own pre-period, another
metric's pre-period and two numeric unit attributes (a covariate and a
prediction column, CUPAC). experiment_results' regression columns must equal
statsmodels OLS ``y ~ T * (x - xbar)`` fitted on the unit-level rows pulled back
from the warehouse (point estimate to 1e-9); a metric without rows uses its
own pre-period and equals the CUPED columns; ``stratum:<column>`` post-stratifies
(alone, or combined with the other covariates); bad registry rows stop the build
with one message each naming the file, the row and the fix.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from warehouse import copy_project, load_and_build

from xpkit.stats.poststratification import poststratified_test, strata_from_units

pytestmark = pytest.mark.warehouse

ATTRIBUTES = (
    "column_name,role,data_type,bins,description\n"
    "plan,dimension,string,,Price plan\n"
    "tenure_days,covariate,double,,Days since signup\n"
    "churn_score,prediction,double,,A model's prediction of revenue\n"
)
COVARIATES = (
    "experiment_id,metric_id,covariate\n"
    "checkout-2025,revenue,pre:revenue\n"
    "checkout-2025,revenue,pre:orders\n"
    "checkout-2025,revenue,attribute:tenure_days\n"
    "checkout-2025,revenue,attribute:churn_score\n"
    "checkout-2025,revenue,stratum:plan\n"
    "checkout-2025,orders,stratum:plan\n"
)
EXPERIMENT = "checkout-2025"


def _project(tmp_path, covariates: str):
    seeds = tmp_path / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    # orders is registered too, so its pre-period is computed for the experiment.
    (seeds / "experiment_metrics.csv").write_text(
        CUSTOM_SEEDS["experiment_metrics.csv"] + "checkout-2025,orders,secondary,\n"
    )
    (seeds / "unit_attributes.csv").write_text(ATTRIBUTES)
    (seeds / "experiment_metric_covariates.csv").write_text(covariates)
    data = tmp_path / "data"
    write_custom_dataset(data)
    rng = np.random.default_rng(11)
    ids = [f'ü-"{i}" x' for i in range(400)]
    units = pd.DataFrame(
        {
            "unit_id": ids,
            "tenure_days": rng.integers(0, 200, len(ids)).astype(float),
            "churn_score": rng.random(len(ids)),
            # team is rare: fewer than 10 units in an arm, so it is pooled.
            "plan": rng.choice(
                np.array(["free", "pro", "team"]), len(ids), p=[0.5, 0.46, 0.04]
            ),
        }
    )
    units.to_csv(data / "units.csv", index=False)
    return copy_project(tmp_path / "project", seeds), units


UNIT_SQL = """
with keyed as (
    select experiment_metric_key, metric_id
    from intermediate.int_registered_metrics_keyed
    where experiment_id = $experiment
),
units as (
    select assignments.unit_id, assignments.arm_key, arms.is_control
    from intermediate.int_assignments_resolved as assignments
    inner join intermediate.int_arms_keyed as arms
        on assignments.arm_key = arms.arm_key
    where assignments.experiment_id = $experiment
        and not assignments.is_multi_variant
        and assignments.arm_key is not null
),
values as (
    select pivoted.unit_id, pivoted.arm_key, keyed.metric_id, pivoted.m, pivoted.x
    from intermediate.int_unit_metrics_pivoted as pivoted
    inner join keyed on pivoted.experiment_metric_key = keyed.experiment_metric_key
)
select
    units.unit_id,
    units.is_control,
    coalesce(revenue.m, 0) as revenue,
    coalesce(revenue.x, 0) as pre_revenue,
    coalesce(orders.m, 0) as orders,
    coalesce(orders.x, 0) as pre_orders,
    coalesce(converted.m, 0) as converted,
    coalesce(converted.x, 0) as pre_converted
from units
left join values as revenue
    on units.unit_id = revenue.unit_id and units.arm_key = revenue.arm_key
    and revenue.metric_id = 'revenue'
left join values as orders
    on units.unit_id = orders.unit_id and units.arm_key = orders.arm_key
    and orders.metric_id = 'orders'
left join values as converted
    on units.unit_id = converted.unit_id and units.arm_key = converted.arm_key
    and converted.metric_id = 'converted'
"""


def _interacted_ols(y: np.ndarray, t: np.ndarray, x: np.ndarray) -> float:
    """The T coefficient of statsmodels OLS y ~ T * (x - xbar) (unit level)."""
    centred = x - x.mean(axis=0)
    design = sm.add_constant(np.column_stack([t, centred, t[:, None] * centred]))
    return float(sm.OLS(y, design).fit().params[1])


def test_regression_columns_match_statsmodels_on_the_unit_rows(tmp_path):
    project, attributes = _project(tmp_path, COVARIATES)
    database = tmp_path / "own.duckdb"
    load_and_build(project, tmp_path / "data", database, tmp_path)
    with duckdb.connect(str(database), read_only=True) as con:
        problems = con.sql("select * from intermediate.int_registry_problems").df()
        results = con.sql(
            "select * from marts.experiment_results where experiment_id = $e",
            params={"e": EXPERIMENT},
        ).df()
        unit_rows = con.execute(UNIT_SQL, {"experiment": EXPERIMENT}).df()
    assert problems.empty
    by_metric = results.set_index("metric_id")
    units = unit_rows.merge(attributes, on="unit_id", how="left")
    t = (~units.is_control.astype(bool)).to_numpy(dtype=float)

    # The pooling rule, by hand: a plan with fewer than 10 units in an arm
    # joins '(pooled)', the first stratum (no dummy).
    counts = units.groupby(["plan", "is_control"]).size().unstack(fill_value=0)
    small = counts.index[counts.min(axis=1) < 10]
    assert list(small) == ["team"]
    units["stratum"] = np.where(units.plan.isin(small), "(pooled)", units.plan)
    for level in ("free", "pro"):
        units[f"plan_{level}"] = (units.stratum == level).astype(float)

    revenue = by_metric.loc["revenue"]
    # Own pre-period first, then by name.
    assert revenue.regression_covariates == (
        "pre:revenue, attribute:churn_score, attribute:tenure_days, pre:orders, "
        "stratum:plan=free, stratum:plan=pro"
    )
    x = units[
        [
            "pre_revenue",
            "churn_score",
            "tenure_days",
            "pre_orders",
            "plan_free",
            "plan_pro",
        ]
    ].to_numpy(dtype=float)
    expected = _interacted_ols(units.revenue.to_numpy(dtype=float), t, x)
    assert revenue.regression_abs_lift == pytest.approx(expected, rel=1e-9)
    assert revenue.regression_ci_low < revenue.regression_abs_lift
    assert revenue.regression_abs_lift < revenue.regression_ci_high
    assert 0 <= revenue.regression_p_value <= 1
    assert pd.isna(revenue.regression_error_message)

    # Post-stratification alone: the dummies' Lin estimator is the weighted
    # within-stratum difference (xpkit.stats.poststratification on the unit rows).
    orders = by_metric.loc["orders"]
    assert orders.regression_covariates == "stratum:plan=free, stratum:plan=pro"
    y = units.orders.to_numpy(dtype=float)
    expected = _interacted_ols(y, t, units[["plan_free", "plan_pro"]].to_numpy())
    assert orders.regression_abs_lift == pytest.approx(expected, rel=1e-9)
    cells = strata_from_units(y, t.astype(int), units.stratum.to_numpy())
    poststratified = poststratified_test(cells, min_units=2)
    assert orders.regression_abs_lift == pytest.approx(
        poststratified.abs_lift, rel=1e-9
    )
    # Same variance to first order (marginal vs per-cell residual variances).
    assert orders.regression_std_error == pytest.approx(
        poststratified.std_error, rel=0.05
    )

    # No rows for converted: its own pre-period, i.e. today's CUPED.
    converted = by_metric.loc["converted"]
    assert converted.regression_covariates == "pre:converted"
    expected = _interacted_ols(
        units.converted.to_numpy(dtype=float), t, units[["pre_converted"]].to_numpy()
    )
    assert converted.regression_abs_lift == pytest.approx(expected, rel=1e-9)
    assert converted.regression_abs_lift == pytest.approx(
        converted.cuped_abs_lift, rel=1e-9
    )
    assert converted.regression_std_error == pytest.approx(
        converted.cuped_std_error, rel=1e-9
    )

    # Ratio metrics keep CUPED and say so.
    assert pd.isna(by_metric.loc["aov"].regression_abs_lift)
    assert "ratio" in by_metric.loc["aov"].regression_error_message


BAD = (
    "experiment_id,metric_id,covariate\n"
    "checkout-2025,revenue,pre:page_views\n"
    "checkout-2025,revenue,attribute:plan\n"
    "checkout-2025,revenue,lagged:revenue\n"
    "checkout-2025,aov,pre:revenue\n"
    "checkout-2025,nope,pre:revenue\n"
    "checkout-2025,revenue,stratum:tenure_days\n"
)
MESSAGES = [
    "seeds/experiment_metric_covariates.csv | experiment_id = checkout-2025, "
    "metric_id = revenue, covariate = pre:page_views | metric 'page_views' has no "
    "pre-period value for this experiment",
    "covariate = attribute:plan | unit attribute 'plan' is not declared as a numeric "
    "covariate or prediction (usable: tenure_days, churn_score)",
    "covariate = lagged:revenue | unknown covariate 'lagged:revenue' | Write "
    "pre:<metric_id>, attribute:<column> or stratum:<column>.",
    "covariate = stratum:tenure_days | unit attribute 'tenure_days' is not declared "
    "as a categorical dimension or stratum (usable: plan)",
    "metric_id = aov, covariate = pre:revenue | a ratio metric cannot be "
    "regression-adjusted",
    "metric_id = nope, covariate = pre:revenue | the experiment metric is not "
    "registered in seeds/experiment_metrics.csv",
]


def test_bad_covariate_rows_stop_the_build_with_file_row_and_fix(tmp_path):
    project, _ = _project(tmp_path, BAD)
    with pytest.raises(AssertionError) as failure:
        load_and_build(project, tmp_path / "data", tmp_path / "bad.duckdb", tmp_path)
    output = " ".join(str(failure.value).split())
    for message in MESSAGES:
        assert output.count(message) == 1, message
