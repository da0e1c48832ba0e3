"""Deterministic synthetic raw data for the benchmark, written as Parquet.

Units are generated in chunks of CHUNK_UNITS; each chunk draws from its own
seeded generator (seed, chunk index), so a scale's files are identical on every
run and memory stays bounded whatever the scale. The data is clean: no
duplicate rows, no bad timestamps or values, every exposure inside its
experiment's dates, so nothing is quarantined and the hand-written reference
query need not replicate the quarantine rules (the harness checks the
quarantine tables are empty).

Registry (written by `write_registry`): 3 experiments with 14-day analysis
windows and 14-day CUPED pre-periods, 2, 3 and 2 variants, 4 registered metrics
each: converted (binary), sessions (count), revenue (sum, capped at 300) and
minutes_per_session (ratio of session_minutes to sessions).

Planted effects (in the post-exposure window): X1 treatment gets Poisson(1.0)
extra sessions and a 3% chance of an extra purchase; X2 bold gets a 2% chance
of an extra purchase; X2 subtle and X3 are A/A.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCALES = {
    # name: (units, mean events per unit)
    "S0": (20_000, 10),
    "S1": (1_000_000, 10),
    "S2": (10_000_000, 10),
    "S3": (100_000_000, 10),
}
CHUNK_UNITS = 250_000
US_PER_DAY = 86_400_000_000
EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def _ts(text: str) -> int:
    """Microseconds since the epoch of a naive UTC timestamp."""
    return int((np.datetime64(text, "us") - EPOCH).astype(np.int64))


DATA_START = _ts("2024-01-01T00:00:00")
DATA_END = _ts("2024-04-01T00:00:00")  # exclusive
AS_OF = "2024-04-01 12:00:00"
WINDOW_DAYS = 14
LOOKBACK_DAYS = 14
REVENUE_CAP = 300.0

# experiment_id: (start, end or None, variants in allocation order, share of units)
EXPERIMENTS = {
    "X1": ("2024-01-22", "2024-02-18", ("control", "treatment"), 0.5),
    "X2": ("2024-01-29", None, ("control", "bold", "subtle"), 0.5),
    "X3": ("2024-02-05", "2024-03-03", ("control", "treatment"), 0.5),
}
MULTI_VARIANT_SHARE = 0.005
EVENT_NAMES = ("session", "purchase", "page_view")
EVENT_PROBS = (0.5, 0.1, 0.4)
# (experiment, variant): (extra sessions per unit, chance of an extra purchase)
PLANTED = {("X1", "treatment"): (1.0, 0.03), ("X2", "bold"): (0.0, 0.02)}

EXPOSURE_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("unit_id", pa.string()),
        ("variant", pa.string()),
        ("exposed_at", pa.timestamp("us")),
    ]
)
EVENT_SCHEMA = pa.schema(
    [
        ("unit_id", pa.string()),
        ("event_name", pa.string()),
        ("event_at", pa.timestamp("us")),
        ("value", pa.float64()),
    ]
)
UNIT_SCHEMA = pa.schema([("unit_id", pa.string()), ("segment", pa.string())])


def _exposure_range(experiment_id: str) -> tuple[int, int]:
    start, end, _, _ = EXPERIMENTS[experiment_id]
    stop = _ts(end) + US_PER_DAY if end else DATA_END
    return _ts(start), stop


def _unit_ids(ids: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("u", pc.cast(pa.array(ids), pa.string()), "")


def _to_ms(times: np.ndarray) -> np.ndarray:
    return (times // 1000) * 1000


def _chunk(rng: np.random.Generator, first: int, count: int, mean_events: float):
    """Exposures, events and units of units first .. first + count - 1."""
    local = np.arange(count)
    activity = rng.gamma(2.0, mean_events / 2.0, count)
    segments = np.where(
        activity < mean_events * 0.5,
        "light",
        np.where(activity < mean_events * 1.5, "regular", "heavy"),
    )

    exposure_parts = []
    planted_parts = []
    for experiment_id, (_, _, variants, share) in EXPERIMENTS.items():
        lo, hi = _exposure_range(experiment_id)
        members = local[rng.random(count) < share]
        arm = rng.integers(0, len(variants), members.size)
        repeats = 1 + rng.poisson(0.5, members.size)
        unit_rows = np.repeat(members, repeats)
        arm_rows = np.repeat(arm, repeats)
        times = _to_ms(rng.integers(lo, hi, unit_rows.size))
        # Multi-variant units: one more exposure to another variant.
        multi = rng.random(members.size) < MULTI_VARIANT_SHARE
        other = (
            arm[multi] + 1 + rng.integers(0, len(variants) - 1, multi.sum())
        ) % len(variants)
        extra_times = _to_ms(rng.integers(lo, hi, multi.sum()))
        unit_rows = np.concatenate([unit_rows, members[multi]])
        arm_rows = np.concatenate([arm_rows, other])
        times = np.concatenate([times, extra_times])
        exposure_parts.append((experiment_id, variants, unit_rows, arm_rows, times))

        # First exposure per single-variant member, for the planted effects.
        first_seen = np.full(count, np.iinfo(np.int64).max)
        np.minimum.at(first_seen, unit_rows, times)
        for variant_index, variant in enumerate(variants):
            extra_sessions, purchase_chance = PLANTED.get(
                (experiment_id, variant), (0, 0)
            )
            if not extra_sessions and not purchase_chance:
                continue
            treated = members[(arm == variant_index) & ~multi]
            n_sessions = rng.poisson(extra_sessions, treated.size)
            n_purchases = (rng.random(treated.size) < purchase_chance).astype(np.int64)
            for name, counts in (("session", n_sessions), ("purchase", n_purchases)):
                who = np.repeat(treated, counts)
                at = first_seen[who] + rng.integers(
                    0, WINDOW_DAYS * US_PER_DAY, who.size
                )
                planted_parts.append((name, who, _to_ms(at)))

    exposures = []
    for experiment_id, variants, unit_rows, arm_rows, times in exposure_parts:
        order = np.argsort(times, kind="stable")
        exposures.append(
            pa.table(
                {
                    "experiment_id": pa.array(
                        np.full(order.size, experiment_id), pa.string()
                    ),
                    "unit_id": _unit_ids(first + unit_rows[order]),
                    "variant": pa.array(np.asarray(variants)[arm_rows[order]]),
                    "exposed_at": pa.array(times[order], pa.timestamp("us")),
                },
                schema=EXPOSURE_SCHEMA,
            )
        )

    n_events = rng.poisson(activity)
    who = np.repeat(local, n_events)
    names = rng.choice(len(EVENT_NAMES), who.size, p=EVENT_PROBS)
    at = _to_ms(rng.integers(DATA_START, DATA_END, who.size))
    for name, planted_who, planted_at in planted_parts:
        keep = planted_at < DATA_END
        who = np.concatenate([who, planted_who[keep]])
        names = np.concatenate(
            [names, np.full(keep.sum(), EVENT_NAMES.index(name), dtype=names.dtype)]
        )
        at = np.concatenate([at, planted_at[keep]])
    values = np.full(who.size, np.nan)
    is_session = names == 0
    is_purchase = names == 1
    values[is_session] = np.round(rng.gamma(2.0, 6.0, is_session.sum()), 1)
    values[is_purchase] = np.round(rng.lognormal(3.5, 0.8, is_purchase.sum()), 2)
    order = np.argsort(at, kind="stable")
    value_array = pa.array(values[order], pa.float64(), from_pandas=True)
    events = pa.table(
        {
            "unit_id": _unit_ids(first + who[order]),
            "event_name": pa.array(np.asarray(EVENT_NAMES)[names[order]]),
            "event_at": pa.array(at[order], pa.timestamp("us")),
            "value": value_array,
        },
        schema=EVENT_SCHEMA,
    )
    units = pa.table(
        {"unit_id": _unit_ids(first + local), "segment": pa.array(segments)},
        schema=UNIT_SCHEMA,
    )
    return pa.concat_tables(exposures), events, units


def generate(out: Path, scale: str, seed: int = 20240101) -> dict:
    """Write exposures/events/units.parquet for `scale` into `out`; return counts."""
    n_units, mean_events = SCALES[scale]
    out.mkdir(parents=True, exist_ok=True)
    counts = {"units": 0, "exposures": 0, "events": 0}
    writers = {
        "exposures": pq.ParquetWriter(out / "exposures.parquet", EXPOSURE_SCHEMA),
        "events": pq.ParquetWriter(out / "events.parquet", EVENT_SCHEMA),
        "units": pq.ParquetWriter(out / "units.parquet", UNIT_SCHEMA),
    }
    try:
        for index, first in enumerate(range(0, n_units, CHUNK_UNITS)):
            rng = np.random.default_rng([seed, index])
            size = min(CHUNK_UNITS, n_units - first)
            tables = dict(
                zip(
                    ("exposures", "events", "units"),
                    _chunk(rng, first, size, mean_events),
                    strict=True,
                )
            )
            for name, table in tables.items():
                writers[name].write_table(table, row_group_size=1_000_000)
                counts[name] += table.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    manifest = {
        "scale": scale,
        "seed": seed,
        "rows": counts,
        "as_of": AS_OF,
        "planted_effects": {
            f"{e}/{v}": {"extra_sessions_per_unit": s, "extra_purchase_chance": p}
            for (e, v), (s, p) in PLANTED.items()
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def write_registry(seeds: Path) -> Path:
    """The benchmark's registry CSVs (the project's seed format)."""
    seeds.mkdir(parents=True, exist_ok=True)
    experiments = [
        "experiment_id,experiment_name,domain,owner,hypothesis,status,start_date,"
        "end_date,control_variant,alpha,power,mde_relative,analysis_window_days,"
        "cuped_lookback_days"
    ]
    variants = ["experiment_id,variant,is_control,allocation_weight"]
    registered = ["experiment_id,metric_id,role,guardrail_tolerance"]
    primary = {"X1": "sessions", "X2": "revenue", "X3": "converted"}
    for experiment_id, (start, end, arms, _) in EXPERIMENTS.items():
        status = "completed" if end else "running"
        experiments.append(
            f"{experiment_id},Benchmark {experiment_id},product,bench,"
            f"benchmark experiment {experiment_id},{status},{start},{end or ''},"
            f"control,0.05,0.8,0.05,{WINDOW_DAYS},{LOOKBACK_DAYS}"
        )
        for arm in arms:
            is_control = "true" if arm == "control" else "false"
            variants.append(f"{experiment_id},{arm},{is_control},1")
        for metric_id in ("converted", "sessions", "revenue", "minutes_per_session"):
            role = "primary" if primary[experiment_id] == metric_id else "secondary"
            registered.append(f"{experiment_id},{metric_id},{role},")
    metrics = [
        "metric_id,metric_name,event_name,aggregation,numerator_metric_id,"
        "denominator_metric_id,desired_direction,cap_value,description",
        "converted,Converted,purchase,binary,,,increase,,Any purchase in the window.",
        "sessions,Sessions,session,count,,,increase,,Sessions in the window.",
        f"revenue,Revenue,purchase,sum,,,increase,{REVENUE_CAP:g},"
        "Purchase value in the window (capped).",
        "session_minutes,Session minutes,session,sum,,,increase,,"
        "Session minutes; numerator of minutes per session.",
        "minutes_per_session,Minutes per session,,ratio,session_minutes,sessions,"
        "increase,,Session minutes per session.",
    ]
    files = {
        "experiments.csv": experiments,
        "experiment_variants.csv": variants,
        "experiment_metrics.csv": registered,
        "metrics.csv": metrics,
    }
    for name, lines in files.items():
        (seeds / name).write_text("\n".join(lines) + "\n")
    return seeds
