"""Tests for xpkit.io.validate: the Great Expectations gates on a built warehouse.

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

from xpkit.io import demo
from xpkit.io.validate import main

AS_OF = "2024-11-01 12:00:00"
ENV_THRESHOLDS = (
    "XP_FRESHNESS_HOURS",
    "XP_MAX_QUARANTINE_SHARE",
    "XP_MAX_MULTI_VARIANT_SHARE",
    "XP_MIN_SRM_P_VALUE",
)

# E1 is running (fresh events an hour before AS_OF), E2 completed, E3 planned
# (no units, no events). The check tables are what the dbt models of
# models/intermediate/checks build (their SQL is tested by dbt unit tests and
# by the demo warehouse below); the raw tables carry the contract columns.
UNITS = [f"u{i}" for i in range(1, 9)]
TABLES = {
    "intermediate.check_raw_exposures": {
        "subject": ["raw.exposures"],
        "quarantine_relation": ["quarantine.quarantine_exposures"],
        "raw_rows": [8],
        "quarantined_rows": [0],
        "quarantine_share": [0.0],
        "usable_rows": [8],
        "usable_rows_without_experiment_id": [0],
        "usable_rows_without_unit_id": [0],
        "usable_rows_without_variant": [0],
        "usable_rows_without_exposed_at": [0],
    },
    "intermediate.check_raw_events": {
        "subject": ["raw.events"],
        "quarantine_relation": ["quarantine.quarantine_events"],
        "raw_rows": [12],
        "quarantined_rows": [0],
        "quarantine_share": [0.0],
        "usable_rows": [12],
        "usable_rows_without_unit_id": [0],
        "usable_rows_without_event_name": [0],
        "usable_rows_without_event_at": [0],
    },
    "intermediate.check_raw_units": {
        "subject": ["raw.units"],
        "quarantine_relation": ["quarantine.quarantine_units"],
        "raw_rows": [8],
        "quarantined_rows": [0],
        "quarantine_share": [0.0],
    },
    "intermediate.check_experiment_health": {
        "subject": ["E1", "E2", "E3"],
        "experiment_id": ["E1", "E2", "E3"],
        "status": ["running", "completed", "planned"],
        "units_exposed": [4, 4, 0],
        "multi_variant_units": [0, 0, 0],
        "multi_variant_share": [0.0, 0.0, None],
        "exposure_rows_quarantined": [0, 0, 0],
        "last_event_at": pd.to_datetime(["2024-11-01 11:00", None, None]),
        "health_relation": ["marts.experiment_health"] * 3,
        "quarantine_relation": ["quarantine.quarantine_exposures"] * 3,
        "quarantine_events_relation": ["quarantine.quarantine_events"] * 3,
    },
    "intermediate.check_assignment_balance": {
        "subject": ["E1", "E2", "E3"],
        "experiment_id": ["E1", "E2", "E3"],
        "status": ["running", "completed", "planned"],
        "units": [4, 4, 0],
        "srm_p_value": [1.0, 1.0, None],
        "srm_error_message": [None, None, "no units assigned: no SRM test"],
        "balance_relation": ["marts.assignment_balance"] * 3,
        "pre_period_imbalanced_metrics": [0, 0, 0],
        "pre_period_imbalanced_list": pd.Series([None] * 3, dtype="string"),
        "results_relation": ["marts.experiment_results"] * 3,
    },
    "intermediate.check_experiment_metrics": {
        "subject": ["E1 / clicks", "E1 / aov", "E2 / clicks", "E3 / views"],
        "experiment_id": ["E1", "E1", "E2", "E3"],
        "metric_id": ["clicks", "aov", "clicks", "views"],
        "status": ["running", "running", "completed", "planned"],
        "aggregation": ["count", "ratio", "count", "count"],
        "event_names": ["click", "order", "click", "view"],
        "analysed_units": [4, 4, 4, 0],
        "metric_sum": [4.0, 40.0, 4.0, 0.0],
        "denominator_sum": [None, 4.0, None, None],
        "parts_without_values": [0, 0, 0, 1],
        "arm_metrics_relation": ["marts.arm_metrics"] * 4,
        "quarantine_events_relation": ["quarantine.quarantine_events"] * 4,
    },
    "raw.exposures": {
        "experiment_id": ["E1"] * 4 + ["E2"] * 4,
        "unit_id": UNITS,
        "variant": ["a", "b"] * 4,
        "exposed_at": pd.to_datetime(["2024-10-20 09:00"] * 8),
    },
    "raw.events": {
        "unit_id": UNITS + UNITS[:4],
        "event_name": ["click"] * 12,
        "event_at": pd.to_datetime(["2024-11-01 11:00"] * 12),
        "value": [None] * 12,
    },
    "raw.units": {"unit_id": UNITS},
}


@pytest.fixture(autouse=True)
def _no_threshold_overrides(monkeypatch):
    for name in ENV_THRESHOLDS:
        monkeypatch.delenv(name, raising=False)


def build_warehouse(
    path: Path, *statements: str, tables: dict[str, dict] | None = None
) -> Path:
    """The healthy warehouse above (or `tables`), then `statements`."""
    with duckdb.connect(str(path)) as con:
        for name, columns in (tables or TABLES).items():
            con.execute(f"create schema if not exists {name.split('.')[0]}")
            con.register("frame", pd.DataFrame(columns))
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
        for statement in statements:
            con.execute(statement)
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
        "update intermediate.check_assignment_balance set srm_p_value = 2.1e-9 "
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
    assert re.search(r"subject 2.1e-09 1 E1 ", text), text
    summary = (tmp_path / "docs" / "gates.html").read_text()
    assert "1 failed check(s)" in summary
    assert "E1: sample ratio mismatch" in summary


def test_validate_pre_period_imbalance_fails_naming_the_comparisons(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update intermediate.check_assignment_balance set"
        " pre_period_imbalanced_metrics = 1,"
        " pre_period_imbalanced_list = 'clicks (b)' where experiment_id = 'E2'",
    )
    code, out, err = validate(capsys, database, tmp_path / "docs")
    assert code == 1
    assert re.search(r"PASS  pre_period_balance +E1 ", out)
    failed = r"FAIL  pre_period_balance +E2 +pre_period_imbalanced_metrics = 1"
    assert re.search(failed, out)
    assert failures(err) == [
        "E2: arms differed before the experiment (pre_period_imbalanced_metrics = 1 "
        "> 0; pre_period_imbalanced_list = clicks (b)). Arms differed before the "
        "experiment: check the assignment and the pre-period data of E2 before "
        "trusting its results (pre_period_* columns of marts.experiment_results); "
        "CUPED adjusts for a chance difference, not for a broken randomisation."
    ]


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
        "insert into intermediate.check_experiment_health values ('E4', 'E4', "
        "'running', 0, 0, null, 3, null, 'marts.experiment_health', "
        "'quarantine.quarantine_exposures', 'quarantine.quarantine_events')",
        "insert into intermediate.check_assignment_balance values ('E4', 'E4', "
        "'running', 0, null, 'no units assigned: no SRM test', "
        "'marts.assignment_balance', 0, null, 'marts.experiment_results')",
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

    # make build's --quiet: no header and no PASS line, the rest as before.
    quiet = main(
        ["--database", str(database), "--docs-dir", str(tmp_path), "--as-of", AS_OF]
        + ["--quiet"]
    )
    quiet_out = capsys.readouterr().out
    assert quiet == 1
    assert not re.search(r"^(PASS|==>) ", quiet_out, flags=re.M), quiet_out
    assert re.search(r"^FAIL  exposures +E4 ", quiet_out, flags=re.M), quiet_out
    assert re.search(r"SKIP  srm +E4 .*not judged: no units assigned", quiet_out)
    total = len(re.findall(r"^(PASS|FAIL|SKIP|WARN) ", out, flags=re.M))
    assert re.search(
        rf"^{total} checks: {total - 2} passed or skipped, 2 failed",
        quiet_out,
        flags=re.M,
    )


@pytest.mark.parametrize(
    ("metric_id", "event_names", "parts"),
    [("views", "view", 1), ("ratio_of_views", "click, view", 2)],
)
def test_validate_registered_metric_without_values_fails(
    tmp_path, capsys, metric_id, event_names, parts
):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "insert into intermediate.check_experiment_metrics values "
        f"('E1 / {metric_id}', 'E1', '{metric_id}', 'running', 'count', "
        f"'{event_names}', 4, 0, null, {parts}, 'marts.arm_metrics', "
        "'quarantine.quarantine_events')",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    assert failures(err) == [
        f"E1 / {metric_id}: registered metric without values in its analysis "
        f"window (parts_without_values = {parts} > 0; event_names = {event_names}; "
        f"analysed_units = 4). Check that {event_names} events are logged for the "
        "units of E1 inside their analysis window and not quarantined (see "
        "quarantine.quarantine_events), or fix the metric's event_name in the "
        "registry (seeds/metrics.csv)."
    ]
    assert re.search(r"PASS  metric_events +E1 / aov +parts_without_values = 0 ", out)


def test_validate_multi_variant_share_of_two_percent_fails(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update intermediate.check_experiment_health set units_exposed = 100, "
        "multi_variant_units = 2, multi_variant_share = 0.02 "
        "where experiment_id = 'E2'",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    (message,) = failures(err)
    assert message.startswith(
        "E2: too many units saw more than one variant (multi_variant_share = 0.02 "
        "> 0.01; multi_variant_units = 2; units_exposed = 100). Check assignment "
        "(bucketing) and exposure logging for E2;"
    )
    assert re.search(r"PASS  multi_variant_share +E1 ", out)


def test_validate_multi_variant_share_equal_to_the_limit_passes(tmp_path, capsys):
    # The decisions tolerate a share equal to max_multi_variant_share
    # (settings.MULTI_VARIANT_SHARE_RULE is "<="): the gate agrees.
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update intermediate.check_experiment_health set units_exposed = 100, "
        "multi_variant_units = 1, multi_variant_share = 0.01 "
        "where experiment_id = 'E2'",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 0, err
    assert re.search(r"PASS  multi_variant_share +E2 ", out)


QUARANTINED_EVENT = (
    "update intermediate.check_raw_events set raw_rows = 13, quarantined_rows = 1, "
    "quarantine_share = 1 / 13"
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
        "update intermediate.check_raw_events set usable_rows_without_unit_id = 1",
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
            "update intermediate.check_experiment_health "
            "set multi_variant_share = 0.02",
            AS_OF,
            "XP_MAX_MULTI_VARIANT_SHARE",
            "0.05",
            "<= 0.05",
        ),
        (
            "update intermediate.check_assignment_balance set srm_p_value = 0.0005",
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
        tmp_path / "w.duckdb", "drop table intermediate.check_assignment_balance"
    )
    code, _, err = validate(capsys, database, tmp_path)
    assert code == 2
    assert "has no table check_assignment_balance (the dbt models of" in err
    assert "run `make build`" in err


@pytest.mark.slow
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
        [
            sys.executable,
            "-m",
            "xpkit.io.validate",
            "--docs-dir",
            str(tmp_path / "bad"),
        ],
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
    assert re.search(r"subject \S+ 1 E005 ", page_text(page))


def test_validate_raw_table_without_a_contract_column_fails(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb", "alter table raw.exposures drop column variant"
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    (message,) = failures(err)
    assert message.startswith(
        "raw.exposures: raw exposures table without its contract columns "
        "(missing variant; has experiment_id, unit_id, exposed_at). Load the "
        "exposures with `make load DATA=<dir>`"
    )
    assert re.search(r"PASS  columns +raw.events +all present", out)


def test_validate_check_without_rows_in_scope_is_skipped(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update intermediate.check_experiment_health set status = 'completed' "
        "where status = 'running'",
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 0, out + err
    assert re.search(r"SKIP  exposures +- +no rows in scope", out)
    assert not re.search(r"PASS .*no rows in scope", out)


def test_validate_follows_the_relations_the_build_used(tmp_path, capsys):
    # A consumer project: raw tables in schema landing, checks in its own schema.
    tables = {
        name.replace("intermediate.", "analytics_checks.").replace(
            "raw.", "landing.xp_"
        ): columns
        for name, columns in TABLES.items()
    }
    for name in ("exposures", "events", "units"):
        tables[f"analytics_checks.check_raw_{name}"] = {
            **tables[f"analytics_checks.check_raw_{name}"],
            "subject": [f"landing.xp_{name}"],
            "quarantine_relation": [f"analytics_quarantine.quarantine_{name}"],
        }
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "update analytics_checks.check_raw_events set raw_rows = 13, "
        "quarantined_rows = 1, quarantine_share = 1 / 13",
        tables=tables,
    )
    code, out, err = validate(capsys, database, tmp_path)
    assert code == 1
    (message,) = failures(err)
    assert message.startswith(
        "landing.xp_events: too many rows quarantined (quarantine_share = 0.0769 "
        "> 0.05; quarantined_rows = 1; raw_rows = 13). See "
        "analytics_quarantine.quarantine_events (reason_code, reason)"
    )
    assert re.search(r"PASS  columns +landing.xp_units +all present", out)


def test_validate_check_tables_in_two_schemas_need_checks_schema(tmp_path, capsys):
    database = build_warehouse(
        tmp_path / "w.duckdb",
        "create schema old",
        "create table old.check_raw_units as "
        "select * from intermediate.check_raw_units",
    )
    code, _, err = validate(capsys, database, tmp_path)
    assert code == 2
    assert "check_raw_units is in several schemas (intermediate, old)" in err
    code = main(
        [
            "--database",
            str(database),
            "--docs-dir",
            str(tmp_path / "docs"),
            "--as-of",
            AS_OF,
            "--checks-schema",
            "intermediate",
        ]
    )
    assert code == 0, capsys.readouterr()
