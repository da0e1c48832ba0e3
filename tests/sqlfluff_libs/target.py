"""Stand-in for dbt's target object, for sqlfluff's jinja templater only."""

type = "duckdb"  # noqa: A001 - mirrors dbt's target.type
name = "dev"
