"""Tests for xpkit.validate: the Great Expectations gates on a built warehouse.

Most tests hand-build only the tables validate reads (no dbt), break one thing
and check the verdict, the message and the data docs; one builds the real demo
warehouse with dbt, passes, then injects a sample ratio mismatch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from warehouse import BIN, REPO, load_and_build, run

from xpkit import demo
from xpkit.validate import main

AS_OF = "2024-11-01 12:00:00"
ENV_THRESHOLDS = (
    "XP_FRESHNESS_HOURS",
    "XP_MAX_QUARANTINE_SHARE",
    "XP_MAX_MULTI_VARIANT_SHARE",
    "XP_MIN_SRM_P_VALUE",
)

# E1 is running (fresh events an hour before AS_OF), E2 completed (events from
# September), E3 planned (no units, no events). u1-u4 are in E1, u5-u8 in E2.
UNITS = [f"u{i}" for i in range(1, 9)]
TABLES = {
    "registry.experiments": {
        "experiment_id": ["E1", "E2", "E3"],
        "status": ["running", "completed", "planned"],
    },
    "registry.metrics": {
        "metric_id": ["clicks", "orders", "revenue", "aov", "views"],
        "event_name": ["click", "order", "order", None, "view"],
        "aggregation": ["count", "count", "sum", "ratio", "count"],
        "numerator_metric_id": [None, None, None, "revenue", None],
        "denominator_metric_id": [None, None, None, "orders", None],
    },
    "registry.experiment_metrics": {
        "experiment_id": ["E1", "E1", "E2", "E3"],
        "metric_id": ["clicks", "aov", "clicks", "views"],
    },
    "intermediate.int_assignments_resolved": {
        "experiment_id": ["E1"] * 4 + ["E2"] * 4,
        "unit_id": UNITS,
    },
    "intermediate.int_exposures_classified": {
        "experiment_id": ["E1"] * 4 + ["E2"] * 4,
        "unit_id": UNITS,
        "variant": ["a", "b"] * 4,
        "exposed_at": pd.to_datetime(
            ["2024-10-20 09:00"] * 4 + ["2024-09-01 09:00"] * 4
        ),
        "reason_code": pd.Series([None] * 8, dtype="string"),
    },
    "intermediate.int_events_classified": {
        "unit_id": UNITS[:4] * 2 + UNITS[4:],
        "event_name": ["click"] * 4 + ["order"] * 4 + ["click"] * 4,
        "event_at": pd.to_datetime(
            ["2024-11-01 10:00"] * 4
            + ["2024-11-01 11:00"] * 4
            + ["2024-09-10 09:00"] * 4
        ),
        "reason_code": pd.Series([None] * 12, dtype="string"),
    },
    "raw.units": {"unit_id": UNITS},
    "quarantine.quarantine_units": {"unit_id": [], "reason_code": []},
    "marts.assignment_balance": {
        "experiment_id": ["E1", "E1", "E2", "E2", "E3", "E3"],
        "variant": ["a", "b"] * 3,
        "status": ["running"] * 2 + ["completed"] * 2 + ["planned"] * 2,
        "units": [2, 2, 2, 2, 0, 0],
        "srm_p_value": [1.0, 1.0, 1.0, 1.0, None, None],
        "srm_error_message": [None] * 4 + ["no units assigned: no SRM test"] * 2,
    },
    "marts.experiment_health": {
        "experiment_id": ["E1", "E2", "E3"],
        "status": ["running", "completed", "planned"],
        "units_exposed": [4, 4, 0],
        "multi_variant_units": [0, 0, 0],
        "multi_variant_share": [0.0, 0.0, None],
        "exposure_rows_quarantined": [0, 0, 0],
    },
}
# Raw tables are every classified row; quarantine tables the unusable ones.
DERIVED = """
create table raw.exposures as
    select experiment_id, unit_id, variant, exposed_at
    from intermediate.int_exposures_classified;
create table quarantine.quarantine_exposures as
    select * from intermediate.int_exposures_classified where reason_code is not null;
create table raw.events as
    select unit_id, event_name, event_at from intermediate.int_events_classified;
create table quarantine.quarantine_events as
    select * from intermediate.int_events_classified where reason_code is not null;
"""


@pytest.fixture(autouse=True)
def _no_threshold_overrides(monkeypatch):
    for name in ENV_THRESHOLDS:
        monkeypatch.delenv(name, raising=False)


def build_warehouse(path: Path, *statements: str) -> Path:
    """The healthy warehouse above, then `statements` run on the tables built
    from TABLES (before the raw and quarantine tables are derived)."""
    with duckdb.connect(str(path)) as con:
        for schema in ("registry", "intermediate", "raw", "quarantine", "marts"):
            con.execute(f"create schema {schema}")
        for name, columns in TABLES.items():
            frame = pd.DataFrame(columns)
            if frame.empty:
                frame = frame.astype("string")
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
        for statement in statements:
            con.execute(statement)
        con.execute(DERIVED)
    return path


def validate(capsys, database: Path, docs: Path, as_of: str = AS_OF):
    code = main(
        ["--database", str(database), "--docs-dir", str(docs), "--as-of", as_of]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def failures(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.startswith("  ")]


def page_text(path: Path) -> str:
    text = re.sub(r"<(script|style).*?</\1>", " ", path.read_text(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def test_validate_passes_on_healthy_warehouse(tmp_path, capsys):
    code, out, err = validate(capsys, build_warehouse(tmp_path / "w.duckdb"), tmp_path)
    assert code == 0, out + err
    assert "FAIL" not in out
    assert re.search(r"PASS  srm +E1 +srm_p_value = 1 +\(threshold: >= 0.001\)", out)
    assert re.search(r"PASS  freshness +E1 +hours_since_last_event = 1 ", out)
    # A planned experiment's metric is not required to have events yet.
    assert "E3 / views" not in out
    assert (tmp_path / "index.html").exists()
    assert "all checks passed" in (tmp_path / "gates.html").read_text()


def test_validate_srm_fails_naming_experiment_and_data_docs_show_it(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update marts.assignment_balance set srm_p_value = 2.1e-9 "
        "where experiment_id = 'E1'",
    )
    code, out, err = validate(capsys, database, tmp_path / "docs")
    assert code == 1
    assert re.search(r"FAIL  srm +E1 +srm_p_value = 2.1e-09", out)
    assert failures(err) == [
        "E1: sample ratio mismatch (srm_p_value = 2.1e-09 < 0.001; units = 4). "
        "Do not trust results: check assignment and logging for E1, see "
        "marts.assignment_balance."
    ]
    (page,) = (tmp_path / "docs" / "validations" / "assignment_balance").rglob("*.html")
    text = page_text(page)
    assert "Status: Failed" in text
    assert "values must be greater than or equal to 0.001" in text
    assert re.search(r"experiment_id 2.1e-09 1 E1 ", text), text
    summary = (tmp_path / "docs" / "gates.html").read_text()
    assert "1 failed check(s)" in summary
    assert "E1: sample ratio mismatch" in summary


def test_validate_stale_running_experiment_fails_but_completed_is_not_checked(
    tmp_path, capsys
):
    database = build_warehouse(tmp_path / "w.duckdb")
    code, out, err = validate(capsys, database, tmp_path, as_of="2024-11-03 11:00:00")
    assert code == 1
    assert failures(err) == [
        "E1: stale data (hours_since_last_event = 48 > 24; last_event_at = "
        "2024-11-01 11:00:00). Load the latest events (make load DATA=<dir>, then "
        "make build) or check event logging for its units. When validating old "
        "data, pass the build's time (--as-of or XP_AS_OF); the limit is "
        "XP_FRESHNESS_HOURS."
    ]
    # E2's events are two months old, but it is completed.
    assert not re.search(r"freshness +E2", out)


def test_validate_running_experiment_without_exposures_fails_completeness(
    tmp_path, capsys
):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "insert into registry.experiments values ('E4', 'running')",
        "insert into marts.experiment_health values ('E4', 'running', 0, 0, null, 3)",
        "insert into marts.assignment_balance values "
        "('E4', 'a', 'running', 0, null, 'no units assigned: no SRM test')",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    messages = failures(err)
    assert messages[0].startswith(
        "E4: running experiment without usable exposures (units_exposed = 0 < 1; "
        "exposure_rows_quarantined = 3). Check that its exposure logging"
    )
    assert messages[1].startswith(
        "E4: running experiment without any usable event from its units "
        "(last_event_at = null)."
    )
    assert len(messages) == 2
    assert re.search(r"SKIP  srm +E4 .*not judged: no units assigned", out)


@pytest.mark.parametrize(
    ("metric_id", "event_names"),
    [("views", "view"), ("ratio_of_views", "click, view")],
)
def test_validate_registered_metric_without_events_fails(
    tmp_path, capsys, metric_id, event_names
):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "insert into registry.metrics values "
        "('ratio_of_views', null, 'ratio', 'views', 'clicks')",
        f"insert into registry.experiment_metrics values ('E1', '{metric_id}')",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    assert failures(err) == [
        f"E1 / {metric_id}: registered metric without usable events "
        f"(usable_events = 0 < 1; event_names = {event_names}). Check that "
        f"{event_names} events are logged for the units of E1 and not quarantined "
        "(see quarantine.quarantine_events), or fix the metric's event_name in "
        "seeds/metrics.csv."
    ]
    assert re.search(r"PASS  metric_events +E1 / aov +usable_events = 4 ", out)


def test_validate_multi_variant_share_of_two_percent_fails(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update marts.experiment_health set units_exposed = 100, "
        "multi_variant_units = 2, multi_variant_share = 0.02 "
        "where experiment_id = 'E2'",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    (message,) = failures(err)
    assert message.startswith(
        "E2: too many units saw more than one variant (multi_variant_share = 0.02 "
        ">= 0.01; multi_variant_units = 2; units_exposed = 100). Check assignment "
        "(bucketing) and exposure logging for E2;"
    )
    assert re.search(r"PASS  multi_variant_share +E1 ", out)


QUARANTINED_EVENT = (
    "insert into intermediate.int_events_classified values "
    "('u1', 'click', null, 'invalid_timestamp')"
)


def test_validate_quarantine_share_above_threshold_fails(tmp_path, capsys):
    database = build_warehouse(tmp_path / "w.duckdb", QUARANTINED_EVENT)
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    (message,) = failures(err)
    assert message.startswith(
        "raw.events: too many rows quarantined (quarantine_share = 0.0769 > 0.05; "
        "quarantined_rows = 1; raw_rows = 13). See quarantine.quarantine_events "
        "(reason_code, reason)"
    )
    assert re.search(
        r"PASS  quarantine_share +raw.exposures +quarantine_share = 0", out
    )


def test_validate_usable_row_without_key_fails(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update intermediate.int_events_classified set unit_id = ' ' "
        "where unit_id = 'u5'",
    )
    code, _, err = validate(capsys, database, tmp_path)
    assert code == 1
    (message,) = failures(err)
    assert message.startswith(
        "raw.events: usable rows without unit_id (usable_rows_without_unit_id = 1 "
        "> 0; usable_rows = 12). Staging must quarantine rows without a unit_id"
    )


@pytest.mark.parametrize(
    ("statement", "as_of", "variable", "value", "line"),
    [
        (None, "2024-11-05 10:00:00", "XP_FRESHNESS_HOURS", "100", "<= 100"),
        (QUARANTINED_EVENT, AS_OF, "XP_MAX_QUARANTINE_SHARE", "0.1", "<= 0.1"),
        (
            "update marts.experiment_health set multi_variant_share = 0.02",
            AS_OF,
            "XP_MAX_MULTI_VARIANT_SHARE",
            "0.05",
            "< 0.05",
        ),
        (
            "update marts.assignment_balance set srm_p_value = 0.0005",
            AS_OF,
            "XP_MIN_SRM_P_VALUE",
            "0.0001",
            ">= 0.0001",
        ),
    ],
)
def test_validate_thresholds_are_overridable_by_env(
    tmp_path, capsys, monkeypatch, statement, as_of, variable, value, line
):
    database = build_warehouse(tmp_path / "w.duckdb", *[s for s in [statement] if s])
    code, _, _ = validate(capsys, database, tmp_path / "before", as_of=as_of)
    assert code == 1
    monkeypatch.setenv(variable, value)
    code, out, err = validate(capsys, database, tmp_path / "after", as_of=as_of)
    assert code == 0, out + err
    assert f"(threshold: {line})" in out


def test_validate_bad_threshold_is_a_config_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XP_MAX_QUARANTINE_SHARE", "five percent")
    code, _, err = validate(capsys, build_warehouse(tmp_path / "w.duckdb"), tmp_path)
    assert code == 2
    assert "XP_MAX_QUARANTINE_SHARE='five percent'" in err


def test_validate_missing_warehouse_exits_2_with_hint(tmp_path, capsys):
    code, _, err = validate(capsys, tmp_path / "none.duckdb", tmp_path)
    assert code == 2
    assert f"no warehouse at {tmp_path / 'none.duckdb'}: run `make run`" in err


def test_validate_missing_table_exits_2_naming_it(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb", "drop table marts.assignment_balance"
    )
    code, _, err = validate(capsys, database, tmp_path)
    assert code == 2
    assert "has no table marts.assignment_balance: run `make build`" in err


@pytest.mark.warehouse
def test_validate_demo_warehouse_passes_then_fails_on_injected_srm(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("XP_AS_OF", AS_OF)
    demo.generate(tmp_path / "data", seed=20241001)
    database = tmp_path / "warehouse.duckdb"
    load_and_build(REPO, tmp_path / "data", database, tmp_path)
    code, out, err = validate(capsys, database, tmp_path / "docs")
    assert code == 0, out + err
    assert re.search(r"PASS  srm +E005 ", out)

    # Drop every exposure of one control unit in five: 20% of E005's control arm.
    with duckdb.connect(str(database)) as con:
        con.execute(
            """
            delete from raw.exposures
            where experiment_id = 'E005' and unit_id in (
                select unit_id from (
                    select distinct unit_id from raw.exposures
                    where experiment_id = 'E005' and variant = 'control'
                )
                qualify row_number() over (order by unit_id) % 5 = 0
            )
            """
        )
    run([str(BIN / "dbt"), "run", "--profiles-dir", "."], REPO, database, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "xpkit.validate", "--docs-dir", str(tmp_path / "bad")],
        env={**os.environ, "DUCKDB_PATH": str(database)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (message,) = failures(result.stderr)
    assert re.match(
        r"E005: sample ratio mismatch \(srm_p_value = \S+ < 0\.001; units = \d+\)\. "
        r"Do not trust results: check assignment and logging for E005",
        message,
    )
    (page,) = (tmp_path / "bad" / "validations" / "assignment_balance").rglob("*.html")
    assert re.search(r"experiment_id \S+ 1 E005 ", page_text(page))
