"""Benchmark harness: the project against the best hand-written query and a
pandas peer, on deterministic synthetic data.

    python bench/run.py --scale S1 [--out /tmp/bench] [--keep]
                        [--memory-limit 8GB] [--threads 2] [--dbt-threads N]
                        [--peer auto|yes|no]
                        [--no-full-build] [--raw-views] [--refresh]
                        [--no-reference] [--dbt-vars YAML]

Steps, each a separate subprocess whose peak RSS is read with os.wait4:
generate (in-process, not compared), load (`python -m xpkit.load`), reference
(bench/reference.sql on the loaded raw tables), dbt seed, `dbt run --select
+arm_metrics` (models only, no tests), the full `dbt build` (seeds, models,
tests), and the pandas peer (S0 and S1 by default). With --raw-views the raw
tables are views over the Parquet files instead of loaded copies (for S3, where a
copy of 1B events would not fit the disk next to the build). It prints a table and exits
1 when marts.arm_metrics differs from the reference or the peer (n exact, sums
within 1e-9 relative) or when anything was quarantined.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "python"))

import generate  # noqa: E402
import yaml  # noqa: E402

from xpkit.stats.statistics import SUFFICIENT_STATISTIC_COLUMNS  # noqa: E402

PY = sys.executable
BIN = Path(PY).parent
KEYS = ["experiment_id", "variant", "metric_id"]
SUMS = list(SUFFICIENT_STATISTIC_COLUMNS)
RTOL = 1e-9
# Bump when bench/generate.py changes, so that kept data is regenerated.
GENERATOR_VERSION = "v1"

PROFILE = """\
# Written by bench/run.py for the benchmark's project copy.
experimentation:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: "{{{{ env_var('DUCKDB_PATH') }}}}"
      threads: {dbt_threads}
      settings:
        TimeZone: UTC
        threads: {threads}
{memory}"""


def measure(name: str, command: list[str], cwd: Path, env: dict, log: Path) -> dict:
    """Run `command`; return its wall time and peak RSS (its own process tree)."""
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    result = {
        "step": name,
        "seconds": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "returncode": process.returncode,
        "log": str(log),
    }
    if process.returncode != 0:
        tail = log.read_text()[-4000:]
        result["error"] = tail
        print(f"!! {name} failed ({process.returncode}); log {log}:\n{tail}")
    return result


def raw_views_main(argv: list[str]) -> int:
    """Child process: raw.exposures/events/units as views over the Parquet files."""
    import duckdb

    data, database = Path(argv[0]).resolve(), argv[1]
    with duckdb.connect(database) as con:
        con.execute("create schema if not exists raw")
        for name in ("exposures", "events", "units"):
            path = str(data / f"{name}.parquet").replace("'", "''")
            con.execute(
                f"create or replace view raw.{name} as "
                f"select * from read_parquet('{path}')"
            )
    return 0


def append_day_main(argv: list[str]) -> int:
    """Child process: append the last day's events again, one day later."""
    import duckdb

    with duckdb.connect(argv[0]) as con:
        con.execute(
            "insert into raw.events "
            "select unit_id, event_name, event_at + interval 1 day, value "
            "from raw.events "
            "where event_at >= (select max(event_at) from raw.events) - interval 1 day"
        )
    return 0


def count_refreshed_units(database: Path) -> tuple[int, int]:
    """Units the last refresh recomputed, and all analysed units."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        refreshed = con.execute(
            "select count(*) from intermediate.int_units_to_refresh"
        ).fetchone()[0]
        analysed = con.execute(
            "select count(distinct unit_id) from intermediate.int_assignments_resolved"
        ).fetchone()[0]
    return refreshed, analysed


def reference_main(argv: list[str]) -> int:
    """Child process: run bench/reference.sql on a loaded warehouse."""
    import duckdb

    parser = argparse.ArgumentParser(prog="run.py _reference")
    parser.add_argument("--database", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit")
    args = parser.parse_args(argv)
    con = duckdb.connect(args.database, read_only=True)
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set threads = {args.threads}")
    if args.memory_limit:
        con.execute(f"set memory_limit = '{args.memory_limit}'")
    started = time.perf_counter()
    table = con.sql((HERE / "reference.sql").read_text()).to_arrow_table()
    seconds = time.perf_counter() - started
    import pyarrow.parquet as pq

    pq.write_table(table, args.out)
    print(json.dumps({"query_seconds": seconds, "rows": table.num_rows}))
    return 0


def top_models(run_results: Path, count: int = 8) -> list[tuple[str, float]]:
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text())["results"]
    timed = [(r["unique_id"], r["execution_time"]) for r in results]
    return sorted(timed, key=lambda item: -item[1])[:count]


def compare(name: str, expected, actual) -> list[str]:
    """Differences between two per-arm statistic frames (expected = project)."""
    import numpy as np

    problems = []
    merged = expected.merge(
        actual, on=KEYS, how="outer", suffixes=("", "_other"), indicator=True
    )
    missing = merged[merged["_merge"] != "both"]
    for _, row in missing.iterrows():
        problems.append(f"{name}: row {tuple(row[KEYS])} only in {row['_merge']}")
    merged = merged[merged["_merge"] == "both"]
    bad_n = merged[merged["n_units"] != merged["n_units_other"]]
    for _, row in bad_n.iterrows():
        problems.append(
            f"{name}: n_units {tuple(row[KEYS])}: "
            f"{row['n_units']} != {row['n_units_other']}"
        )
    for column in SUMS:
        a = merged[column].to_numpy(dtype=float, na_value=np.nan)
        if column + "_other" in merged:
            b = merged[column + "_other"].to_numpy(dtype=float, na_value=np.nan)
        else:
            b = np.full(len(merged), np.nan)
        same_null = np.isnan(a) == np.isnan(b)
        close = np.isclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True)
        for index in np.flatnonzero(~(same_null & close)):
            row = merged.iloc[index]
            problems.append(
                f"{name}: {column} {tuple(row[KEYS])}: {a[index]!r} != {b[index]!r}"
            )
    return problems


def check(database: Path, reference: Path, peer: Path | None) -> list[str]:
    import duckdb
    import pandas as pd

    with duckdb.connect(str(database), read_only=True) as con:
        project = con.sql(
            f"select {', '.join(KEYS + ['n_units'] + SUMS)} from marts.arm_metrics"
        ).df()
        quarantined = {
            table: con.execute(
                f"select count(*) from intermediate.{table} "
                "where reason_code is not null"
            ).fetchone()[0]
            for table in ("int_exposures_classified", "int_events_classified")
        }
    problems = [
        f"{table}: {rows} rows quarantined; the data is not clean"
        for table, rows in quarantined.items()
        if rows
    ]
    problems += compare("reference", project, pd.read_parquet(reference))
    if peer is not None and peer.exists():
        problems += compare("peer", project, pd.read_parquet(peer))
    if project.empty:
        problems.append("marts.arm_metrics is empty")
    return problems


def print_table(steps: list[dict], reference_seconds: float | None) -> str:
    lines = [
        f"{'step':<28} {'wall s':>9} {'x ref':>7} {'peak RSS MiB':>13}  status",
        "-" * 68,
    ]
    for step in steps:
        ratio = (
            f"{step['seconds'] / reference_seconds:7.2f}"
            if reference_seconds and step["step"] != "generate (not compared)"
            else f"{'':>7}"
        )
        rss = f"{step['peak_rss_mib']:13.0f}" if step.get("peak_rss_mib") else " " * 13
        status = "ok" if step.get("returncode", 0) == 0 else "FAILED"
        lines.append(
            f"{step['step']:<28} {step['seconds']:9.2f} {ratio} {rss}  {status}"
        )
    text = "\n".join(lines)
    print(text)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_reference":
        return reference_main(argv[1:])
    if argv and argv[0] == "_raw_views":
        return raw_views_main(argv[1:])
    if argv and argv[0] == "_append_day":
        return append_day_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="S1", choices=sorted(generate.SCALES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench"))
    parser.add_argument("--keep", action="store_true", help="keep data and warehouse")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 8GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--dbt-threads",
        type=int,
        help="models dbt runs at once (default: --threads)",
    )
    parser.add_argument("--peer", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument(
        "--no-full-build", action="store_true", help="skip the full dbt build"
    )
    parser.add_argument(
        "--dbt-vars",
        help="--vars for every dbt command, e.g. '{check_duplicates: false}'",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the reference query (and the comparison with it)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="after the full build, append a day of events and time `make refresh`",
    )
    parser.add_argument(
        "--raw-views",
        action="store_true",
        help="raw.* as views over the Parquet files instead of xpkit.load copies",
    )
    args = parser.parse_args(argv)

    from warehouse import copy_project

    out = args.out.resolve()
    data = out / "data" / args.scale
    work = out / f"run_{args.scale}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    steps: list[dict] = []

    started = time.perf_counter()
    manifest_path = data / "manifest.json"
    reuse = manifest_path.exists() and (
        json.loads(manifest_path.read_text()).get("generator") == GENERATOR_VERSION
    )
    if reuse:
        manifest = json.loads(manifest_path.read_text())
        print(f"==> reusing data in {data}")
    else:
        print(f"==> generating {args.scale} into {data}")
        manifest = generate.generate(data, args.scale)
        manifest["generator"] = GENERATOR_VERSION
        manifest_path.write_text(json.dumps(manifest, indent=2))
    steps.append(
        {"step": "generate (not compared)", "seconds": time.perf_counter() - started}
    )
    print(f"    rows: {manifest['rows']}")

    seeds = generate.write_registry(work / "seeds")
    project = copy_project(work / "project", seeds)
    memory = f"        memory_limit: {args.memory_limit}\n" if args.memory_limit else ""
    (project / "profiles.yml").write_text(
        PROFILE.format(
            threads=args.threads,
            dbt_threads=args.dbt_threads or args.threads,
            memory=memory,
        )
    )
    database = work / "warehouse.duckdb"
    env = {
        **os.environ,
        "DUCKDB_PATH": str(database),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "XP_AS_OF": generate.AS_OF,
    }
    env.pop("XP_UNIT_ID_SALT", None)
    dbt = [str(BIN / "dbt")]
    logs = work / "step_logs"
    logs.mkdir()

    def step(name: str, command: list[str], slug: str) -> dict:
        print(f"==> {name}", flush=True)
        result = measure(name, command, project, env, logs / f"{slug}.log")
        steps.append(result)
        print(
            f"    {result['seconds']:.2f} s, peak RSS {result['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
        run_results = work / "target" / "run_results.json"
        if command[0] == dbt[0] and run_results.exists():
            shutil.copy2(run_results, work / f"run_results_{slug}.json")
        return result

    if args.raw_views:
        step(
            "raw views over Parquet",
            [PY, str(HERE / "run.py"), "_raw_views", str(data), str(database)],
            "load",
        )
    else:
        step(
            "load (xpkit.load)",
            [PY, "-m", "xpkit.load", str(data), "--database", str(database)],
            "load",
        )
    reference_out = work / "reference.parquet"
    reference_command = [
        PY,
        str(HERE / "run.py"),
        "_reference",
        "--database",
        str(database),
        "--out",
        str(reference_out),
        "--threads",
        str(args.threads),
    ]
    if args.memory_limit:
        reference_command += ["--memory-limit", args.memory_limit]
    if args.no_reference:
        reference = {"step": "reference query", "seconds": 0.0, "returncode": 1}
    else:
        reference = step("reference query", reference_command, "reference")
    if reference["returncode"] == 0:
        query = json.loads(
            (logs / "reference.log").read_text().strip().splitlines()[-1]
        )
        reference["query_seconds"] = query["query_seconds"]
    dbt_flags = ["--profiles-dir", "."]
    dbt_vars = yaml.safe_load(args.dbt_vars) if args.dbt_vars else {}
    if dbt_vars:
        dbt_flags += ["--vars", json.dumps(dbt_vars)]
    refresh_flags = [
        "--profiles-dir",
        ".",
        "--vars",
        json.dumps({**dbt_vars, "incremental_refresh": True}),
    ]
    step("dbt seed", dbt + ["seed", *dbt_flags], "dbt_seed")
    step(
        "dbt run +arm_metrics",
        dbt + ["run", "--select", "+arm_metrics", *dbt_flags],
        "dbt_run_arm_metrics",
    )
    if not args.no_full_build:
        step("dbt build (full)", dbt + ["build", *dbt_flags], "dbt_build")
    run_peer = args.peer == "yes" or (
        args.peer == "auto" and args.scale in ("S0", "S1")
    )
    peer_out = work / "peer.parquet"
    if run_peer:
        step(
            "pandas peer",
            [PY, str(HERE / "peer_pandas.py"), str(data), str(seeds), str(peer_out)],
            "peer",
        )

    failed = [s["step"] for s in steps if s.get("returncode", 0) != 0]
    problems = []
    compared = not args.no_reference and "reference query" not in failed
    if compared and "dbt run +arm_metrics" not in failed:
        problems = check(database, reference_out, peer_out if run_peer else None)

    refreshed_units = None
    if args.refresh and not args.no_full_build and not failed:
        # One more day of events (the last day's, a day later), then the
        # incremental refresh: after the check, which it would change.
        step(
            "append one day of events",
            [PY, str(HERE / "run.py"), "_append_day", str(database)],
            "append_day",
        )
        step(
            "dbt build (refresh, +1 day)",
            dbt + ["build", *refresh_flags],
            "dbt_refresh",
        )
        refreshed_units = count_refreshed_units(database)

    reference_seconds = reference["seconds"] if reference["returncode"] == 0 else None
    print()
    table = print_table(steps, reference_seconds)
    if refreshed_units:
        print(
            f"(refresh recomputed {refreshed_units[0]:,} of {refreshed_units[1]:,} "
            f"analysed units)"
        )
    if reference.get("query_seconds"):
        print(
            f"(reference query alone, inside its process: "
            f"{reference['query_seconds']:.2f} s)"
        )
    for slug in ("dbt_run_arm_metrics", "dbt_build"):
        top = top_models(work / f"run_results_{slug}.json")
        if top:
            print(f"\nslowest nodes of {slug}:")
            for unique_id, seconds in top:
                print(f"  {seconds:8.2f} s  {unique_id}")

    failed = [s["step"] for s in steps if s.get("returncode", 0) != 0]
    print()
    if problems:
        print(f"MISMATCH ({len(problems)}):")
        for problem in problems[:40]:
            print("  " + problem)
    elif not failed and not compared:
        print("OK: every step finished (no reference run, nothing compared)")
    elif not failed:
        checked = "reference and peer" if run_peer else "reference"
        print(f"OK: marts.arm_metrics equals the {checked} (n exact, sums rtol {RTOL})")

    results = {
        "scale": args.scale,
        "rows": manifest["rows"],
        "threads": args.threads,
        "dbt_threads": args.dbt_threads or args.threads,
        "memory_limit": args.memory_limit,
        "steps": steps,
        "table": table,
        "problems": problems,
        "failed": failed,
        "refreshed_units": refreshed_units,
        "top_models": {
            slug: top_models(work / f"run_results_{slug}.json")
            for slug in ("dbt_run_arm_metrics", "dbt_build")
        },
    }
    (out / f"results_{args.scale}.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
