"""Engine parity: the demo data built on Spark gives DuckDB's figures.

The demo files are loaded into Spark by ``python -m xpkit.io.spark load`` (which
types them with the DuckDB loader's rules) and built with ``dbt build --target spark``;
``xpkit.io.spark`` then writes the Python marts on Spark. Every row and column of
the marts, the quarantine tables and the raw tables must equal the DuckDB
build: text, booleans, timestamps and counts exactly, floating-point numbers to
1e-9 relative. Run by ``make test-spark`` (marker ``spark``), which installs
requirements-spark.txt and points JAVA_HOME at Java 17.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import DEMO_AS_OF, REPORT_LINES
from parity import Comparison, compare_tables
from warehouse import BIN, REPO, copy_project, read_tables, run

pytest.importorskip("pyspark")

from xpkit.io import spark as xpkit_spark  # noqa: E402

pytestmark = pytest.mark.spark

# Every table both engines build (the raw tables prove the input is identical),
# with the columns that identify a row; None compares the tables as multisets.
# A table must hold rows on both engines, so marts.bandit_allocations (empty:
# the demo has no bandit) is not listed; tests/marts/test_bandit_allocations.py
# and tests/warehouse/test_bandit_warehouse.py check it.
PARITY_TABLES: dict[str, tuple[str, ...] | None] = {
    "raw.exposures": None,
    "raw.events": None,
    "raw.units": ("unit_id",),
    "quarantine.quarantine_exposures": None,
    "quarantine.quarantine_events": None,
    "quarantine.quarantine_units": None,
    "intermediate.int_registry_problems": None,
    "intermediate.int_arms_counted": ("experiment_id", "variant"),
    "intermediate.int_planned_metric_baselines": ("experiment_id", "metric_id"),
    "intermediate.int_planned_arms_counted": ("experiment_id", "variant"),
    "intermediate.int_cate_units": ("experiment_id", "unit_id"),
    "intermediate.int_regression_cross_products": (
        "experiment_id",
        "variant",
        "metric_id",
        "term_i_index",
        "term_j_index",
    ),
    "intermediate.int_rank_sums_pooled": ("experiment_id", "metric_id", "variant"),
    "marts.arm_metrics": ("experiment_id", "variant", "metric_id"),
    "marts.arm_metrics_by_segment": (
        "experiment_id",
        "variant",
        "metric_id",
        "segment_dimension",
        "segment_value",
    ),
    "marts.arm_metrics_daily": (
        "experiment_id",
        "variant",
        "metric_id",
        "exposure_date",
    ),
    "marts.arm_metrics_by_compliance": (
        "experiment_id",
        "variant",
        "metric_id",
        "received_treatment",
    ),
    "marts.experiment_health": ("experiment_id",),
    "marts.planned_assignments": ("experiment_id", "unit_id"),
    "marts.experiment_cohorts": None,
    "marts.assignment_balance": ("experiment_id", "variant"),
    "marts.experiment_results": ("experiment_id", "metric_id", "variant"),
    "marts.segment_results": (
        "experiment_id",
        "metric_id",
        "variant",
        "segment_dimension",
        "segment_value",
    ),
    "marts.experiment_power": ("experiment_id", "metric_id"),
    "marts.planned_assignment_balance": ("experiment_id", "variant"),
    "marts.daily_results": None,
    "marts.compliance_results": ("experiment_id", "metric_id", "variant"),
    "marts.experiment_cate": (
        "experiment_id",
        "metric_id",
        "learner",
        "output",
        "segment",
        "activity_bin",
        "budget_share",
        "decile",
    ),
    "marts.experiment_decisions": ("experiment_id",),
    "marts.build_manifest": ("item_type", "item_name"),
}
# Tables whose engines legitimately differ in part, compared on the rest:
# - build_manifest: digests (DuckDB's hash vs Spark's xxhash64), versions and
#   build times differ; the row count of each input must agree.
# - experiment_cate: its gradient-boosted learners turn the engines' last-bit
#   differences in unit outcomes (summed in another order, <= 1e-15 relative)
#   into other tree splits, so its estimates and the units they rank differ
#   (mean CATE per cell by up to ~6% on the demo). Its rows, unit counts and
#   random-targeting baseline must agree.
CATE_ESTIMATES = (
    "treated_units",
    "control_units",
    "mean_cate",
    "observed_uplift",
    "incremental_outcome",
    "observed_uplift_low",
    "observed_uplift_high",
    "gain_over_random",
    "gain_over_random_low",
    "gain_over_random_high",
    "targeting_verdict",
)
PROJECTIONS = {
    "marts.build_manifest": lambda frame: frame.loc[
        frame["item_type"].isin(["raw_table", "registry_table"]),
        ["item_type", "item_name", "row_count"],
    ].reset_index(drop=True),
    "marts.experiment_cate": lambda frame: frame.drop(columns=list(CATE_ESTIMATES)),
}
SPARK_LEFTOVERS = ("metastore_db", "derby.log", "spark-warehouse")


def _say(line: str) -> None:
    # Shown in pytest's terminal summary, whatever it captures.
    REPORT_LINES.append(line)


@pytest.fixture(scope="module")
def spark_build(demo_warehouse, tmp_path_factory):
    """The demo warehouse's raw tables loaded into Spark and built there; the
    Spark and DuckDB tables of PARITY_TABLES as pandas frames."""
    if not os.environ.get("JAVA_HOME"):
        pytest.fail("JAVA_HOME is not set: run `make test-spark` (it finds Java 17)")
    work = tmp_path_factory.mktemp("spark_build")
    # A copy of the project, so that Spark's metastore_db/, derby.log and
    # spark-warehouse/ land in the scratch folder, not in the repository.
    project = copy_project(work / "project", REPO / "seeds")
    env = {"XP_AS_OF": DEMO_AS_OF}
    duckdb_file = demo_warehouse["database"]
    timings = {"load + dbt build on DuckDB (demo_warehouse)": demo_warehouse["seconds"]}

    started = time.perf_counter()
    python = str(BIN / "python")
    # The demo files, read by the same loader as the DuckDB build's.
    load = [
        python,
        "-m",
        "xpkit.io.spark",
        "load",
        str(demo_warehouse["work"] / "data"),
    ]
    _say(run(load, project, duckdb_file, work, env).strip().replace("\n", "; "))
    timings["load raw tables into Spark"] = time.perf_counter() - started

    started = time.perf_counter()
    dbt = [str(BIN / "dbt"), "build", "--profiles-dir", ".", "--target", "spark"]
    log = run(dbt, project, duckdb_file, work, env)
    timings["dbt build --target spark"] = time.perf_counter() - started
    done = next(line for line in log.splitlines() if "Done. PASS=" in line)
    _say("dbt on Spark: " + re.sub(r"\x1b\[[0-9;]*m", "", done).split("Done.")[-1])

    # The results step and the reads run in this process: one more Spark
    # session, started in the project folder so it opens the same metastore.
    started = time.perf_counter()
    here = Path.cwd()
    os.chdir(project)
    try:
        spark = xpkit_spark.session()
    finally:
        os.chdir(here)
    settings = xpkit_spark.project_settings(project, {"as_of": DEMO_AS_OF})
    written = xpkit_spark.write_python_marts(spark, settings)
    timings["Python marts on Spark (xpkit.io.spark results)"] = (
        time.perf_counter() - started
    )
    _say(f"written: {written}")

    started = time.perf_counter()
    spark_tables = {name: xpkit_spark.read_table(spark, name) for name in PARITY_TABLES}
    duckdb_tables = read_tables(duckdb_file, *PARITY_TABLES)
    timings["read both engines' tables"] = time.perf_counter() - started
    yield {
        "spark": spark_tables,
        "duckdb": duckdb_tables,
        "timings": timings,
        "project": project,
        "session": spark,
    }
    spark.stop()
    for name in SPARK_LEFTOVERS:
        path = project / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def comparisons(spark_build) -> dict[str, Comparison]:
    started = time.perf_counter()
    results = {}
    for name, keys in PARITY_TABLES.items():
        project = PROJECTIONS.get(name, lambda frame: frame)
        duckdb_table = project(spark_build["duckdb"][name])
        spark_table = project(spark_build["spark"][name])
        results[name] = compare_tables(name, duckdb_table, spark_table, keys)
    spark_build["timings"]["compare"] = time.perf_counter() - started
    for step, seconds in spark_build["timings"].items():
        _say(f"{step:<46} {seconds:7.1f} s")
    for name, result in results.items():
        status = "equal" if not result.differences else "DIFFERENT"
        _say(f"{name:<44} {result.rows:>8,} rows {result.cells:>10,} cells {status}")
    rows = sum(result.rows for result in results.values())
    cells = sum(result.cells for result in results.values())
    _say(f"{len(results)} tables, {rows:,} rows, {cells:,} cells compared")
    return results


@pytest.mark.parametrize("table", list(PARITY_TABLES))
def test_spark_table_equals_duckdb(comparisons, table):
    result = comparisons[table]
    assert not result.differences, "\n".join(result.differences)
    if table.startswith(("raw.", "marts.")):
        assert result.rows > 0, f"{table} is empty on both engines"


def test_spark_parity_detects_a_perturbed_figure(spark_build):
    # The check that passes above fails on a p-value off by 1e-8 relative, a
    # unit count off by one, or a quarantined row with another reason.
    spark = spark_build["spark"]
    duck = spark_build["duckdb"]
    keys = PARITY_TABLES["marts.experiment_results"]
    results = spark["marts.experiment_results"].copy()
    row = results["p_value"].first_valid_index()
    results.loc[row, "p_value"] = results.loc[row, "p_value"] * (1 + 1e-8)
    found = compare_tables("results", duck["marts.experiment_results"], results, keys)
    assert len(found.differences) == 1
    assert "results.p_value" in found.differences[0]

    arms = spark["marts.arm_metrics"].copy()
    arms.loc[0, "n_units"] += 1
    keys = PARITY_TABLES["marts.arm_metrics"]
    found = compare_tables("arms", duck["marts.arm_metrics"], arms, keys)
    assert [line.split(" ")[0] for line in found.differences] == ["arms.n_units"]

    events = spark["quarantine.quarantine_events"].copy()
    first = events.loc[0, "reason_code"]
    other = "invalid_value" if first == "duplicate_row" else "duplicate_row"
    events.loc[0, "reason_code"] = other
    found = compare_tables("events", duck["quarantine.quarantine_events"], events)
    assert found.differences
