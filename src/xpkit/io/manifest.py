"""The build manifest: what a warehouse build was made of (no I/O beyond asking
git and the installed package metadata).

Rows are (item_type, item_name, value, row_count). Item types:

- ``code``: ``git_commit`` (with ``-dirty`` when the work tree has changes).
- ``package``: the version of each package that shapes the figures.
- ``raw_table`` / ``registry_table``: an order-independent digest of each input
  table (computed in SQL) and its row count.
- ``build``: ``built_at`` and ``as_of``; the only rows that differ between two
  builds of the same inputs with the same code.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

PACKAGES = (
    "xpkit",
    "dbt-core",
    "dbt-duckdb",
    "duckdb",
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "statsmodels",
)
COLUMNS = {
    "item_type": "string",
    "item_name": "string",
    "value": "string",
    "row_count": "Int64",
}


def git_commit(directory: Path | None = None) -> str:
    """The checked-out commit of `directory` (default: cwd), or "unknown".

    A ``-dirty`` suffix marks uncommitted changes to tracked files. Read-only:
    ``--no-optional-locks`` keeps ``git status`` from writing the index.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=20,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    return f"{commit}-dirty" if dirty else commit


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" if absent)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_manifest(
    digests: pd.DataFrame,
    as_of: str | None = None,
    built_at: datetime | None = None,
    commit: str | None = None,
) -> pd.DataFrame:
    """The manifest rows for one build.

    Args:
        digests: Rows (item_type, item_name, row_count, digest) from SQL.
        as_of: The build's as-of time (var as_of), empty or None for "now".
        built_at: When the build ran (default: now, UTC).
        commit: The code version (default: ``git_commit()``).

    Returns:
        One row per item with the columns of ``COLUMNS``.
    """
    built_at = built_at or datetime.now(UTC).replace(tzinfo=None)
    rows: list[dict[str, object]] = [
        {
            "item_type": "code",
            "item_name": "git_commit",
            "value": commit or git_commit(),
        }
    ]
    rows += [
        {"item_type": "package", "item_name": name, "value": version}
        for name, version in package_versions().items()
    ]
    for row in digests.sort_values(["item_type", "item_name"]).to_dict("records"):
        rows.append(
            {
                "item_type": row["item_type"],
                "item_name": row["item_name"],
                "value": str(row["digest"]),
                "row_count": int(row["row_count"]),
            }
        )
    rows += [
        {"item_type": "build", "item_name": "built_at", "value": built_at.isoformat()},
        {"item_type": "build", "item_name": "as_of", "value": as_of or "now"},
    ]
    return pd.DataFrame(
        {
            name: pd.array([r.get(name) for r in rows], dtype=t)
            for name, t in COLUMNS.items()
        }
    )
