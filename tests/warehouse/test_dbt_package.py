"""The project as a dbt package: a consumer project in a temp dir installs it
with `packages.yml` (`local:`), following the README's "Install as a dbt
package" section verbatim (its code blocks are read from README.md), with its
raw tables in another schema under other names, its own registry seeds and its
own generate_schema_name; `dbt deps` and `dbt build` must print no warning,
and the gates and build_manifest must name the relations that build used."""

from __future__ import annotations

import re
import subprocess
import sys

import duckdb
import pytest
import yaml
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from warehouse import BIN, REPO, run

pytestmark = pytest.mark.warehouse

SECTION = "## Install as a dbt package"
AS_OF = "2025-03-09 12:00:00"


def readme_blocks() -> dict[str, str]:
    """The section's code blocks by the file their first line names."""
    text = REPO.joinpath("README.md").read_text()
    start = text.index(SECTION)
    section = text[start : text.index("\n## ", start + len(SECTION))]
    blocks = {}
    for body in re.findall(r"```(?:yaml|sql)\n(.*?)```", section, flags=re.S):
        first, _, rest = body.partition("\n")
        name = re.match(r"(?:#|--) (\S+)", first).group(1)
        blocks[name] = rest
    return blocks


def test_readme_names_the_files_the_consumer_writes():
    assert set(readme_blocks()) == {
        "packages.yml",
        "dbt_project.yml",
        "macros/generate_schema_name.sql",
    }


def write_consumer(folder, database):
    blocks = readme_blocks()
    folder.mkdir()
    packages = yaml.safe_load(blocks["packages.yml"])
    packages["packages"][0]["local"] = str(REPO)
    (folder / "packages.yml").write_text(yaml.safe_dump(packages))
    project = {
        "name": "analytics",
        "version": "1.0.0",
        "config-version": 2,
        "profile": "analytics",
        "seeds": {"analytics": {"+schema": "registry"}},
        **yaml.safe_load(blocks["dbt_project.yml"]),
    }
    (folder / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    (folder / "macros").mkdir()
    (folder / "macros" / "generate_schema_name.sql").write_text(
        blocks["macros/generate_schema_name.sql"]
    )
    (folder / "seeds").mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (folder / "seeds" / f"xp_{name}").write_text(text)
    profile = {
        "analytics": {
            "target": "dev",
            "outputs": {
                "dev": {
                    "type": "duckdb",
                    "path": str(database),
                    "threads": 2,
                    "settings": {"TimeZone": "UTC"},
                }
            },
        }
    }
    (folder / "profiles.yml").write_text(yaml.safe_dump(profile))
    return project["vars"]["experimentation"]


def load_landing(tmp_path, database, names):
    """The custom dataset, loaded by the project's loader, then moved to the
    consumer's own schema and table names."""
    write_custom_dataset(tmp_path / "data")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "xpkit.io.load",
            str(tmp_path / "data"),
            "--database",
            str(database),
        ],
        check=True,
        capture_output=True,
    )
    schema = names["raw_schema"]
    with duckdb.connect(str(database)) as con:
        con.execute(f"create schema {schema}")
        for table in ("exposures", "events", "units"):
            target = names[f"raw_{table}_table"]
            con.execute(f"create table {schema}.{target} as select * from raw.{table}")
        con.execute("drop schema raw cascade")


def dbt(folder, database, tmp_path, *args):
    return run(
        [str(BIN / "dbt"), "--no-use-colors", *args, "--profiles-dir", "."],
        folder,
        database,
        tmp_path,
        {"XP_AS_OF": AS_OF},
    )


def warnings_in(log: str) -> list[str]:
    """dbt's warnings and warning-level test results (not the WARN=0 count)."""
    pattern = r"\[WARN(ING)?\]|\bWARN(ING)?\b(?!=)"
    return [line for line in log.splitlines() if re.search(pattern, line)]


@pytest.mark.slow
def test_consumer_project_installs_the_package_and_builds_without_warnings(
    tmp_path, capsys
):
    database = tmp_path / "analytics.duckdb"
    folder = tmp_path / "analytics"
    names = write_consumer(folder, database)
    load_landing(tmp_path, database, names)

    deps = dbt(folder, database, tmp_path, "deps")
    build = dbt(folder, database, tmp_path, "build")
    assert warnings_in(deps) == [] and warnings_in(build) == [], deps + build
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0", build), build

    with duckdb.connect(str(database), read_only=True) as con:
        schemas = {
            schema
            for (schema,) in con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        manifest = dict(
            con.execute(
                "select item_name, row_count from xp_marts.build_manifest "
                "where item_type = 'raw_table'"
            ).fetchall()
        )
        registry = con.execute(
            "select count(*) from xp_staging.stg_registry__experiments"
        ).fetchone()
        (subject,) = con.execute(
            "select subject from xp_intermediate.check_raw_events"
        ).fetchone()
    # The consumer's generate_schema_name places the package's models and its
    # own seeds; the package's seeds are not built.
    assert schemas == {
        "landing",
        "xp_registry",
        "xp_staging",
        "xp_intermediate",
        "xp_quarantine",
        "xp_marts",
    }
    assert registry == (2,)
    assert subject == "landing.xp_events"
    assert set(manifest) == {
        "landing.xp_exposures",
        "landing.xp_events",
        "landing.xp_units",
    }

    from xpkit.report.data import read_warehouse

    with duckdb.connect(str(database), read_only=True) as con:
        sources = read_warehouse(con).sources
    assert sources["experiment_portfolio"] == "xp_marts.experiment_portfolio"
    assert sources["experiments"] == "xp_staging.stg_registry__experiments"

    from xpkit.io.validate import main

    code = main(
        [
            "--database",
            str(database),
            "--docs-dir",
            str(tmp_path / "docs"),
            "--as-of",
            AS_OF,
        ]
    )
    out, err = capsys.readouterr()
    # The custom dataset is messy on purpose: its quarantine shares fail, and
    # the messages name the consumer's relations.
    assert code == 1, out + err
    assert re.search(r"PASS  columns +landing.xp_exposures +all present", out), out
    assert re.search(r"FAIL  quarantine_share +landing.xp_events ", out), out
    assert "See xp_quarantine.quarantine_events (reason_code, reason)" in err
    assert re.search(r"PASS  srm +pricing ab ", out), out
