"""Run the five stories and write the raw tables and the planted truth."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from xpkit.io.demo import story_e001, story_e002, story_e003, story_e004, story_e005
from xpkit.io.demo.common import (
    DEFAULT_SEED,
    EVENT_BAD_KINDS,
    EXPERIMENT_IDS,
    EXPOSURE_BAD_KINDS,
    FORMAT_VERSION,
    N_DUPLICATE_EVENTS,
    N_DUPLICATE_EXPOSURES,
    REGISTRY,
    UNREGISTERED,
    Builder,
    add_duplicates,
    concat,
    drop_exact_duplicates,
    strings,
    timestamps,
    variant_counts,
    write,
)

__all__ = ["generate", "main"]

_STORIES = (
    story_e001.story,
    story_e002.story,
    story_e003.story,
    story_e004.story,
    story_e005.story,
)


def _kind_counts(kind: np.ndarray, kinds: tuple[str, ...]) -> dict[str, int]:
    return {name: int((kind == k + 1).sum()) for k, name in enumerate(kinds)}


def _exposure_table(b: Builder, t: dict[str, np.ndarray]) -> pa.Table:
    received = t["received"]
    return pa.table(
        {
            "experiment_id": strings(b.names, t["experiment"]),
            "unit_id": strings(b.units, t["unit"]),
            "variant": strings(b.names, t["variant"]),
            "exposed_at": timestamps(t["at"]),
            "received_treatment": pa.array(
                received == 1, type=pa.bool_(), mask=received < 0
            ),
        }
    )


def _event_table(b: Builder, t: dict[str, np.ndarray]) -> pa.Table:
    value = t["value"]
    return pa.table(
        {
            "unit_id": strings(b.units, t["unit"]),
            "event_name": strings(b.names, t["name"]),
            "event_at": timestamps(t["at"]),
            "value": pa.array(
                np.where(np.isnan(value), 0.0, value),
                type=pa.float64(),
                mask=np.isnan(value),
            ),
        }
    )


def _unit_table(b: Builder) -> pa.Table:
    columns: dict[str, list[pa.Array]] = {
        "unit_id": [],
        "segment": [],
        "age": [],
        "activity_score": [],
        "signup_month": [],
        "eligible": [],
    }
    types = {
        "age": pa.int64(),
        "activity_score": pa.float64(),
        "signup_month": pa.int64(),
        "eligible": pa.bool_(),
    }
    for chunk in b.unit_rows:
        n = chunk["n"]
        columns["unit_id"].append(strings(b.units, chunk["codes"]))
        columns["segment"].append(pa.array(chunk["segment"], type=pa.string()))
        for name, kind in types.items():
            values = chunk[name]
            columns[name].append(
                pa.nulls(n, type=kind)
                if values is None
                else pa.array(np.asarray(values), type=kind)
            )
    return pa.table({k: pa.concat_arrays(v) for k, v in columns.items()})


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> dict:
    """Write the demo raw tables and planted truth into ``out_dir``.

    Args:
        out_dir: folder to write into (created if missing).
        seed: seed of ``numpy.random.default_rng``; the same seed gives
            byte-identical files.

    Returns:
        The planted truth, as written to ``planted_truth.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(seed).spawn(len(_STORIES) + 1)
    b = Builder()
    b.units.code("")  # the empty unit id used by the empty_unit_id rows
    stories = {
        experiment_id: story(np.random.default_rng(stream), b)
        for experiment_id, story, stream in zip(
            EXPERIMENT_IDS, _STORIES, streams, strict=False
        )
    }

    exposures = concat(b.exposures)
    events = concat(b.events)
    drop_exact_duplicates(exposures, ["experiment", "unit", "variant", "at"])
    drop_exact_duplicates(events, ["unit", "name", "at", "value"])
    mess = np.random.default_rng(streams[-1])
    add_duplicates(mess, exposures, N_DUPLICATE_EXPOSURES)
    add_duplicates(mess, events, N_DUPLICATE_EVENTS)

    # A log order: by time, then unit and name (nulls and far future last).
    for t, keys in (
        (exposures, ["experiment", "unit", "variant"]),
        (events, ["unit", "name"]),
    ):
        order = np.lexsort([t[k] for k in keys[::-1]] + [t["at"]])
        for key in t:
            t[key] = t[key][order]

    exposure_table = _exposure_table(b, exposures)
    event_table = _event_table(b, events)
    unit_table = _unit_table(b)
    write(exposure_table, out_dir / "exposures.parquet")
    write(event_table, out_dir / "events.parquet")
    write(unit_table, out_dir / "units.parquet")

    truth: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "generator": "xpkit.demo",
        "row_counts": {
            "exposures": exposure_table.num_rows,
            "events": event_table.num_rows,
            "units": unit_table.num_rows,
        },
        "bad_rows": {
            "exposures": _kind_counts(exposures["kind"], EXPOSURE_BAD_KINDS),
            "events": _kind_counts(events["kind"], EVENT_BAD_KINDS),
        },
        "unknown_experiment_ids": [UNREGISTERED],
        "experiments": {},
    }
    for number, (experiment_id, s) in enumerate(stories.items(), start=1):
        reg = REGISTRY[experiment_id]
        names, arm, multi = s["names"], s["arm"], s["multi"]
        in_exposures = exposures["story"] == number
        in_events = events["story"] == number
        units_per_variant = variant_counts(names, arm)
        multi_per_variant = variant_counts(names, arm[multi])
        truth["experiments"][experiment_id] = {
            "name": reg["name"],
            "status": reg["status"],
            "control_variant": names[0],
            "variants": names,
            "units_per_variant": units_per_variant,
            "multi_variant_units": sorted(s["units"][i] for i in multi),
            "n_multi_variant_units": int(multi.size),
            "analysable_units_per_variant": {
                v: units_per_variant[v] - multi_per_variant[v] for v in names
            },
            "row_counts": {
                "exposures": int(in_exposures.sum()),
                "events": int(in_events.sum()),
            },
            "bad_rows": {
                "exposures": _kind_counts(
                    exposures["kind"][in_exposures], EXPOSURE_BAD_KINDS
                ),
                "events": _kind_counts(events["kind"][in_events], EVENT_BAD_KINDS),
            },
            "planted": s["planted"],
            "parameters": s["parameters"],
            "expected_decision": s["expected_decision"],
        }

    (out_dir / "planted_truth.json").write_text(
        json.dumps(truth, indent=2) + "\n", encoding="utf-8"
    )
    return truth


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m xpkit.io.demo --out data/demo [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.io.demo",
        description="Write deterministic demo raw tables with planted effects.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    truth = generate(args.out, args.seed)
    elapsed = time.perf_counter() - started
    for experiment_id, e in truth["experiments"].items():
        per_variant = ", ".join(f"{v} {n:,}" for v, n in e["units_per_variant"].items())
        print(
            f"{experiment_id} {e['name']} ({e['status']}): "
            f"{sum(e['units_per_variant'].values()):,} units ({per_variant}), "
            f"{e['n_multi_variant_units']} multi-variant, "
            f"{e['row_counts']['exposures']:,} exposure rows, "
            f"{e['row_counts']['events']:,} event rows"
        )
    counts = truth["row_counts"]
    bad = {t: sum(k.values()) for t, k in truth["bad_rows"].items()}
    print(
        f"wrote {args.out}: exposures {counts['exposures']:,} rows "
        f"({bad['exposures']} injected bad), events {counts['events']:,} rows "
        f"({bad['events']} injected bad), units {counts['units']:,} rows "
        f"(seed {truth['seed']}, {elapsed:.1f} s)"
    )
    return 0
