"""Reproducible and idempotent builds (issue 5): two builds of the same input
give the same marts apart from build-time rows; loading new data and building
updates them; an interrupted build leaves the previous marts readable.

"The same" is bit for bit, every cell of every mart (zero tolerance, NaN equal
to NaN): the sums are exact integers (macros/exact_sums.sql), so the order in
which DuckDB's threads add them does not matter (docs/methodology.md, "Exact
sums")."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import duckdb
import numpy as np
import pandas as pd
import pytest
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from warehouse import BIN, copy_project, load_and_build, run

pytestmark = pytest.mark.warehouse
SCHEMAS = ("marts", "quarantine")
HISTORY_TABLES = (
    "marts.experiment_results_history",
    "marts.experiment_decisions_history",
)


def snapshot(database) -> dict[str, pd.DataFrame]:
    """Every table of the public schemas, sorted by all columns, build rows out."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            f"where table_schema in {SCHEMAS} order by 1"
        ).fetchall()
        tables = {}
        for (name,) in names:
            frame = con.sql(f"select * from {name}").to_arrow_table().to_pandas()
            if name == "marts.build_manifest":
                frame = frame[frame.item_type != "build"]
            if name in HISTORY_TABLES:
                # Which build wrote a history row, and when, differ by design.
                frame = frame.drop(columns=["build_id", "built_at"])
            keys = [c for c in frame.columns if frame[c].dtype.kind not in "fc"]
            tables[name] = frame.sort_values(keys).reset_index(drop=True)
    return tables


def differences(left: dict, right: dict) -> list[str]:
    """Every table.column whose cells are not bit-identical (floats compared by
    their 64-bit patterns, so -0.0 differs from 0.0 and NaN equals NaN)."""
    assert left.keys() == right.keys()
    found = []
    for name in left:
        a, b = left[name], right[name]
        assert list(a.columns) == list(b.columns), name
        assert len(a) == len(b), name
        for column in a.columns:
            x, y = a[column], b[column]
            if x.dtype.kind in "fc":
                bits_x = np.ascontiguousarray(x.to_numpy(np.float64)).view(np.int64)
                bits_y = np.ascontiguousarray(y.to_numpy(np.float64)).view(np.int64)
                same = bits_x == bits_y
            else:
                same = ((x == y) | (x.isna() & y.isna())).to_numpy(bool)
            if not same.all():
                found.append(f"{name}.{column} ({(~same).sum()} of {len(same)} cells)")
    return found


def assert_same(left: dict, right: dict) -> None:
    found = differences(left, right)
    assert not found, "not bit-identical: " + ", ".join(found)


@pytest.fixture(autouse=True)
def pinned_as_of(monkeypatch):
    """Reproducible rebuilds pin the build's "now" (var as_of / XP_AS_OF), as
    the README says; otherwise decided_at and days running follow the clock."""
    monkeypatch.setenv("XP_AS_OF", "2025-03-20 00:00:00")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    work = tmp_path_factory.mktemp("reproducibility")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    for seed in (7, 8):
        write_custom_dataset(work / f"data_{seed}", seed=seed)
    return {"work": work, "project": copy_project(work / "project", seeds)}


def test_rebuilds_of_the_same_input_give_the_same_marts(project, tmp_path):
    work, root = project["work"], project["project"]
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    load_and_build(root, work / "data_7", first, tmp_path)
    load_and_build(root, work / "data_7", second, tmp_path)
    original = snapshot(first)
    assert len(original["marts.arm_metrics"]) > 0
    assert_same(original, snapshot(second))
    # Re-running the whole load and build on the existing warehouse (as a second
    # `make run` would) changes nothing either.
    load_and_build(root, work / "data_7", first, tmp_path)
    assert_same(original, snapshot(first))


@pytest.mark.slow
def test_new_data_then_build_updates_marts_and_manifest(project, tmp_path):
    work, root = project["work"], project["project"]
    database = tmp_path / "w.duckdb"
    load_and_build(root, work / "data_7", database, tmp_path)
    before = snapshot(database)
    load_and_build(root, work / "data_8", database, tmp_path)
    after = snapshot(database)
    sums = ["metric_sum", "metric_sum_squares"]
    assert not before["marts.arm_metrics"][sums].equals(
        after["marts.arm_metrics"][sums]
    )
    digests = {
        name: frame.set_index("item_name").value
        for name, frame in (
            ("before", before["marts.build_manifest"]),
            ("after", after["marts.build_manifest"]),
        )
    }
    assert digests["before"]["raw.events"] != digests["after"]["raw.events"]
    assert digests["before"]["metrics"] == digests["after"]["metrics"]


@pytest.mark.slow
def test_interrupted_build_leaves_previous_marts_readable(project, tmp_path):
    work, root = project["work"], project["project"]
    database = tmp_path / "w.duckdb"
    load_and_build(root, work / "data_7", database, tmp_path)
    before = snapshot(database)
    run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.io.load",
            str(work / "data_8"),
            "--database",
            str(database),
        ],
        root,
        database,
        tmp_path,
    )
    env = {
        **os.environ,
        "DUCKDB_PATH": str(database),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    build = subprocess.Popen(
        [str(BIN / "dbt"), "build", "--profiles-dir", "."],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    # Stop it once it is writing marts: the point where a half-written table
    # would hurt if materialisations were not atomic.
    deadline = time.monotonic() + 120
    for line in build.stdout:
        if "START" in line and "marts." in line or time.monotonic() > deadline:
            break
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    # Every previous mart is still there and readable; each is either the old
    # table or a completely rebuilt one, never a missing or partial one.
    after = snapshot(database)
    assert set(before) <= set(after)
    for name, frame in before.items():
        assert list(after[name].columns) == list(frame.columns), name
        assert len(after[name]) > 0 or len(frame) == 0, name
