"""Command-line helpers around the warehouse: ``python -m xpkit.cli summary|query``.

``summary`` ends ``make build`` and ``make run``: it says where the warehouse
file is, which marts it holds (with row counts) and how to query them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb

SCHEMAS = ("marts", "quarantine")


def summary(database: Path) -> str:
    """Describe the marts and quarantine tables of a built warehouse."""
    if not database.exists():
        raise FileNotFoundError(
            f"No warehouse at {database}: run `make run` (demo data) or "
            "`make load DATA=<dir>` then `make build`."
        )
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'quarantine') "
            "order by table_schema, table_name"
        ).fetchall()
        lines = [f"Warehouse: {database.resolve()}"]
        for schema in SCHEMAS:
            names = [name for table_schema, name in tables if table_schema == schema]
            if not names:
                continue
            lines.append(f"  schema {schema}:")
            for name in names:
                (rows,) = con.execute(
                    f'select count(*) from "{schema}"."{name}"'
                ).fetchone()
                lines.append(f"    {schema + '.' + name:<36} {rows:>8} rows")
    lines.append(
        'Query it: make query SQL="select * from marts.arm_metrics limit 10"'
        f"  (Python: duckdb.connect('{database}', read_only=True))"
    )
    return "\n".join(lines)


def query(database: Path, sql: str) -> str:
    """Run one read-only SQL statement and render the result as a table."""
    with duckdb.connect(str(database), read_only=True) as con:
        return str(con.sql(sql))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary_parser = commands.add_parser("summary", help="describe a built warehouse")
    query_parser = commands.add_parser("query", help="run one read-only SQL query")
    query_parser.add_argument("sql")
    for sub in (summary_parser, query_parser):
        sub.add_argument(
            "--database",
            type=Path,
            default=Path(os.environ.get("DUCKDB_PATH", "warehouse.duckdb")),
        )
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            print(summary(args.database))
        else:
            print(query(args.database, args.sql))
    except (FileNotFoundError, duckdb.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
