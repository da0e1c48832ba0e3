"""Build, check, then publish (xpkit.io.publish) with real processes.

One published demo warehouse per module: the demo build of the session is
copied into a build folder and published, then builds and publishes are killed
with SIGKILL at seven points (a SQL model, a Python model, the gates, the
report, before the first rename, after it), each time proving that the
published warehouse, its BI copy and the report are byte for byte what they
were (or, after the first rename, that the next command completes the
publish). The last build is salted, runs while a reader holds the published
file and while a second writer tries to start, and must succeed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_AS_OF
from warehouse import REPO

from xpkit.io import publish
from xpkit.io.publish import Paths

BIN = Path(sys.executable).parent
# How long a killed step may take to reach its marker line.
MARKER_TIMEOUT = 600


def _env(work: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "DUCKDB_PATH",
            "REPORT_DIR",
            "DOCS_DIR",
            "XP_UNIT_ID_SALT",
            "XP_PUBLISH_HOLD",
            "XP_LOCK_TIMEOUT",
            "XP_MIN_SEGMENT_UNITS",
            "XP_BI_SCHEMAS",
        )
    }
    env.update(
        {
            "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "XP_AS_OF": DEMO_AS_OF,
            "PYTHONUNBUFFERED": "1",
            # The kill tests wait for dbt's per-node lines on the terminal.
            "VERBOSE": "1",
        }
    )
    env.update(extra)
    return env


def _command(paths: Paths, *args: str) -> list[str]:
    return [
        str(BIN / "python"),
        "-m",
        "xpkit.io.publish",
        *args,
        "--database",
        str(paths.published),
        "--report-dir",
        str(paths.report_dir),
    ]


def _run(site: dict, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(site["paths"], *args),
        cwd=REPO,
        env=_env(site["work"], **extra),
        capture_output=True,
        text=True,
        check=False,
    )


def _start(site: dict, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        _command(site["paths"], *args),
        cwd=REPO,
        env=_env(site["work"], **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for(process: subprocess.Popen, pattern: str) -> list[str]:
    """Read the process's output until a line matches `pattern`."""
    lines: list[str] = []
    deadline = time.monotonic() + MARKER_TIMEOUT
    for line in process.stdout:
        lines.append(line)
        if re.search(pattern, line):
            return lines
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(
        f"no line matching {pattern!r} (exit {process.wait()}):\n{''.join(lines)}"
    )


def _kill_at(process: subprocess.Popen, pattern: str) -> list[str]:
    """SIGKILL the whole process group (the command and its dbt, gates or
    report child) as soon as a line matches `pattern`."""
    lines = _wait_for(process, pattern)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return lines


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(paths: Paths) -> dict[str, str]:
    """Every published byte: the full file, the BI file and the report tree."""
    files = {"warehouse": _digest(paths.published), "bi": _digest(paths.bi)}
    for page in sorted(paths.report_dir.rglob("*")):
        if page.is_file():
            files[f"report/{page.relative_to(paths.report_dir)}"] = _digest(page)
    return files


def _manifest(database: Path, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    sql = "select item_name, value from marts.build_manifest where item_type = 'build'"
    if con is not None:
        return dict(con.execute(sql).fetchall())
    with duckdb.connect(str(database), read_only=True) as fresh:
        return dict(fresh.execute(sql).fetchall())


def _report_build_id(paths: Paths) -> str:
    return (paths.report_dir / publish.BUILD_ID_FILE).read_text().strip()


def _assert_consistent(paths: Paths) -> str:
    """The full file, the BI file and the report come from one build."""
    full, bi = _manifest(paths.published), _manifest(paths.bi)
    assert full["build_id"] == bi["build_id"] == _report_build_id(paths)
    assert full["status"] == "complete" and full["gates"] == "passed"
    return full["build_id"]


@pytest.fixture(scope="module")
def site(demo_warehouse, tmp_path_factory):
    """The session's demo build as the build file of a fresh site, published
    with `python -m xpkit.io.publish publish` (gates, report, publish)."""
    work = tmp_path_factory.mktemp("publish")
    paths = Paths.of(
        work / "site" / "warehouse.duckdb",
        work / "site" / "reports",
        work / "site" / "reports" / "data_docs",
    )
    paths.build_dir.mkdir(parents=True)
    shutil.copyfile(demo_warehouse["database"], paths.working)
    publish.write_state(paths, stage="built")
    site = {"work": work, "paths": paths}
    result = _run(site, "publish")
    assert result.returncode == 0, result.stdout + result.stderr
    site["first_build"] = _assert_consistent(paths)
    return site


# ------------------------------------------------------------- the published


def test_publish_writes_the_full_file_the_bi_file_and_the_report(site):
    paths = site["paths"]
    assert (paths.report_dir / "index.html").is_file()
    assert (paths.report_dir / "data_docs" / "gates.html").is_file()
    # The report names the file readers open by its name, and no absolute
    # path (neither the published file's nor the build folder's).
    index = (paths.report_dir / "index.html").read_text(encoding="utf-8")
    assert f'<dd class="mono">{paths.published.name}</dd>' in index
    assert str(site["work"]) not in index and paths.working.parent.name not in index
    with duckdb.connect(str(paths.bi), read_only=True) as con:
        schemas = {
            row[0]
            for row in con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables"
            ).fetchall()
        }
        unit_columns = con.execute(
            "select table_name from information_schema.columns "
            "where column_name = 'unit_id'"
        ).fetchall()
    assert schemas == {"marts"}
    assert "planned_assignments" not in tables  # unit-level: not for BI
    assert {"arm_metrics_by_segment", "arm_metrics_daily", "segment_results"} <= tables
    assert unit_columns == []
    # Nothing is left behind: no staged files, no journal, no lock holder.
    assert not paths.staged_full.exists() and not paths.staged_bi.exists()
    assert not paths.staged_report.exists() and not paths.journal.exists()
    assert paths.lock.read_text() == ""


def test_the_bi_file_opens_in_duckdb_1_4(site):
    """A separate venv with duckdb 1.4 from the registry (cached under
    target/) opens every BI table read-only and counts the same rows; the full
    file, written by duckdb 2.0, it cannot open (why the BI file exists)."""
    venv = REPO / "target" / "duckdb-1.4-venv"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "duckdb==1.4.*"],
            check=True,
            capture_output=True,
        )
        (venv / ".installed").touch()
    script = """
import json, sys, duckdb
out = {"version": duckdb.__version__, "counts": {}}
with duckdb.connect(sys.argv[1], read_only=True) as con:
    for schema, table in con.execute(
        "select table_schema, table_name from information_schema.tables"
    ).fetchall():
        out["counts"][f"{schema}.{table}"] = con.execute(
            f'select count(*) from "{schema}"."{table}"').fetchone()[0]
try:
    duckdb.connect(sys.argv[2], read_only=True)
    out["full"] = "opened"
except duckdb.Error as error:
    out["full"] = str(error)
print(json.dumps(out))
"""
    paths = site["paths"]
    result = subprocess.run(
        [str(python), "-c", script, str(paths.bi), str(paths.published)],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(result.stdout)
    assert seen["version"].startswith("1.4.")
    with duckdb.connect(str(paths.bi), read_only=True) as con:
        expected = {
            f"{schema}.{table}": con.execute(
                f'select count(*) from "{schema}"."{table}"'
            ).fetchone()[0]
            for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        (storage,) = con.execute(
            "select tags['storage_version'] from duckdb_databases() "
            "where database_name = current_database()"
        ).fetchone()
    assert seen["counts"] == expected and len(expected) >= 15
    assert storage.startswith(publish.BI_STORAGE_VERSION)
    assert "version number" in seen["full"]
    # The README's snippet for BI users, verbatim, from the published folder.
    snippet = _readme_bi_snippet()
    assert 'duckdb.connect("warehouse.bi.duckdb", read_only=True)' in snippet
    ran = subprocess.run(
        [str(python), "-c", snippet],
        cwd=paths.published.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    with duckdb.connect(str(paths.bi), read_only=True) as con:
        ids = [
            row[0]
            for row in con.execute(
                "select experiment_id from marts.experiment_portfolio"
            ).fetchall()
        ]
    assert ids and all(experiment_id in ran.stdout for experiment_id in ids)


def _readme_bi_snippet() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## For BI users\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


# ---------------------------------------------------------------- suppression


# Columns counting units (n_arms counts arms).
COUNT_NAME = re.compile(r"^(?!n_arms$|n_experiments$)(n_[a-z_]+|units|[a-z_]+_units)$")


def _leaks(database: Path, k: int) -> list[str]:
    """Every cell of every table that reveals a group of 1..k-1 units: a
    non-null floating-point value in a row where a unit-count column (found
    by name, independently of the publisher's list) is below k."""
    found = []
    with duckdb.connect(str(database), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns order by all"
        ).fetchall()
        tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for schema, table, column, data_type in columns:
            tables.setdefault((schema, table), []).append((column, data_type))
        for (schema, table), cols in tables.items():
            counts = [
                c
                for c, t in cols
                if COUNT_NAME.match(c) and t in ("BIGINT", "INTEGER", "HUGEINT")
            ]
            values = [c for c, t in cols if t in ("DOUBLE", "FLOAT") or "DECIMAL" in t]
            if not counts or not values:
                continue
            small = " or ".join(f'("{c}" between 1 and {k - 1})' for c in counts)
            for value in values:
                (n,) = con.execute(
                    f'select count(*) from "{schema}"."{table}" '
                    f'where ({small}) and "{value}" is not null'
                ).fetchone()
                if n:
                    found.append(f"{schema}.{table}.{value}: {n} rows")
    return found


def test_no_published_cell_reveals_fewer_units_than_the_threshold(site, tmp_path):
    """At the project's threshold, and at 500 units (where many demo cells are
    small): the scan finds nothing in the BI file, while the same scan on the
    full file finds the cells it would reveal, so the scan can fail."""
    paths = site["paths"]
    k = publish.min_segment_units()
    assert k == 10
    assert _leaks(paths.bi, k) == []
    strict = tmp_path / "strict.bi.duckdb"
    publish.write_bi_file(paths.published, strict, 500)
    assert _leaks(strict, 500) == []
    raw_leaks = _leaks(paths.published, 500)
    assert any("arm_metrics_by_segment" in leak for leak in raw_leaks), raw_leaks
    assert any("arm_metrics_daily" in leak for leak in raw_leaks), raw_leaks
    with duckdb.connect(str(strict), read_only=True) as con:
        suppressed, total = con.execute(
            "select count(*) filter (is_suppressed), count(*) "
            "from marts.arm_metrics_by_segment"
        ).fetchone()
        # Rows at or above the threshold keep their figures exactly.
        con.execute(f"attach '{paths.published}' as whole (read_only)")
        (differences,) = con.execute(
            "select count(*) from marts.arm_metrics_by_segment b "
            "join whole.marts.arm_metrics_by_segment f using "
            "(experiment_id, variant, metric_id, segment_dimension, segment_value) "
            "where b.n_units >= 500 and b.metric_sum is distinct from f.metric_sum"
        ).fetchone()
    assert 0 < suppressed < total
    assert differences == 0


def test_suppression_nulls_a_one_unit_cell_and_skips_unknown_marts(tmp_path):
    """The issue's case: one unit in a segment, metric_sum = 123.456 (that
    unit's exact value). A new mart the publisher does not know (with unit ids)
    stays out of the BI file."""
    source = tmp_path / "w.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.arm_metrics_by_segment as "
            "select * from (values ('E1', 'a', 'm', 'segment', 'tiny', 1, 123.456, "
            "123.456::double, 'x'), ('E1', 'a', 'm', 'segment', 'big', 12, 50.0, "
            "4.1::double, 'y')) t(experiment_id, variant, metric_id, "
            "segment_dimension, segment_value, n_units, metric_sum, mean, aggregation)"
        )
        con.execute("create table marts.new_mart as select 'u1' as unit_id, 1.5 as v")
    target = tmp_path / "w.bi.duckdb"
    warnings = publish.write_bi_file(source, target, 10)
    assert any("marts.new_mart is not in the BI file" in w for w in warnings)
    with duckdb.connect(str(target), read_only=True) as con:
        rows = con.execute(
            "select segment_value, n_units, metric_sum, mean, is_suppressed "
            "from marts.arm_metrics_by_segment order by n_units"
        ).fetchall()
        tables = con.execute(
            "select table_name from information_schema.tables"
        ).fetchall()
    assert rows == [("tiny", 1, None, None, True), ("big", 12, 50.0, 4.1, False)]
    assert tables == [("arm_metrics_by_segment",)]


# --------------------------------------------------------------------- kills


@pytest.mark.slow
def test_kill_during_the_gates_publishes_nothing(site):
    before = _snapshot(site["paths"])
    process = _start(site, "publish")
    _kill_at(process, r"^(PASS|FAIL|SKIP) ")
    assert _snapshot(site["paths"]) == before


@pytest.mark.slow
def test_kill_during_the_report_publishes_nothing(site):
    before = _snapshot(site["paths"])
    process = _start(site, "publish")
    _kill_at(process, r"^==> Report from ")
    assert _snapshot(site["paths"]) == before


def test_kill_before_the_first_rename_publishes_nothing(site):
    paths = site["paths"]
    before = _snapshot(paths)
    process = _start(site, "publish", XP_PUBLISH_HOLD="publish")
    _kill_at(process, r"^hold: publish$")
    assert paths.staged_full.exists() and paths.staged_report.exists()
    assert _snapshot(paths) == before
    # The next command removes what the killed one staged, and changes nothing.
    result = _run(site, "recover")
    assert result.returncode == 0, result.stderr
    assert not paths.staged_full.exists() and not paths.staged_report.exists()
    assert not paths.staged_bi.exists()
    assert _snapshot(paths) == before


def test_kill_after_the_first_rename_is_rolled_forward(site):
    paths = site["paths"]
    old = _assert_consistent(paths)
    process = _start(site, "publish", XP_PUBLISH_HOLD="publish-renames")
    _kill_at(process, r"^hold: publish-renames$")
    # Halfway: the full file is new, the BI file and the report are not yet.
    new = _manifest(paths.published)["build_id"]
    assert new != old and _manifest(paths.bi)["build_id"] == old
    result = _run(site, "recover")
    assert result.returncode == 0, result.stderr
    assert f"Finishing the interrupted publish of build {new}" in result.stdout
    assert _assert_consistent(paths) == new
    assert not paths.journal.exists() and not paths.staged_report.exists()


def test_failed_gates_publish_nothing_unless_forced(site):
    """A gate fails (an SRM threshold no experiment meets): nothing changes and
    the message says how to publish anyway; FORCE publishes, and says so in
    build_manifest."""
    paths = site["paths"]
    before = _snapshot(paths)
    failed = _run(site, "publish", XP_MIN_SRM_P_VALUE="0.9999")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the validation gates failed" in failed.stderr
    assert "nothing was published" in failed.stderr
    assert "make publish FORCE=1" in failed.stderr
    assert _snapshot(paths) == before
    forced = _run(site, "publish", "--force", XP_MIN_SRM_P_VALUE="0.9999")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    full, bi = _manifest(paths.published), _manifest(paths.bi)
    assert full["gates"] == "failed" and "FORCE" in full["status"]
    assert full["build_id"] == bi["build_id"] == _report_build_id(paths)
    gates_page = (paths.report_dir / "data_docs" / "gates.html").read_text()
    assert "FAIL" in gates_page


def test_bad_var_stops_the_build_before_sql_and_publishes_nothing(site):
    """A var that would have been pasted into SQL (and dropped a table): dbt
    stops in its first step naming the var; raw.events is still there."""
    paths = site["paths"]
    before = _snapshot(paths)
    hostile = '{future_tolerance_hours: "1) ; drop table raw.events; --"}'
    result = _run(site, "build", "--dbt-args", f"--vars '{hostile}'")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "var future_tolerance_hours" in output and "is refused" in output
    assert "nothing was published" in result.stderr
    assert _snapshot(paths) == before
    with duckdb.connect(str(paths.working), read_only=True) as con:
        (events,) = con.execute("select count(*) from raw.events").fetchone()
    assert events > 0


def test_kill_during_a_sql_model_publishes_nothing(site):
    before = _snapshot(site["paths"])
    process = _start(site, "build")
    _kill_at(process, r"START sql \w+ model intermediate\.int_unit_metrics_pivoted")
    assert _snapshot(site["paths"]) == before
    # The build file holds a half build: publishing it is refused.
    result = _run(site, "publish", "--force")
    assert result.returncode == 2
    assert "holds no finished dbt build" in result.stderr


@pytest.mark.slow
def test_kill_during_a_python_model_publishes_nothing(site):
    before = _snapshot(site["paths"])
    process = _start(site, "build")
    _kill_at(process, r"START python \w+ model marts\.experiment_cate")
    assert _snapshot(site["paths"]) == before


@pytest.mark.slow
def test_next_build_succeeds_while_a_reader_holds_the_file_and_a_writer_waits(site):
    """After the kills: a salted build while a reader holds the published file
    (it keeps its consistent old view), a query runs, a second writer is
    refused with the first one's pid and command, a third waits for the lock.
    The salt ends up in no file outside the build folder and the full
    warehouse, and stale report pages are gone."""
    paths = site["paths"]
    stale = paths.report_dir / "experiments" / "E999_removed.html"
    stale.write_text("<html>an experiment removed from the registry</html>")
    old = _manifest(paths.published)["build_id"]
    salt = "salt" + uuid.uuid4().hex
    reader = duckdb.connect(str(paths.published), read_only=True)
    try:
        rows_before = reader.execute(
            "select count(*) from marts.arm_metrics"
        ).fetchone()
        build = _start(site, "build", XP_UNIT_ID_SALT=salt)
        _wait_for(build, r"START sql \w+ model intermediate\.")
        second = _run(site, "build")
        assert second.returncode == 3, second.stdout + second.stderr
        holder = rf"being written by process {build.pid} \(`xpkit\.publish build"
        assert re.search(holder, second.stderr), second.stderr
        assert second.stderr.count("\n") == 1  # one sentence, no traceback
        timed = _run(site, "build", XP_LOCK_TIMEOUT="1")
        assert timed.returncode == 3 and "after waiting 1 s" in timed.stderr
        waiter = _start(site, "recover", XP_LOCK_TIMEOUT="600")
        query = subprocess.run(
            [str(BIN / "python"), "-m", "xpkit.io.cli", "query", "--database"]
            + [str(paths.published), "select count(*) as n from marts.arm_metrics"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert query.returncode == 0 and str(rows_before[0]) in query.stdout
        assert waiter.poll() is None  # still waiting for the build's lock
        output = build.stdout.read()
        assert build.wait() == 0, output
        assert waiter.wait(timeout=60) == 0
        build.stdout.close()
        waiter.stdout.close()
        # The held reader still sees the old build, all of it.
        assert _manifest(paths.published, reader)["build_id"] == old
        assert reader.execute("select count(*) from marts.arm_metrics").fetchone() == (
            rows_before
        )
    finally:
        reader.close()
    new = _assert_consistent(paths)
    assert new != old
    assert not stale.exists()
    assert not paths.salted_target.exists()
    holders = [
        path
        for root in (site["work"], REPO / "target", REPO / "logs")
        if root.exists()
        for path in root.rglob("*")
        if path.is_file()
        and path not in (paths.published, paths.working)
        and salt.encode() in path.read_bytes()
    ]
    assert holders == []
