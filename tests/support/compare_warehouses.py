"""Compare every mart of two DuckDB warehouses cell by cell (by default
exactly, rel_tol 0): the before/after check of a change that must not move
the demo's figures (e.g. the declared unit attributes, issue 17).

    .venv/bin/python tests/support/compare_warehouses.py BEFORE.duckdb AFTER.duckdb

Prints one line per table (rows, cells, differences) and the totals; exits 1
when any table differs or exists on one side only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity import compare_tables  # noqa: E402


def _tables(path: str, schemas: list[str]) -> dict[str, object]:
    with duckdb.connect(path, read_only=True) as con:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in (select unnest(?)) order by 1",
            [schemas],
        ).fetchall()
        return {name: con.execute(f"select * from {name}").df() for (name,) in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--schemas", default="marts", help="comma-separated schemas")
    parser.add_argument("--rel-tol", type=float, default=0.0)
    args = parser.parse_args(argv)
    schemas = args.schemas.split(",")
    before, after = _tables(args.before, schemas), _tables(args.after, schemas)
    failed = False
    total_cells = 0
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            print(f"{name}: only in {'before' if name in before else 'after'}")
            failed = True
            continue
        result = compare_tables(name, before[name], after[name], rel_tol=args.rel_tol)
        total_cells += result.cells
        print(
            f"{name}: {result.rows} rows, {result.cells} cells, "
            f"{len(result.differences)} differences"
        )
        for line in result.differences:
            print(f"  {line}")
        failed = failed or bool(result.differences)
    print(
        f"{len(set(before) | set(after))} tables, {total_cells} cells compared: "
        f"{'DIFFERENT' if failed else 'equal'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
