"""Retention and funnel metrics (issue 17 item 6) on six hand-made units, with
every expected value worked out by hand from the events below.

All units are first exposed at FE (2025-03-01 10:00); the analysis window is
14 days, the CUPED lookback 3 days. Arm c: u1, u2, u3; arm t: u4, u5, u6.

login (retention):
  u1: FE - 1 day (pre-period), FE + 8 days   -> retained_7_14 = 1, active before
  u2: FE + 2 days                           -> 0 for both ranges
  u3: FE + 2 hours, FE + 14 days + 1 hour   -> retained_0_1 = 1; the second
                                               login is past the window
  u4: FE + 7 days exactly                   -> retained_7_14 = 1 (start included)
  u5: FE + 13 days 20 hours                 -> retained_7_14 = 1
  u6: none                                  -> 0
  retained_7_14: c 1 of 3, t 2 of 3; retained_0_1: c 1 of 3, t 0 of 3.

view | cart | buy (funnels; each step at or after the previous one):
  u1: view +1h, cart +2h, buy +3h             -> checkout 1, view_cart 1
  u2: cart +1h, view +2h, buy +3h             -> no cart after the view: 0, 0
  u3: view +1h, cart +2h                      -> checkout 0, view_cart 1
  u4: view +1h, buy +2h, cart +3h             -> no buy after the cart: 0, 1
  u5: view +1h, cart +1h (a tie), buy +5h     -> 1, 1
  u6: view -1h (pre-period), cart +1h, buy +2h -> the view does not count: 0, 0
  checkout: c 1, t 1; view_cart: c 2, t 2; buy given cart (checkout /
  view_cart, a ratio of the two funnels): c 1/2, t 1/2.
"""

from __future__ import annotations

import pandas as pd
import pytest
from warehouse import copy_project, load_and_build, read_tables

pytestmark = pytest.mark.warehouse

FE = pd.Timestamp("2025-03-01 10:00:00")
H, D = pd.Timedelta(hours=1), pd.Timedelta(days=1)
EVENTS = [
    ("u1", "login", FE - D),
    ("u1", "login", FE + 8 * D),
    ("u2", "login", FE + 2 * D),
    ("u3", "login", FE + 2 * H),
    ("u3", "login", FE + 14 * D + H),
    ("u4", "login", FE + 7 * D),
    ("u5", "login", FE + 13 * D + 20 * H),
    ("u1", "view", FE + H),
    ("u1", "cart", FE + 2 * H),
    ("u1", "buy", FE + 3 * H),
    ("u2", "cart", FE + H),
    ("u2", "view", FE + 2 * H),
    ("u2", "buy", FE + 3 * H),
    ("u3", "view", FE + H),
    ("u3", "cart", FE + 2 * H),
    ("u4", "view", FE + H),
    ("u4", "buy", FE + 2 * H),
    ("u4", "cart", FE + 3 * H),
    ("u5", "view", FE + H),
    ("u5", "cart", FE + H),
    ("u5", "buy", FE + 5 * H),
    ("u6", "view", FE - H),
    ("u6", "cart", FE + H),
    ("u6", "buy", FE + 2 * H),
]
ARMS = {"u1": "c", "u2": "c", "u3": "c", "u4": "t", "u5": "t", "u6": "t"}
SEEDS = {
    "experiments.csv": (
        "experiment_id,experiment_name,domain,owner,hypothesis,status,start_date,"
        "end_date,control_variant,alpha,power,mde_relative,analysis_window_days,"
        "cuped_lookback_days\n"
        "ret,Retention and funnels,app,growth,Users come back,completed,"
        "2025-03-01,2025-03-31,c,0.05,0.8,0.05,14,3\n"
    ),
    "experiment_variants.csv": "experiment_id,variant,is_control,allocation_weight\n"
    "ret,c,true,1\nret,t,false,1\n",
    "metrics.csv": """\
metric_id,metric_name,event_name,aggregation,numerator_metric_id,denominator_metric_id,desired_direction,cap_value,description,cap_quantile,quantile,retention_start_day,retention_end_day,funnel_steps
retained_7_14,Week-2 retention,login,retention,,,increase,,Logged in on days 7-13,,,7,14,
retained_0_1,Day-0 retention,login,retention,,,increase,,Logged in on day 0,,,0,1,
checkout,Checkout funnel,,funnel,,,increase,,Viewed then carted then bought,,,,,view|cart|buy
view_cart,View-to-cart funnel,,funnel,,,increase,,Viewed then carted,,,,,view|cart
buy_given_cart,Bought given carted,,ratio,checkout,view_cart,increase,,Step 3 conversion given step 2,,,,,
""",
    "experiment_metrics.csv": """\
experiment_id,metric_id,role,guardrail_tolerance
ret,retained_7_14,primary,
ret,retained_0_1,secondary,
ret,checkout,secondary,
ret,view_cart,secondary,
ret,buy_given_cart,secondary,
""",
}
# metric -> arm -> (metric_sum, covariate_sum), by hand (module docstring).
EXPECTED = {
    "retained_7_14": {"c": (1, 1), "t": (2, 0)},
    "retained_0_1": {"c": (1, 1), "t": (0, 0)},
    "checkout": {"c": (1, 0), "t": (1, 0)},
    "view_cart": {"c": (2, 0), "t": (2, 0)},
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    work = tmp_path_factory.mktemp("retention_funnel")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in SEEDS.items():
        (seeds / name).write_text(text)
    raw = work / "data"
    raw.mkdir()
    pd.DataFrame(
        {
            "experiment_id": "ret",
            "unit_id": list(ARMS),
            "variant": list(ARMS.values()),
            "exposed_at": FE.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    ).to_csv(raw / "exposures.csv", index=False)
    pd.DataFrame(
        {
            "unit_id": [e[0] for e in EVENTS],
            "event_name": [e[1] for e in EVENTS],
            "event_at": [e[2].strftime("%Y-%m-%dT%H:%M:%S") for e in EVENTS],
            "value": None,
        }
    ).to_csv(raw / "events.csv", index=False)
    project = copy_project(work / "project", seeds)
    database = work / "ret.duckdb"
    load_and_build(project, raw, database, work, {"XP_AS_OF": "2025-04-15 00:00:00"})
    return read_tables(database, "marts.arm_metrics", "marts.experiment_results")


def _row(frame, **keys):
    chosen = frame
    for column, value in keys.items():
        chosen = chosen[chosen[column] == value]
    assert len(chosen) == 1, keys
    return chosen.iloc[0].to_dict()


@pytest.mark.parametrize("metric", sorted(EXPECTED))
@pytest.mark.parametrize("arm", ["c", "t"])
def test_retention_and_funnel_unit_values_match_the_hand_count(tables, metric, arm):
    row = _row(tables["marts.arm_metrics"], metric_id=metric, variant=arm)
    metric_sum, covariate_sum = EXPECTED[metric][arm]
    assert row["n_units"] == 3
    assert row["aggregation"] == "binary"  # 0/1 per unit: the binary path
    assert row["metric_sum"] == metric_sum
    assert row["metric_sum_squares"] == metric_sum
    assert row["covariate_sum"] == covariate_sum
    assert row["mean"] == pytest.approx(metric_sum / 3, rel=1e-12)


def test_conditional_step_conversion_is_a_ratio_of_two_funnels(tables):
    for arm in ("c", "t"):
        row = _row(tables["marts.arm_metrics"], metric_id="buy_given_cart", variant=arm)
        assert (row["metric_sum"], row["denominator_sum"]) == (1, 2)
        assert row["mean"] == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize(
    "metric, control, treatment",
    [("retained_7_14", 1 / 3, 2 / 3), ("checkout", 1 / 3, 1 / 3)],
)
def test_results_keep_the_registered_aggregation(tables, metric, control, treatment):
    row = _row(tables["marts.experiment_results"], metric_id=metric, variant="t")
    assert row["aggregation"] == ("retention" if metric.startswith("ret") else "funnel")
    assert row["mean_control"] == pytest.approx(control, rel=1e-12)
    assert row["mean_treatment"] == pytest.approx(treatment, rel=1e-12)


BROKEN_METRICS = """\
metric_id,metric_name,event_name,aggregation,numerator_metric_id,denominator_metric_id,desired_direction,cap_value,description,cap_quantile,quantile,retention_start_day,retention_end_day,funnel_steps
m1,Both caps,login,sum,,,increase,5,Both caps,0.9,,,,
m2,Bad cap quantile,login,count,,,increase,,Cap quantile 1.5,1.5,,,,
m3,Cap on binary,login,binary,,,increase,,Percentile cap on a binary metric,0.5,,,,
m4,No level,login,quantile,,,increase,,Quantile metric without a level,,,,,
m5,Empty range,login,retention,,,increase,,Retention range [7 7),,,7,7,
m6,Empty step,,funnel,,,increase,,A funnel with an empty step,,,,,view||buy
m7,Past the window,login,retention,,,increase,,Retention range past the window,,,7,21,
"""


@pytest.fixture(scope="module")
def broken_log(tmp_path_factory):
    """The failed build log of a registry that breaks each new rule once."""
    work = tmp_path_factory.mktemp("broken_metric_kinds")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in SEEDS.items():
        (seeds / name).write_text(text)
    (seeds / "metrics.csv").write_text(BROKEN_METRICS)
    (seeds / "experiment_metrics.csv").write_text(
        "experiment_id,metric_id,role,guardrail_tolerance\nret,m7,primary,\n"
    )
    raw = work / "data"
    raw.mkdir()
    pd.DataFrame(
        {
            "experiment_id": ["ret"],
            "unit_id": ["u1"],
            "variant": ["c"],
            "exposed_at": [FE.strftime("%Y-%m-%dT%H:%M:%S")],
        }
    ).to_csv(raw / "exposures.csv", index=False)
    pd.DataFrame(
        {
            "unit_id": ["u1"],
            "event_name": ["login"],
            "event_at": [(FE + H).strftime("%Y-%m-%dT%H:%M:%S")],
            "value": [None],
        }
    ).to_csv(raw / "events.csv", index=False)
    project = copy_project(work / "project", seeds)
    with pytest.raises(AssertionError) as failure:
        load_and_build(project, raw, work / "broken.duckdb", work)
    return str(failure.value)


@pytest.mark.parametrize(
    "message",
    [
        "metric_id = m1 | cap_value and cap_quantile are both set",
        "metric_id = m2 | cap_quantile must be strictly between 0 and 1",
        "metric_id = m3 | cap_quantile is set on a 'binary' metric",
        "metric_id = m4 | a quantile metric needs a quantile strictly between 0 and 1",
        "metric_id = m5 | a retention metric needs 0 <= retention_start_day < retention_end_day",
        "metric_id = m6 | a funnel metric needs funnel_steps: 1 to 5 event names",
        "seeds/experiment_metrics.csv | experiment_id = ret, metric_id = m7 | "
        "retention_end_day 21 is past the analysis window of 14 days",
    ],
)
def test_registry_problems_name_the_row_and_the_fix(broken_log, message):
    assert message in broken_log
