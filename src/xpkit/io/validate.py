"""Great Expectations gates on a built warehouse: ``python -m xpkit.io.validate``.

``make validate`` runs it after ``make build``. The checks are dbt models
(``models/intermediate/checks/check_*.sql``, built from refs and the source
vars by ``dbt build``, on DuckDB and Spark); this module finds the tables that
build wrote (by name, in whichever schema ``generate_schema_name`` put them),
extracts them and the raw tables they name (the raw tables' columns only), and
runs the saved Great Expectations context in ``expectations/``: its checkpoint
``xp_gates`` validates each extract with its suite through a pandas datasource
(GX's SQL datasource returns wrong results on DuckDB) and writes the data docs.
It prints one line per check and subject. Exit codes: 0 every check passed, 1
a check failed (one message per failure: subject, check, observed value,
threshold, what to do), 2 a usage or configuration error (no warehouse, a
missing check table, a bad threshold or suite).

The checks (suite: subject): ``source_exposures``/``source_events``/
``source_units``: the raw table has its contract columns;
``raw_exposures``/``raw_events``/``raw_units``: quarantine share per raw table
and no usable row without a key; ``experiment_health``: every running
experiment has exposures, its units' latest usable event is within the
freshness limit of the as-of time, multi-variant share below the limit per
experiment; ``assignment_balance``: SRM p-value of every running or completed
experiment at least the limit; ``experiment_metrics``: every metric registered
for a running or completed experiment has a non-zero value in some analysed
unit's analysis window (each part of a ratio metric).

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
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from xpkit.report.templates import STYLE

__all__ = [
    "CHECKPOINT",
    "FRAMES",
    "SOURCE_FRAMES",
    "CheckLine",
    "ConfigError",
    "Frame",
    "evaluate",
    "find_check_tables",
    "load_suites",
    "load_thresholds",
    "main",
    "parse_as_of",
    "read_frames",
    "run_suites",
    "validate",
    "write_summary_page",
]

EXPECTATIONS_DIR = Path(__file__).resolve().parents[3] / "expectations"
DEFAULT_DOCS_DIR = Path("reports") / "data_docs"
SITE_NAME = "xp_gates"
CHECKPOINT = "xp_gates"
DATASOURCE = "gate_tables"
SUMMARY_PAGE = "gates.html"
# Every frame's rows are named by this column (the checkpoint's
# unexpected_index_column_names): an experiment, "experiment / metric" or a
# table as schema.table.
SUBJECT = "subject"
# What a previous run wrote into the docs dir (removed before writing anew, so
# that no page of an older run is left beside the new index).
DOCS_OUTPUTS = ("index.html", SUMMARY_PAGE, "validations", "expectations", "static")


class ConfigError(Exception):
    """A usage or configuration problem: the gates could not run (exit 2)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One table validated by the suite of the same name.

    Attributes:
        name: Suite, validation definition and data asset name.
        table: The dbt check model it is read from; for a source frame, the
            check model whose ``subject`` names the raw table.
    """

    name: str
    table: str


FRAMES: tuple[Frame, ...] = (
    Frame("raw_exposures", "check_raw_exposures"),
    Frame("raw_events", "check_raw_events"),
    Frame("raw_units", "check_raw_units"),
    Frame("experiment_health", "check_experiment_health"),
    Frame("assignment_balance", "check_assignment_balance"),
    Frame("experiment_metrics", "check_experiment_metrics"),
)
# The raw tables themselves: their columns, from an empty extract.
SOURCE_FRAMES: tuple[Frame, ...] = (
    Frame("source_exposures", "check_raw_exposures"),
    Frame("source_events", "check_raw_events"),
    Frame("source_units", "check_raw_units"),
)
ALL_FRAMES = SOURCE_FRAMES + FRAMES


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
    for frame in ALL_FRAMES:
        path = expectations_dir / "expectations" / f"{frame.name}.json"
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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def find_check_tables(
    con: duckdb.DuckDBPyConnection, schema: str | None = None
) -> dict[str, str]:
    """Each check model's table as ``"schema"."name"``, wherever dbt built it.

    The check models' schema follows ``generate_schema_name`` (the project's
    ``intermediate``, or a consumer project's own): they are looked up by name,
    in ``schema`` when given, and must be found exactly once.
    """
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_name like 'check\\_%' escape '\\'"
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table_schema, table_name in rows:
        if schema is None or table_schema == schema:
            found.setdefault(table_name, []).append(table_schema)
    tables, missing = {}, []
    for table in dict.fromkeys(frame.table for frame in FRAMES):
        schemas = sorted(found.get(table, []))
        if not schemas:
            missing.append(table)
        elif len(schemas) > 1:
            raise ConfigError(
                f"check table {table} is in several schemas ({', '.join(schemas)}): "
                "drop the stale one or pass --checks-schema"
            )
        else:
            tables[table] = f"{_quote(schemas[0])}.{_quote(table)}"
    if missing:
        where = f" in schema {schema}" if schema else ""
        raise ConfigError(
            f"has no table {', '.join(missing)}{where} (the dbt models of "
            "models/intermediate/checks): run `make build` (or `make run` for the "
            "demo) first"
        )
    return tables


def _read(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> pd.DataFrame:
    return con.execute(sql, params or None).df()


def read_frames(
    database: Path, as_of: datetime, checks_schema: str | None = None
) -> dict[str, pd.DataFrame]:
    """Every frame from the warehouse (read-only): the check tables, with the
    hours from each running experiment's latest event to ``as_of``, and an
    empty extract (columns only) of each raw table the checks name."""
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
        try:
            tables = find_check_tables(con, checks_schema)
        except ConfigError as error:
            raise ConfigError(f"warehouse {database} {error}") from None
        frames = {}
        for frame in FRAMES:
            sql = f"select * from {tables[frame.table]} order by {SUBJECT}"
            if frame.name == "experiment_health":
                sql = (
                    "select *, (epoch(cast($as_of as timestamp))"
                    " - epoch(last_event_at)) / 3600.0 as hours_since_last_event"
                    f" from ({sql})"
                )
                frames[frame.name] = _read(con, sql, as_of=as_of)
            else:
                frames[frame.name] = _read(con, sql)
        for frame in SOURCE_FRAMES:
            (subject,) = frames[FRAMES_BY_TABLE[frame.table]][SUBJECT]
            schema, _, name = subject.partition(".")
            try:
                columns = _read(
                    con, f"select * from {_quote(schema)}.{_quote(name)} limit 0"
                )
            except duckdb.Error as error:
                raise ConfigError(
                    f"warehouse {database}: cannot read raw table {subject} "
                    f"(named by {frame.table}): {error}"
                ) from None
            frames[frame.name] = columns.assign(**{SUBJECT: pd.Series(dtype="str")})
        return frames


FRAMES_BY_TABLE = {frame.table: frame.name for frame in FRAMES}


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
    expectations_dir: Path,
    thresholds: Mapping[str, float],
    docs_dir: Path,
    run_name: str,
) -> dict[str, Any]:
    """Run the saved checkpoint on the frames and build the data docs.

    The context in ``expectations_dir`` is copied to a scratch folder (GX
    writes its validation results beside its configuration), the frames are
    written there as Parquet files for the datasource ``gate_tables``, and the
    data docs site is pointed at ``docs_dir``. Returns the GX
    ``ExpectationSuiteValidationResult`` of each suite.
    """
    with warnings.catch_warnings():
        # GX imports pyspark when it is installed (the optional Spark extras),
        # and pyspark warns about the pandas version on import: noise on the
        # gates' stderr, which carries only their own failure messages.
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _prepare_docs_dir(docs_dir)
    with tempfile.TemporaryDirectory(prefix="xp-gates-") as scratch:
        root = Path(scratch) / "context"
        shutil.copytree(
            expectations_dir, root, ignore=shutil.ignore_patterns("uncommitted")
        )
        batches = Path(scratch) / "batches"
        batches.mkdir()
        for name, data in frames.items():
            data.to_parquet(batches / f"{name}.parquet", index=False)
        try:
            context = gx.get_context(mode="file", context_root_dir=str(root))
            checkpoint = context.checkpoints.get(CHECKPOINT)
            datasource = context.data_sources.get(DATASOURCE)
        except Exception as error:  # GX raises many kinds; all mean a bad context
            raise ConfigError(
                f"cannot load the Great Expectations context in {expectations_dir} "
                f"(checkpoint {CHECKPOINT}, datasource {DATASOURCE}): {error}"
            ) from error
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # In memory only: the saved context keeps its relative placeholders.
        # A filesystem datasource; GX's declared type is the generic one.
        datasource.base_directory = batches  # type: ignore[attr-defined]
        for asset in datasource.assets:
            datasource._build_data_connector(asset)
        sites = context.variables.config.data_docs_sites
        if sites is None or SITE_NAME not in sites:
            raise ConfigError(
                f"the Great Expectations context in {expectations_dir} has no data "
                f"docs site {SITE_NAME!r}: restore expectations/great_expectations.yml"
            )
        site = sites[SITE_NAME]
        site["store_backend"]["base_directory"] = str(docs_dir.resolve())
        names = [definition.name for definition in checkpoint.validation_definitions]
        if sorted(names) != sorted(frames):
            raise ConfigError(
                f"checkpoint {CHECKPOINT} in {expectations_dir} validates "
                f"{sorted(names)}, the gates extract {sorted(frames)}: add or remove "
                "the validation definitions to match"
            )
        result = checkpoint.run(
            expectation_parameters=dict(thresholds),
            run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)),
        )
    return {
        key.expectation_suite_identifier.name: value
        for key, value in result.run_results.items()
    }


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


def _columns_line(
    frame: Frame,
    data: pd.DataFrame,
    kwargs: Mapping[str, Any],
    meta: Mapping,
    result: Any,
) -> CheckLine:
    """The verdict of a table-columns expectation on a raw table's extract."""
    subject, check = data.attrs["subject"], meta.get("check", "columns")
    wanted = list(kwargs.get("column_set") or [])
    present = [str(column) for column in data.columns if column != SUBJECT]
    observed_by_gx = set(result.result.get("observed_value") or [])
    missing = [column for column in wanted if column not in observed_by_gx]
    rule = "has " + ", ".join(wanted)
    observed = f"missing {', '.join(missing)}" if missing else "all present"
    if result.success and not missing:
        return CheckLine("PASS", frame.name, check, subject, observed, rule)
    message = (
        f"{subject}: {meta.get('title', 'missing columns')} (missing "
        f"{', '.join(missing) or '?'}; has {', '.join(present) or 'no column'}). "
        f"{meta.get('action', '')}"
    ).strip()
    return CheckLine("FAIL", frame.name, check, subject, observed, rule, message)


def evaluate(frame: Frame, data: pd.DataFrame, suite_result: Any) -> list[CheckLine]:
    """One line per expectation and subject in its scope, from GX's verdicts.

    An expectation with no row in its scope (e.g. no running experiment) is
    one SKIP line: nothing was judged.
    """
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
        if kind == "expect_table_columns_to_match_set":
            lines.append(_columns_line(frame, data, kwargs, meta, result))
            continue
        column, rule = kwargs.get("column"), _rule(kind, kwargs)
        if column not in data.columns:
            raise ConfigError(
                f"suite {frame.name}, check {check}: only column expectations on "
                f"columns of the frame are supported ({kind}, column {column!r})"
            )
        failing = {
            str(row[SUBJECT])
            for row in result.result.get("unexpected_index_list") or []
        }
        found = []
        for row in _in_scope(data, kwargs).to_dict("records"):
            subject = key = str(row[SUBJECT])
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
                CheckLine("SKIP", frame.name, check, "-", "no rows in scope", rule)
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
    offline (the report's stylesheet inline), is the page the report links
    to, and links to GX's per-suite validation pages. It names the warehouse
    by file name only (no absolute paths in published pages).
    """
    links = []
    for frame in ALL_FRAMES:
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
    skipped = sum(line.status == "SKIP" for line in lines)
    counts = (
        f"{len(lines)} checks: {len(lines) - failures - skipped} passed, "
        f"{skipped} skipped, {failures} failed"
    )
    kind = "alert" if failures else "ok"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Data gates: {verdict}</title>
<style>
{STYLE}
tr.fail td {{ background: #fdecea; }} tr.skip td {{ color: #6b7280; }}
</style></head><body>
<header class="top"><div class="wrap">
<div class="sub"><a href="../index.html">← Portfolio</a></div>
<h1>Data gates: {verdict}</h1>
<div class="sub">{html.escape(counts)}</div>
</div></header>
<main class="wrap">
<section class="card" id="gates">
<h2>Checks</h2>
<div class="notice notice-{kind}">{html.escape(counts)}.</div>
<p class="small">{html.escape(header)}</p>
<div class="scroll"><table><thead><tr><th>Status</th><th>Suite</th><th>Check</th>
<th>Subject</th><th>Observed</th><th>Threshold</th><th>Failure and what to do</th>
</tr></thead><tbody>
{rows}
</tbody></table></div>
</section>
<section class="card" id="great-expectations">
<h2>Great Expectations</h2>
<p class="small">Validation pages per suite (static):</p>
<ul>{"".join(links)}</ul>
<p class="small">Great Expectations' own index, <a href="index.html">index.html</a>,
loads its scripts and styles from CDNs and needs network access.</p>
</section>
</main></body></html>
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
    checks_schema: str | None = None,
) -> list[CheckLine]:
    """Run every gate; raise ConfigError when they cannot run."""
    thresholds = load_thresholds(expectations_dir, environ)
    load_suites(expectations_dir, thresholds)
    frames = read_frames(database, as_of, checks_schema)
    results = run_suites(
        frames,
        expectations_dir,
        thresholds,
        docs_dir,
        f"as_of_{as_of:%Y%m%dT%H%M%S}",
    )
    lines = []
    for frame in ALL_FRAMES:
        data = frames[frame.name]
        if frame in SOURCE_FRAMES:
            (subject,) = frames[FRAMES_BY_TABLE[frame.table]][SUBJECT]
            data.attrs["subject"] = subject
        lines += evaluate(frame, data, results[frame.name])
    header = (
        f"Warehouse {database.name}, as of {as_of:%Y-%m-%d %H:%M:%S} UTC; thresholds "
        + ", ".join(f"{name} = {_format(value)}" for name, value in thresholds.items())
        + " (from expectations/config.json and env overrides)"
    )
    write_summary_page(docs_dir, lines, header)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.io.validate",
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
        help="the Great Expectations context: great_expectations.yml, suites, "
        f"checkpoint and config.json (default: {EXPECTATIONS_DIR})",
    )
    parser.add_argument(
        "--checks-schema",
        default=None,
        help="schema of the check tables (default: found by name in any schema)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no header and no PASS lines: only the checks that failed, warned "
        "or were skipped, and the summary (make build uses it; VERBOSE=1 shows all)",
    )
    args = parser.parse_args(argv)
    try:
        as_of = parse_as_of(args.as_of)
        if not args.quiet:
            print(
                f"==> Data gates on {args.database} as of "
                f"{as_of:%Y-%m-%d %H:%M:%S} UTC",
                flush=True,
            )
        lines = validate(
            args.database,
            args.docs_dir,
            as_of,
            args.expectations_dir,
            checks_schema=args.checks_schema,
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in lines:
        if not (args.quiet and line.status == "PASS"):
            print(line)
    failures = [line for line in lines if line.status == "FAIL"]
    docs = args.docs_dir / "index.html"
    summary = args.docs_dir / SUMMARY_PAGE
    print(
        f"{len(lines)} checks: {len(lines) - len(failures)} passed or skipped, "
        f"{len(failures)} failed. Data docs: {summary} and {docs} (GX)",
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
