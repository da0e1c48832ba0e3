"""Command-line helpers around the warehouse: ``python -m xpkit.io.cli summary|query``.

``summary`` ends ``make build`` and ``make run``: it says where the warehouse
file is, which marts it holds (with row counts) and how to query them.

``query`` (``make query``) runs every statement of the SQL, read-only, on the
published warehouse and prints each result in full (``--format
table|csv|markdown|json``). The SQL comes from ``--sql-env NAME`` (``make
query`` passes ``SQL`` through the environment, so the shell never sees it),
``--file`` or the argument.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
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
                ).fetchone() or (0,)
                lines.append(f"    {schema + '.' + name:<36} {rows:>8} rows")
    lines.append(
        'Query it: make query SQL="select * from marts.arm_metrics limit 10"'
        f"  (Python: duckdb.connect('{database}', read_only=True))"
    )
    return "\n".join(lines)


FORMATS = ("table", "csv", "markdown", "json")


class QueryError(ValueError):
    """A query that cannot run; the message says why and how to fix it."""


def _cell(value: object) -> str:
    return "NULL" if value is None else str(value)


def _render(columns: list[str], rows: list[tuple], fmt: str) -> str:
    """Every row and every column, never truncated."""
    if fmt == "json":
        return json.dumps(
            [dict(zip(columns, row, strict=True)) for row in rows],
            default=str,
            indent=2,
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(value) for value in row] for row in rows]
    if fmt == "markdown":

        def line(values: list[str]) -> str:
            escaped = (v.replace("|", "\\|").replace("\n", " ") for v in values)
            return "| " + " | ".join(escaped) + " |"

        body = [line(columns), "|" + "|".join("---" for _ in columns) + "|"]
        return "\n".join(body + [line(row) for row in cells])
    widths = [
        max([len(name), *(len(row[i]) for row in cells)])
        for i, name in enumerate(columns)
    ]
    rule = "+-" + "-+-".join("-" * width for width in widths) + "-+"

    def row_line(values: list[str]) -> str:
        return (
            "| "
            + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))
            + " |"
        )

    lines = [rule, row_line(columns), rule, *(row_line(row) for row in cells), rule]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def query(database: Path, sql: str, fmt: str = "table") -> str:
    """Run every statement of `sql` on the warehouse, read-only, and render
    each result in full (``table``, ``csv``, ``markdown`` or ``json``)."""
    if fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if not sql.strip():
        raise QueryError(
            'no SQL given: make query SQL="select * from marts.arm_metrics" '
            "(or SQL_FILE=query.sql)."
        )
    if not database.exists():
        raise FileNotFoundError(
            f"No warehouse at {database}: run `make run` (demo data) or "
            "`make load DATA=<dir>` then `make build`."
        )
    outputs = []
    with duckdb.connect(str(database), read_only=True) as con:
        statements = con.extract_statements(sql)
        if not statements:
            raise QueryError("the SQL holds no statement (only comments or ';').")
        for statement in statements:
            cursor = con.execute(statement)
            if cursor.description is None:
                outputs.append("OK")
                continue
            columns = [column[0] for column in cursor.description]
            outputs.append(_render(columns, cursor.fetchall(), fmt))
    return "\n\n".join(outputs)


def _read_sql(args: argparse.Namespace) -> str:
    if args.file is not None:
        try:
            return args.file.read_text(encoding="utf-8")
        except OSError as error:
            raise QueryError(
                f"cannot read the SQL file {args.file}: {error.strerror}."
            ) from error
    if args.sql_env:
        return os.environ.get(args.sql_env, "")
    return args.sql or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary_parser = commands.add_parser("summary", help="describe a built warehouse")
    query_parser = commands.add_parser("query", help="run one read-only SQL query")
    query_parser.add_argument("sql", nargs="?", default=None, help="the SQL")
    query_parser.add_argument(
        "--sql-env", default=None, help="read the SQL from this environment variable"
    )
    query_parser.add_argument(
        "--file", type=Path, default=None, help="read the SQL from this file"
    )
    query_parser.add_argument("--format", choices=FORMATS, default="table")
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
            print(query(args.database, _read_sql(args), args.format))
    except (FileNotFoundError, QueryError, duckdb.Error) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    return 0


def one_line(error: BaseException) -> str:
    """An error on one line: DuckDB's message and hints without the echoed
    SQL and caret lines (``LINE 1: ...``) that follow them."""
    kept = []
    for line in str(error).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            kept.append(line.strip())
    return " ".join(kept) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
