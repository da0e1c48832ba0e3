"""Governance of the built warehouse (README "Governance").

- Descriptions reach the warehouse: every table and column of the public
  schemas carries its YAML description as a COMMENT (duckdb_tables(),
  duckdb_columns()), which is what BI tools read.
- Contracts: a SQL mart whose YAML declares another data type than the model
  produces does not build; a Python mart with a wrong declared type fails its
  column_types_match test.
- Source freshness is measured from as_of, with thresholds that are settings.
- Personal-data columns are marked in meta; access levels hold per layer.

The demo warehouse is built once per session (conftest.demo_warehouse); the
expected values come from the YAML files and from the raw tables, never from
what dbt reports about itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import DEMO_AS_OF
from warehouse import BIN, REPO, copy_project

pytestmark = pytest.mark.warehouse

PUBLIC_SCHEMAS = ("marts", "quarantine")
# Every mart the demo build publishes: a new mart is added here on purpose, a
# lost one fails by name.
PUBLIC_MARTS = frozenset(
    {
        "arm_metrics",
        "arm_metrics_by_compliance",
        "arm_metrics_by_segment",
        "arm_metrics_daily",
        "assignment_balance",
        "bandit_allocations",
        "build_manifest",
        "compliance_results",
        "daily_results",
        "experiment_cate",
        "experiment_cohorts",
        "experiment_decisions",
        "experiment_decisions_history",
        "experiment_health",
        "experiment_meta_analysis",
        "experiment_portfolio",
        "experiment_power",
        "experiment_results",
        "experiment_results_history",
        "experiment_value",
        "holdout_results",
        "planned_assignment_balance",
        "planned_assignments",
        "segment_results",
    }
)
# Columns of raw.units (the demo's declared unit attributes); stg_raw__units
# and quarantine_units pass them through as loaded, so no YAML declares them
# there.
RAW_UNIT_ATTRIBUTES = set(
    pd.read_csv(REPO / "seeds" / "unit_attributes.csv").column_name.str.lower()
)
# The declared attributes' CATE feature columns of int_experiment_unit_features
# and int_cate_units are named after the registry (feature_num__<column>,
# feature_cat__<column>); the models' YAML documents the pattern.
FEATURE_PREFIXES = ("feature_num__", "feature_cat__")
FEATURE_MODELS = ("int_experiment_unit_features", "int_cate_units")


def is_registry_named(name: str) -> bool:
    """A column named by the declared unit attributes, not by a YAML entry."""
    return name in RAW_UNIT_ATTRIBUTES or name.startswith(FEATURE_PREFIXES)


def yaml_models() -> dict[str, dict]:
    """Every model's YAML entry, read from the repository's files."""
    models = {}
    for folder in ("models", "python_models"):
        for path in sorted((REPO / folder).rglob("*.yml")):
            for model in yaml.safe_load(path.read_text()).get("models") or []:
                models[model["name"]] = {**model, "file": path.relative_to(REPO)}
    return models


def model_folder(name: str) -> str | None:
    """The layer folder (staging, intermediate, marts, quarantine) of a model."""
    for folder in ("models", "python_models"):
        for path in (REPO / folder).rglob(f"{name}.*"):
            if path.suffix in (".sql", ".py"):
                return path.relative_to(REPO / folder).parts[0]
    return None


def normalise(text: str) -> str:
    return " ".join(text.split())


def manifest(demo_warehouse) -> dict:
    return json.loads((demo_warehouse["work"] / "target" / "manifest.json").read_text())


def dbt(args: list[str], project: Path, database: Path, work: Path, **env: str):
    """Run dbt and return (exit code, output); the caller judges the result."""
    result = subprocess.run(
        [str(BIN / "dbt"), *args, "--profiles-dir", "."],
        cwd=project,
        env={
            **os.environ,
            **env,
            "DUCKDB_PATH": str(database),
            "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def comments(demo_warehouse):
    with duckdb.connect(str(demo_warehouse["database"]), read_only=True) as con:
        tables = con.sql(
            "select schema_name, table_name, comment from duckdb_tables() "
            "where database_name = current_database()"
        ).df()
        columns = con.sql(
            "select schema_name, table_name, column_name, comment "
            "from duckdb_columns() where database_name = current_database()"
        ).df()
    return tables, columns


def test_every_public_table_and_column_carries_its_description(comments):
    tables, columns = comments
    models = yaml_models()
    public = tables[tables.schema_name.isin(PUBLIC_SCHEMAS)]
    assert set(public[public.schema_name == "marts"].table_name) == PUBLIC_MARTS
    assert len(public[public.schema_name == "quarantine"]) == 3
    problems = []
    for row in public.itertuples():
        entry = models[row.table_name]
        if pd.isna(row.comment) or normalise(row.comment) != normalise(
            entry["description"]
        ):
            problems.append(f"{row.schema_name}.{row.table_name}: table comment")
        described = {c["name"]: c["description"] for c in entry["columns"]}
        built = columns[
            (columns.schema_name == row.schema_name)
            & (columns.table_name == row.table_name)
        ]
        for column in built.itertuples():
            name = f"{row.schema_name}.{row.table_name}.{column.column_name}"
            if column.column_name in described:
                if pd.isna(column.comment) or normalise(column.comment) != normalise(
                    described[column.column_name]
                ):
                    problems.append(f"{name}: comment differs from its description")
            elif row.schema_name == "marts":
                problems.append(f"{name}: no description in {entry['file']}")
            elif not is_registry_named(column.column_name):
                problems.append(f"{name}: undeclared column")
    assert not problems, "\n".join(problems)
    # Every mart column is commented (the count a BI tool would see).
    marts = columns[columns.schema_name == "marts"]
    assert marts.comment.notna().all() and len(marts) > 400


def test_staging_and_intermediate_are_documented_in_the_warehouse_too(comments):
    tables, columns = comments
    inner = columns[columns.schema_name.isin(["staging", "intermediate"])]
    # stg_raw__units passes raw.units' attribute columns through undeclared;
    # the feature models name one column per declared attribute.
    undocumented = inner[
        inner.comment.isna() & ~inner.column_name.map(is_registry_named)
    ]
    assert undocumented.empty, undocumented.to_string()
    features = inner[inner.column_name.str.startswith(FEATURE_PREFIXES)]
    assert set(features.table_name) == set(FEATURE_MODELS)


def test_every_sql_mart_has_an_enforced_contract_and_every_python_mart_a_type_test(
    demo_warehouse,
):
    nodes = manifest(demo_warehouse)["nodes"]
    marts = {
        node["name"]: node
        for node in nodes.values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    assert set(marts) == PUBLIC_MARTS
    type_tests = {
        node["attached_node"]
        for node in nodes.values()
        if node["resource_type"] == "test"
        and node.get("test_metadata", {}).get("name") == "column_types_match"
    }
    for name, node in marts.items():
        untyped = [c for c, v in node["columns"].items() if not v.get("data_type")]
        assert not untyped, f"{name}: no data_type for {untyped}"
        if node["language"] == "sql":
            assert node["config"]["contract"]["enforced"], name
        else:
            assert node["unique_id"] in type_tests, name
        assert node["access"] == "public" and node["group"] == "experimentation"


def test_a_wrong_declared_type_stops_the_build(demo_warehouse, tmp_path):
    """experiment_health.units_exposed is a count (bigint) and
    assignment_balance.srm_p_value a double: declared as varchar, the SQL
    mart's contract stops it from building, and the Python mart fails its
    column_types_match test, which also names a declared column that the
    model does not produce."""
    project = copy_project(tmp_path / "project", REPO / "seeds")
    marts_yml = project / "models" / "marts" / "_marts__models.yml"
    text = marts_yml.read_text()
    typed = "      - name: units_exposed\n        data_type: bigint\n"
    assert text.count(typed) == 1
    marts_yml.write_text(text.replace(typed, typed.replace("bigint", "varchar")))
    python_yml = project / "python_models" / "marts" / "_python_marts__models.yml"
    text = python_yml.read_text()
    typed = "      - name: srm_p_value\n        data_type: double\n"
    assert text.count(typed) == 1
    text = text.replace(typed, typed.replace("double", "varchar"))
    # ... and a declared column the model does not produce.
    typed = "      - name: srm_error_message\n        data_type: varchar\n"
    assert text.count(typed) == 1
    extra = (
        "      - name: srm_note\n        data_type: varchar\n        description: x\n"
    )
    python_yml.write_text(text.replace(typed, extra + typed))
    database = tmp_path / "warehouse.duckdb"
    shutil.copy2(demo_warehouse["database"], database)
    with duckdb.connect(str(database), read_only=True) as con:
        before = con.sql("select * from marts.experiment_health").df()

    code, log = dbt(
        ["build", "--select", "experiment_health", "assignment_balance"],
        project,
        database,
        tmp_path,
        XP_AS_OF=DEMO_AS_OF,
    )
    assert code == 1, log
    assert "This model has an enforced contract that failed" in log
    assert re.search(r"units_exposed\s*\|\s*BIGINT\s*\|\s*VARCHAR", log), log
    assert "assignment_balance.srm_p_value: declared varchar, built double" in log
    assert "assignment_balance.srm_note: declared varchar, built missing" in log
    assert re.search(
        r"FAIL 2 experimentation_column_types_match_assignment_balance", log
    )
    # The failed contract left the existing table as it was.
    with duckdb.connect(str(database), read_only=True) as con:
        after = con.sql("select * from marts.experiment_health").df()
    pd.testing.assert_frame_equal(before, after)


@pytest.fixture(scope="module")
def freshness(demo_warehouse, tmp_path_factory):
    """Runs `dbt source freshness` on a copy of the demo warehouse; returns a
    function of (environment, vars) giving the exit code and the statuses and
    ages (hours) dbt reports per raw table."""
    work = tmp_path_factory.mktemp("freshness")
    database = work / "warehouse.duckdb"
    shutil.copy2(demo_warehouse["database"], database)

    def run(env: dict[str, str], dbt_vars: dict | None = None):
        args = ["source", "freshness"]
        if dbt_vars:
            args += ["--vars", json.dumps(dbt_vars)]
        code, log = dbt(args, REPO, database, work, **{"XP_AS_OF": "", **env})
        results = json.loads((work / "target" / "sources.json").read_text())
        return (
            code,
            log,
            {
                r["unique_id"].split(".")[-1]: (
                    r["status"],
                    r["max_loaded_at_time_ago_in_s"] / 3600,
                )
                for r in results["results"]
            },
        )

    return run


def newest_usable(demo_warehouse, table: str, column: str, now: pd.Timestamp):
    """The newest timestamp at most 24 h (future_tolerance_hours) after now."""
    with duckdb.connect(str(demo_warehouse["database"]), read_only=True) as con:
        values = con.sql(f"select {column} from raw.{table}").df()[column]
    values = pd.to_datetime(values, errors="coerce")
    return values[values <= now + pd.Timedelta(hours=24)].max()


def test_source_freshness_is_measured_from_as_of(demo_warehouse, freshness):
    now = pd.Timestamp(DEMO_AS_OF)
    code, log, results = freshness({"XP_AS_OF": DEMO_AS_OF})
    assert set(results) == {"exposures", "events"}, log  # units has no timestamp
    for table, column in (("exposures", "exposed_at"), ("events", "event_at")):
        expected = (
            now - newest_usable(demo_warehouse, table, column, now)
        ).total_seconds()
        status, hours = results[table]
        # dbt's age, measured from the current time on timestamps moved by
        # (current time - as_of), equals as_of - newest to within the seconds
        # between the query and dbt's own clock reading.
        assert hours == pytest.approx(expected / 3600, abs=0.01), table
        assert status == ("pass" if expected <= 24 * 3600 else "warn"), (table, hours)
    # The demo's exposures end 26.5 h before its as-of time: a warning, which
    # does not fail the command; its events are 2 h old.
    assert results["exposures"][0] == "warn" and results["events"][0] == "pass"
    assert code == 0, log


def test_source_freshness_thresholds_are_settings(freshness):
    code, log, results = freshness(
        {"XP_AS_OF": DEMO_AS_OF},
        {
            "source_freshness_warn_after_hours": 1,
            "source_freshness_error_after_hours": 25,
        },
    )
    assert results["exposures"][0] == "error" and results["events"][0] == "warn", log
    assert code == 1


def test_old_data_without_as_of_is_stale(freshness):
    # Judged as of today, the 2024 demo is long past error_after.
    code, log, results = freshness({})
    assert {status for status, _ in results.values()} == {"error"}, log
    assert min(hours for _, hours in results.values()) > 24 * 300
    assert code == 1


def test_personal_data_columns_are_marked(demo_warehouse):
    graph = manifest(demo_warehouse)
    marked, unmarked = [], []
    for node in [*graph["nodes"].values(), *graph["sources"].values()]:
        if node["resource_type"] not in ("model", "source"):
            continue
        for name, column in node["columns"].items():
            kind = column.get("config", {}).get("meta", {}).get("personal_data")
            is_id = name == "unit_id"
            is_attribute = name in RAW_UNIT_ATTRIBUTES and node["name"] in (
                "int_experiment_unit_features",
                "int_cate_units",
            )
            if is_id or is_attribute:
                want = "identifier" if is_id else "attribute"
                (marked if kind == want else unmarked).append(f"{node['name']}.{name}")
    assert not unmarked, unmarked
    assert len(marked) >= 25
    # Tables whose raw attribute columns pass through undeclared say so, and
    # so do the models with one feature column per declared attribute.
    for model in FEATURE_MODELS:
        meta = graph["nodes"][f"model.experimentation.{model}"]["config"]["meta"]
        assert "feature_num__" in meta["personal_data"], model
    for unique_id in (
        "model.experimentation.stg_raw__units",
        "model.experimentation.quarantine_units",
    ):
        assert (
            "attribute" in graph["nodes"][unique_id]["config"]["meta"]["personal_data"]
        )
    assert (
        "attribute"
        in graph["sources"]["source.experimentation.raw.units"]["config"]["meta"][
            "personal_data"
        ]
    )
    # No public mart but planned_assignments holds unit ids (README "Privacy").
    with_ids = sorted(
        node["name"]
        for node in graph["nodes"].values()
        if node["resource_type"] == "model"
        and node["schema"] == "marts"
        and "unit_id" in node["columns"]
    )
    assert with_ids == ["planned_assignments"]


def test_access_levels_follow_the_layers(demo_warehouse):
    expected = {
        "staging": "protected",
        "intermediate": "private",
        "marts": "public",
        "quarantine": "public",
    }
    seen = set()
    for node in manifest(demo_warehouse)["nodes"].values():
        if node["resource_type"] != "model":
            continue
        layer = model_folder(node["name"])
        assert node["access"] == expected[layer], node["name"]
        assert node["group"] == "experimentation", node["name"]
        seen.add(layer)
    assert seen == set(expected)
