"""Load raw experiment data (CSV or Parquet) into the warehouse's ``raw`` schema.

``python -m xpkit.io.load <dir> [--database PATH]`` (``make load DATA=<dir>``) reads
``<dir>/exposures.*``, ``<dir>/events.*`` and the optional ``<dir>/units.*``, each
one of ``.csv``, ``.csv.gz`` or ``.parquet``, into ``raw.exposures``, ``raw.events``
and ``raw.units`` (SPEC section 3). DuckDB reads the files; no data passes through
Python.

Rules:

* Column names must match the contract exactly (case-sensitive, no surrounding
  spaces); a near miss is reported with a "did you mean" hint instead of being
  renamed silently, so the raw table always mirrors the file.
* Ids and names (``experiment_id``, ``unit_id``, ``variant``, ``event_name``) become
  VARCHAR; CSV text is kept exactly as written (``'007'`` stays ``'007'``).
* ``exposed_at``/``event_at`` become TIMESTAMP in UTC: offsets and Parquet
  TIMESTAMP WITH TIME ZONE are converted, naive values are taken as UTC, dates
  become midnight. ``value`` becomes DOUBLE.
* Row-level problems are left to staging: when only some values of a timestamp or
  value column parse, the column stays VARCHAR (parseable values rewritten in the
  canonical form of the typed value, the others verbatim) and a warning is printed.
  When none parse, the load stops.
* Extra CSV columns get a type only when every value fits it losslessly (BIGINT,
  DOUBLE, BOOLEAN, DATE, TIMESTAMP); columns named ``*_id`` and numbers with
  leading zeros stay text. Extra Parquet columns keep their types.
* Column names may not contain a double quote, a backtick or a control
  character (a newline, a tab): the file is refused with the column's name, since
  such a name cannot be pasted safely into the SQL that dbt writes.
* A ``.csv.gz`` file is decompressed once in full before anything is loaded, so
  that a damaged file (a wrong CRC, a truncated stream) is refused instead of
  loading part of it; Parquet pages that carry checksums are verified the same
  way.
* Everything is validated before the database is opened; the tables and one
  ``raw._load_log`` row per table are then written in a single transaction, so a
  failed load leaves the previous raw tables exactly as they were.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import sys
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from xpkit import __version__

__all__ = [
    "LoadError",
    "LoadSummary",
    "TableLoad",
    "default_database",
    "load_raw",
    "main",
]

SCHEMA = "raw"
LOAD_LOG = "_load_log"
SUFFIXES = (".csv", ".csv.gz", ".parquet")
TABLES = ("exposures", "events", "units")
OPTIONAL_TABLES = frozenset({"units"})

# Required columns per table and the kind of value each must hold.
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "exposures": (
        ("experiment_id", "id"),
        ("unit_id", "id"),
        ("variant", "id"),
        ("exposed_at", "timestamp"),
    ),
    "events": (
        ("unit_id", "id"),
        ("event_name", "id"),
        ("event_at", "timestamp"),
        ("value", "number"),
    ),
    "units": (("unit_id", "id"),),
}

EXPECTED = {
    "timestamp": (
        "timestamps (such as 2024-10-01 12:00:00, 2024-10-01T12:00:00+02:00 "
        "or 2024-10-01)"
    ),
    "number": "numbers (such as 3, 0.25 or 1e3, with '.' as the decimal point)",
}
KIND_NOUN = {"timestamp": "timestamps", "number": "numbers"}
TYPED_KIND = {"timestamp": "TIMESTAMP", "number": "DOUBLE"}

CSV_DELIMITERS = (",", ";", "\t", "|")
N_EXAMPLES = 3

_INT_RE = r"^\s*[+-]?[0-9]+\s*$"
_NUM_RE = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
_LEADING_ZERO_RE = r"^\s*[+-]?0[0-9]"
_DATE_RE = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$"
_TS_RE = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"

_INTEGER_TYPES = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    }
)
_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})
_NAIVE_TIMESTAMP_TYPES = frozenset(
    {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"}
)
_NULL_TYPE = '"NULL"'


class LoadError(ValueError):
    """A load that cannot proceed; the message names the file, column and fix."""


@dataclass(frozen=True, slots=True)
class TableLoad:
    """What one raw table received.

    Attributes:
        table: Qualified table name, e.g. ``raw.events``.
        source: The file read, or None for an absent optional file.
        file_format: ``"csv"``, ``"parquet"`` or None.
        rows: Rows written.
        columns: ``(name, DuckDB type)`` pairs in table order.
        text_columns: Timestamp/value columns kept as VARCHAR because some values
            do not parse.
    """

    table: str
    source: Path | None
    file_format: str | None
    rows: int
    columns: tuple[tuple[str, str], ...]
    text_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """The outcome of a successful load."""

    database: Path
    data_dir: Path
    load_id: str
    loaded_at: datetime
    tables: tuple[TableLoad, ...]
    warnings: tuple[str, ...] = ()

    def table(self, name: str) -> TableLoad:
        """Return the entry for ``name`` (``"events"`` or ``"raw.events"``)."""
        qualified = name if "." in name else f"{SCHEMA}.{name}"
        for entry in self.tables:
            if entry.table == qualified:
                return entry
        raise KeyError(name)


@dataclass(slots=True)
class _Plan:
    """A validated table: the SELECT that produces it and what was learned."""

    table: str
    source: Path | None
    file_format: str | None
    select_sql: str
    rows: int
    column_names: list[str]
    text_columns: list[str] = field(default_factory=list)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _examples(values: Sequence[object]) -> str:
    shown = []
    for value in values:
        text = repr(value if isinstance(value, str) else str(value))
        shown.append(text if len(text) <= 60 else text[:57] + "...'")
    return ", ".join(shown)


def _duckdb_reason(error: Exception) -> str:
    """The informative head of a DuckDB error (its 'Possible fixes' are for SQL)."""
    lines = []
    for raw_line in str(error).splitlines():
        line = raw_line.strip()
        if line.lower().startswith(("possible fix", "possible solution", "* ")):
            break
        if line:
            lines.append(line)
        if len(lines) == 4:
            break
    return " | ".join(lines) or type(error).__name__


def _connect_scratch() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    _configure(con)
    return con


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    # Naive timestamp strings are parsed as TIMESTAMPTZ in the session time zone,
    # so the session must be UTC for "naive means UTC" to hold on every machine.
    con.execute("SET TimeZone = 'UTC'")


# --------------------------------------------------------------------------- files


def _near_misses(data_dir: Path, table: str) -> list[str]:
    """Files that look meant for ``table`` but do not have an accepted name."""
    accepted = {f"{table}{suffix}" for suffix in SUFFIXES}
    stem = table.rstrip("s").lower()
    return sorted(
        path.name
        for path in data_dir.iterdir()
        if path.name.lower().startswith(stem) and path.name not in accepted
    )


def _find_source(data_dir: Path, table: str) -> Path | None:
    candidates = [data_dir / f"{table}{suffix}" for suffix in SUFFIXES]
    for path in candidates:
        if path.is_dir():
            raise LoadError(
                f"{path}: is a folder; the loader reads one file per table "
                f"(e.g. a single {table}.parquet). Combine the parts into one file."
            )
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        names = " and ".join(path.name for path in found)
        raise LoadError(
            f"{data_dir}: found {names} for {SCHEMA}.{table}; keep exactly one "
            f"{table} file in the folder."
        )
    if found:
        return found[0]
    if table in OPTIONAL_TABLES:
        return None
    patterns = ", ".join(f"{table}{suffix}" for suffix in SUFFIXES)
    near = _near_misses(data_dir, table)
    hint = (
        f" Found {', '.join(near)}: rename it to one of those names (lower case;"
        " CSV or Parquet)."
        if near
        else ""
    )
    raise LoadError(f"{data_dir}: no {table} file; looked for {patterns}.{hint}")


def _file_format(path: Path) -> str:
    return "parquet" if path.name.endswith(".parquet") else "csv"


def _read_csv_header(path: Path, table: str) -> tuple[list[str], str]:
    """Column names and delimiter, from the header line (read by Python).

    DuckDB's sniffer is not used: it can treat lines starting with '#' as comments
    (silently dropping them) and pick a different dialect for ragged files.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    required = ",".join(name for name, _ in REQUIRED[table])
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            line = handle.readline()
            rest = handle.read(4096) if not line.strip() else ""
    except UnicodeDecodeError as error:
        raise LoadError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); "
            "save the file as UTF-8."
        ) from error
    except (OSError, EOFError) as error:
        raise LoadError(f"{path}: cannot read this file as CSV: {error}") from error
    if not line.strip():
        if rest.strip():
            raise LoadError(
                f"{path}: the first line is blank; it must be the header row "
                f"(e.g. {required})."
            )
        raise LoadError(
            f"{path}: the file is empty; a CSV file needs at least a header row "
            f"(e.g. {required})."
        )
    header = line.rstrip("\r\n")
    if header.count('"') % 2:
        raise LoadError(
            f"{path}: a quoted column name in the header row goes on past the end "
            "of the line (it holds a line break); column names may not contain "
            "double quotes, backticks or control characters. Rename the column in "
            "the file."
        )
    counts = {delim: header.count(delim) for delim in CSV_DELIMITERS}
    delimiter = max(CSV_DELIMITERS, key=lambda delim: counts[delim])
    if counts[delimiter] == 0:
        delimiter = ","
    try:
        names = next(csv.reader([header], delimiter=delimiter))
    except csv.Error as error:
        raise LoadError(f"{path}: cannot parse the header row: {error}") from error
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise LoadError(
                f"{path}: header column {position} has no name (a trailing "
                f"{delimiter!r}?); every column needs a name."
            )
    _check_unique(path, names)
    _check_column_names(path, names)
    return names, delimiter


_BAD_NAME_CHARACTERS = {'"': "a double quote", "`": "a backtick"}


def _check_column_names(path: Path, names: Sequence[str]) -> None:
    """Refuse names that cannot be quoted safely in dbt's SQL."""
    for name in names:
        problem = next(
            (noun for char, noun in _BAD_NAME_CHARACTERS.items() if char in name),
            None,
        )
        if problem is None and any(ord(char) < 32 or ord(char) == 127 for char in name):
            problem = "a control character (such as a newline or a tab)"
        if problem is not None:
            raise LoadError(
                f"{path}: column {name!r} contains {problem}; column names may not "
                "contain double quotes, backticks or control characters. Rename "
                "the column in the file."
            )


def _check_gzip(path: Path) -> None:
    """Decompress the whole file once: a wrong CRC or a cut stream stops here."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as error:
        raise LoadError(
            f"{path}: the gzip file is damaged ({error}); nothing was loaded rather "
            "than part of it. Re-create or download the file again."
        ) from error


def _check_parquet_pages(path: Path) -> None:
    """Read every page once with checksum verification (pages written with
    checksums; pages without one cannot be checked)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
        for _ in parquet.iter_batches(batch_size=1 << 16):
            pass
    except (OSError, pa.ArrowException) as error:
        raise LoadError(
            f"{path}: the Parquet file is damaged ({str(error).splitlines()[0]}); "
            "nothing was loaded. Re-create or download the file again."
        ) from error


def _check_unique(path: Path, names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = name.lower()
        if key in seen:
            same = "twice" if seen[key] == name else f"as {seen[key]!r} and {name!r}"
            raise LoadError(
                f"{path}: column {name!r} appears {same}; column names must be "
                "unique (DuckDB ignores case in names)."
            )
        seen[key] = name


def _csv_reader(path: Path, names: Sequence[str], delimiter: str) -> str:
    columns = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in names)
    return (
        f"read_csv({_literal(str(path))}, columns = {{{columns}}}, header = true, "
        f"auto_detect = false, delim = {_literal(delimiter)}, quote = '\"', "
        "escape = '\"', comment = '', skip = 0, strict_mode = true, "
        "null_padding = false, allow_quoted_nulls = false)"
    )


def _parquet_reader(path: Path) -> str:
    return f"read_parquet({_literal(str(path))})"


def _check_required_columns(path: Path, table: str, names: Sequence[str]) -> None:
    present = set(names)
    missing = [name for name, _ in REQUIRED[table] if name not in present]
    if not missing:
        return
    problems = []
    for name in missing:
        near = [found for found in names if found.strip().lower() == name]
        if near:
            problems.append(f"{name!r} (did you mean {near[0]!r}?)")
        else:
            problems.append(repr(name))
    plural = "s" if len(missing) > 1 else ""
    needed = ", ".join(name for name, _ in REQUIRED[table])
    found = ", ".join(repr(name) for name in names)
    hint = (
        " Column names are case-sensitive and must not have surrounding spaces: "
        "rename the column in the file."
        if any("did you mean" in problem for problem in problems)
        else ""
    )
    raise LoadError(
        f"{path}: missing required column{plural} {', '.join(problems)}. "
        f"{SCHEMA}.{table} needs {needed}; the file has {found}.{hint}"
    )


# ----------------------------------------------------------------------- typing


def _parsed(kind: str, column: str) -> str:
    """SQL for the typed value of a text column, NULL where it does not parse."""
    if kind == "timestamp":
        return f"timezone('UTC', try_cast({column} AS TIMESTAMPTZ))"
    return f"try_cast({column} AS DOUBLE)"


def _text_kept(kind: str, column: str) -> str:
    """Canonical text of the typed value where it parses, the original otherwise.

    Canonical text makes ``try_cast(col AS TIMESTAMP)`` in staging give exactly
    what a typed column would have held: DuckDB's cast to TIMESTAMP ignores a UTC
    offset, so the original '...+02:00' text would be read two hours off.
    """
    parsed = _parsed(kind, column)
    return f"coalesce(CAST({parsed} AS VARCHAR), {column})"


def _first_failures(
    con: duckdb.DuckDBPyConnection, reader: str, condition: str, column: str
) -> list[str]:
    rows = con.execute(
        f"SELECT CAST({column} AS VARCHAR) FROM {reader} WHERE {condition} LIMIT 100"
    ).fetchall()
    distinct = list(dict.fromkeys(row[0] for row in rows))
    return distinct[:N_EXAMPLES]


class _Profiler:
    """Collects aggregate expressions so one scan answers every typing question."""

    def __init__(self) -> None:
        self.expressions: list[str] = ["count(*)"]

    def add(self, expression: str) -> int:
        self.expressions.append(expression)
        return len(self.expressions) - 1

    def run(self, con: duckdb.DuckDBPyConnection, reader: str) -> tuple:
        sql = f"SELECT {', '.join(self.expressions)} FROM {reader}"
        return _one_row(con, sql)


def _text_column_probe(profiler: _Profiler, kind: str, column: str) -> tuple[int, int]:
    return (
        profiler.add(f"count({column})"),
        profiler.add(f"count({_parsed(kind, column)})"),
    )


def _resolve_text_column(
    con: duckdb.DuckDBPyConnection,
    reader: str,
    path: Path,
    name: str,
    kind: str,
    non_null: int,
    parsed: int,
    plan: _Plan,
    warnings: list[str],
) -> str:
    """The select expression for a timestamp/value column read as text."""
    column = _ident(name)
    if parsed == non_null:
        return f"{_parsed(kind, column)}"
    failing = f"{column} IS NOT NULL AND {_parsed(kind, column)} IS NULL"
    examples = _examples(_first_failures(con, reader, failing, column))
    if parsed == 0:
        raise LoadError(
            f"{path}: column {name!r} must hold {EXPECTED[kind]}, but none of its "
            f"{non_null:,} non-empty values is one (e.g. {examples}). Check that "
            "this is the right column and fix its format in the file."
        )
    bad = non_null - parsed
    warning = (
        f"{path}: column {name!r}: {bad:,} of {non_null:,} non-empty values are "
        f"not {KIND_NOUN[kind]} (e.g. {examples}); the column is kept as text "
        "(VARCHAR) so that staging can quarantine those rows."
    )
    warnings.append(warning)
    plan.text_columns.append(name)
    return _text_kept(kind, column)


def _plan_csv(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, warnings: list[str]
) -> _Plan:
    names, delimiter = _read_csv_header(path, table)
    _check_required_columns(path, table, names)
    reader = _csv_reader(path, names, delimiter)
    kinds = dict(REQUIRED[table])

    profiler = _Profiler()
    probes: dict[str, dict[str, int]] = {}
    for name in names:
        column = _ident(name)
        kind = kinds.get(name)
        if kind == "id":
            continue
        if kind is not None:
            non_null, parsed = _text_column_probe(profiler, kind, column)
            probes[name] = {"non_null": non_null, "parsed": parsed}
            continue
        if _looks_like_id(name):
            continue
        probes[name] = {
            "non_null": profiler.add(f"count({column})"),
            "leading_zero": profiler.add(
                f"count(*) FILTER (regexp_matches({column}, '{_LEADING_ZERO_RE}'))"
            ),
            "BIGINT": profiler.add(
                f"count(*) FILTER (regexp_matches({column}, '{_INT_RE}') "
                f"AND try_cast({column} AS BIGINT) IS NOT NULL)"
            ),
            "DOUBLE": profiler.add(
                f"count(*) FILTER (regexp_matches({column}, '{_NUM_RE}') "
                f"AND try_cast({column} AS DOUBLE) IS NOT NULL)"
            ),
            "BOOLEAN": profiler.add(
                f"count(*) FILTER (lower(trim({column})) IN ('true', 'false'))"
            ),
            "DATE": profiler.add(
                f"count(*) FILTER (regexp_matches({column}, '{_DATE_RE}') "
                f"AND try_cast(trim({column}) AS DATE) IS NOT NULL)"
            ),
            "TIMESTAMP": profiler.add(
                f"count(*) FILTER (regexp_matches({column}, '{_TS_RE}') "
                f"AND {_parsed('timestamp', column)} IS NOT NULL)"
            ),
        }
    result = _run_profile(profiler, con, reader, path, "CSV")
    plan = _Plan(table, path, "csv", "", result[0], list(names))

    selects = []
    for name in names:
        column = _ident(name)
        kind = kinds.get(name)
        if name not in probes:
            expression = column
        elif kind is not None:
            counts = probes[name]
            expression = _resolve_text_column(
                con,
                reader,
                path,
                name,
                kind,
                result[counts["non_null"]],
                result[counts["parsed"]],
                plan,
                warnings,
            )
        else:
            counts = {key: result[index] for key, index in probes[name].items()}
            expression = _infer_extra(column, counts)
        selects.append(f"{expression} AS {column}")
    plan.select_sql = f"SELECT {', '.join(selects)} FROM {reader}"
    return plan


def _looks_like_id(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered == "id" or lowered.endswith("_id")


def _infer_extra(column: str, counts: dict[str, int]) -> str:
    """Type an extra CSV column only when every non-empty value fits losslessly."""
    non_null = counts["non_null"]
    if non_null == 0:
        return column
    numeric_ok = counts["leading_zero"] == 0
    if numeric_ok and counts["BIGINT"] == non_null:
        return f"CAST({column} AS BIGINT)"
    if numeric_ok and counts["DOUBLE"] == non_null:
        return f"CAST({column} AS DOUBLE)"
    if counts["BOOLEAN"] == non_null:
        return f"(lower(trim({column})) = 'true')"
    if counts["DATE"] == non_null:
        return f"CAST(trim({column}) AS DATE)"
    if counts["TIMESTAMP"] == non_null:
        return _parsed("timestamp", column)
    return column


def _run_profile(
    profiler: _Profiler,
    con: duckdb.DuckDBPyConnection,
    reader: str,
    path: Path,
    label: str,
) -> tuple:
    try:
        return profiler.run(con, reader)
    except duckdb.Error as error:
        raise LoadError(
            f"{path}: cannot read this file as {label}: {_duckdb_reason(error)}"
        ) from error


def _plan_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, warnings: list[str]
) -> _Plan:
    reader = _parquet_reader(path)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except duckdb.Error as error:
        raise LoadError(
            f"{path}: cannot read this file as Parquet: {_duckdb_reason(error)}"
        ) from error
    schema = {row[0]: row[1] for row in described}
    names = [row[0] for row in described]
    _check_unique(path, names)
    _check_column_names(path, names)
    _check_required_columns(path, table, names)
    kinds = dict(REQUIRED[table])

    profiler = _Profiler()
    probes: dict[str, tuple[int, int]] = {}
    for name in names:
        if kinds.get(name) in EXPECTED and schema[name] == "VARCHAR":
            probes[name] = _text_column_probe(profiler, kinds[name], _ident(name))
    result = _run_profile(profiler, con, reader, path, "Parquet")
    plan = _Plan(table, path, "parquet", "", result[0], list(names))

    selects = []
    for name in names:
        column = _ident(name)
        duck_type = schema[name]
        kind = kinds.get(name)
        if name in probes:
            non_null, parsed = (result[index] for index in probes[name])
            expression = _resolve_text_column(
                con, reader, path, name, kinds[name], non_null, parsed, plan, warnings
            )
        elif kind == "id":
            expression = _parquet_id(con, reader, path, name, duck_type, warnings)
        elif kind is not None:
            expression = _parquet_typed(con, reader, path, name, duck_type, kind)
        elif duck_type == _NULL_TYPE:
            expression = f"CAST({column} AS VARCHAR)"
        else:
            expression = column
        selects.append(f"{expression} AS {column}")
    plan.select_sql = f"SELECT {', '.join(selects)} FROM {reader}"
    return plan


def _is_nested(duck_type: str) -> bool:
    return duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP", "UNION"))


def _parquet_examples(con: duckdb.DuckDBPyConnection, reader: str, name: str) -> str:
    column = _ident(name)
    return _examples(_first_failures(con, reader, f"{column} IS NOT NULL", column))


def _parquet_id(
    con: duckdb.DuckDBPyConnection,
    reader: str,
    path: Path,
    name: str,
    duck_type: str,
    warnings: list[str],
) -> str:
    column = _ident(name)
    if duck_type == "VARCHAR":
        return column
    if duck_type in _FLOAT_TYPES:
        # pandas stores integer ids with missing values as float64; 7.0 means '7'.
        warnings.append(
            f"{path}: column {name!r} holds ids as floating-point numbers; "
            "whole numbers are loaded without '.0' (7.0 -> '7'). Store ids as "
            "strings or integers to avoid this."
        )
        return (
            f"CASE WHEN {column} = trunc({column}) AND abs({column}) < 1e18 "
            f"THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({column} AS VARCHAR) END"
        )
    if duck_type == "BLOB" or _is_nested(duck_type):
        raise LoadError(
            f"{path}: column {name!r} must hold ids as text or integers, but its "
            f"Parquet type is {duck_type} (e.g. "
            f"{_parquet_examples(con, reader, name)}). Write it as a string column."
        )
    return f"CAST({column} AS VARCHAR)"


def _parquet_typed(
    con: duckdb.DuckDBPyConnection,
    reader: str,
    path: Path,
    name: str,
    duck_type: str,
    kind: str,
) -> str:
    column = _ident(name)
    if duck_type == _NULL_TYPE:
        return f"CAST({column} AS {TYPED_KIND[kind]})"
    if kind == "timestamp":
        if duck_type == "TIMESTAMP WITH TIME ZONE":
            return f"timezone('UTC', {column})"
        if duck_type in _NAIVE_TIMESTAMP_TYPES:
            return f"CAST({column} AS TIMESTAMP)"
        hint = (
            " Epoch numbers are not accepted: convert them to timestamps first."
            if duck_type in _INTEGER_TYPES or duck_type in _FLOAT_TYPES
            else ""
        )
    else:
        if (
            duck_type in _INTEGER_TYPES
            or duck_type in _FLOAT_TYPES
            or duck_type.startswith("DECIMAL")
        ):
            return f"CAST({column} AS DOUBLE)"
        hint = ""
    raise LoadError(
        f"{path}: column {name!r} must hold {EXPECTED[kind]}, but its Parquet type "
        f"is {duck_type} (e.g. {_parquet_examples(con, reader, name)}).{hint}"
    )


def _empty_units_plan() -> _Plan:
    return _Plan(
        "units",
        None,
        None,
        "SELECT CAST(NULL AS VARCHAR) AS unit_id WHERE false",
        0,
        ["unit_id"],
    )


def _plan_table(
    con: duckdb.DuckDBPyConnection, data_dir: Path, table: str, warnings: list[str]
) -> _Plan:
    source = _find_source(data_dir, table)
    if source is None:
        near = _near_misses(data_dir, table)
        if near:
            warnings.append(
                f"{data_dir}: found {', '.join(near)} but no {table}.csv, "
                f"{table}.csv.gz or {table}.parquet; {SCHEMA}.{table} is left empty. "
                "Rename the file if it holds the units."
            )
        return _empty_units_plan()
    if source.stat().st_size == 0:
        required = ",".join(name for name, _ in REQUIRED[table])
        raise LoadError(
            f"{source}: the file is empty (0 bytes); it needs at least a header row "
            f"(e.g. {required})."
        )
    if _file_format(source) == "parquet":
        plan = _plan_parquet(con, source, table, warnings)
        _check_parquet_pages(source)
        return plan
    if source.name.endswith(".gz"):
        _check_gzip(source)
    return _plan_csv(con, source, table, warnings)


# ----------------------------------------------------------------------- writing


def _one_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The one row an aggregate query returns."""
    row = con.execute(sql).fetchone()
    if row is None:  # an aggregate without GROUP BY always returns a row
        raise RuntimeError(f"no row from: {sql}")
    return row


def _write_table(con: duckdb.DuckDBPyConnection, plan: _Plan) -> TableLoad:
    """Replace one raw table inside the caller's transaction."""
    target = f"{SCHEMA}.{_ident(plan.table)}"
    con.execute(f"CREATE OR REPLACE TABLE {target} AS {plan.select_sql}")
    rows = _one_row(con, f"SELECT count(*) FROM {target}")[0]
    if rows != plan.rows:
        raise LoadError(
            f"{plan.source}: read {plan.rows:,} rows while checking but {rows:,} "
            "while loading; did the file change during the load? Run it again."
        )
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [SCHEMA, plan.table],
    ).fetchall()
    return TableLoad(
        table=f"{SCHEMA}.{plan.table}",
        source=plan.source,
        file_format=plan.file_format,
        rows=rows,
        columns=tuple((name, data_type) for name, data_type in columns),
        text_columns=tuple(plan.text_columns),
    )


def _append_load_log(
    con: duckdb.DuckDBPyConnection,
    load_id: str,
    loaded_at: datetime,
    data_dir: Path,
    loads: Sequence[TableLoad],
) -> None:
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {SCHEMA}.{LOAD_LOG} (
            load_id VARCHAR,
            loaded_at TIMESTAMP,
            data_dir VARCHAR,
            table_name VARCHAR,
            source_file VARCHAR,
            source_format VARCHAR,
            source_bytes BIGINT,
            row_count BIGINT,
            column_count INTEGER,
            text_columns VARCHAR,
            loader_version VARCHAR
        )
        """
    )
    for entry in loads:
        con.execute(
            f"""
            INSERT INTO {SCHEMA}.{LOAD_LOG} (
                load_id, loaded_at, data_dir, table_name, source_file, source_format,
                source_bytes, row_count, column_count, text_columns, loader_version
            ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                load_id,
                loaded_at,
                str(data_dir),
                entry.table,
                str(entry.source.absolute()) if entry.source else None,
                entry.file_format,
                entry.source.stat().st_size if entry.source else None,
                entry.rows,
                len(entry.columns),
                ",".join(entry.text_columns) or None,
                __version__,
            ],
        )


def _write_all(
    database: Path, plans: Sequence[_Plan], data_dir: Path
) -> tuple[str, datetime, tuple[TableLoad, ...]]:
    existed = database.exists()
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(database))
    except (duckdb.Error, OSError) as error:
        reason = _duckdb_reason(error)
        hint = " Close the other program using it." if "lock" in reason.lower() else ""
        raise LoadError(
            f"cannot open the database {database}: {reason}.{hint}"
        ) from error
    load_id = uuid.uuid4().hex
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    committed = False
    try:
        _configure(con)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            loads = tuple(_write_table(con, plan) for plan in plans)
            _append_load_log(con, load_id, loaded_at, data_dir, loads)
            con.execute("COMMIT")
            committed = True
        except BaseException:
            # Undo every replaced table; the previous raw tables stay as they were.
            con.execute("ROLLBACK")
            raise
    except duckdb.Error as error:
        raise LoadError(
            f"writing the raw tables into {database} failed, nothing was changed: "
            f"{_duckdb_reason(error)}"
        ) from error
    finally:
        con.close()
        if not committed and not existed:
            # Leave no empty database file behind for a load that never happened.
            for leftover in (database, Path(f"{database}.wal")):
                leftover.unlink(missing_ok=True)
    return load_id, loaded_at, loads


# -------------------------------------------------------------------------- API


def _describe(plan: _Plan, data_dir: Path) -> str:
    target = f"{SCHEMA}.{plan.table}"
    if plan.source is None:
        return (
            f"{target:<14} <- no units.* file in {data_dir}: created empty "
            "(unit_id VARCHAR)"
        )
    columns = ", ".join(plan.column_names)
    text = (
        f"; kept as text: {', '.join(plan.text_columns)}" if plan.text_columns else ""
    )
    return (
        f"{target:<14} <- {plan.source} ({plan.file_format}): {plan.rows:,} rows, "
        f"{len(plan.column_names)} columns ({columns}){text}"
    )


def load_raw(data_dir: Path, database: Path, *, quiet: bool = False) -> LoadSummary:
    """Load ``data_dir``'s exposures, events and units files into ``raw``.

    Args:
        data_dir: Folder holding ``exposures.*``, ``events.*`` and optionally
            ``units.*`` (``.csv``, ``.csv.gz`` or ``.parquet``).
        database: DuckDB database file; created if missing.
        quiet: Do not print progress lines and warnings.

    Returns:
        What was loaded, with any warnings.

    Raises:
        LoadError: The data cannot be loaded; the database is unchanged.
    """
    data_dir = Path(data_dir)
    database = Path(database)
    if not data_dir.exists():
        raise LoadError(f"{data_dir}: no such folder.")
    if not data_dir.is_dir():
        raise LoadError(f"{data_dir}: not a folder; pass the folder holding the files.")

    warnings: list[str] = []
    plans = []
    con = _connect_scratch()
    try:
        for table in TABLES:
            already_warned = len(warnings)
            plan = _plan_table(con, data_dir, table, warnings)
            plans.append(plan)
            if not quiet:
                for warning in warnings[already_warned:]:
                    print(f"warning: {warning}", file=sys.stderr)
                print(_describe(plan, data_dir))
    finally:
        con.close()

    load_id, loaded_at, loads = _write_all(
        database.absolute(), plans, data_dir.absolute()
    )
    summary = LoadSummary(
        database=database.absolute(),
        data_dir=data_dir.absolute(),
        load_id=load_id,
        loaded_at=loaded_at,
        tables=loads,
        warnings=tuple(warnings),
    )
    if not quiet:
        names = ", ".join(entry.table for entry in loads)
        print(f"Loaded {names} into {summary.database}")
    return summary


def default_database() -> Path:
    """``$DUCKDB_PATH`` if set, else ``warehouse.duckdb`` in the current folder."""
    return Path(os.environ.get("DUCKDB_PATH") or "warehouse.duckdb")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.io.load",
        description=(
            "Load exposures.*, events.* and optional units.* (CSV, CSV.GZ or "
            "Parquet) from a folder into the raw schema of a DuckDB database, "
            "replacing the raw tables atomically."
        ),
    )
    parser.add_argument("data_dir", type=Path, help="folder holding the data files")
    parser.add_argument(
        "--database",
        type=Path,
        default=None,
        help="DuckDB file (default: $DUCKDB_PATH, else ./warehouse.duckdb)",
    )
    args = parser.parse_args(argv)
    database = args.database or default_database()
    try:
        load_raw(args.data_dir, database)
    except LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        print(
            f"Nothing was loaded; the raw tables in {database} are unchanged.",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
