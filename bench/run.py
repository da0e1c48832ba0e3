"""Benchmark harness: the project against the best hand-written query and a
pandas peer, on deterministic synthetic data.

    python bench/run.py --scale S1 [--out /tmp/bench] [--keep]
                        [--memory-limit 8GB] [--max-temp-size 40GB]
                        [--threads 2] [--dbt-threads N] [--peer auto|yes|no]
                        [--no-full-build] [--no-gates] [--raw-views]
                        [--append-day | --refresh] [--incremental-command CMD]
                        [--rerun-check] [--spark] [--spark-driver-memory 4g]
                        [--no-reference] [--dbt-vars YAML]

Steps, each a separate subprocess: generate (in-process, not compared), load
(`python -m xpkit.io.load`), reference (bench/reference.sql on the loaded raw
tables), dbt seed, `dbt run --select +arm_metrics --full-refresh` (models only,
no tests), the full `dbt build --full-refresh` (seeds, models, tests), the gates
(`python -m xpkit.io.validate`), the report (`python -m xpkit.report`) and the
summary (`python -m xpkit.io.cli summary`): what `make rebuild` runs, and the
pandas peer (S0 and S1 by default). For every step: wall time, peak RSS (the
larger of os.wait4's and the sampled sum over its process tree) and peak spill
(bytes in its DuckDB temp_directory, or Spark local dirs, sampled every 0.5 s).

--append-day loads the data without its last day, builds, appends the day to
raw.* (INSERT: the loader replaces tables) and runs the incremental build
(--incremental-command), then checks the marts against the reference on the
whole data. --spark loads the same data into Spark (local mode) and times the
same dbt steps there. It prints the steps, the issue's target table and exits 1
when marts.arm_metrics differs from the reference or the peer (n exact, sums
within 1e-9 relative), when anything was quarantined, or when a step failed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "support"))

import generate  # noqa: E402
import yaml  # noqa: E402

from xpkit.stats.statistics import RAW_SUM_COLUMNS, SHIFT_COLUMNS  # noqa: E402

PY = sys.executable
BIN = Path(PY).parent
KEYS = ["experiment_id", "variant", "metric_id"]
# The 14 raw sums the reference and the peer compute; the mart's shifted sums
# are checked through the moments that do not depend on the shift (SHIFTED).
SUMS = list(RAW_SUM_COLUMNS)
RTOL = 1e-9
# Linear raw sum -> its shift column: sum(v - s) = sum(v) - n s.
LINEAR_SHIFTS = dict(
    zip(
        ("metric_sum", "covariate_sum", "denominator_sum", "covariate_denominator_sum"),
        SHIFT_COLUMNS,
        strict=True,
    )
)
# Product sum -> its two linear sums: S_ab - S_a S_b / n is the same for the
# raw and the shifted sums (the centred cross moment).
PRODUCTS = {
    "metric_sum_squares": ("metric_sum", "metric_sum"),
    "covariate_sum_squares": ("covariate_sum", "covariate_sum"),
    "metric_covariate_sum_product": ("metric_sum", "covariate_sum"),
    "denominator_sum_squares": ("denominator_sum", "denominator_sum"),
    "metric_denominator_sum_product": ("metric_sum", "denominator_sum"),
    "covariate_denominator_sum_squares": (
        "covariate_denominator_sum",
        "covariate_denominator_sum",
    ),
    "covariate_covariate_denominator_sum_product": (
        "covariate_sum",
        "covariate_denominator_sum",
    ),
    "metric_covariate_denominator_sum_product": (
        "metric_sum",
        "covariate_denominator_sum",
    ),
    "denominator_covariate_sum_product": ("denominator_sum", "covariate_sum"),
    "denominator_covariate_denominator_sum_product": (
        "denominator_sum",
        "covariate_denominator_sum",
    ),
}
SHIFTED = [f"{column}_shifted" for column in SUMS]
# Bump when bench/generate.py changes, so that kept data is regenerated.
GENERATOR_VERSION = "v1"
# Seconds between two samples of a running step's spill folders and memory.
SAMPLE_SECONDS = 0.5
MIB = 1024 * 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Today's incremental refresh (`make refresh`); once a plain `dbt build` is
# incremental (no var incremental_refresh in dbt_project.yml), that is the default.
LEGACY_INCREMENTAL = "dbt build --vars '{incremental_refresh: true}'"
PLAIN_INCREMENTAL = "dbt build"
# The steps `make rebuild` runs after loading: their sum is the rebuild figure.
REBUILD_SLUGS = ("dbt_build", "gates", "report", "summary")
INCREMENTAL_SLUGS = (
    "dbt_incremental",
    "gates_incremental",
    "report_incremental",
    "summary_incremental",
)


# ------------------------------------------------------------ measuring steps


def disk_usage(folder: Path) -> int:
    """Bytes allocated under `folder`, as du counts them (files may come and
    go while it walks: DuckDB creates and deletes its spill files)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and its descendants now."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE_BYTES
        except (OSError, IndexError, ValueError):
            continue
    return total


class Sampler(threading.Thread):
    """Samples a running step every SAMPLE_SECONDS: the bytes in its spill
    folders and the resident memory of its process tree; keeps the peaks."""

    def __init__(self, pid: int, folders: list[Path]) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.folders = folders
        self.peak_spill = 0
        self.peak_rss = 0
        self.samples = 0
        self._done = threading.Event()

    def sample(self) -> None:
        spill = sum(disk_usage(folder) for folder in self.folders)
        self.peak_spill = max(self.peak_spill, spill)
        self.peak_rss = max(self.peak_rss, tree_rss(self.pid))
        self.samples += 1

    def run(self) -> None:
        started = time.perf_counter()
        while True:
            self.sample()
            # Faster at first, so that short steps get a few samples.
            early = time.perf_counter() - started < 2.0
            if self._done.wait(SAMPLE_SECONDS / 5 if early else SAMPLE_SECONDS):
                return

    def stop(self) -> None:
        self._done.set()
        self.join()


def measure(
    name: str,
    command: list[str],
    cwd: Path,
    env: dict,
    log: Path,
    spill: list[Path] | None = None,
) -> dict:
    """Run `command`; return its wall time, peak RSS and peak spill.

    Peak RSS is the largest sampled sum over the step's process tree (dbt's
    Python models, Spark's JVM), or os.wait4's high-water mark of its largest
    process when that is higher and above this process's own (which a forked
    child starts from). Peak spill is the largest sampled size of the
    `spill` folders (the step's DuckDB temp_directory or Spark local dirs).
    """
    import resource

    # A child's high-water mark starts at this process's (it is forked, or
    # vforked, from it): os.wait4's figure only counts when it is above that.
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = Sampler(process.pid, spill or [])
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    result = {
        "step": name,
        "seconds": wall,
        "peak_rss_mib": max(
            usage.ru_maxrss * 1024 if usage.ru_maxrss > floor else 0,
            sampler.peak_rss,
        )
        / MIB,
        "peak_spill_mib": sampler.peak_spill / MIB,
        "spill_samples": sampler.samples,
        "returncode": process.returncode,
        "log": str(log),
    }
    if process.returncode != 0:
        tail = log.read_text()[-4000:]
        result["error"] = tail
        print(f"!! {name} failed ({process.returncode}); log {log}:\n{tail}")
    return result


# ------------------------------------------------------------ child processes


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
    """Child process (--refresh): append the last day's events again, one day later."""
    import duckdb

    with duckdb.connect(argv[0]) as con:
        con.execute(
            "insert into raw.events "
            "select unit_id, event_name, event_at + interval 1 day, value "
            "from raw.events "
            "where event_at >= (select max(event_at) from raw.events) - interval 1 day"
        )
    return 0


def append_files_main(argv: list[str]) -> int:
    """Child process (--append-day): append the last day's files to raw.*, as an
    ingestion job would: one INSERT per table in one transaction (xpkit.io.load
    replaces the raw tables, it does not append)."""
    import duckdb

    database, folder = argv[0], Path(argv[1]).resolve()
    counts = {}
    with duckdb.connect(database) as con:
        con.execute("begin transaction")
        for name in ("exposures", "events"):
            path = str(folder / f"{name}.parquet").replace("'", "''")
            before = con.execute(f"select count(*) from raw.{name}").fetchone()[0]
            con.execute(
                f"insert into raw.{name} by name select * from read_parquet('{path}')"
            )
            after = con.execute(f"select count(*) from raw.{name}").fetchone()[0]
            counts[name] = after - before
        con.execute("commit")
    print(json.dumps({"appended": counts}))
    return 0


def reference_main(argv: list[str]) -> int:
    """Child process: run bench/reference.sql on a loaded warehouse."""
    import duckdb

    parser = argparse.ArgumentParser(prog="run.py _reference")
    parser.add_argument("--database", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit")
    parser.add_argument("--max-temp-size")
    parser.add_argument("--temp-directory")
    args = parser.parse_args(argv)
    config: dict[str, object] = {"threads": args.threads}
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    if args.temp_directory:
        config["temp_directory"] = args.temp_directory
    if args.max_temp_size:
        config["max_temp_directory_size"] = args.max_temp_size
    con = duckdb.connect(args.database, read_only=True, config=config)
    con.execute("set TimeZone = 'UTC'")
    started = time.perf_counter()
    table = con.sql((HERE / "reference.sql").read_text()).to_arrow_table()
    seconds = time.perf_counter() - started
    import pyarrow.parquet as pq

    pq.write_table(table, args.out)
    print(json.dumps({"query_seconds": seconds, "rows": table.num_rows}))
    return 0


def spark_export_main(argv: list[str]) -> int:
    """Child process (--spark, in the project folder): marts.arm_metrics of the
    Spark build to a Parquet file, for the comparison with the reference."""
    from xpkit.io import spark as xpkit_spark

    session = xpkit_spark.session()
    try:
        frame = xpkit_spark.read_table(session, "marts.arm_metrics")
    finally:
        session.stop()
    frame.to_parquet(argv[0])
    print(json.dumps({"rows": len(frame)}))
    return 0


# ------------------------------------------------------------------ checks


def count_refreshed_units(database: Path) -> tuple[int, int] | None:
    """Units the last refresh recomputed, and all analysed units (None when the
    project has no int_units_to_refresh)."""
    import duckdb

    try:
        with duckdb.connect(str(database), read_only=True) as con:
            refreshed = con.execute(
                "select count(*) from intermediate.int_units_to_refresh"
            ).fetchone()[0]
            analysed = con.execute(
                "select count(distinct unit_id) "
                "from intermediate.int_assignments_resolved"
            ).fetchone()[0]
    except duckdb.Error:
        return None
    return refreshed, analysed


def mart_digests(database: Path) -> dict[str, dict[str, int]]:
    """Per table of schema marts: its row count and, per column, an
    order-independent digest of the cells' bits (the sum of their hashes),
    for the rerun check. build_manifest's `build` rows (built_at, as_of) say
    when a build ran, so they are left out, as tests/warehouse/test_reproducibility.py
    does."""
    import duckdb

    digests: dict[str, dict[str, int]] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        columns: dict[str, list[str]] = {}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'marts' order by table_name, ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append(column)
        for table, names in columns.items():
            parts = ", ".join(
                f'coalesce(sum(hash("{name}")::hugeint), 0)' for name in names
            )
            row = con.execute(
                f'select count(*), {parts} from marts."{table}"'
                + (" where item_type <> 'build'" if table == "build_manifest" else "")
            ).fetchone()
            digests[table] = {"(rows)": row[0]} | dict(zip(names, row[1:], strict=True))
    return digests


def rerun_differences(first: dict, second: dict) -> dict[str, list[str]]:
    """Tables whose digests differ between two builds, with the columns."""
    different = {}
    for table in sorted(set(first) | set(second)):
        a, b = first.get(table, {}), second.get(table, {})
        columns = [c for c in dict.fromkeys([*a, *b]) if a.get(c) != b.get(c)]
        if columns:
            different[table] = columns
    return different


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


def compare_shifted(name: str, project, reference) -> list[str]:
    """The project's shifted sums against the reference's raw sums, through
    what does not depend on the shift: sum(v - s) = sum(v) - n s, and the
    centred moments S_ab - S_a S_b / n (rtol 1e-9; an absolute floor of 1e-12
    of the raw product sum, the rounding of the raw side)."""
    import numpy as np

    merged = project.merge(reference, on=KEYS, suffixes=("", "_reference"))
    n = merged["n_units"].to_numpy(dtype=float)

    def column(label: str):
        return merged[label].to_numpy(dtype=float, na_value=np.nan)

    problems = []

    def differ(label: str, got, expected, scale) -> None:
        same_null = np.isnan(got) == np.isnan(expected)
        close = np.isclose(got, expected, rtol=RTOL, atol=0.0, equal_nan=True) | (
            np.abs(got - expected) <= 1e-12 * np.abs(scale)
        )
        for index in np.flatnonzero(~(same_null & close)):
            row = merged.iloc[index]
            problems.append(
                f"{name}: {label} {tuple(row[KEYS])}: "
                f"{got[index]!r} != {expected[index]!r}"
            )

    for linear, shift in LINEAR_SHIFTS.items():
        raw = column(f"{linear}_reference")
        expected = raw - n * column(shift)
        differ(f"{linear}_shifted", column(f"{linear}_shifted"), expected, raw)
    for product, (left, right) in PRODUCTS.items():
        raw = column(f"{product}_reference")
        expected = raw - column(f"{left}_reference") * column(f"{right}_reference") / n
        got = (
            column(f"{product}_shifted")
            - column(f"{left}_shifted") * column(f"{right}_shifted") / n
        )
        differ(f"{product}_shifted (centred)", got, expected, raw)
    return problems


def check(
    database: Path, reference: Path, peer: Path | None, label: str = ""
) -> list[str]:
    import duckdb
    import pandas as pd

    with duckdb.connect(str(database), read_only=True) as con:
        columns = KEYS + ["n_units", *SUMS, *SHIFT_COLUMNS, *SHIFTED]
        project = con.sql(f"select {', '.join(columns)} from marts.arm_metrics").df()
        quarantined = {
            table: con.execute(
                f"select count(*) from intermediate.{table} "
                "where reason_code is not null"
            ).fetchone()[0]
            for table in ("int_exposures_classified", "int_events_classified")
        }
    problems = [
        f"{label}{table}: {rows} rows quarantined; the data is not clean"
        for table, rows in quarantined.items()
        if rows
    ]
    expected = pd.read_parquet(reference)
    problems += compare(f"{label}reference", project, expected)
    problems += compare_shifted(f"{label}reference", project, expected)
    if peer is not None and peer.exists():
        problems += compare(f"{label}peer", project, pd.read_parquet(peer))
    if project.empty:
        problems.append(f"{label}marts.arm_metrics is empty")
    return problems


def check_spark(arm_metrics: Path, reference: Path) -> list[str]:
    import pandas as pd

    spark = pd.read_parquet(arm_metrics)
    expected = pd.read_parquet(reference)
    problems = compare("spark vs reference", spark, expected)
    problems += compare_shifted("spark vs reference", spark, expected)
    if spark.empty:
        problems.append("spark marts.arm_metrics is empty")
    return problems


# ---------------------------------------------------------------- reporting


def print_table(steps: list[dict], reference_seconds: float | None) -> str:
    lines = [
        f"{'step':<40} {'wall s':>9} {'x ref':>7} {'peak RSS MiB':>13} "
        f"{'peak spill MiB':>15}  status",
        "-" * 96,
    ]
    for step in steps:
        ratio = (
            f"{step['seconds'] / reference_seconds:7.2f}"
            if reference_seconds and not step.get("not_compared")
            else f"{'':>7}"
        )
        rss = f"{step['peak_rss_mib']:13.0f}" if step.get("peak_rss_mib") else " " * 13
        spill = (
            f"{step['peak_spill_mib']:15.1f}" if "peak_spill_mib" in step else " " * 15
        )
        status = "ok" if step.get("returncode", 0) == 0 else "FAILED"
        lines.append(
            f"{step['step']:<40} {step['seconds']:9.2f} {ratio} {rss} {spill}  {status}"
        )
    text = "\n".join(lines)
    print(text)
    return text


def _seconds(by_slug: dict[str, dict], *slugs: str) -> float | None:
    """Sum of the steps' wall times; None when one did not run or failed."""
    total = 0.0
    for slug in slugs:
        step = by_slug.get(slug)
        if step is None or step.get("returncode", 0) != 0:
            return None
        total += step["seconds"]
    return total


def _columns_text(table: str, columns: list[str], shown: int = 3) -> str:
    more = f" +{len(columns) - shown} more" if len(columns) > shown else ""
    return f"{table} ({', '.join(columns[:shown])}{more})"


def target_rows(
    scale: str,
    by_slug: dict[str, dict],
    memory_limit: str | None,
    rerun: dict | None,
) -> list[dict]:
    """The issue's target table (issue 13) from this run's steps: measure,
    value, target, met? ("yes", "no", or "not run"), and the scale each target
    is set at (a figure at another scale is shown, its "met?" is only a hint)."""
    rows = []
    reference = _seconds(by_slug, "reference")

    def add(measure, value, target, met, target_scale=None, note=""):
        rows.append(
            {
                "measure": measure,
                "value": value,
                "target": target,
                "met": met,
                "target_scale": target_scale,
                "note": note,
            }
        )

    def ratio_row(measure, numerator, denominator, target, limit, target_scale):
        if numerator is None or not denominator:
            add(measure, "not run", target, "not run", target_scale)
            return
        value = numerator / denominator
        met = "yes" if value <= limit else "no"
        add(
            measure,
            f"{value:.2f}x ({numerator:.1f} s / {denominator:.1f} s)",
            target,
            met,
            target_scale,
        )

    ratio_row(
        f"{scale} full build from empty (make rebuild: dbt build + gates + report)"
        " / reference query",
        _seconds(by_slug, *REBUILD_SLUGS),
        reference,
        "<= 2.0x",
        2.0,
        "S2",
    )
    ratio_row(
        f"{scale} path to arm_metrics (dbt run +arm_metrics) / reference",
        _seconds(by_slug, "dbt_run_arm_metrics"),
        reference,
        "<= 1.3x",
        1.3,
        "S2",
    )
    for label, numerator_slugs, denominator_slugs in (
        ("dbt build", ("dbt_incremental",), ("dbt_build",)),
        ("make build (dbt + gates + report)", INCREMENTAL_SLUGS, REBUILD_SLUGS),
    ):
        incremental = _seconds(by_slug, *numerator_slugs)
        full = _seconds(by_slug, *denominator_slugs)
        measure = (
            f"{scale} incremental {label} after appending one day of events"
            " / full build"
        )
        if incremental is None or not full:
            add(measure, "not run (--append-day)", "<= 10%", "not run", "S2")
        else:
            share = incremental / full
            add(
                measure,
                f"{share:.0%} ({incremental:.1f} s / {full:.1f} s)",
                "<= 10%",
                "yes" if share <= 0.10 else "no",
                "S2",
            )
    peer = _seconds(by_slug, "peer")
    for label, slugs in (
        (
            "load + seed + dbt run +arm_metrics",
            ("load", "dbt_seed", "dbt_run_arm_metrics"),
        ),
        ("load + full build (make rebuild)", ("load", *REBUILD_SLUGS)),
    ):
        project = _seconds(by_slug, *slugs)
        measure = f"{scale} {label} vs the pandas peer"
        if peer is None or not project:
            add(measure, "not run", ">= 3x faster", "not run", "S1")
            continue
        speed = peer / project
        value = (
            f"{speed:.2f}x faster" if speed >= 1 else f"{1 / speed:.2f}x slower"
        ) + f" ({project:.1f} s vs {peer:.1f} s)"
        add(measure, value, ">= 3x faster", "yes" if speed >= 3 else "no", "S1")
    if scale == "S3":
        build = _seconds(by_slug, "dbt_build")
        value = (
            f"finished in {build:.1f} s"
            + (f" = {build / reference:.2f}x reference" if reference else "")
            if build is not None
            else ("failed" if "dbt_build" in by_slug else "not run")
        )
        add(
            f"S3 full build, memory_limit {memory_limit or 'none'}",
            value,
            "finishes; time vs reference reported",
            "yes" if build is not None and memory_limit == "8GB" else "no",
            "S3",
        )
    if rerun is None:
        add(
            "reruns bit-identical (marts)",
            "not run (--rerun-check)",
            "all bit-identical",
            "not run",
        )
    else:
        different = rerun["different"]
        add(
            f"{scale} reruns bit-identical (marts)",
            f"{len(different)}/{rerun['tables']} marts not bit-identical"
            + (
                ": " + "; ".join(_columns_text(t, c) for t, c in different.items())
                if different
                else ""
            ),
            "all bit-identical",
            "yes" if not different else "no",
        )
    for label, spark_slugs, duck_slugs in (
        ("path to arm_metrics", ("spark_run_arm_metrics",), ("dbt_run_arm_metrics",)),
        (
            "full build (dbt build + Python marts)",
            ("spark_build", "spark_results"),
            ("dbt_build",),
        ),
        ("load", ("spark_load",), ("load",)),
    ):
        spark = _seconds(by_slug, *spark_slugs)
        duck = _seconds(by_slug, *duck_slugs)
        if spark is None or not duck:
            continue
        add(
            f"{scale} Spark local {label} / DuckDB",
            f"{spark / duck:.2f}x ({spark:.1f} s vs {duck:.1f} s)",
            "reported (issue 13, item 7)",
            "reported",
        )
    return rows


def print_targets(rows: list[dict], scale: str) -> str:
    lines = ["| measure | value | target | met? |", "|---|---|---|---|"]
    for row in rows:
        met = row["met"]
        if row["target_scale"] and row["target_scale"] != scale and met != "not run":
            met += f" (target set at {row['target_scale']})"
        lines.append(f"| {row['measure']} | {row['value']} | {row['target']} | {met} |")
    text = "\n".join(lines)
    print(text)
    return text


# ---------------------------------------------------------------- set-up


def split_last_day(data: Path) -> tuple[Path, Path, dict]:
    """The data without its last day, and the last day alone (exposures and
    events at or after DATA_END - 1 day), as Parquet folders next to the data;
    reused while the marker matches."""
    import duckdb

    folder = data / "append_day"
    before, last_day = folder / "before", folder / "last_day"
    marker = folder / "split.json"
    cutoff = generate.EPOCH + generate.DATA_END - generate.US_PER_DAY
    cutoff_text = str(cutoff.astype("datetime64[s]")).replace("T", " ")
    if marker.exists():
        split = json.loads(marker.read_text())
        if split.get("cutoff") == cutoff_text:
            return before, last_day, split
    shutil.rmtree(folder, ignore_errors=True)
    before.mkdir(parents=True)
    last_day.mkdir()
    counts: dict[str, dict[str, int]] = {"before": {}, "last_day": {}}
    with duckdb.connect() as con:
        for name, column in (("exposures", "exposed_at"), ("events", "event_at")):
            source = str(data / f"{name}.parquet").replace("'", "''")
            for part, where, target in (
                ("before", "<", before),
                ("last_day", ">=", last_day),
            ):
                path = str(target / f"{name}.parquet").replace("'", "''")
                con.execute(
                    f"copy (select * from read_parquet('{source}') "
                    f"where {column} {where} timestamp '{cutoff_text}') "
                    f"to '{path}' (format parquet)"
                )
                counts[part][name] = con.execute(
                    f"select count(*) from read_parquet('{path}')"
                ).fetchone()[0]
    try:
        os.link(data / "units.parquet", before / "units.parquet")
    except OSError:
        shutil.copy2(data / "units.parquet", before / "units.parquet")
    split = {"cutoff": cutoff_text, "rows": counts}
    marker.write_text(json.dumps(split, indent=2))
    return before, last_day, split


def spark_java_home() -> str | None:
    """Java 17 for pyspark, as the Makefile finds it: $SPARK_JAVA_HOME, else
    /usr/lib/jvm/java-17-openjdk*, else $JAVA_HOME."""
    if os.environ.get("SPARK_JAVA_HOME"):
        return os.environ["SPARK_JAVA_HOME"]
    candidates = sorted(Path("/usr/lib/jvm").glob("java-17-openjdk*"))
    if candidates:
        return str(candidates[0])
    return os.environ.get("JAVA_HOME")


def write_profile(project: Path, args: argparse.Namespace) -> None:
    """The copy's profiles.yml: target bench (DuckDB, with the run's threads,
    memory limit and a per-step temp_directory from $XP_BENCH_TEMP_DIR) and
    target spark (the repository's, on local[threads])."""
    settings: dict[str, object] = {
        "TimeZone": "UTC",
        "threads": args.threads,
        "temp_directory": "{{ env_var('XP_BENCH_TEMP_DIR') }}",
    }
    if args.memory_limit:
        settings["memory_limit"] = args.memory_limit
    if args.max_temp_size:
        settings["max_temp_directory_size"] = args.max_temp_size
    outputs: dict[str, dict] = {
        "bench": {
            "type": "duckdb",
            "path": "{{ env_var('DUCKDB_PATH') }}",
            "threads": args.dbt_threads or args.threads,
            "settings": settings,
        }
    }
    repository = yaml.safe_load((REPO / "profiles.yml").read_text())
    spark = repository["experimentation"]["outputs"].get("spark")
    if spark is not None:
        spark = copy.deepcopy(spark)
        spark["threads"] = args.dbt_threads or args.threads
        spark.setdefault("server_side_parameters", {})["spark.master"] = (
            f"local[{args.threads}]"
        )
        outputs["spark"] = spark
    profile = {"experimentation": {"target": "bench", "outputs": outputs}}
    (project / "profiles.yml").write_text(
        "# Written by bench/run.py for the benchmark's project copy.\n"
        + yaml.safe_dump(profile, sort_keys=False)
    )


def incremental_command(args: argparse.Namespace) -> str:
    """--incremental-command, or the build that is incremental in this checkout:
    today's `make refresh` while dbt_project.yml has the var incremental_refresh,
    else a plain `dbt build`."""
    if args.incremental_command != "auto":
        return args.incremental_command
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    if "incremental_refresh" in (project.get("vars") or {}):
        return LEGACY_INCREMENTAL
    return PLAIN_INCREMENTAL


def dbt_command(command: str, dbt: str, dbt_vars: dict) -> list[str]:
    """A command line for the project folder: `dbt ...` runs the venv's dbt with
    --profiles-dir . and --dbt-vars merged into its own --vars; anything else
    runs as written."""
    words = shlex.split(command)
    if not words or words[0] != "dbt":
        return words
    words = [dbt, *words[1:]]
    merged = dict(dbt_vars)
    if "--vars" in words:
        index = words.index("--vars")
        merged.update(yaml.safe_load(words[index + 1]) or {})
        del words[index : index + 2]
    if "--profiles-dir" not in words:
        words += ["--profiles-dir", "."]
    if merged:
        words += ["--vars", json.dumps(merged)]
    return words


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="S1", choices=sorted(generate.SCALES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench"))
    parser.add_argument("--keep", action="store_true", help="keep data and warehouse")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 8GB")
    parser.add_argument(
        "--max-temp-size",
        help="DuckDB max_temp_directory_size (spill cap), e.g. 40GB",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--dbt-threads",
        type=int,
        help="models dbt runs at once (default: --threads)",
    )
    parser.add_argument("--peer", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument(
        "--no-full-build",
        action="store_true",
        help="skip the full dbt build (and the gates and report after it)",
    )
    parser.add_argument(
        "--no-gates",
        action="store_true",
        help="skip the gates, report and summary after the full build",
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
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--append-day",
        action="store_true",
        help="load the data without its last day, build, append the day to raw.*, "
        "build again with --incremental-command",
    )
    mode.add_argument(
        "--refresh",
        action="store_true",
        help="after the full build, append the last day's events again one day "
        "later and time --incremental-command",
    )
    parser.add_argument(
        "--incremental-command",
        default="auto",
        help="the incremental build after an append (default auto: "
        f'"{LEGACY_INCREMENTAL}" while the var incremental_refresh exists, '
        f'else "{PLAIN_INCREMENTAL}")',
    )
    parser.add_argument(
        "--rerun-check",
        action="store_true",
        help="build twice (dbt build --full-refresh) and count marts that are "
        "not bit-identical",
    )
    parser.add_argument(
        "--spark",
        action="store_true",
        help="also load the data into Spark (local[threads]) and time dbt there",
    )
    parser.add_argument(
        "--spark-driver-memory",
        default="4g",
        help="Spark driver memory, the local session's heap (default 4g)",
    )
    parser.add_argument(
        "--raw-views",
        action="store_true",
        help="raw.* as views over the Parquet files instead of xpkit.io.load copies",
    )
    args = parser.parse_args(argv)
    if args.append_day and (args.no_full_build or args.raw_views):
        parser.error("--append-day needs the full build and loaded raw tables")
    if args.refresh and args.no_full_build:
        parser.error("--refresh needs the full build")
    return args


# -------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    children = {
        "_reference": reference_main,
        "_raw_views": raw_views_main,
        "_append_day": append_day_main,
        "_append_files": append_files_main,
        "_spark_export": spark_export_main,
    }
    if argv and argv[0] in children:
        return children[argv[0]](argv[1:])
    args = parse_args(argv)

    from warehouse import copy_project

    out = args.out.resolve()
    data = out / "data" / args.scale
    work = out / f"run_{args.scale}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    steps: list[dict] = []
    by_slug: dict[str, dict] = {}

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
        shutil.rmtree(data / "append_day", ignore_errors=True)
        manifest = generate.generate(data, args.scale)
        manifest["generator"] = GENERATOR_VERSION
        manifest_path.write_text(json.dumps(manifest, indent=2))
    steps.append(
        {
            "step": "generate (not compared)",
            "seconds": time.perf_counter() - started,
            "not_compared": True,
        }
    )
    print(f"    rows: {manifest['rows']}")

    initial_data, last_day, split = data, None, None
    as_of = generate.AS_OF
    first_as_of = as_of
    if args.append_day:
        started = time.perf_counter()
        initial_data, last_day, split = split_last_day(data)
        steps.append(
            {
                "step": "split off the last day (not compared)",
                "seconds": time.perf_counter() - started,
                "not_compared": True,
            }
        )
        print(f"    last day from {split['cutoff']}: {split['rows']['last_day']}")
        # The first build runs as of the day before: the data's last day has
        # not arrived yet.
        first_as_of = (datetime.fromisoformat(as_of) - timedelta(days=1)).strftime(
            "%Y-%m-%d %H:%M:%S"
        )

    seeds = generate.write_registry(work / "seeds")
    project = copy_project(work / "project", seeds)
    write_profile(project, args)
    database = work / "warehouse.duckdb"
    env = {
        **os.environ,
        "DUCKDB_PATH": str(database),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "XP_AS_OF": first_as_of,
    }
    env.pop("XP_UNIT_ID_SALT", None)
    dbt = str(BIN / "dbt")
    dbt_vars = yaml.safe_load(args.dbt_vars) if args.dbt_vars else {}
    logs = work / "step_logs"
    logs.mkdir()
    spill_root = work / "spill"
    # Where DuckDB spills when nothing says otherwise (xpkit.io.load, the gates,
    # the report open the file with its defaults).
    default_spill = Path(f"{database}.tmp")

    def step(
        name: str,
        command: list[str],
        slug: str,
        extra_env: dict | None = None,
        not_compared: bool = False,
    ) -> dict:
        print(f"==> {name}", flush=True)
        folder = spill_root / slug
        folder.mkdir(parents=True, exist_ok=True)
        # The step's own spill folder: DuckDB's temp_directory (the bench
        # profile reads XP_BENCH_TEMP_DIR) and Spark's local dirs.
        step_env = {
            **env,
            **(extra_env or {}),
            "XP_BENCH_TEMP_DIR": str(folder),
            "SPARK_LOCAL_DIRS": str(folder),
        }
        result = measure(
            name,
            command,
            project,
            step_env,
            logs / f"{slug}.log",
            [folder, default_spill],
        )
        result["slug"] = slug
        if not_compared:
            result["not_compared"] = True
        steps.append(result)
        by_slug[slug] = result
        print(
            f"    {result['seconds']:.2f} s, peak RSS {result['peak_rss_mib']:.0f} MiB,"
            f" peak spill {result['peak_spill_mib']:.1f} MiB",
            flush=True,
        )
        run_results = work / "target" / "run_results.json"
        if command[0] == dbt and run_results.exists():
            shutil.move(run_results, work / f"run_results_{slug}.json")
        shutil.rmtree(folder, ignore_errors=True)
        return result

    def ok(*slugs: str) -> bool:
        return all(
            slug in by_slug and by_slug[slug]["returncode"] == 0 for slug in slugs
        )

    def reference_step(name: str, slug: str, target: Path) -> dict:
        command = [
            PY,
            str(HERE / "run.py"),
            "_reference",
            "--database",
            str(database),
            "--out",
            str(target),
            "--threads",
            str(args.threads),
            "--temp-directory",
            str(spill_root / slug),
        ]
        if args.memory_limit:
            command += ["--memory-limit", args.memory_limit]
        if args.max_temp_size:
            command += ["--max-temp-size", args.max_temp_size]
        result = step(name, command, slug)
        if result["returncode"] == 0:
            query = json.loads(
                (logs / f"{slug}.log").read_text().strip().splitlines()[-1]
            )
            result["query_seconds"] = query["query_seconds"]
        return result

    def make_build_steps(suffix: str, label: str) -> None:
        """What `make build` runs after dbt: the gates, the report, the summary."""
        step(
            f"gates (xpkit.io.validate){label}",
            [
                PY,
                "-m",
                "xpkit.io.validate",
                "--database",
                str(database),
                "--docs-dir",
                str(work / "reports" / "data_docs"),
            ],
            f"gates{suffix}",
        )
        step(
            f"report (xpkit.report){label}",
            [
                PY,
                "-m",
                "xpkit.report",
                "--database",
                str(database),
                "--out",
                str(work / "reports"),
                "--project-dir",
                str(REPO),
            ],
            f"report{suffix}",
        )
        step(
            f"summary (xpkit.io.cli){label}",
            [PY, "-m", "xpkit.io.cli", "summary", "--database", str(database)],
            f"summary{suffix}",
        )

    if args.raw_views:
        step(
            "raw views over Parquet",
            [PY, str(HERE / "run.py"), "_raw_views", str(initial_data), str(database)],
            "load",
        )
    else:
        step(
            "load (xpkit.io.load)"
            + (" without the last day" if args.append_day else ""),
            [PY, "-m", "xpkit.io.load", str(initial_data), "--database", str(database)],
            "load",
        )
    reference_out = work / "reference.parquet"
    if not args.no_reference:
        reference_step("reference query", "reference", reference_out)
    step(
        "dbt seed",
        dbt_command("dbt seed --full-refresh", dbt, dbt_vars),
        "dbt_seed",
    )
    # --full-refresh: from empty whether or not the models are incremental
    # (a plain `dbt build` after this run would otherwise add nothing).
    step(
        "dbt run +arm_metrics",
        dbt_command("dbt run --select +arm_metrics --full-refresh", dbt, dbt_vars),
        "dbt_run_arm_metrics",
    )
    if not args.no_full_build:
        step(
            "dbt build (full)",
            dbt_command("dbt build --full-refresh", dbt, dbt_vars),
            "dbt_build",
        )
        if not args.no_gates and ok("dbt_build"):
            make_build_steps("", "")
    run_peer = args.peer == "yes" or (
        args.peer == "auto" and args.scale in ("S0", "S1")
    )
    peer_out = work / "peer.parquet"
    if run_peer:
        step(
            "pandas peer",
            [
                PY,
                str(HERE / "peer_pandas.py"),
                str(initial_data),
                str(seeds),
                str(peer_out),
            ],
            "peer",
        )

    problems: list[str] = []
    compared = ok("reference")
    if compared and ok("dbt_run_arm_metrics"):
        problems = check(database, reference_out, peer_out if run_peer else None)

    rerun = None
    if args.rerun_check and ok("dbt_build"):
        first = mart_digests(database)
        step(
            "dbt build (rerun, same input)",
            dbt_command("dbt build --full-refresh", dbt, dbt_vars),
            "dbt_rerun",
        )
        if ok("dbt_rerun"):
            second = mart_digests(database)
            rerun = {
                "tables": len(set(first) | set(second)),
                "different": rerun_differences(first, second),
            }

    refreshed_units = None
    incremental = dbt_command(incremental_command(args), dbt, dbt_vars)
    if args.append_day and not problems and ok("dbt_build"):
        print(f"    incremental command: {shlex.join(incremental)}")
        step(
            "append the last day (INSERT into raw.*)",
            [PY, str(HERE / "run.py"), "_append_files", str(database), str(last_day)],
            "append_day",
        )
        env["XP_AS_OF"] = as_of
        if ok("append_day"):
            log = (logs / "append_day.log").read_text().strip().splitlines()
            by_slug["append_day"]["appended"] = json.loads(log[-1])["appended"]
            step("incremental build (+1 day)", incremental, "dbt_incremental")
            refreshed_units = count_refreshed_units(database)
            if not args.no_gates and ok("dbt_incremental"):
                make_build_steps("_incremental", " after +1 day")
            if not args.no_reference and ok("dbt_incremental"):
                after = work / "reference_after_append.parquet"
                reference_step(
                    "reference query (after append)", "reference_after_append", after
                )
                if ok("reference_after_append"):
                    problems += check(database, after, None, label="after append: ")
    elif args.refresh and ok("dbt_build") and not problems:
        # One more day of events (the last day's, a day later), then the
        # incremental build: after the check, which it would change.
        step(
            "append one day of events",
            [PY, str(HERE / "run.py"), "_append_day", str(database)],
            "append_day",
        )
        step("dbt build (refresh, +1 day)", incremental, "dbt_incremental")
        refreshed_units = count_refreshed_units(database)

    if args.spark:
        java_home = spark_java_home()
        spark_env = {
            "JAVA_HOME": java_home or "",
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
            "XP_SPARK_MASTER": f"local[{args.threads}]",
            "SPARK_DRIVER_MEMORY": args.spark_driver_memory,
            "XP_AS_OF": first_as_of,
        }
        print(f"==> Spark on local[{args.threads}], JAVA_HOME={java_home}")
        steps_spark = [
            (
                "spark: load (xpkit.io.spark load)",
                [PY, "-m", "xpkit.io.spark", "load", str(initial_data)],
                "spark_load",
            ),
            (
                "spark: dbt seed",
                dbt_command("dbt seed --target spark --full-refresh", dbt, dbt_vars),
                "spark_seed",
            ),
            (
                "spark: dbt run +arm_metrics",
                dbt_command(
                    "dbt run --select +arm_metrics --target spark", dbt, dbt_vars
                ),
                "spark_run_arm_metrics",
            ),
            (
                "spark: dbt build (full)",
                dbt_command("dbt build --target spark", dbt, dbt_vars),
                "spark_build",
            ),
            (
                "spark: Python marts (xpkit.io.spark results)",
                [PY, "-m", "xpkit.io.spark", "results", "--project-dir", "."],
                "spark_results",
            ),
        ]
        for name, command, slug in steps_spark:
            step(name, command, slug, spark_env)
            if not ok(slug):
                break
        if ok("spark_build") and ok("reference"):
            spark_out = work / "spark_arm_metrics.parquet"
            step(
                "spark: read arm_metrics (not compared)",
                [PY, str(HERE / "run.py"), "_spark_export", str(spark_out)],
                "spark_export",
                spark_env,
                not_compared=True,
            )
            if ok("spark_export"):
                problems += check_spark(spark_out, reference_out)

    reference_seconds = _seconds(by_slug, "reference")
    print()
    table = print_table(steps, reference_seconds)
    if refreshed_units:
        print(
            f"(the incremental build recomputed {refreshed_units[0]:,} of "
            f"{refreshed_units[1]:,} analysed units)"
        )
    reference = by_slug.get("reference", {})
    if reference.get("query_seconds"):
        print(
            f"(reference query alone, inside its process: "
            f"{reference['query_seconds']:.2f} s)"
        )
    dbt_slugs = [
        slug
        for slug in (
            "dbt_run_arm_metrics",
            "dbt_build",
            "dbt_incremental",
            "spark_run_arm_metrics",
            "spark_build",
        )
        if slug in by_slug
    ]
    for slug in dbt_slugs:
        top = top_models(work / f"run_results_{slug}.json")
        if top:
            print(f"\nslowest nodes of {slug}:")
            for unique_id, seconds in top:
                print(f"  {seconds:8.2f} s  {unique_id}")

    print("\ntargets (issue 13):")
    targets = target_rows(args.scale, by_slug, args.memory_limit, rerun)
    targets_table = print_targets(targets, args.scale)

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
        extra = []
        if ok("reference_after_append"):
            extra.append("after the appended day")
        if ok("spark_export"):
            extra.append("on Spark")
        also = f"; also {' and '.join(extra)}" if extra else ""
        print(
            f"OK: marts.arm_metrics equals the {checked} "
            f"(n exact, sums rtol {RTOL}){also}"
        )

    results = {
        "scale": args.scale,
        "rows": manifest["rows"],
        "threads": args.threads,
        "dbt_threads": args.dbt_threads or args.threads,
        "memory_limit": args.memory_limit,
        "max_temp_size": args.max_temp_size,
        "append_day": split,
        "incremental_command": shlex.join(incremental)
        if (args.append_day or args.refresh)
        else None,
        "spark": {
            "master": f"local[{args.threads}]",
            "driver_memory": args.spark_driver_memory,
        }
        if args.spark
        else None,
        "steps": steps,
        "table": table,
        "targets": targets,
        "targets_table": targets_table,
        "rerun": rerun,
        "problems": problems,
        "failed": failed,
        "refreshed_units": refreshed_units,
        "top_models": {
            slug: top_models(work / f"run_results_{slug}.json") for slug in dbt_slugs
        },
    }
    (out / f"results_{args.scale}.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
