"""Large means with a small spread, through the whole pipeline (issue 12,
findings 7 and 8): raw CSVs loaded with the project's loader, `dbt build`,
then every variance, covariance and p-value of the marts compared with numpy
and scipy on the unit-level values that were written.

Account balances of 1e5 to 1e8 with a spread of 0.5 to 1: sums of squares of
such values hold the spread only in their last digits, so variances taken
from raw sums were 25% off (or read as zero spread) at 1e7. The marts carry
sums shifted by a central value; these tests prove they are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from warehouse import copy_project, load_and_build, read_tables

from xpkit.stats.statistics import from_row

pytestmark = pytest.mark.warehouse

UNITS_PER_ARM = 5000
START = pd.Timestamp("2025-03-01")
# metric -> (event, mean, sd, treatment effect)
BALANCES = {
    "balance_1e5": ("b5", 1e5, 0.5, 0.03),
    "balance_1e7": ("b7", 1e7, 1.0, 0.05),
    "balance_1e8": ("b8", 1e8, 1.0, 0.06),
}
SEEDS = {
    "experiments.csv": (
        "experiment_id,experiment_name,domain,owner,hypothesis,status,start_date,"
        "end_date,control_variant,alpha,power,mde_relative,analysis_window_days,"
        "cuped_lookback_days\n"
        "balances,Large balances,banking,risk,Balances move a little,completed,"
        "2025-03-01,2025-03-10,c,0.05,0.8,0.01,5,3\n"
    ),
    "experiment_variants.csv": """\
experiment_id,variant,is_control,allocation_weight
balances,c,true,1
balances,t,false,1
""",
    "metrics.csv": """\
metric_id,metric_name,event_name,aggregation,numerator_metric_id,denominator_metric_id,desired_direction,cap_value,description
balance_1e5,Balance near 1e5,b5,sum,,,increase,,Balance of about 1e5
balance_1e7,Balance near 1e7,b7,sum,,,increase,,Balance of about 1e7
balance_1e8,Balance near 1e8,b8,sum,,,increase,,Balance of about 1e8
balance_ratio,Balance ratio,,ratio,balance_1e7,balance_1e8,increase,,Ratio of balances
""",
    "experiment_metrics.csv": """\
experiment_id,metric_id,role,guardrail_tolerance
balances,balance_1e7,primary,
balances,balance_1e5,secondary,
balances,balance_1e8,secondary,
balances,balance_ratio,secondary,
""",
}


def _values() -> dict[str, object]:
    """Unit-level post and pre values of every balance, with arms and segments."""
    rng = np.random.default_rng(20250301)
    n = 2 * UNITS_PER_ARM
    arm = np.repeat(np.array(["c", "t"]), UNITS_PER_ARM)
    rng.shuffle(arm)
    post, pre = {}, {}
    for metric, (_, mean, sd, effect) in BALANCES.items():
        noise = rng.normal(0.0, sd, n)
        # A pre-period balance correlated with the post one (for CUPED sums).
        pre[metric] = mean + 0.8 * noise + rng.normal(0.0, 0.6 * sd, n)
        post[metric] = mean + noise + np.where(arm == "t", effect, 0.0)
    return {
        "unit": np.array([f"u{i:05d}" for i in range(n)]),
        "arm": arm,
        "day": rng.integers(0, 3, n),
        "segment": rng.choice(np.array(["north", "south"]), n),
        "post": post,
        "pre": pre,
    }


@pytest.fixture(scope="module")
def balances(tmp_path_factory):
    """The dataset written, loaded and built; the tables and the values."""
    work = tmp_path_factory.mktemp("large_means")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in SEEDS.items():
        (seeds / name).write_text(text)
    values = _values()
    data = work / "data"
    data.mkdir()
    exposed = START + pd.to_timedelta(values["day"], unit="D") + pd.Timedelta(hours=9)
    pd.DataFrame(
        {
            "experiment_id": "balances",
            "unit_id": values["unit"],
            "variant": values["arm"],
            "exposed_at": exposed.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    ).to_csv(data / "exposures.csv", index=False)
    events = []
    for metric, (event, *_rest) in BALANCES.items():
        for period, hours in (("post", 2), ("pre", -30)):
            at = exposed + pd.Timedelta(hours=hours)
            events.append(
                pd.DataFrame(
                    {
                        "unit_id": values["unit"],
                        "event_name": event,
                        "event_at": at.strftime("%Y-%m-%dT%H:%M:%S"),
                        # repr round-trips: the warehouse reads these doubles.
                        "value": [repr(float(v)) for v in values[period][metric]],
                    }
                )
            )
    pd.concat(events).to_csv(data / "events.csv", index=False)
    pd.DataFrame({"unit_id": values["unit"], "segment": values["segment"]}).to_csv(
        data / "units.csv", index=False
    )
    (seeds / "unit_attributes.csv").write_text(
        "column_name,role,data_type,bins,description\n"
        "segment,dimension,string,,Segment\n"
    )
    project = copy_project(work / "project", seeds)
    database = work / "balances.duckdb"
    load_and_build(project, data, database, work, {"XP_AS_OF": "2025-04-01 00:00:00"})
    tables = read_tables(
        database,
        "marts.arm_metrics",
        "marts.arm_metrics_daily",
        "marts.arm_metrics_by_segment",
        "marts.experiment_results",
        "marts.segment_results",
        "marts.daily_results",
    )
    return tables, values


def _unit_arrays(values, metric, mask):
    """(m, x, d, w) of the units in mask: d and w only for the ratio."""
    if metric == "balance_ratio":
        return (
            values["post"]["balance_1e7"][mask],
            values["pre"]["balance_1e7"][mask],
            values["post"]["balance_1e8"][mask],
            values["pre"]["balance_1e8"][mask],
        )
    return values["post"][metric][mask], values["pre"][metric][mask], None, None


def _unit_variance(m, d):
    """ddof=1 variance of the unit values (delta-method linearised for ratios)."""
    if d is None:
        return np.var(m, ddof=1)
    ratio = m.sum() / d.sum()
    return np.var((m - ratio * d) / d.mean(), ddof=1)


def _samples(values, metric, mask):
    """The control and treatment unit values (linearised for the ratio)."""
    samples = []
    for arm in ("c", "t"):
        m, _, d, _ = _unit_arrays(values, metric, mask & (values["arm"] == arm))
        if d is None:
            samples.append(m)
        else:
            ratio = m.sum() / d.sum()
            samples.append(ratio + (m - ratio * d) / d.mean())
    return samples


def assert_welch_p(p_value, values, metric, mask=None):
    """p equals scipy's Welch p-value on the unit values, up to the rounding of
    the means. The variances are exact (tested to 1e-9 above), but a mean is a
    sum of n doubles near M divided by n, which any summation order rounds by
    about sqrt(n) half-spacings of M (1e7: 1.9e-9 each): no implementation, scipy
    included, knows a difference of means better. scipy's p-values with the
    treatment moved by 4 sqrt(n) spacings either way bracket the answer."""
    mask = np.ones(values["arm"].size, bool) if mask is None else mask
    control, treatment = _samples(values, metric, mask)
    size = max(control.size, treatment.size)
    spacing = np.spacing(max(abs(control.mean()), abs(treatment.mean())))
    slack = 4 * np.sqrt(size) * spacing
    central = stats.ttest_ind(treatment, control, equal_var=False).pvalue
    bracket = [
        stats.ttest_ind(treatment + shift, control, equal_var=False).pvalue
        for shift in (-slack, slack)
    ]
    low, high = min(*bracket, central), max(*bracket, central)
    print(metric, "p", p_value, "scipy", central, "bracket", low, high)
    assert low * (1 - 1e-12) <= p_value <= high * (1 + 1e-12)


def _row(frame, **keys):
    chosen = frame
    for column, value in keys.items():
        chosen = chosen[chosen[column] == value]
    assert len(chosen) == 1, keys
    return chosen.iloc[0].to_dict()


@pytest.mark.parametrize("metric", [*BALANCES, "balance_ratio"])
@pytest.mark.parametrize("arm", ["c", "t"])
def test_arm_variance_and_covariance_equal_numpy(balances, metric, arm):
    tables, values = balances
    row = _row(tables["marts.arm_metrics"], metric_id=metric, variant=arm)
    m, x, d, w = _unit_arrays(values, metric, values["arm"] == arm)
    expected = _unit_variance(m, d)
    statistic = from_row(row)
    print(metric, arm, "variance", row["variance"], "numpy", expected)
    assert row["n_units"] == UNITS_PER_ARM
    assert row["variance"] == pytest.approx(expected, rel=1e-9)
    assert statistic.variance == pytest.approx(expected, rel=1e-9)
    if d is None:
        assert statistic.mean == pytest.approx(m.mean(), rel=1e-12)
        assert statistic.covariance == pytest.approx(np.cov(m, x)[0, 1], rel=1e-9)
    else:
        r, q = m.sum() / d.sum(), x.sum() / w.sum()
        u, v = (m - r * d) / d.mean(), (x - q * w) / w.mean()
        assert statistic.mean == pytest.approx(r, rel=1e-12)
        assert statistic.pre.variance == pytest.approx(np.var(v, ddof=1), rel=1e-9)
        assert statistic.covariance == pytest.approx(np.cov(u, v)[0, 1], rel=1e-9)


@pytest.mark.parametrize("metric", [*BALANCES, "balance_ratio"])
def test_experiment_results_equal_scipy_welch(balances, metric):
    tables, values = balances
    row = _row(tables["marts.experiment_results"], metric_id=metric, variant="t")
    assert pd.isna(row["error_message"]), row["error_message"]
    assert_welch_p(row["p_value"], values, metric)
    m_c, _, d_c, _ = _unit_arrays(values, metric, values["arm"] == "c")
    m_t, _, d_t, _ = _unit_arrays(values, metric, values["arm"] == "t")
    variance = _unit_variance(m_c, d_c) / m_c.size + _unit_variance(m_t, d_t) / m_t.size
    assert row["std_error"] == pytest.approx(np.sqrt(variance), rel=1e-9)


@pytest.mark.parametrize("metric", ["balance_1e7", "balance_1e8", "balance_ratio"])
def test_daily_and_segment_sums_add_up_exactly(balances, metric):
    # Python sums the daily rows (cumulative results) and the other segments'
    # rows (segment vs rest): the shifted sums must add up like the raw ones.
    tables, values = balances
    daily = tables["marts.daily_results"]
    last = daily[(daily.metric_id == metric) & (daily.variant == "t")]
    final = last.sort_values("exposure_date").iloc[-1]
    assert_welch_p(final["p_value"], values, metric)
    segments = tables["marts.segment_results"]
    for segment in ("north", "south"):
        row = _row(segments, metric_id=metric, variant="t", segment_value=segment)
        mask = values["segment"] == segment
        assert_welch_p(row["p_value"], values, metric, mask)
        rest = ~mask
        variances = []
        for arm in ("c", "t"):
            m, _, d, _ = _unit_arrays(values, metric, rest & (values["arm"] == arm))
            variances.append(_unit_variance(m, d) / m.size)
        for arm in ("c", "t"):
            m, _, d, _ = _unit_arrays(values, metric, mask & (values["arm"] == arm))
            variances.append(_unit_variance(m, d) / m.size)
        assert row["lift_difference_std_error"] == pytest.approx(
            np.sqrt(sum(variances)), rel=1e-9
        )
