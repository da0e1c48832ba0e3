"""Read what the report shows from a built warehouse (read-only).

Every table is optional: a relation that does not exist yet (for example a mart
added by a later change, or a warehouse built before it) is recorded as absent
and the page says "not available yet" instead of failing. Values come back as
plain Python objects (None for SQL NULL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from xpkit.io.manifest import git_commit, package_versions

__all__ = [
    "Provenance",
    "WarehouseData",
    "read_warehouse",
]


# Report name -> relations to try in order (the typed staging view first).
RELATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "experiments": (
        ("staging", "stg_registry__experiments"),
        ("registry", "experiments"),
    ),
    "experiment_variants": (
        ("staging", "stg_registry__experiment_variants"),
        ("registry", "experiment_variants"),
    ),
    "metrics": (("staging", "stg_registry__metrics"), ("registry", "metrics")),
    "experiment_metrics": (
        ("staging", "stg_registry__experiment_metrics"),
        ("registry", "experiment_metrics"),
    ),
    "experiment_results": (("marts", "experiment_results"),),
    "segment_results": (("marts", "segment_results"),),
    "assignment_balance": (("marts", "assignment_balance"),),
    "experiment_health": (("marts", "experiment_health"),),
    "arm_metrics_daily": (("marts", "arm_metrics_daily"),),
    "daily_results": (("marts", "daily_results"),),
    "experiment_power": (("marts", "experiment_power"),),
    "compliance_results": (("marts", "compliance_results"),),
    "experiment_decisions": (("marts", "experiment_decisions"),),
    "planned_assignment_balance": (("marts", "planned_assignment_balance"),),
    "experiment_cohorts": (("marts", "experiment_cohorts"),),
    "experiment_cate": (("marts", "experiment_cate"),),
    "experiment_portfolio": (("marts", "experiment_portfolio"),),
    "build_manifest": (("marts", "build_manifest"),),
    "experiment_value": (("marts", "experiment_value"),),
    "experiment_meta_analysis": (("marts", "experiment_meta_analysis"),),
    "experiment_results_history": (("marts", "experiment_results_history"),),
    "experiment_decisions_history": (("marts", "experiment_decisions_history"),),
    "load_log": (("raw", "_load_log"),),
}
# Schemas whose tables are the build's inputs, digested for reproducibility.
INPUT_SCHEMAS = ("raw", "registry")


@dataclass(frozen=True, slots=True)
class TableDigest:
    """Row count and order-independent content digest of one input table."""

    table: str
    row_count: int
    digest: str
    digest_at_build: str | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """What the report was built from, for the reproducibility block."""

    database: str
    built_at: datetime
    git_commit: str
    versions: dict[str, str]
    digests: list[TableDigest]
    load_log: list[dict[str, Any]] | None
    as_of: str | None


@dataclass
class WarehouseData:
    """The rows the report reads; a table is None when it does not exist."""

    tables: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Rows of a table ([] when absent)."""
        return self.tables.get(name) or []

    def has(self, name: str) -> bool:
        """True when the table exists in the warehouse (even if empty)."""
        return self.tables.get(name) is not None

    def for_experiment(self, name: str, experiment_id: Any) -> list[dict[str, Any]]:
        """Rows of a table for one experiment."""
        return [r for r in self.rows(name) if r.get("experiment_id") == experiment_id]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _relations(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    return {
        (schema, name)
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def read_warehouse(con: duckdb.DuckDBPyConnection) -> WarehouseData:
    """Every table the report shows, or None for the ones that do not exist."""
    present = _relations(con)
    data = WarehouseData()
    for name, candidates in RELATIONS.items():
        data.tables[name] = None
        found = next((c for c in candidates if c in present), None)
        if found is None:
            # Built into other schemas (a project that installs this one as a
            # dbt package decides them): the table in the one schema holding it.
            for _, table in candidates:
                schemas = sorted(s for s, t in present if t == table)
                if len(schemas) == 1:
                    found = (schemas[0], table)
                    break
        if found is not None:
            schema, table = found
            data.tables[name] = _fetch(
                con, f"select * from {_quote(schema)}.{_quote(table)}"
            )
            data.sources[name] = f"{schema}.{table}"
    return data


def table_digests(con: duckdb.DuckDBPyConnection) -> list[TableDigest]:
    """Row count and digest of every base table in the input schemas.

    The digest is the sum over rows of DuckDB's 64-bit hash of the row, exact
    in HUGEINT: independent of row order, sensitive to every value and to
    duplicated rows. It is the formula of the project macro ``table_digest``,
    so it can be compared with ``marts.build_manifest``.
    """
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_schema in ('raw', 'registry') "
        "and not starts_with(table_name, '_') order by 1, 2"
    ).fetchall()
    digests = []
    for schema, name in tables:
        found = con.execute(
            "select count(*), cast(coalesce(sum(hash(input_rows)), 0) as varchar) "
            f"from {_quote(schema)}.{_quote(name)} as input_rows"
        ).fetchone()
        assert found is not None  # an aggregate without group by: one row
        count, digest = found
        digests.append(TableDigest(f"{schema}.{name}", int(count), str(digest)))
    return digests


def _manifest_digests(data: WarehouseData) -> dict[str, str]:
    """Input digests recorded by the build (marts.build_manifest), by table."""
    digests = {}
    for row in data.rows("build_manifest"):
        if row.get("item_type") not in ("raw_table", "registry_table"):
            continue
        name = str(row.get("item_name"))
        key = name if "." in name else f"registry.{name}"
        digests[key] = str(row.get("value"))
    return digests


def _as_of(data: WarehouseData) -> str | None:
    for row in data.rows("build_manifest"):
        if row.get("item_type") == "build" and row.get("item_name") == "as_of":
            return None if row.get("value") in (None, "") else str(row["value"])
    for row in data.rows("experiment_decisions"):
        if row.get("decided_at") is not None:
            return str(row["decided_at"])[:19]
    return None


def provenance(
    con: duckdb.DuckDBPyConnection,
    data: WarehouseData,
    database: Path,
    project_dir: Path,
) -> Provenance:
    """Commit, versions, input digests and load log for the report's footer."""
    at_build = _manifest_digests(data)
    digests = [
        TableDigest(d.table, d.row_count, d.digest, at_build.get(d.table))
        for d in table_digests(con)
    ]
    return Provenance(
        database=database.name,
        built_at=datetime.now(UTC).replace(microsecond=0),
        git_commit=git_commit(project_dir),
        versions=package_versions(),
        digests=digests,
        load_log=data.tables.get("load_log"),
        as_of=_as_of(data),
    )
