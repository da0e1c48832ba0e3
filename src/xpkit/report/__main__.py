"""``python -m xpkit.report [--database PATH] [--out DIR]``: write the report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import duckdb

from xpkit.report.pages import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.report",
        description="Write the static HTML experimentation report from a built "
        "warehouse: index.html (the portfolio) and one page per experiment.",
    )
    parser.add_argument(
        "--database",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "warehouse.duckdb")),
        help="DuckDB warehouse file (default: $DUCKDB_PATH, else warehouse.duckdb)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports"), help="output folder (reports)"
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=Path.cwd(),
        help="project checkout, for the git commit and the docs links (cwd)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no header and no line per page, only the closing line "
        "(make build uses it; VERBOSE=1 shows all)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if not args.quiet:
        print(f"==> Report from {args.database} into {args.out}/")
    try:
        log = (lambda line: None) if args.quiet else print
        index = build_report(args.database, args.out, args.project_dir, log=log)
    except (FileNotFoundError, LookupError, duckdb.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"Report written in {time.perf_counter() - started:.1f} s: "
        f"open {index.resolve()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
