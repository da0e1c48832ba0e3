"""Run the warehouse on Apache Spark: the raw tables in, the Python marts out.

dbt-spark builds the SQL models on Spark (``dbt build --target spark``) but runs
dbt Python models only on Databricks, so on open-source Spark this module does
the two steps around that build with the same code as the DuckDB path:

* ``load``: the raw tables of ``raw`` (exposures, events, units) from data files
  (read and typed by ``xpkit.io.load``, with the same rules and checks) or from an
  already loaded DuckDB warehouse, written to Spark tables with the same column
  types.
* ``results``: the Python marts (``PYTHON_MARTS``: the declarations of
  ``xpkit.marts.catalog``) computed by the statistics package from the small
  Spark-built marts and written back as Spark tables, so analysts read the
  same ``marts`` schema in Spark SQL.

``python -m xpkit.io.spark load DATA_DIR`` and ``python -m xpkit.io.spark results``
(``make spark-load``, ``make spark-results``). The session is a local one
(``SESSION_CONF``, which matches the ``spark`` target in ``profiles.yml``) unless
``XP_SPARK_MASTER`` names a cluster. pyspark is an optional dependency
(``requirements-spark.txt``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa

from xpkit.io import load as raw_load
from xpkit.marts.catalog import MARTS
from xpkit.marts.declaration import MartDeclaration, read_var
from xpkit.settings import VARS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "PYTHON_MARTS",
    "SESSION_CONF",
    "SparkError",
    "load_raw",
    "load_raw_from_duckdb",
    "main",
    "project_settings",
    "read_table",
    "session",
    "write_python_marts",
]

# The local session of the `spark` target in profiles.yml (server_side_parameters):
# the loader and the results step must see the same metastore and settings as
# dbt. dbt-spark switches ANSI mode off, so a failed cast is null here too.
SESSION_CONF: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}
MASTER_ENV = "XP_SPARK_MASTER"

# DuckDB raw column types and the Spark type each becomes. Timestamps are
# naive UTC in DuckDB; Spark's session time zone is UTC, so TIMESTAMP holds
# the same instants and prints the same text.
SPARK_TYPES: dict[str, str] = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "DOUBLE": "double",
    "FLOAT": "float",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "BOOLEAN": "boolean",
}


class SparkError(RuntimeError):
    """A Spark step that cannot proceed; the message says what to do."""


def session(master: str | None = None) -> SparkSession:
    """The Spark session dbt's ``spark`` target uses (Hive metastore in the
    working directory for a local master)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:  # pragma: no cover - depends on the install
        raise SparkError(
            "pyspark is not installed: run `make spark-setup` (installs "
            "requirements-spark.txt into .venv)."
        ) from error
    conf = dict(SESSION_CONF)
    conf["spark.master"] = master or os.environ.get(MASTER_ENV) or conf["spark.master"]
    builder = SparkSession.builder.appName("xpkit").enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # getOrCreate returns a running session as it is: apply the SQL settings.
    for key, value in conf.items():
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    return spark


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_type(table: str, column: str, duck_type: str) -> str:
    if duck_type in SPARK_TYPES:
        return SPARK_TYPES[duck_type]
    if duck_type.startswith("DECIMAL"):
        return duck_type.lower()
    raise SparkError(
        f"raw.{table}.{column} has DuckDB type {duck_type}, which the Spark loader "
        f"does not map; supported: {', '.join(sorted(SPARK_TYPES))}, DECIMAL."
    )


def load_raw_from_duckdb(
    spark: SparkSession,
    database: Path,
    *,
    schema: str = raw_load.SCHEMA,
    tables: Sequence[str] = raw_load.TABLES,
) -> dict[str, int]:
    """Copy the raw tables of a DuckDB warehouse into Spark tables.

    Each table goes through a Parquet file written by DuckDB and is cast
    column by column to the Spark type of its DuckDB type (``SPARK_TYPES``), so
    both engines read the same values with the same types.

    Returns:
        Rows written per table (``{"exposures": n, ...}``).
    """
    database = Path(database)
    if not database.exists():
        raise SparkError(f"{database}: no such DuckDB warehouse; load it first.")
    counts: dict[str, int] = {}
    scratch = Path(tempfile.mkdtemp(prefix="xpkit-spark-load-"))
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            spark.sql(f"create database if not exists {_ident(schema)}")
            for table in tables:
                columns = con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [raw_load.SCHEMA, table],
                ).fetchall()
                if not columns:
                    raise SparkError(f"{database}: has no table raw.{table}.")
                parquet = scratch / f"{table}.parquet"
                con.execute(
                    f"copy {raw_load.SCHEMA}.{_duck_ident(table)} "
                    f"to '{parquet}' (format parquet)"
                )
                frame = spark.read.parquet(str(parquet))
                frame = frame.selectExpr(
                    *(
                        f"cast({_ident(name)} as {_spark_type(table, name, kind)}) "
                        f"as {_ident(name)}"
                        for name, kind in columns
                    )
                )
                target = f"{_ident(schema)}.{_ident(table)}"
                spark.sql(f"drop table if exists {target}")
                frame.write.format("parquet").saveAsTable(f"{schema}.{table}")
                counts[table] = spark.table(f"{schema}.{table}").count()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return counts


def _duck_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_raw(
    spark: SparkSession, data_dir: Path, *, schema: str = raw_load.SCHEMA
) -> dict[str, int]:
    """Load ``data_dir`` as ``make load`` would, into Spark tables.

    The files are read, checked and typed by ``xpkit.io.load`` into a scratch
    DuckDB file (the same rules and error messages as the DuckDB path), then
    copied with ``load_raw_from_duckdb``.
    """
    scratch = Path(tempfile.mkdtemp(prefix="xpkit-spark-raw-"))
    try:
        # Not raw.duckdb: DuckDB names the catalog after the file, and a catalog
        # called raw would clash with the schema raw.
        database = scratch / "scratch.duckdb"
        raw_load.load_raw(Path(data_dir), database, quiet=True)
        return load_raw_from_duckdb(spark, database, schema=schema)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_table(spark: SparkSession, name: str) -> pd.DataFrame:
    """A Spark table as pandas, through Arrow like the DuckDB Python models
    (``relation.to_arrow_table().to_pandas()``), so the package sees the same
    dtypes on both engines. Spark timestamps arrive zoned in UTC; they become
    naive UTC, as DuckDB's TIMESTAMP columns are."""
    table = spark.table(name).toArrow()
    fields = [
        pa.field(field.name, pa.timestamp(field.type.unit), field.nullable)
        if pa.types.is_timestamp(field.type) and field.type.tz is not None
        else field
        for field in table.schema
    ]
    return table.cast(pa.schema(fields)).to_pandas()


def _write_table(spark: SparkSession, frame: pd.DataFrame, name: str) -> int:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # A column pandas could not type (all null, object dtype) becomes text:
    # Parquet tables cannot hold Spark's void type.
    table = table.cast(
        pa.schema(
            pa.field(field.name, pa.string(), True)
            if pa.types.is_null(field.type)
            else field
            for field in table.schema
        )
    )
    spark_frame = spark.createDataFrame(table)
    spark.sql(f"drop table if exists {name}")
    spark_frame.write.format("parquet").saveAsTable(name)
    return int(spark.table(name).count())


# The Python models of python_models/marts/, in dependency order: the same
# declaration (inputs, settings, builder) the dbt model runs.
PYTHON_MARTS: tuple[MartDeclaration, ...] = MARTS


def project_settings(
    project_dir: Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The values of the vars the Python marts read (``xpkit.settings.VARS``),
    typed: the project's ``vars:`` in ``dbt_project.yml`` (as dbt reads them),
    ``XP_AS_OF`` for an empty ``as_of``, then ``overrides`` (var names; None
    keeps the project's value); a var the project does not set takes the
    default of ``xpkit.settings``."""
    import yaml

    with open(Path(project_dir) / "dbt_project.yml", encoding="utf-8") as handle:
        values: dict[str, Any] = dict((yaml.safe_load(handle) or {}).get("vars") or {})
    values["as_of"] = values.get("as_of") or os.environ.get("XP_AS_OF", "")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return {name: read_var(var, values.get(name)) for name, var in VARS.items()}


def write_python_marts(
    spark: SparkSession,
    settings: Mapping[str, Any],
    marts: Sequence[MartDeclaration] = PYTHON_MARTS,
    schema: str = "marts",
) -> dict[str, int]:
    """Compute each Python mart from the Spark-built tables and write it to
    ``<schema>.<name>``, in order (later marts read earlier ones); returns the
    rows written per mart."""
    written: dict[str, int] = {}
    for mart in marts:
        frames = {
            ref: read_table(spark, table)
            for ref, table in zip(mart.refs, mart.inputs, strict=True)
        }
        frame = mart.run(frames, settings)
        written[mart.name] = _write_table(spark, frame, f"{schema}.{mart.name}")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.io.spark",
        description=(
            "Load raw tables into Spark, or compute the Python marts from a "
            "`dbt build --target spark` and write them back as Spark tables."
        ),
    )
    parser.add_argument(
        "--master",
        default=None,
        help=f"Spark master (default: ${MASTER_ENV}, else local[2])",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load_parser = commands.add_parser(
        "load", help="load raw tables from data files or a DuckDB warehouse"
    )
    source = load_parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "data_dir",
        nargs="?",
        type=Path,
        help="folder of exposures.*, events.*, units.*",
    )
    source.add_argument(
        "--from-duckdb", type=Path, help="copy the raw tables of this DuckDB file"
    )
    results_parser = commands.add_parser(
        "results", help="compute the Python marts from the Spark-built marts"
    )
    results_parser.add_argument(
        "--project-dir", type=Path, default=Path("."), help="the dbt project (vars)"
    )
    results_parser.add_argument(
        "--correction", default=None, help="override var multiple_testing_correction"
    )
    results_parser.add_argument(
        "--min-segment-units", type=int, default=None, help="override the var"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        spark = session(args.master)
        if args.command == "load":
            if args.from_duckdb is not None:
                counts = load_raw_from_duckdb(spark, args.from_duckdb)
            else:
                counts = load_raw(spark, args.data_dir)
            for table, rows in counts.items():
                print(f"spark raw.{table:<10} {rows:>10,} rows")
        else:
            settings = project_settings(
                args.project_dir,
                {
                    "multiple_testing_correction": args.correction,
                    "min_segment_units": args.min_segment_units,
                },
            )
            for name, rows in write_python_marts(spark, settings).items():
                print(f"spark marts.{name:<20} {rows:>8,} rows")
    except (SparkError, raw_load.LoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
