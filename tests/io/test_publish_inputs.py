"""Templated and operator inputs of the publish path: `make query` (SQL from
the environment, never the shell; every statement; full results), XP_AS_OF,
XP_LOCK_TIMEOUT and file-system errors (one sentence, no traceback)."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from warehouse import REPO

from xpkit.io import publish

BIN = Path(sys.executable).parent


def _make_query(database: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SQL", "SQL_FILE")}
    arguments = [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "query", f"DUCKDB_PATH={database}", *arguments],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_make_query_never_lets_the_shell_see_the_sql(demo_warehouse, tmp_path):
    """Backticks and $(...) in the SQL are text, not commands; both statements
    are run and printed."""
    marks = [tmp_path / "ran_backticks", tmp_path / "ran_dollar"]
    sql = (
        f"select '`touch {marks[0]}`' as a, '$(touch {marks[1]})' as b; "
        "select 6 * 7 as answer"
    )
    result = _make_query(demo_warehouse["database"], SQL=sql)
    assert result.returncode == 0, result.stderr
    assert f"`touch {marks[0]}`" in result.stdout
    assert f"$(touch {marks[1]})" in result.stdout
    assert "| 42     |" in result.stdout
    assert not any(mark.exists() for mark in marks)


def test_make_query_without_sql_says_how_and_fails(demo_warehouse):
    result = _make_query(demo_warehouse["database"])
    assert result.returncode != 0
    assert 'error: no SQL given: make query SQL="select' in result.stderr
    assert "Traceback" not in result.stderr


def test_make_query_shows_wide_results_in_full(demo_warehouse, tmp_path):
    """Every column and row of a 41-column mart, as CSV, JSON and a table,
    equal to what DuckDB returns (no '...' truncation)."""
    database = demo_warehouse["database"]
    sql = "select * from marts.arm_metrics order by all"
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(sql)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    assert len(columns) > 40
    as_csv = _make_query(database, SQL=sql, FORMAT="csv")
    assert as_csv.returncode == 0, as_csv.stderr
    parsed = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert parsed[0] == columns
    assert len(parsed) == len(rows) + 1
    mean = columns.index("mean")
    as_numbers = [None if row[mean] == "" else float(row[mean]) for row in parsed[1:]]
    assert as_numbers == [row[mean] for row in rows]
    assert any(value is not None for value in as_numbers)
    sql_file = tmp_path / "q.sql"
    sql_file.write_text(sql)
    as_json = _make_query(database, SQL_FILE=str(sql_file), FORMAT="json")
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    assert [record["n_units"] for record in records] == [
        row[columns.index("n_units")] for row in rows
    ]
    as_table = _make_query(database, SQL=sql)
    header = as_table.stdout.splitlines()[1]
    assert all(f" {name} " in header for name in columns)
    assert "…" not in as_table.stdout and f"({len(rows)} rows)" in as_table.stdout


def test_make_query_as_markdown_and_its_errors_on_one_line(demo_warehouse):
    database = demo_warehouse["database"]
    sql = "select experiment_id, units from marts.experiment_portfolio order by 1"
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(sql).fetchall()
    markdown = _make_query(database, SQL=sql, FORMAT="markdown")
    assert markdown.returncode == 0, markdown.stderr
    lines = markdown.stdout.splitlines()
    assert lines[:2] == ["| experiment_id | units |", "|---|---|"]
    assert lines[2 : 2 + len(rows)] == [f"| {e} | {u} |" for e, u in rows]
    wrong = _make_query(database, SQL="select nope from marts.experiment_portfolio")
    errors = [line for line in wrong.stderr.splitlines() if not line.startswith("make")]
    assert wrong.returncode != 0
    assert len(errors) == 1, wrong.stderr
    assert errors[0].startswith("error: Binder Error: Referenced column")
    assert "Candidate bindings" in errors[0] and "Traceback" not in wrong.stderr
    unknown = _make_query(database, SQL="select 1", FORMAT="xml")
    assert unknown.returncode != 0
    assert "invalid choice: 'xml'" in unknown.stderr


def test_make_query_is_read_only(demo_warehouse):
    result = _make_query(
        demo_warehouse["database"], SQL="create table marts.x as select 1"
    )
    assert result.returncode == 2
    assert "read-only" in result.stderr.lower()


# ------------------------------------------------------------ publish inputs


def _publish(database: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.io.publish",
            *args,
            "--database",
            str(database),
        ],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "as_of",
    [
        "2024-11-01'; drop table raw.events; --",
        "2024-13-01 00:00:00",
        "2024-11-01 12:00:00.5",
        "yesterday",
    ],
)
def test_a_bad_as_of_is_refused_before_anything_is_touched(tmp_path, as_of):
    database = tmp_path / "site" / "warehouse.duckdb"
    result = _publish(database, "build", XP_AS_OF=as_of)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: XP_AS_OF={as_of!r} is refused")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-01", "2024-11-01 00:00:00"),
        ("2024-11-01 12:00", "2024-11-01 12:00:00"),
        ("2024-11-01T12:00:05", "2024-11-01 12:00:05"),
        ("2024-11-01 14:00:00+02:00", "2024-11-01 12:00:00"),
        ("2024-11-01T12:00:00Z", "2024-11-01 12:00:00"),
    ],
)
def test_as_of_forms_are_normalised(text, expected):
    assert publish.parse_as_of(text) == expected


def test_a_bad_lock_timeout_is_refused(tmp_path):
    result = _publish(tmp_path / "w.duckdb", "build", XP_LOCK_TIMEOUT="soon")
    assert result.returncode == 2
    assert "XP_LOCK_TIMEOUT='soon' is refused" in result.stderr


def test_an_unwritable_folder_is_one_sentence(tmp_path):
    """/sys refuses new files to everyone (root included)."""
    result = _publish(Path("/sys/xp-test/warehouse.duckdb"), "build")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: cannot create the lock file /sys/xp-test/warehouse.duckdb.lock"
    )
    assert "permission denied; make it writable" in result.stderr
    assert result.stderr.count("\n") == 1


def test_no_raw_data_says_to_load_first(tmp_path):
    result = _publish(tmp_path / "w.duckdb", "build")
    assert result.returncode == 2
    assert "no raw data to build" in result.stderr and "make load" in result.stderr


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, "the disk is full; free space"),
        (errno.EROFS, "the file system is read-only; set DUCKDB_PATH"),
        (errno.EACCES, "permission denied; make it writable"),
    ],
)
def test_file_system_errors_name_file_cause_and_fix(code, expected):
    error = OSError(code, os.strerror(code), "/data/warehouse.duckdb")
    sentence = publish.os_error_sentence(error, "/data/warehouse.duckdb", "write")
    assert sentence.startswith("cannot write /data/warehouse.duckdb: ")
    assert expected in sentence and sentence.count(". ") == 0


def test_load_through_publish_writes_the_build_file_only(tmp_path):
    """`make load` writes the raw tables into the build file; the published
    file is not created until a build publishes it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "exposures.csv").write_text(
        "experiment_id,unit_id,variant,exposed_at\nE1,u1,a,2024-10-01 10:00:00\n"
    )
    (data / "events.csv").write_text(
        "unit_id,event_name,event_at,value\nu1,buy,2024-10-01 11:00:00,2\n"
    )
    database = tmp_path / "site" / "warehouse.duckdb"
    result = _publish(database, "load", str(data))
    assert result.returncode == 0, result.stderr
    paths = publish.Paths.of(database, tmp_path / "reports", tmp_path / "docs")
    assert not database.exists()
    with duckdb.connect(str(paths.working), read_only=True) as con:
        assert con.execute("select count(*) from raw.events").fetchone() == (1,)
    assert publish.read_state(paths)["stage"] == "loaded"


def test_a_killed_salted_build_leaves_no_salt_after_the_next_start(tmp_path):
    """dbt's compiled SQL of a salted build lives in the build folder; when the
    build was killed, the next command deletes it before anything else."""
    database = tmp_path / "site" / "warehouse.duckdb"
    paths = publish.Paths.of(database, tmp_path / "reports", tmp_path / "docs")
    compiled = paths.salted_target / "compiled" / "stg_raw__events.sql"
    compiled.parent.mkdir(parents=True)
    compiled.write_text("select sha256('catalogue-salt-5f0c9a2e7b1d' || unit_id)")
    result = _publish(database, "recover")
    assert result.returncode == 0, result.stderr
    assert not paths.salted_target.exists()
    assert not any(
        b"catalogue-salt" in path.read_bytes()
        for path in tmp_path.rglob("*")
        if path.is_file()
    )


def test_bi_schemas_are_added_only_on_request(tmp_path, monkeypatch):
    source = tmp_path / "w.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute("create schema marts")
        con.execute("create schema quarantine")
        con.execute("create table marts.build_manifest as select 'a' as item_type")
        con.execute(
            "create table quarantine.quarantine_events as select 'u1' as unit_id"
        )
    plain, extra = tmp_path / "plain.duckdb", tmp_path / "extra.duckdb"
    publish.write_bi_file(source, plain, 10)
    publish.write_bi_file(source, extra, 10, ["quarantine"])
    sql = "select table_schema || '.' || table_name from information_schema.tables"
    with duckdb.connect(str(plain), read_only=True) as con:
        assert con.execute(sql).fetchall() == [("marts.build_manifest",)]
    with duckdb.connect(str(extra), read_only=True) as con:
        assert sorted(con.execute(sql).fetchall()) == [
            ("marts.build_manifest",),
            ("quarantine.quarantine_events",),
        ]
    monkeypatch.setenv("XP_BI_SCHEMAS", "quarantine, secrets")
    with pytest.raises(publish.PublishError, match="secrets is not one of registry"):
        publish._bi_schemas()
    monkeypatch.setenv("XP_BI_SCHEMAS", "quarantine, raw")
    assert publish._bi_schemas() == ["quarantine", "raw"]


def test_the_build_file_keeps_what_the_published_file_has_in_its_wal(tmp_path):
    """A warehouse written in place (by dbt directly, or an older version) may
    hold committed rows only in its write-ahead log; the build file seeded
    from it must have them."""
    database = tmp_path / "site" / "warehouse.duckdb"
    database.parent.mkdir()
    con = duckdb.connect(str(database))
    con.execute("pragma disable_checkpoint_on_shutdown")
    con.execute("set checkpoint_threshold = '1GB'")
    con.execute("create schema marts")
    con.execute("create table marts.kept as select 42 as answer")
    con.close()
    assert Path(f"{database}.wal").exists()
    publish.ensure_working(
        publish.Paths.of(database, tmp_path / "r", tmp_path / "d"), create=True
    )
    working = database.with_name(database.name + ".build") / database.name
    with duckdb.connect(str(working), read_only=True) as check:
        assert check.execute("select answer from marts.kept").fetchall() == [(42,)]
