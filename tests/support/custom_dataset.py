"""A second dataset with its own registry, for tests that must show the
project works on data and seeds other than the demo's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# A second, different dataset with its own registry: different ids (with
# quotes, spaces and unicode), an A/B/C test with weights that do not sum to 1,
# a ratio metric, a cap, an end-date cut, a CUPED pre-period, timestamps with
# UTC offsets, and CSV instead of Parquet. Only data and seeds change.
CUSTOM_SEEDS = {
    "experiments.csv": """\
experiment_id,experiment_name,domain,owner,hypothesis,status,start_date,end_date,control_variant,alpha,power,mde_relative,analysis_window_days,cuped_lookback_days
checkout-2025,One-page checkout,payments,pay_team,A one-page checkout raises orders,completed,2025-03-01,2025-03-08,old,0.1,0.9,0.05,5,3
pricing ab,Price test,pricing,growth,Lower prices raise revenue,running,2025-03-02,,p0,0.05,0.8,0.1,3,0
""",
    "experiment_variants.csv": """\
experiment_id,variant,is_control,allocation_weight
checkout-2025,old,true,0.6
checkout-2025,new,false,0.4
pricing ab,p0,true,1
pricing ab,p1,false,1
pricing ab,p2,false,1
""",
    "metrics.csv": """\
metric_id,metric_name,event_name,aggregation,numerator_metric_id,denominator_metric_id,desired_direction,cap_value,description
orders,Orders,order,count,,,increase,,Orders per unit
revenue,Revenue,order,sum,,,increase,150,Order value per unit capped at 150
converted,Converted,order,binary,,,increase,,Placed an order
aov,Average order value,,ratio,revenue,orders,increase,,Revenue per order
page_views,Page views,view,count,,,decrease,,Views per unit
""",
    "experiment_metrics.csv": """\
experiment_id,metric_id,role,guardrail_tolerance
checkout-2025,converted,primary,
checkout-2025,revenue,secondary,
checkout-2025,aov,secondary,
pricing ab,revenue,primary,
pricing ab,page_views,guardrail,0.05
""",
}


def write_custom_dataset(folder: Path, seed: int = 7) -> None:
    """Random raw CSVs for CUSTOM_SEEDS, with a little mess in them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    units = [f'ü-"{i}" x' for i in range(400)]
    exposure_rows, event_rows = [], []
    start = pd.Timestamp("2025-03-01")
    for experiment_id, arms, days in (
        ("checkout-2025", ["old", "new"], 8),
        ("pricing ab", ["p0", "p1", "p2"], 6),
    ):
        for unit in units[: 300 if experiment_id == "checkout-2025" else 400]:
            arm = arms[rng.integers(len(arms))]
            first = start + pd.Timedelta(seconds=int(rng.integers(0, days * 86400)))
            for k in range(int(rng.integers(1, 4))):
                seen = first + pd.Timedelta(hours=int(12 * k))
                offset = rng.integers(-5, 6)
                local = seen + pd.Timedelta(hours=int(offset))
                exposure_rows.append(
                    (experiment_id, unit, arm, local.isoformat() + f"{offset:+03d}:00")
                )
            if rng.random() < 0.03:  # a crossover
                exposure_rows.append(
                    (
                        experiment_id,
                        unit,
                        arms[0] if arm != arms[0] else arms[1],
                        (first + pd.Timedelta(hours=30)).isoformat(),
                    )
                )
    for unit in units:
        for _ in range(int(rng.poisson(4))):
            at = start + pd.Timedelta(seconds=int(rng.integers(-4 * 86400, 16 * 86400)))
            name = "order" if rng.random() < 0.5 else "view"
            value = round(float(rng.gamma(2, 40)), 2) if name == "order" else ""
            event_rows.append((unit, name, at.isoformat(), value))
    event_rows += [
        ("", "order", "2025-03-03T10:00:00", 5),
        (units[1], "order", "2025-03-03T10:00:00", -20),
        (units[2], "order", "not a time", 5),
        (units[3], "view", "2025-03-04T10:00:00", "n/a"),
    ]
    event_rows += event_rows[:5]  # exact duplicates
    exposure_rows += [
        ("checkout-2025", units[5], "newer", "2025-03-02T00:00:00"),
        ("nope", units[5], "old", "2025-03-02T00:00:00"),
        ("checkout-2025", units[6], "old", "2025-02-01T00:00:00"),
    ]
    pd.DataFrame(
        exposure_rows, columns=["experiment_id", "unit_id", "variant", "exposed_at"]
    ).to_csv(folder / "exposures.csv", index=False)
    pd.DataFrame(
        event_rows, columns=["unit_id", "event_name", "event_at", "value"]
    ).to_csv(folder / "events.csv", index=False)
