"""Great Expectations gates on a built warehouse: ``python -m xpkit.validate``.

``make validate`` runs it after ``make build``. It reads small, aggregated frames
from the warehouse (DuckDB, read-only; the aggregation is SQL), validates each
against its suite in ``expectations/<name>.json`` with Great Expectations'
pandas datasource in an ephemeral context (GX's SQL datasource returns wrong
results on DuckDB), prints one line per check and subject, and writes GX data
docs. Exit codes: 0 every check passed, 1 a check failed (one message per
failure: subject, check, observed value, threshold, what to do), 2 a usage or
configuration error (no warehouse, a missing table, a bad threshold or suite).

The checks (suite: subject): ``raw_exposures``/``raw_events``/``raw_units``:
quarantine share per raw table and no usable row without a key;
``experiment_health``: every running experiment has exposures, its units' latest
usable event is within the freshness limit of the as-of time, multi-variant
share below the limit per experiment; ``assignment_balance``: SRM p-value of
every running or completed experiment at least the limit;
``experiment_metrics``: every metric registered for a running or completed
experiment has usable events from the experiment's units.

Data docs: GX's site (``index.html``, needs network for its scripts and styles;
the per-suite pages under ``validations/`` are static) and ``gates.html``, a
static page of every check line, in ``--docs-dir`` (default reports/data_docs).

Thresholds live in ``expectations/config.json``; the suites name them as
``{"$PARAMETER": name}`` and each can be overridden by an environment variable
(``XP_FRESHNESS_HOURS``, ``XP_MAX_QUARANTINE_SHARE``,
``XP_MAX_MULTI_VARIANT_SHARE``, ``XP_MIN_SRM_P_VALUE``).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

__all__ = [
    "FRAMES",
    "CheckLine",
    "ConfigError",
    "Frame",
    "evaluate",
    "load_suites",
    "load_thresholds",
    "main",
    "parse_as_of",
    "read_frames",
    "run_suites",
    "validate",
    "write_summary_page",
]

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
DEFAULT_DOCS_DIR = Path("reports") / "data_docs"
SITE_NAME = "xp_gates"
SUMMARY_PAGE = "gates.html"
# What a previous run wrote into the docs dir (removed before writing anew, so
# that no page of an older run is left beside the new index).
DOCS_OUTPUTS = ("index.html", SUMMARY_PAGE, "validations", "expectations", "static")


class ConfigError(Exception):
    """A usage or configuration problem: the gates could not run (exit 2)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One aggregated frame, validated by the suite of the same name.

    Attributes:
        name: Suite name and file stem in ``expectations/``.
        sql: DuckDB query; ``$as_of`` is bound to the as-of timestamp.
        id_columns: Columns naming a row's subject in messages and data docs.
        tables: Tables the query reads (checked before anything runs).
    """

    name: str
    sql: str
    id_columns: tuple[str, ...]
    tables: tuple[str, ...]


def _raw_table_sql(
    label: str,
    raw: str,
    quarantine: str,
    classified: str | None,
    keys: Sequence[str],
) -> str:
    usable = ""
    if classified:
        missing = "".join(
            f",\n        count(*) filter (where nullif(trim(cast({key} as varchar)),"
            f" '') is null) as usable_rows_without_{key}"
            for key in keys
        )
        usable = f""",
    usable as (
        select count(*) as usable_rows{missing}
        from {classified}
        where reason_code is null
    )"""
    return f"""
    with raw_rows as (
        select count(*) as raw_rows from {raw}
    ),
    quarantined as (
        select count(*) as quarantined_rows from {quarantine}
    ){usable}
    select
        '{label}' as table_name,
        raw_rows.raw_rows,
        quarantined.quarantined_rows,
        case
            when raw_rows.raw_rows > 0
                then quarantined.quarantined_rows / raw_rows.raw_rows
        end as quarantine_share{", usable.*" if classified else ""}
    from raw_rows
    cross join quarantined{" cross join usable" if classified else ""}
    """


EXPERIMENT_HEALTH_SQL = """
with running as (
    select experiment_id from marts.experiment_health where status = 'running'
),
latest_events as (
    select
        assignments.experiment_id,
        max(events.event_at) as last_event_at
    from intermediate.int_assignments_resolved as assignments
    inner join running
        on assignments.experiment_id = running.experiment_id
    inner join intermediate.int_events_classified as events
        on assignments.unit_id = events.unit_id
    where events.reason_code is null
    group by assignments.experiment_id
)
select
    health.experiment_id,
    health.status,
    health.units_exposed,
    health.multi_variant_units,
    health.multi_variant_share,
    health.exposure_rows_quarantined,
    latest_events.last_event_at,
    (epoch(cast($as_of as timestamp)) - epoch(latest_events.last_event_at))
        / 3600.0 as hours_since_last_event
from marts.experiment_health as health
left join latest_events
    on health.experiment_id = latest_events.experiment_id
order by health.experiment_id
"""

ASSIGNMENT_BALANCE_SQL = """
select
    experiment_id,
    any_value(status) as status,
    cast(sum(units) as bigint) as units,
    min(srm_p_value) as srm_p_value,
    any_value(srm_error_message) as srm_error_message
from marts.assignment_balance
group by experiment_id
order by experiment_id
"""

# A ratio metric reads the events of its numerator and denominator metrics.
EXPERIMENT_METRICS_SQL = """
with registered as (
    select
        experiment_metrics.experiment_id,
        metrics.metric_id,
        metrics.aggregation,
        metrics.event_name,
        metrics.numerator_metric_id,
        metrics.denominator_metric_id
    from registry.experiment_metrics as experiment_metrics
    inner join registry.metrics as metrics
        on experiment_metrics.metric_id = metrics.metric_id
),
components as (
    select experiment_id, metric_id, event_name
    from registered
    where aggregation is distinct from 'ratio'
    union all
    select
        ratios.experiment_id,
        ratios.metric_id,
        coalesce(
            parts.event_name,
            'no event_name for ' || coalesce(ratios.part_metric_id, 'a null metric id')
        ) as event_name
    from (
        select
            experiment_id,
            metric_id,
            unnest([numerator_metric_id, denominator_metric_id]) as part_metric_id
        from registered
        where aggregation = 'ratio'
    ) as ratios
    left join registry.metrics as parts
        on ratios.part_metric_id = parts.metric_id
),
wanted as (
    select distinct experiment_id, event_name from components
),
event_counts as (
    select
        assignments.experiment_id,
        events.event_name,
        count(*) as usable_events
    from intermediate.int_assignments_resolved as assignments
    inner join intermediate.int_events_classified as events
        on assignments.unit_id = events.unit_id
    inner join wanted
        on assignments.experiment_id = wanted.experiment_id
        and events.event_name = wanted.event_name
    where events.reason_code is null
    group by assignments.experiment_id, events.event_name
)
select
    components.experiment_id,
    components.metric_id,
    any_value(experiments.status) as status,
    coalesce(
        string_agg(distinct components.event_name, ', '
            order by components.event_name),
        '(none)'
    ) as event_names,
    cast(min(coalesce(event_counts.usable_events, 0)) as bigint) as usable_events
from components
inner join registry.experiments as experiments
    on components.experiment_id = experiments.experiment_id
left join event_counts
    on components.experiment_id = event_counts.experiment_id
    and components.event_name = event_counts.event_name
group by components.experiment_id, components.metric_id
order by components.experiment_id, components.metric_id
"""

CLASSIFIED_EXPOSURES = "intermediate.int_exposures_classified"
CLASSIFIED_EVENTS = "intermediate.int_events_classified"
ASSIGNMENTS = "intermediate.int_assignments_resolved"

FRAMES: tuple[Frame, ...] = (
    Frame(
        "raw_exposures",
        _raw_table_sql(
            "raw.exposures",
            "raw.exposures",
            "quarantine.quarantine_exposures",
            CLASSIFIED_EXPOSURES,
            ("experiment_id", "unit_id", "variant", "exposed_at"),
        ),
        ("table_name",),
        ("raw.exposures", "quarantine.quarantine_exposures", CLASSIFIED_EXPOSURES),
    ),
    Frame(
        "raw_events",
        _raw_table_sql(
            "raw.events",
            "raw.events",
            "quarantine.quarantine_events",
            CLASSIFIED_EVENTS,
            ("unit_id", "event_name", "event_at"),
        ),
        ("table_name",),
        ("raw.events", "quarantine.quarantine_events", CLASSIFIED_EVENTS),
    ),
    Frame(
        "raw_units",
        _raw_table_sql(
            "raw.units", "raw.units", "quarantine.quarantine_units", None, ()
        ),
        ("table_name",),
        ("raw.units", "quarantine.quarantine_units"),
    ),
    Frame(
        "experiment_health",
        EXPERIMENT_HEALTH_SQL,
        ("experiment_id",),
        ("marts.experiment_health", ASSIGNMENTS, CLASSIFIED_EVENTS),
    ),
    Frame(
        "assignment_balance",
        ASSIGNMENT_BALANCE_SQL,
        ("experiment_id",),
        ("marts.assignment_balance",),
    ),
    Frame(
        "experiment_metrics",
        EXPERIMENT_METRICS_SQL,
        ("experiment_id", "metric_id"),
        (
            "registry.experiment_metrics",
            "registry.metrics",
            "registry.experiments",
            ASSIGNMENTS,
            CLASSIFIED_EVENTS,
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class CheckLine:
    """The verdict of one check on one subject (an experiment, a table, ...).

    Attributes:
        status: ``PASS``, ``FAIL`` or ``SKIP`` (no value to judge).
        suite: Suite (and frame) name.
        check: The check's short name (``srm``, ``freshness``, ...).
        subject: The experiment, ``experiment / metric`` or table concerned.
        observed: ``column = value`` as printed.
        threshold: The rule the value must meet, thresholds resolved.
        message: For a failure: what is wrong and what to do.
    """

    status: str
    suite: str
    check: str
    subject: str
    observed: str
    threshold: str
    message: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.status:<4}  {self.check:<20} {self.subject:<36} "
            f"{self.observed}  (threshold: {self.threshold})"
        )


def load_thresholds(
    expectations_dir: Path, environ: Mapping[str, str] | None = None
) -> dict[str, float]:
    """Thresholds from ``config.json``, each overridable by its env variable."""
    environ = os.environ if environ is None else environ
    path = expectations_dir / "config.json"
    try:
        config = json.loads(path.read_text())
        entries = config["thresholds"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"cannot read thresholds from {path}: {error}") from error
    thresholds: dict[str, float] = {}
    for name, entry in entries.items():
        variable = entry.get("env")
        text = environ.get(variable, "") if variable else ""
        source = f"{variable}={text!r}" if text.strip() else f"{path}: {name}"
        raw = text if text.strip() else entry.get("value")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"threshold {name} ({source}) is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"threshold {name} ({source}) must be a finite number >= 0"
            )
        if name.endswith(("_share", "_p_value")) and value > 1:
            raise ConfigError(f"threshold {name} ({source}) must be between 0 and 1")
        thresholds[name] = value
    return thresholds


def _parameters(node: Any) -> set[str]:
    if isinstance(node, dict):
        if "$PARAMETER" in node:
            return {str(node["$PARAMETER"])}
        return set().union(*map(_parameters, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(_parameters, node)) if node else set()
    return set()


def load_suites(
    expectations_dir: Path, thresholds: Mapping[str, float]
) -> dict[str, dict]:
    """The suite JSON of every frame, checked for shape and known parameters."""
    suites: dict[str, dict] = {}
    for frame in FRAMES:
        path = expectations_dir / f"{frame.name}.json"
        try:
            suite = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read suite {path}: {error}") from error
        if suite.get("name") != frame.name or not suite.get("expectations"):
            raise ConfigError(
                f"{path} must hold a suite named {frame.name!r} with expectations"
            )
        unknown = _parameters(suite) - set(thresholds)
        if unknown:
            raise ConfigError(
                f"{path} uses unknown parameter(s) {sorted(unknown)}; define them "
                f"in {expectations_dir / 'config.json'}"
            )
        for expectation in suite["expectations"]:
            condition = expectation.get("kwargs", {}).get("row_condition")
            if condition is not None and not isinstance(condition, dict):
                raise ConfigError(
                    f"{path}: write row_condition as a GX Condition object, e.g. "
                    '{"type": "comparison", "column": {"name": "status"}, '
                    '"operator": "==", "parameter": "running"} (string conditions '
                    "are deprecated in GX 1.x)"
                )
        suites[frame.name] = suite
    return suites


def parse_as_of(text: str | None) -> datetime:
    """'YYYY-MM-DD HH:MM:SS' (UTC; an offset is converted), empty = now."""
    if text is None or not text.strip():
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"as-of {text!r} is not a timestamp like '2024-11-01 12:00:00' (UTC)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _missing_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    present = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }
    needed = dict.fromkeys(table for frame in FRAMES for table in frame.tables)
    return [table for table in needed if table not in present]


def read_frames(database: Path, as_of: datetime) -> dict[str, pd.DataFrame]:
    """Run every frame's query on the warehouse (read-only)."""
    if not database.exists():
        raise ConfigError(
            f"no warehouse at {database}: run `make run` (demo data) or "
            "`make load DATA=<dir>` then `make build` first, or pass --database"
        )
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error as error:
        raise ConfigError(f"cannot open warehouse {database}: {error}") from error
    with con:
        missing = _missing_tables(con)
        if missing:
            step = (
                "`make load DATA=<dir>` then `make build`"
                if any(table.startswith("raw.") for table in missing)
                else "`make build`"
            )
            raise ConfigError(
                f"warehouse {database} has no table {', '.join(missing)}: "
                f"run {step} (or `make run` for the demo) first"
            )
        return {
            frame.name: con.execute(
                frame.sql, {"as_of": as_of} if "$as_of" in frame.sql else None
            ).df()
            for frame in FRAMES
        }


def _prepare_docs_dir(docs_dir: Path) -> None:
    docs_dir.mkdir(parents=True, exist_ok=True)
    for name in DOCS_OUTPUTS:
        path = docs_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run_suites(
    frames: Mapping[str, pd.DataFrame],
    suites: Mapping[str, dict],
    thresholds: Mapping[str, float],
    docs_dir: Path,
    run_name: str,
) -> dict[str, Any]:
    """Validate each frame with its suite through GX and build the data docs.

    Returns the GX ``ExpectationSuiteValidationResult`` of each suite.
    """
    with warnings.catch_warnings():
        # GX imports pyspark when it is installed (the optional Spark extras),
        # and pyspark warns about the pandas version on import: noise on the
        # gates' stderr, which carries only their own failure messages.
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # The ephemeral context comes with a docs site in a fresh temp directory,
    # which build_data_docs would fill on every run: replace it by ours.
    for site_name in list(context.list_data_docs_sites()):
        context.delete_data_docs_site(site_name)
    _prepare_docs_dir(docs_dir)
    context.add_data_docs_site(
        SITE_NAME,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    datasource = context.data_sources.add_pandas("warehouse")
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    results = {}
    for frame in FRAMES:
        batch_definition = datasource.add_dataframe_asset(
            name=frame.name
        ).add_batch_definition_whole_dataframe("whole frame")
        suite = context.suites.add(gx.ExpectationSuite(**suites[frame.name]))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=frame.name, data=batch_definition, suite=suite)
        )
        results[frame.name] = definition.run(
            batch_parameters={"dataframe": frames[frame.name]},
            expectation_parameters=dict(thresholds),
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": list(frame.id_columns),
            },
            run_id=run_id,
        )
    context.build_data_docs(site_names=[SITE_NAME])
    return results


def _format(value: Any) -> str:
    if not isinstance(value, str) and pd.isna(value):
        return "null"
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return f"{value:.3g}"


def _bounds(kwargs: Mapping[str, Any]) -> tuple[Any, Any, bool, bool]:
    return (
        kwargs.get("min_value"),
        kwargs.get("max_value"),
        bool(kwargs.get("strict_min")),
        bool(kwargs.get("strict_max")),
    )


def _rule(kind: str, kwargs: Mapping[str, Any]) -> str:
    if kind == "expect_column_values_to_not_be_null":
        return "not null"
    if kind != "expect_column_values_to_be_between":
        return kind
    low, high, strict_low, strict_high = _bounds(kwargs)
    parts = []
    if low is not None:
        parts.append(f"{'>' if strict_low else '>='} {_format(low)}")
    if high is not None:
        parts.append(f"{'<' if strict_high else '<='} {_format(high)}")
    return " and ".join(parts)


def _breach(kind: str, kwargs: Mapping[str, Any], value: Any) -> str:
    """How a failing value breaks the rule, e.g. '< 0.001'."""
    if kind == "expect_column_values_to_not_be_null":
        return ""
    if kind != "expect_column_values_to_be_between" or _format(value) == "null":
        return f"(expected {_rule(kind, kwargs)})"
    low, high, strict_low, strict_high = _bounds(kwargs)
    if low is not None and (value < low or (strict_low and value == low)):
        return f"{'<=' if strict_low else '<'} {_format(low)}"
    return f"{'>=' if strict_high else '>'} {_format(high)}"


def _in_scope(data: pd.DataFrame, kwargs: Mapping[str, Any]) -> pd.DataFrame:
    """The rows an expectation judged: its row_condition, filtered as GX does."""
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.row_conditions import (
        deserialize_row_condition,
    )

    condition = deserialize_row_condition(kwargs.get("row_condition"))
    if condition is None:
        return data
    if isinstance(condition, str):
        return data.query(condition)
    return data.query(PandasExecutionEngine().condition_to_filter_clause(condition))


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _failure_message(
    subject: str, kind: str, kwargs: Mapping[str, Any], meta: Mapping, row: dict
) -> str:
    """'<subject>: <title> (<column> = <value> <breach>; <details>). <action>'."""
    column = kwargs["column"]
    breach = _breach(kind, kwargs, row[column])
    observed = f"{column} = {_format(row[column])}{' ' if breach else ''}{breach}"
    details = "".join(
        f"; {name} = {_format(row[name])}" for name in meta.get("details", [])
    )
    fields = _Fields({name: _format(value) for name, value in row.items()})
    action = meta.get("action", "").format_map(fields)
    title = meta.get("title", meta.get("check", kind))
    return f"{subject}: {title} ({observed}{details}). {action}".strip()


def evaluate(frame: Frame, data: pd.DataFrame, suite_result: Any) -> list[CheckLine]:
    """One line per expectation and subject in its scope, from GX's verdicts."""
    lines = []
    for result in suite_result.results:
        config = result.expectation_config
        kind, kwargs, meta = config.type, dict(config.kwargs), config.meta or {}
        check = meta.get("check", kind)
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise ConfigError(
                f"suite {frame.name}, check {check}: GX could not evaluate "
                f"{kind}: {result.exception_info.get('exception_message')}"
            )
        column, rule = kwargs.get("column"), _rule(kind, kwargs)
        if column not in data.columns:
            raise ConfigError(
                f"suite {frame.name}, check {check}: only column expectations on "
                f"columns of the frame are supported ({kind}, column {column!r})"
            )
        failing = {
            tuple(str(row[c]) for c in frame.id_columns)
            for row in result.result.get("unexpected_index_list") or []
        }
        found = []
        for row in _in_scope(data, kwargs).to_dict("records"):
            key = tuple(str(row[c]) for c in frame.id_columns)
            subject = " / ".join(key)
            observed = f"{column} = {_format(row[column])}"
            if key in failing:
                message = _failure_message(subject, kind, kwargs, meta, row)
                line = CheckLine(
                    "FAIL", frame.name, check, subject, observed, rule, message
                )
            elif _format(row[column]) == "null" and kind != (
                "expect_column_values_to_not_be_null"
            ):
                # GX's column-map expectations do not judge nulls.
                why = row.get("srm_error_message")
                observed += f" (not judged{': ' + why if why else ''})"
                line = CheckLine("SKIP", frame.name, check, subject, observed, rule)
            else:
                line = CheckLine("PASS", frame.name, check, subject, observed, rule)
            found.append(line)
        if not found:
            found.append(
                CheckLine("PASS", frame.name, check, "-", "no rows in scope", rule)
            )
        if not result.success and not any(line.status == "FAIL" for line in found):
            found.append(
                CheckLine(
                    "FAIL",
                    frame.name,
                    check,
                    "-",
                    json.dumps(result.result, default=str)[:200],
                    rule,
                    f"{frame.name}: {meta.get('title', check)} ({kind} on "
                    f"{column} failed). {meta.get('action', '')}".strip(),
                )
            )
        lines += found
    return lines


def write_summary_page(docs_dir: Path, lines: Sequence[CheckLine], header: str) -> Path:
    """A static page (no scripts, no network) listing every check line.

    GX's own index lists validations with JavaScript from CDNs; this page works
    offline and links to GX's per-suite validation pages.
    """
    links = []
    for frame in FRAMES:
        pages = sorted((docs_dir / "validations" / frame.name).rglob("*.html"))
        if pages:
            target = pages[-1].relative_to(docs_dir).as_posix()
            links.append(f'<li><a href="{html.escape(target)}">{frame.name}</a></li>')
    rows = "\n".join(
        f'<tr class="{line.status.lower()}"><td>{line.status}</td>'
        f"<td>{html.escape(line.suite)}</td><td>{html.escape(line.check)}</td>"
        f"<td>{html.escape(line.subject)}</td><td>{html.escape(line.observed)}</td>"
        f"<td>{html.escape(line.threshold)}</td>"
        f"<td>{html.escape(line.message or '')}</td></tr>"
        for line in lines
    )
    failures = sum(line.status == "FAIL" for line in lines)
    verdict = f"{failures} failed check(s)" if failures else "all checks passed"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Data gates: {verdict}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
tr.fail td {{ background: #fdd; }} tr.skip td {{ color: #777; }}
</style></head><body>
<h1>Data gates: {verdict}</h1>
<p>{html.escape(header)}</p>
<p>Great Expectations data docs: <a href="index.html">index.html</a>
(needs network access for its scripts); validation pages per suite:</p>
<ul>{"".join(links)}</ul>
<table><tr><th>Status</th><th>Suite</th><th>Check</th><th>Subject</th>
<th>Observed</th><th>Threshold</th><th>Failure and what to do</th></tr>
{rows}
</table></body></html>
"""
    path = docs_dir / SUMMARY_PAGE
    path.write_text(page, encoding="utf-8")
    return path


def validate(
    database: Path,
    docs_dir: Path,
    as_of: datetime,
    expectations_dir: Path = EXPECTATIONS_DIR,
    environ: Mapping[str, str] | None = None,
) -> list[CheckLine]:
    """Run every gate; raise ConfigError when they cannot run."""
    thresholds = load_thresholds(expectations_dir, environ)
    suites = load_suites(expectations_dir, thresholds)
    frames = read_frames(database, as_of)
    results = run_suites(
        frames, suites, thresholds, docs_dir, f"as_of_{as_of:%Y%m%dT%H%M%S}"
    )
    lines = []
    for frame in FRAMES:
        lines += evaluate(frame, frames[frame.name], results[frame.name])
    header = (
        f"Warehouse {database}, as of {as_of:%Y-%m-%d %H:%M:%S} UTC; thresholds "
        + ", ".join(f"{name} = {_format(value)}" for name, value in thresholds.items())
        + f" (from {expectations_dir / 'config.json'} and env overrides)"
    )
    write_summary_page(docs_dir, lines, header)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.validate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--database",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH") or "warehouse.duckdb"),
        help="warehouse file (default: env DUCKDB_PATH, else warehouse.duckdb)",
    )
    parser.add_argument(
        "--docs-dir",
        type=Path,
        default=DEFAULT_DOCS_DIR,
        help=f"where to write the data docs (default: {DEFAULT_DOCS_DIR})",
    )
    parser.add_argument(
        "--as-of",
        default=os.environ.get("XP_AS_OF", ""),
        help="'YYYY-MM-DD HH:MM:SS' UTC that freshness is measured from "
        "(default: env XP_AS_OF, else now)",
    )
    parser.add_argument(
        "--expectations-dir",
        type=Path,
        default=EXPECTATIONS_DIR,
        help=f"suites and config.json (default: {EXPECTATIONS_DIR})",
    )
    args = parser.parse_args(argv)
    try:
        as_of = parse_as_of(args.as_of)
        print(
            f"==> Data gates on {args.database} as of {as_of:%Y-%m-%d %H:%M:%S} UTC",
            flush=True,
        )
        lines = validate(args.database, args.docs_dir, as_of, args.expectations_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    failures = [line for line in lines if line.status == "FAIL"]
    docs = args.docs_dir / "index.html"
    summary = args.docs_dir / SUMMARY_PAGE
    print(
        f"{len(lines)} checks: {len(lines) - len(failures)} passed or skipped, "
        f"{len(failures)} failed. Data docs: {docs} (GX) and {summary}",
        flush=True,
    )
    if failures:
        print(f"\n{len(failures)} data gate(s) failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
