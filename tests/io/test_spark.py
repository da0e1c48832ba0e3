"""xpkit.io.spark without a Spark session: its settings agree with the dbt
project and the profile, and it refuses what it cannot copy faithfully. The
Spark runs themselves are in test_spark_parity.py (make test-spark)."""

from __future__ import annotations

import math

import pytest
import yaml
from warehouse import REPO

from xpkit.io import spark as xpkit_spark


def test_spark_session_matches_the_spark_profile():
    # The loader and the results step must open the session dbt opens.
    profiles = yaml.safe_load((REPO / "profiles.yml").read_text(encoding="utf-8"))
    target = profiles["experimentation"]["outputs"]["spark"]
    assert target["type"] == "spark"
    assert target["method"] == "session"
    parameters = {k: str(v) for k, v in target["server_side_parameters"].items()}
    assert parameters.pop("spark.master").startswith("{{ env_var('XP_SPARK_MASTER'")
    expected = dict(xpkit_spark.SESSION_CONF)
    assert expected.pop("spark.master") == "local[2]"
    assert parameters == expected


def test_project_settings_read_the_vars_the_python_models_read(monkeypatch):
    monkeypatch.setenv("XP_AS_OF", "2024-11-01 12:00:00")
    settings = xpkit_spark.project_settings(REPO)
    project_vars = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]
    assert (
        settings["multiple_testing_correction"]
        == project_vars["multiple_testing_correction"]
    )
    assert settings["min_segment_units"] == project_vars["min_segment_units"]
    assert math.isclose(
        settings["max_days_to_target"], project_vars["max_days_to_target"]
    )
    assert settings["as_of"] == "2024-11-01 12:00:00"
    overridden = xpkit_spark.project_settings(
        REPO, {"multiple_testing_correction": "bh", "min_segment_units": None}
    )
    assert overridden["multiple_testing_correction"] == "bh"
    assert overridden["min_segment_units"] == project_vars["min_segment_units"]


def test_every_python_model_has_a_spark_counterpart():
    models = {path.stem for path in (REPO / "python_models").rglob("*.py")}
    on_spark = [mart.name for mart in xpkit_spark.PYTHON_MARTS]
    assert sorted(on_spark) == sorted(models)


@pytest.mark.parametrize(
    ("duck_type", "spark_type"),
    [
        ("VARCHAR", "string"),
        ("TIMESTAMP", "timestamp"),
        ("DOUBLE", "double"),
        ("BIGINT", "bigint"),
        ("BOOLEAN", "boolean"),
        ("DECIMAL(18,3)", "decimal(18,3)"),
    ],
)
def test_spark_type_maps_the_loader_types(duck_type, spark_type):
    assert xpkit_spark._spark_type("events", "value", duck_type) == spark_type


def test_spark_type_refuses_types_it_cannot_copy():
    with pytest.raises(xpkit_spark.SparkError, match="raw.units.tags has DuckDB"):
        xpkit_spark._spark_type("units", "tags", "VARCHAR[]")


def test_load_from_a_missing_duckdb_file_says_so(tmp_path):
    with pytest.raises(xpkit_spark.SparkError, match="no such DuckDB warehouse"):
        xpkit_spark.load_raw_from_duckdb(None, tmp_path / "absent.duckdb")


def test_every_python_model_is_disabled_on_the_spark_target():
    # dbt-spark would try to submit it to Databricks; xpkit.io.spark writes it.
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text(encoding="utf-8"))
    marts = project["models"]["experimentation"]["marts"]
    for path in (REPO / "python_models").rglob("*.py"):
        config = marts.get(path.stem) or {}
        assert config.get("+enabled") == "{{ target.type != 'spark' }}", path.stem
