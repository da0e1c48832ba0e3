"""Build a real warehouse for tests: load raw files with the project's loader
and run `dbt build` on a copy-free checkout, exactly as `make load` and
`make build` do, but into a temporary DuckDB file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
PROJECT_DIRS = ("models", "python_models", "macros", "tests/dbt")
UNIT_ATTRIBUTES_HEADER = "column_name,role,data_type,bins,description"
COVARIATES_HEADER = "experiment_id,metric_id,covariate"


def copy_project(destination: Path, seeds_dir: Path) -> Path:
    """Copy the dbt project to `destination` with the registry CSVs of
    `seeds_dir` (and the project's own seeds/_seeds.yml): the project code is
    the repository's, only the registry differs. A registry without
    unit_attributes.csv declares no unit attributes, one without
    experiment_metric_covariates.csv no regression covariates (header-only
    files: every metric then uses its own pre-period)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, destination / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, destination / name)
    (destination / "seeds").mkdir()
    shutil.copy2(REPO / "seeds" / "_seeds.yml", destination / "seeds" / "_seeds.yml")
    for csv in seeds_dir.glob("*.csv"):
        shutil.copy2(csv, destination / "seeds" / csv.name)
    attributes = destination / "seeds" / "unit_attributes.csv"
    if not attributes.exists():
        attributes.write_text(UNIT_ATTRIBUTES_HEADER + "\n")
    covariates = destination / "seeds" / "experiment_metric_covariates.csv"
    if not covariates.exists():
        covariates.write_text(COVARIATES_HEADER + "\n")
    return destination


def run(
    command: list[str],
    cwd: Path,
    database: Path,
    work: Path,
    extra_env: dict[str, str] | None = None,
) -> str:
    """Run a project command with the warehouse at `database`; fail loudly."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "DUCKDB_PATH": str(database),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def load_and_build(
    project: Path,
    data_dir: Path,
    database: Path,
    work: Path,
    extra_env: dict[str, str] | None = None,
) -> str:
    """`make load DATA=data_dir` then `make build`'s dbt step."""
    run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.io.load",
            str(data_dir),
            "--database",
            str(database),
        ],
        project,
        database,
        work,
        extra_env,
    )
    return run(
        [str(BIN / "dbt"), "build", "--profiles-dir", "."],
        project,
        database,
        work,
        extra_env,
    )


def read_tables(database: Path, *names: str) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            name: con.sql(f"select * from {name}").to_arrow_table().to_pandas()
            for name in names
        }
