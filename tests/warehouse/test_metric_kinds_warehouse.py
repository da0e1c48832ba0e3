"""Percentile capping, quantile, retention and funnel metrics (issue 17 items
8, 5 and 6) through the whole pipeline: raw CSVs with known unit-level values
are loaded with the project's loader and built with `dbt build`; every figure
is compared with numpy / scipy on the unit-level values that were written
(not on anything the warehouse computed).

Percentile capping: numpy.quantile (its default linear interpolation) of the
pooled unit values, every arm and the units without events (0) together,
np.minimum as the winsorisation, scipy's Welch t-test on the capped values;
the uncapped result beside it is scipy's Welch on the values before the cap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from warehouse import copy_project, load_and_build, read_tables

from xpkit.stats.quantiles import BOUND_Z

pytestmark = pytest.mark.warehouse

RTOL = 1e-9
UNITS_PER_ARM = 1200
WINDOW_DAYS = 5
START = pd.Timestamp("2025-03-01")
CAP_QUANTILES = {"spend": 0.9, "purchases": 0.95}
SEEDS = {
    "experiments.csv": (
        "experiment_id,experiment_name,domain,owner,hypothesis,status,start_date,"
        "end_date,control_variant,alpha,power,mde_relative,analysis_window_days,"
        "cuped_lookback_days\n"
        "kinds,Metric kinds,shop,growth,Spend rises,completed,"
        f"2025-03-01,2025-03-20,c,0.05,0.8,0.05,{WINDOW_DAYS},3\n"
    ),
    "experiment_variants.csv": """\
experiment_id,variant,is_control,allocation_weight
kinds,c,true,1
kinds,t,false,1
""",
    "metrics.csv": """\
metric_id,metric_name,event_name,aggregation,numerator_metric_id,denominator_metric_id,desired_direction,cap_value,description,cap_quantile,quantile
spend,Spend,purchase,sum,,,increase,,Spend capped at its 90th percentile,0.9,
purchases,Purchases,purchase,count,,,increase,,Purchases capped at their 95th percentile,0.95,
spend_raw,Spend (no cap),purchase,sum,,,increase,,Spend without a cap,,
spend_per_purchase,Spend per purchase,,ratio,spend,purchases,increase,,Capped spend over capped purchases,,
spend_median,Median spend,purchase,quantile,,,increase,,Median of spend per unit,,0.5
spend_p90,90th percentile of spend,purchase,quantile,,,increase,,90th percentile of spend per unit,,0.9
""",
    "experiment_metrics.csv": """\
experiment_id,metric_id,role,guardrail_tolerance
kinds,spend,primary,
kinds,purchases,secondary,
kinds,spend_raw,secondary,
kinds,spend_per_purchase,secondary,
kinds,spend_median,secondary,
kinds,spend_p90,guardrail,0.5
""",
}


def _dataset(rng: np.random.Generator) -> dict[str, object]:
    """Units, arms, exposure times and their purchase events (post and pre)."""
    n = 2 * UNITS_PER_ARM
    arm = np.repeat(np.array(["c", "t"]), UNITS_PER_ARM)
    rng.shuffle(arm)
    units = np.array([f"u{i:05d}" for i in range(n)])
    exposed = (
        START + pd.to_timedelta(rng.integers(0, 3, n), unit="D") + pd.Timedelta(hours=9)
    )
    events = []
    for period, offsets in (("post", (1, 24 * WINDOW_DAYS - 1)), ("pre", (-70, -1))):
        counts = rng.poisson(
            np.where(arm == "t", 1.3, 1.1) if period == "post" else 1.0
        )
        for unit_index in np.flatnonzero(counts):
            for _ in range(counts[unit_index]):
                hours = int(rng.integers(*offsets))
                # Heavy-tailed values, rounded to cents (exact in the CSV).
                value = round(float(rng.lognormal(3.0, 1.2)), 2)
                events.append(
                    (
                        period,
                        unit_index,
                        exposed[unit_index] + pd.Timedelta(hours=hours),
                        value,
                    )
                )
    return {"units": units, "arm": arm, "exposed": exposed, "events": events}


def _unit_values(data: dict[str, object], period: str) -> dict[str, np.ndarray]:
    """Per-unit spend and purchase count in the window (post) or pre-period."""
    n = data["units"].size
    spend, purchases = np.zeros(n), np.zeros(n)
    for event_period, unit_index, _, value in data["events"]:
        if event_period == period:
            spend[unit_index] += value
            purchases[unit_index] += 1
    return {"spend": spend, "purchases": purchases}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """The dataset written, loaded and built; the marts and the unit values."""
    work = tmp_path_factory.mktemp("metric_kinds")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in SEEDS.items():
        (seeds / name).write_text(text)
    (seeds / "unit_attributes.csv").write_text(
        "column_name,role,data_type,bins,description\n"
    )
    data = _dataset(np.random.default_rng(20250317))
    raw = work / "data"
    raw.mkdir()
    pd.DataFrame(
        {
            "experiment_id": "kinds",
            "unit_id": data["units"],
            "variant": data["arm"],
            "exposed_at": data["exposed"].strftime("%Y-%m-%dT%H:%M:%S"),
        }
    ).to_csv(raw / "exposures.csv", index=False)
    pd.DataFrame(
        {
            "unit_id": [data["units"][e[1]] for e in data["events"]],
            "event_name": "purchase",
            "event_at": [e[2].strftime("%Y-%m-%dT%H:%M:%S") for e in data["events"]],
            "value": [repr(e[3]) for e in data["events"]],
        }
    ).to_csv(raw / "events.csv", index=False)
    project = copy_project(work / "project", seeds)
    database = work / "kinds.duckdb"
    load_and_build(project, raw, database, work, {"XP_AS_OF": "2025-04-01 00:00:00"})
    tables = read_tables(
        database,
        "marts.arm_metrics",
        "marts.experiment_results",
        "marts.segment_results",
        "marts.daily_results",
    )
    return tables, data, _unit_values(data, "post"), _unit_values(data, "pre")


def _row(frame: pd.DataFrame, **keys: object) -> dict[str, object]:
    chosen = frame
    for column, value in keys.items():
        chosen = chosen[chosen[column] == value]
    assert len(chosen) == 1, keys
    return chosen.iloc[0].to_dict()


def _welch(treatment: np.ndarray, control: np.ndarray) -> tuple[float, float, tuple]:
    test = stats.ttest_ind(treatment, control, equal_var=False)
    ci = test.confidence_interval(0.95)
    return treatment.mean() - control.mean(), test.pvalue, (ci.low, ci.high)


@pytest.mark.parametrize("metric", sorted(CAP_QUANTILES))
def test_percentile_cap_equals_numpy_quantile_of_pooled_units(kinds, metric):
    tables, _, post, _ = kinds
    cap = np.quantile(post[metric], CAP_QUANTILES[metric])
    assert 0 < (post[metric] > cap).mean() < 0.2  # the cap bites, zeros included
    for arm in ("c", "t"):
        row = _row(tables["marts.arm_metrics"], metric_id=metric, variant=arm)
        assert row["metric_cap"] == pytest.approx(cap, rel=RTOL)
    row = _row(tables["marts.experiment_results"], metric_id=metric, variant="t")
    assert row["metric_cap"] == pytest.approx(cap, rel=RTOL)


@pytest.mark.parametrize("metric", sorted(CAP_QUANTILES))
def test_capped_result_equals_scipy_welch_on_winsorised_units(kinds, metric):
    tables, data, post, pre = kinds
    cap = np.quantile(post[metric], CAP_QUANTILES[metric])
    capped = np.minimum(post[metric], cap)
    control, treatment = capped[data["arm"] == "c"], capped[data["arm"] == "t"]
    for arm, values in (("c", control), ("t", treatment)):
        row = _row(tables["marts.arm_metrics"], metric_id=metric, variant=arm)
        assert row["metric_sum"] == pytest.approx(values.sum(), rel=RTOL)
        assert row["variance"] == pytest.approx(np.var(values, ddof=1), rel=RTOL)
        # The CUPED covariate is capped at the same cap.
        covariate = np.minimum(pre[metric], cap)[data["arm"] == arm]
        assert row["covariate_sum"] == pytest.approx(covariate.sum(), rel=RTOL)
    row = _row(tables["marts.experiment_results"], metric_id=metric, variant="t")
    lift, p_value, ci = _welch(treatment, control)
    assert row["method"] == "welch_t"
    assert row["abs_lift"] == pytest.approx(lift, rel=RTOL)
    assert row["p_value"] == pytest.approx(p_value, rel=RTOL)
    assert (row["abs_ci_low"], row["abs_ci_high"]) == pytest.approx(ci, rel=RTOL)


@pytest.mark.parametrize("metric", sorted(CAP_QUANTILES))
def test_uncapped_result_is_kept_beside_the_capped_one(kinds, metric):
    tables, data, post, _ = kinds
    control, treatment = (
        post[metric][data["arm"] == "c"],
        post[metric][data["arm"] == "t"],
    )
    row = _row(tables["marts.experiment_results"], metric_id=metric, variant="t")
    lift, p_value, ci = _welch(treatment, control)
    assert row["uncapped_mean_control"] == pytest.approx(control.mean(), rel=RTOL)
    assert row["uncapped_mean_treatment"] == pytest.approx(treatment.mean(), rel=RTOL)
    assert row["uncapped_abs_lift"] == pytest.approx(lift, rel=RTOL)
    assert row["uncapped_p_value"] == pytest.approx(p_value, rel=RTOL)
    assert (row["uncapped_ci_low"], row["uncapped_ci_high"]) == pytest.approx(
        ci, rel=RTOL
    )
    # The cap changes the answer: the capped and uncapped lifts differ.
    assert row["abs_lift"] != pytest.approx(row["uncapped_abs_lift"], rel=1e-3)


def test_metric_without_a_cap_is_unchanged_and_ratio_reads_capped_parts(kinds):
    tables, data, post, _ = kinds
    row = _row(tables["marts.experiment_results"], metric_id="spend_raw", variant="t")
    control, treatment = (post["spend"][data["arm"] == a] for a in ("c", "t"))
    lift, p_value, _ = _welch(treatment, control)
    assert row["abs_lift"] == pytest.approx(lift, rel=RTOL)
    assert row["p_value"] == pytest.approx(p_value, rel=RTOL)
    assert pd.isna(row["metric_cap"]) and pd.isna(row["uncapped_p_value"])
    caps = {m: np.quantile(post[m], q) for m, q in CAP_QUANTILES.items()}
    for arm in ("c", "t"):
        mask = data["arm"] == arm
        ratio = _row(
            tables["marts.arm_metrics"], metric_id="spend_per_purchase", variant=arm
        )
        spend = np.minimum(post["spend"][mask], caps["spend"])
        purchases = np.minimum(post["purchases"][mask], caps["purchases"])
        assert ratio["metric_sum"] == pytest.approx(spend.sum(), rel=RTOL)
        assert ratio["denominator_sum"] == pytest.approx(purchases.sum(), rel=RTOL)
        assert ratio["metric_cap"] == pytest.approx(caps["spend"], rel=RTOL)


QUANTILE_LEVELS = {"spend_median": 0.5, "spend_p90": 0.9}


@pytest.mark.parametrize("metric", sorted(QUANTILE_LEVELS))
def test_quantile_metric_equals_unit_level_numpy(kinds, metric):
    # Woodruff's standard error from numpy quantiles of each arm's unit values
    # (units without purchases as 0), a z-test, Fieller for the relative lift.
    tables, data, post, _ = kinds
    level = QUANTILE_LEVELS[metric]
    z0 = stats.norm.ppf(0.975)
    assert z0 == pytest.approx(BOUND_Z, rel=1e-15)
    figures = {}
    for arm in ("c", "t"):
        values = post["spend"][data["arm"] == arm]
        half = z0 * np.sqrt(level * (1 - level) / values.size)
        low, mid, high = np.quantile(values, [level - half, level, level + half])
        row = _row(tables["marts.arm_metrics"], metric_id=metric, variant=arm)
        assert row["aggregation"] == "quantile"
        assert row["quantile_level"] == level
        assert row["quantile_value"] == pytest.approx(mid, rel=RTOL)
        assert row["quantile_lower_value"] == pytest.approx(low, rel=RTOL)
        assert row["quantile_upper_value"] == pytest.approx(high, rel=RTOL)
        figures[arm] = (mid, ((high - low) / (2 * z0)) ** 2)
    (q_c, v_c), (q_t, v_t) = figures["c"], figures["t"]
    se = np.sqrt(v_c + v_t)
    roots = np.sort(
        np.roots([q_c**2 - z0**2 * v_c, -2 * q_t * q_c, q_t**2 - z0**2 * v_t]).real
    )
    row = _row(tables["marts.experiment_results"], metric_id=metric, variant="t")
    assert row["method"] == "quantile_woodruff_z"
    assert row["mean_control"] == pytest.approx(q_c, rel=RTOL)
    assert row["abs_lift"] == pytest.approx(q_t - q_c, rel=RTOL)
    assert row["std_error"] == pytest.approx(se, rel=RTOL)
    p_value = 2 * stats.norm.sf(abs(q_t - q_c) / se)
    assert row["p_value"] == pytest.approx(p_value, rel=RTOL)
    assert row["abs_ci_low"] == pytest.approx(q_t - q_c - z0 * se, rel=RTOL)
    assert row["abs_ci_high"] == pytest.approx(q_t - q_c + z0 * se, rel=RTOL)
    assert row["rel_lift"] == pytest.approx(q_t / q_c - 1, rel=RTOL)
    assert row["rel_ci_low"] == pytest.approx(roots[0] - 1, rel=RTOL)
    assert row["rel_ci_high"] == pytest.approx(roots[1] - 1, rel=RTOL)
    assert row["cuped_error_message"] == "CUPED does not apply to quantile metrics"
    assert pd.notna(row["p_value_adjusted"]) and pd.notna(row["summary"])


def test_quantile_guardrail_is_judged_and_breakdowns_say_why_not(kinds):
    tables, *_ = kinds
    row = _row(tables["marts.experiment_results"], metric_id="spend_p90", variant="t")
    assert row["guardrail_status"] in ("passed", "breached", "inconclusive")
    assert pd.notna(row["guardrail_bound"])
    daily = tables["marts.daily_results"]
    quantile_days = daily[daily.metric_id == "spend_median"]
    assert quantile_days["p_value"].isna().all()
