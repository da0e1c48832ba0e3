"""Tests for xpkit.io.load: CSV/Parquet -> raw, types, clear errors, atomic replace."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xpkit.io import load
from xpkit.io.load import LoadError, load_raw, main

EXPOSURES = [
    ["experiment_id", "unit_id", "variant", "exposed_at"],
    ["exp_a", "u1", "control", "2024-10-01 10:00:00"],
    ["exp_a", "u2", "treatment", "2024-10-01 11:00:00"],
    ["exp_a", "u3", "treatment", "2024-10-02 09:30:00"],
]
EVENTS = [
    ["unit_id", "event_name", "event_at", "value"],
    ["u1", "purchase", "2024-10-01 12:00:00", "10.5"],
    ["u2", "purchase", "2024-10-02 12:00:00", "3"],
    ["u2", "visit", "2024-10-02 13:00:00", ""],
]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _dataset(
    folder: Path,
    exposures: list[list[str]] | None = None,
    events: list[list[str]] | None = None,
    units: list[list[str]] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "exposures.csv", exposures or EXPOSURES)
    _write_csv(folder / "events.csv", events or EVENTS)
    if units is not None:
        _write_csv(folder / "units.csv", units)
    return folder


def _rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def _types(database: Path, table: str) -> dict[str, str]:
    with duckdb.connect(str(database), read_only=True) as con:
        described = con.execute(f"DESCRIBE raw.{table}").fetchall()
    return {row[0]: row[1] for row in described}


def _snapshot(database: Path) -> dict[str, tuple]:
    return {
        table: (
            _types(database, table),
            _rows(database, f"SELECT * FROM raw.{table} ORDER BY ALL"),
        )
        for table in ("exposures", "events", "units")
    }


def _load_error(data_dir: Path, database: Path) -> str:
    with pytest.raises(LoadError) as raised:
        load_raw(data_dir, database, quiet=True)
    return str(raised.value)


def test_load_csv_creates_typed_raw_tables(tmp_path, capsys):
    database = tmp_path / "w.duckdb"
    summary = load_raw(_dataset(tmp_path / "data"), database)

    assert _types(database, "exposures") == {
        "experiment_id": "VARCHAR",
        "unit_id": "VARCHAR",
        "variant": "VARCHAR",
        "exposed_at": "TIMESTAMP",
    }
    assert _types(database, "events") == {
        "unit_id": "VARCHAR",
        "event_name": "VARCHAR",
        "event_at": "TIMESTAMP",
        "value": "DOUBLE",
    }
    assert _rows(database, "SELECT value FROM raw.events ORDER BY event_at") == [
        (10.5,),
        (3.0,),
        (None,),
    ]
    assert summary.table("exposures").rows == 3
    assert summary.table("raw.events").file_format == "csv"
    assert summary.warnings == ()
    out = capsys.readouterr().out
    assert "raw.exposures" in out and "3 rows, 4 columns" in out
    assert f"into {database}" in out.splitlines()[-1]


def test_load_parquet_converts_ids_timestamps_and_values(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    paris = timezone(timedelta(hours=2))
    pq.write_table(
        pa.table(
            {
                "experiment_id": pa.array([1, 2], pa.int64()),
                "unit_id": pa.array([7.0, None], pa.float64()),
                "variant": ["control", "treatment"],
                "exposed_at": pa.array(
                    [datetime(2024, 10, 1, 10, tzinfo=paris), None],
                    pa.timestamp("us", tz="Europe/Paris"),
                ),
                "received_treatment": [True, False],
            }
        ),
        data / "exposures.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "unit_id": ["u1", "u2"],
                "event_name": ["purchase", "purchase"],
                "event_at": pa.array([date(2024, 10, 2), None], pa.date32()),
                "value": pa.array([Decimal("1.25"), None], pa.decimal128(10, 2)),
            }
        ),
        data / "events.parquet",
    )
    database = tmp_path / "w.duckdb"
    summary = load_raw(data, database, quiet=True)

    assert _rows(
        database, "SELECT experiment_id, unit_id, exposed_at FROM raw.exposures"
    ) == [("1", "7", datetime(2024, 10, 1, 8)), ("2", None, None)]
    assert _types(database, "exposures")["received_treatment"] == "BOOLEAN"
    assert _types(database, "events")["event_at"] == "TIMESTAMP"
    assert _rows(database, "SELECT event_at, value FROM raw.events") == [
        (datetime(2024, 10, 2, 0, 0), 1.25),
        (None, None),
    ]
    assert any("floating-point" in warning for warning in summary.warnings)


def test_load_csv_ids_keep_leading_zeros_as_text(tmp_path):
    exposures = [
        EXPOSURES[0],
        ["001", "007", "1", "2024-10-01"],
        ["1", "7", "2", "2024-10-01"],
    ]
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "d", exposures=exposures), database, quiet=True)

    assert _rows(
        database,
        "SELECT experiment_id, unit_id, variant FROM raw.exposures ORDER BY unit_id",
    ) == [("001", "007", "1"), ("1", "7", "2")]


def test_load_timestamps_with_offsets_are_converted_to_utc(tmp_path):
    exposures = [
        EXPOSURES[0],
        ["e", "plus_two", "a", "2024-10-01T10:00:00+02:00"],
        ["e", "minus_0530", "a", "2024-10-01T10:00:00-05:30"],
        ["e", "zulu", "a", "2024-10-01T10:00:00Z"],
        ["e", "naive", "a", "2024-10-01 10:00:00"],
        ["e", "date_only", "a", "2024-10-01"],
    ]
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "d", exposures=exposures), database, quiet=True)

    got = dict(_rows(database, "SELECT unit_id, exposed_at FROM raw.exposures"))
    assert got == {
        "plus_two": datetime(2024, 10, 1, 8),
        "minus_0530": datetime(2024, 10, 1, 15, 30),
        "zulu": datetime(2024, 10, 1, 10),
        "naive": datetime(2024, 10, 1, 10),
        "date_only": datetime(2024, 10, 1),
    }


def test_load_naive_timestamps_are_utc_whatever_the_machine_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "d"), database, quiet=True)

    assert _rows(database, "SELECT min(exposed_at) FROM raw.exposures") == [
        (datetime(2024, 10, 1, 10),)
    ]


def test_load_partly_unparseable_timestamps_stay_text_with_warning(tmp_path, capsys):
    exposures = [
        EXPOSURES[0],
        ["e", "u1", "a", "2024-10-01T10:00:00+02:00"],
        ["e", "u2", "a", "yesterday"],
        ["e", "u3", "a", "2024-13-45"],
        ["e", "u4", "a", ""],
        ["e", "u5", "a", "2024-10-01"],
    ]
    data = _dataset(tmp_path / "d", exposures=exposures)
    database = tmp_path / "w.duckdb"
    summary = load_raw(data, database)

    err = capsys.readouterr().err
    assert "warning: " in err and str(data / "exposures.csv") in err
    assert "'exposed_at': 2 of 4 non-empty values are not timestamps" in err
    assert "'yesterday', '2024-13-45'" in err
    assert _types(database, "exposures")["exposed_at"] == "VARCHAR"
    assert summary.table("exposures").text_columns == ("exposed_at",)
    # Parseable values hold the UTC text of the typed value; the rest is verbatim.
    got = dict(_rows(database, "SELECT unit_id, exposed_at FROM raw.exposures"))
    assert got == {
        "u1": "2024-10-01 08:00:00",
        "u2": "yesterday",
        "u3": "2024-13-45",
        "u4": None,
        "u5": "2024-10-01 00:00:00",
    }
    assert _rows(
        database,
        "SELECT count(try_cast(exposed_at AS TIMESTAMP)) FROM raw.exposures",
    ) == [(2,)]


def test_load_partly_unparseable_values_stay_text_with_warning(tmp_path, capsys):
    events = [
        EVENTS[0],
        ["u1", "purchase", "2024-10-01", "1.50"],
        ["u1", "purchase", "2024-10-01", "1,5"],
        ["u1", "purchase", "2024-10-01", "n/a"],
        ["u1", "purchase", "2024-10-01", "n/a"],
        ["u1", "purchase", "2024-10-01", " 2 "],
    ]
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "d", events=events), database)

    err = capsys.readouterr().err
    assert "'value': 3 of 5 non-empty values are not numbers" in err
    assert "(e.g. '1,5', 'n/a')" in err
    assert _types(database, "events")["value"] == "VARCHAR"
    assert _types(database, "events")["event_at"] == "TIMESTAMP"
    assert sorted(_rows(database, "SELECT value FROM raw.events")) == [
        ("1,5",),
        ("1.5",),
        ("2.0",),
        ("n/a",),
        ("n/a",),
    ]


@pytest.mark.parametrize(
    ("column", "bad", "expected"),
    [("event_at", "last tuesday", "timestamps"), ("value", "lots", "numbers")],
)
def test_load_fully_unparseable_column_fails_naming_file_and_column(
    tmp_path, column, bad, expected
):
    events = [EVENTS[0]] + [
        [
            "u1",
            "purchase",
            bad if column == "event_at" else "2024-10-01",
            bad if column == "value" else "1",
        ]
    ] * 3
    data = _dataset(tmp_path / "d", events=events)
    message = _load_error(data, tmp_path / "w.duckdb")

    assert str(data / "events.csv") in message
    assert f"column {column!r} must hold {expected}" in message
    assert "none of its 3 non-empty values" in message
    assert repr(bad) in message


def test_load_parquet_epoch_timestamps_fail_with_type_and_hint(tmp_path):
    data = _dataset(tmp_path / "d")
    (data / "events.csv").unlink()
    pq.write_table(
        pa.table(
            {
                "unit_id": ["u1"],
                "event_name": ["x"],
                "event_at": [1727776800],
                "value": [1.0],
            }
        ),
        data / "events.parquet",
    )
    message = _load_error(data, tmp_path / "w.duckdb")

    assert "events.parquet: column 'event_at' must hold timestamps" in message
    assert "Parquet type is BIGINT" in message and "1727776800" in message
    assert "Epoch numbers are not accepted" in message


def test_load_missing_file_names_folder_and_patterns(tmp_path):
    data = _dataset(tmp_path / "d")
    (data / "events.csv").rename(data / "Events.CSV")
    message = _load_error(data, tmp_path / "w.duckdb")

    assert message.startswith(f"{data}: no events file")
    assert "events.csv, events.csv.gz, events.parquet" in message
    assert "Found Events.CSV" in message


def test_load_units_file_with_wrong_name_warns(tmp_path):
    data = _dataset(tmp_path / "d")
    _write_csv(data / "Units.csv", [["unit_id"], ["u1"]])
    summary = load_raw(data, tmp_path / "w.duckdb", quiet=True)

    assert summary.table("units").rows == 0
    assert any("found Units.csv" in warning for warning in summary.warnings)


def test_load_folder_named_like_a_file_fails(tmp_path):
    data = _dataset(tmp_path / "d")
    (data / "events.csv").unlink()
    (data / "events.parquet").mkdir()
    message = _load_error(data, tmp_path / "w.duckdb")

    assert message.startswith(f"{data / 'events.parquet'}: is a folder")


def test_load_database_that_is_not_duckdb_fails_cleanly(tmp_path):
    database = tmp_path / "w.duckdb"
    database.write_text("not a database")
    message = _load_error(_dataset(tmp_path / "d"), database)

    assert message.startswith(f"cannot open the database {database}")
    assert database.read_text() == "not a database"


def test_load_missing_folder_fails(tmp_path):
    assert "no such folder" in _load_error(tmp_path / "nope", tmp_path / "w.duckdb")


def test_load_two_files_for_one_table_fail(tmp_path):
    data = _dataset(tmp_path / "d")
    with gzip.open(data / "events.csv.gz", "wt") as handle:
        handle.write("unit_id,event_name,event_at,value\n")
    message = _load_error(data, tmp_path / "w.duckdb")

    assert "events.csv and events.csv.gz" in message
    assert "keep exactly one events file" in message


def test_load_missing_column_lists_columns_found(tmp_path):
    events = [["unit_id", "event", "event_at", "value"], ["u1", "x", "2024-10-01", ""]]
    data = _dataset(tmp_path / "d", events=events)
    message = _load_error(data, tmp_path / "w.duckdb")

    assert message.startswith(f"{data / 'events.csv'}: missing required column")
    assert "'event_name'" in message and "did you mean" not in message
    assert "the file has 'unit_id', 'event', 'event_at', 'value'" in message


@pytest.mark.parametrize("near_miss", ["Unit_ID", " unit_id", "unit_id "])
def test_load_column_differing_by_case_or_spaces_gets_hint(tmp_path, near_miss):
    exposures = [
        ["experiment_id", near_miss, "variant", "exposed_at"],
        ["e", "u1", "a", "2024-10-01"],
    ]
    data = _dataset(tmp_path / "d", exposures=exposures)
    message = _load_error(data, tmp_path / "w.duckdb")

    assert f"'unit_id' (did you mean {near_miss!r}?)" in message
    assert "case-sensitive" in message


def test_load_empty_events_file_with_header_is_typed(tmp_path):
    database = tmp_path / "w.duckdb"
    summary = load_raw(
        _dataset(tmp_path / "d", events=[EVENTS[0]]), database, quiet=True
    )

    assert _rows(database, "SELECT count(*) FROM raw.events") == [(0,)]
    assert _types(database, "events")["event_at"] == "TIMESTAMP"
    assert _types(database, "events")["value"] == "DOUBLE"
    assert summary.table("events").rows == 0


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_load_empty_file_without_header_fails(tmp_path, content):
    data = _dataset(tmp_path / "d")
    (data / "events.csv").write_bytes(content)
    message = _load_error(data, tmp_path / "w.duckdb")

    assert message.startswith(f"{data / 'events.csv'}: the file is empty")
    assert "header row" in message


def test_load_without_units_creates_empty_units_table(tmp_path, capsys):
    database = tmp_path / "w.duckdb"
    summary = load_raw(_dataset(tmp_path / "d"), database)

    assert _types(database, "units") == {"unit_id": "VARCHAR"}
    assert _rows(database, "SELECT count(*) FROM raw.units") == [(0,)]
    assert summary.table("units").source is None
    assert "no units.* file" in capsys.readouterr().out


def test_load_extra_columns_are_kept_with_lossless_types(tmp_path):
    exposures = [
        EXPOSURES[0] + ["received_treatment"],
        EXPOSURES[1] + ["true"],
        EXPOSURES[2] + ["False"],
    ]
    units = [
        ["unit_id", "segment", "age", "zip", "score", "country_id", "signup"],
        ["u1", "new", "31", "01234", "0.5", "12", "2024-01-31"],
        ["u2", "returning", "", "98765", "2", "13", ""],
    ]
    database = tmp_path / "w.duckdb"
    load_raw(
        _dataset(tmp_path / "d", exposures=exposures, units=units),
        database,
        quiet=True,
    )

    assert _types(database, "units") == {
        "unit_id": "VARCHAR",
        "segment": "VARCHAR",
        "age": "BIGINT",
        "zip": "VARCHAR",
        "score": "DOUBLE",
        "country_id": "VARCHAR",
        "signup": "DATE",
    }
    assert _rows(database, "SELECT zip, age FROM raw.units ORDER BY unit_id") == [
        ("01234", 31),
        ("98765", None),
    ]
    assert _rows(
        database, "SELECT received_treatment FROM raw.exposures ORDER BY unit_id"
    ) == [(True,), (False,)]


def test_load_ids_with_quotes_spaces_and_unicode_are_byte_exact(tmp_path):
    ids = [
        'say "hi"',
        "o'brien",
        " padded ",
        "üñíçødé 😀",
        "a,b",
        "#hash",
        "line\nbreak",
    ]
    # The id also opens the line: DuckDB's sniffer would take '#hash' for a comment.
    exposures = [EXPOSURES[0]] + [[unit, unit, "a", "2024-10-01"] for unit in ids]
    csv_db = tmp_path / "csv.duckdb"
    load_raw(_dataset(tmp_path / "c", exposures=exposures), csv_db, quiet=True)

    parquet_dir = _dataset(tmp_path / "p")
    (parquet_dir / "exposures.csv").unlink()
    pq.write_table(
        pa.table(
            {
                "experiment_id": ["e"] * len(ids),
                "unit_id": ids,
                "variant": ["a"] * len(ids),
                "exposed_at": [datetime(2024, 10, 1, tzinfo=UTC)] * len(ids),
            }
        ),
        parquet_dir / "exposures.parquet",
    )
    parquet_db = tmp_path / "parquet.duckdb"
    load_raw(parquet_dir, parquet_db, quiet=True)

    for database in (csv_db, parquet_db):
        got = [row[0] for row in _rows(database, "SELECT unit_id FROM raw.exposures")]
        assert sorted(got) == sorted(ids)
    experiments = _rows(csv_db, "SELECT experiment_id FROM raw.exposures")
    assert sorted(row[0] for row in experiments) == sorted(ids)


def test_load_csv_quoted_empty_id_stays_empty_string_not_null(tmp_path):
    data = _dataset(tmp_path / "d")
    (data / "exposures.csv").write_text(
        'experiment_id,unit_id,variant,exposed_at\ne,"",a,2024-10-01\ne,,a,2024-10-01\n'
    )
    database = tmp_path / "w.duckdb"
    load_raw(data, database, quiet=True)

    assert sorted(_rows(database, "SELECT unit_id FROM raw.exposures"), key=str) == [
        ("",),
        (None,),
    ]


def test_load_gzip_and_semicolon_csv_are_read(tmp_path):
    data = _dataset(tmp_path / "d")
    (data / "events.csv").unlink()
    with gzip.open(data / "events.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write("unit_id;event_name;event_at;value\nu1;buy;2024-10-01;2.5\n")
    database = tmp_path / "w.duckdb"
    load_raw(data, database, quiet=True)

    assert _rows(database, "SELECT unit_id, event_name, value FROM raw.events") == [
        ("u1", "buy", 2.5)
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("events.parquet", b"PAR1 this is not parquet", "cannot read this file as"),
        (
            "events.csv",
            b"unit_id,event_name,event_at,value\nu1,x,2024-10-01,1\nu2,x,y,2024,3\n",
            "Line: 3",
        ),
        (
            "events.csv",
            "unit_id,event_name,event_at,value\ncaf\xe9\n".encode("latin-1"),
            "not UTF-8",
        ),
    ],
)
def test_load_unreadable_file_error_names_the_file(tmp_path, name, content, expected):
    data = _dataset(tmp_path / "d")
    (data / "events.csv").unlink()
    (data / name).write_bytes(content)
    message = _load_error(data, tmp_path / "w.duckdb")

    assert message.startswith(f"{data / name}: ")
    assert expected in message


def test_load_failed_validation_leaves_previous_tables_intact(tmp_path):
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "a"), database, quiet=True)
    before = _snapshot(database)
    log_before = _rows(database, "SELECT * FROM raw._load_log ORDER BY ALL")

    broken = _dataset(
        tmp_path / "b",
        exposures=EXPOSURES[:2],
        events=[["unit_id", "event_name", "value"], ["u9", "x", "1"]],
    )
    _load_error(broken, database)

    assert _snapshot(database) == before
    assert _rows(database, "SELECT * FROM raw._load_log ORDER BY ALL") == log_before


def test_load_failure_mid_transaction_leaves_previous_tables_intact(
    tmp_path, monkeypatch
):
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "a"), database, quiet=True)
    before = _snapshot(database)

    write_table = load._write_table
    calls = []

    def fail_on_second_table(con, plan):
        calls.append(plan.table)
        if len(calls) == 2:
            raise duckdb.IOException("simulated disk failure")
        return write_table(con, plan)

    monkeypatch.setattr(load, "_write_table", fail_on_second_table)
    other = _dataset(tmp_path / "b", exposures=EXPOSURES[:2], units=[["unit_id"]])
    message = _load_error(other, database)

    assert calls == ["exposures", "events"]
    assert "nothing was changed" in message and "simulated disk failure" in message
    assert _snapshot(database) == before
    assert _rows(database, "SELECT count(DISTINCT load_id) FROM raw._load_log") == [
        (1,)
    ]


def test_load_failure_does_not_leave_a_new_database_file(tmp_path, monkeypatch):
    def fail(con, plan):
        raise duckdb.IOException("simulated")

    monkeypatch.setattr(load, "_write_table", fail)
    database = tmp_path / "new.duckdb"
    _load_error(_dataset(tmp_path / "d"), database)

    assert not database.exists()


def test_load_same_folder_twice_gives_identical_tables(tmp_path):
    data = _dataset(tmp_path / "d", units=[["unit_id", "segment"], ["u1", "new"]])
    database = tmp_path / "w.duckdb"
    load_raw(data, database, quiet=True)
    first = _snapshot(database)
    load_raw(data, database, quiet=True)

    assert _snapshot(database) == first
    assert _rows(
        database,
        "SELECT table_name, count(*), count(DISTINCT load_id), sum(row_count) "
        "FROM raw._load_log GROUP BY ALL ORDER BY ALL",
    ) == [("raw.events", 2, 2, 6), ("raw.exposures", 2, 2, 6), ("raw.units", 2, 2, 2)]


def test_load_replaces_tables_read_by_existing_views(tmp_path):
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "a"), database, quiet=True)
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE VIEW main.v AS SELECT count(*) AS n FROM raw.events")
    load_raw(_dataset(tmp_path / "b", events=EVENTS[:2]), database, quiet=True)

    assert _rows(database, "SELECT n FROM main.v") == [(1,)]


def test_load_cli_returns_2_with_message_on_stderr(tmp_path, capsys):
    data = _dataset(tmp_path / "d")
    (data / "exposures.csv").unlink()
    code = main([str(data), "--database", str(tmp_path / "w.duckdb")])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith(f"error: {data}: no exposures file")
    assert "unchanged" in captured.err and "Traceback" not in captured.err


def test_load_cli_uses_duckdb_path_and_returns_0(tmp_path, monkeypatch, capsys):
    database = tmp_path / "env.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(database))

    assert main([str(_dataset(tmp_path / "d"))]) == 0
    assert _rows(database, "SELECT count(*) FROM raw.exposures") == [(3,)]
    assert str(database) in capsys.readouterr().out


def test_load_module_entry_point_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "xpkit.io.load", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 2
    assert "no such folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "warehouse.duckdb").exists()


# ------------------------------------------------- hostile names, damaged files


@pytest.mark.parametrize(
    ("name", "noun"),
    [
        ('seg"ment', "a double quote"),
        ("seg`ment", "a backtick"),
        ("seg\tment", "a control character"),
    ],
)
def test_load_refuses_unit_column_names_that_cannot_be_quoted(tmp_path, name, noun):
    """A units column named with a quote would break (or alter) the SQL dbt
    writes from it: the load stops naming the file and column, nothing is
    written, the previous raw tables stay."""
    database = tmp_path / "w.duckdb"
    load_raw(
        _dataset(tmp_path / "good", units=[["unit_id"], ["u1"]]), database, quiet=True
    )
    before = _snapshot(database)
    data = _dataset(tmp_path / "bad", units=[["unit_id", name], ["u1", "a"]])
    message = _load_error(data, database)
    assert message.startswith(f"{data / 'units.csv'}: column {name!r} contains {noun}")
    assert "Rename the column in the file" in message
    assert _snapshot(database) == before


def test_load_refuses_csv_header_name_with_a_line_break(tmp_path):
    """A quoted header name holding a newline: the header row spans two lines;
    refused rather than loaded under a cut name."""
    data = _dataset(tmp_path / "bad", units=[["unit_id", "seg\nment"], ["u1", "a"]])
    message = _load_error(data, tmp_path / "w.duckdb")
    assert message.startswith(f"{data / 'units.csv'}: a quoted column name")
    assert "holds a line break" in message
    assert not (tmp_path / "w.duckdb").exists()


def test_load_refuses_parquet_column_name_with_double_quote(tmp_path):
    data = _dataset(tmp_path / "d")
    table = pa.table({"unit_id": ["u1"], 'x"); drop table raw.events; --': ["a"]})
    pq.write_table(table, data / "units.parquet")
    message = _load_error(data, tmp_path / "w.duckdb")
    assert "contains a double quote" in message
    assert not (tmp_path / "w.duckdb").exists()


def _gzip_csv(path: Path, rows: list[list[str]]) -> bytes:
    with gzip.open(path, "wt", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path.read_bytes()


def test_load_refuses_csv_gz_with_wrong_crc(tmp_path):
    """gzip keeps the CRC-32 of the data in the 8-byte trailer; a flipped bit
    there (the data itself decompresses) must stop the load, and no row of the
    file may reach raw.events."""
    database = tmp_path / "w.duckdb"
    load_raw(_dataset(tmp_path / "good"), database, quiet=True)
    before = _snapshot(database)
    data = _dataset(tmp_path / "bad")
    (data / "events.csv").unlink()
    more = [*EVENTS, ["u3", "purchase", "2024-10-03 12:00:00", "7"]]
    raw = bytearray(_gzip_csv(data / "events.csv.gz", more))
    raw[-8] ^= 0x01  # first byte of the CRC-32 trailer
    (data / "events.csv.gz").write_bytes(bytes(raw))
    # The independent check: Python's gzip agrees the file is damaged.
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        gzip.decompress(bytes(raw))
    message = _load_error(data, database)
    assert message.startswith(f"{data / 'events.csv.gz'}: the gzip file is damaged")
    assert "CRC check failed" in message
    assert _snapshot(database) == before


def test_load_refuses_truncated_csv_gz(tmp_path):
    data = _dataset(tmp_path / "bad")
    (data / "events.csv").unlink()
    raw = _gzip_csv(data / "events.csv.gz", EVENTS * 50)
    (data / "events.csv.gz").write_bytes(raw[: len(raw) // 2])
    message = _load_error(data, tmp_path / "w.duckdb")
    assert "the gzip file is damaged" in message


def test_load_refuses_parquet_page_with_wrong_checksum(tmp_path):
    """A Parquet file written with page checksums and one byte of a data page
    changed: refused, where reading without verification would succeed."""
    data = _dataset(tmp_path / "bad")
    (data / "events.csv").unlink()
    values = [float(i) for i in range(2000)]
    table = pa.table(
        {
            "unit_id": [f"u{i}" for i in range(2000)],
            "event_name": ["purchase"] * 2000,
            "event_at": [datetime(2024, 10, 1, 12)] * 2000,
            "value": values,
        }
    )
    path = data / "events.parquet"
    pq.write_table(
        table, path, write_page_checksum=True, compression="none", use_dictionary=False
    )
    raw = bytearray(path.read_bytes())
    # The plain-encoded doubles of `value`: change one byte inside them.
    needle = pa.array(values[100:102], pa.float64()).buffers()[1].to_pybytes()
    offset = bytes(raw).find(needle)
    assert offset > 0
    raw[offset + 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    unverified = pq.read_table(path).column("value").to_pylist()
    assert unverified != values  # the damage is silent without verification
    message = _load_error(data, tmp_path / "w.duckdb")
    assert message.startswith(f"{path}: the Parquet file is damaged")
