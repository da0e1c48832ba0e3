"""Compare a table built on two engines, cell by cell: the engine-parity check
of test_spark_parity.py (and of anyone comparing a Spark build with DuckDB's).

Text, booleans, timestamps and integers must be equal; floating-point numbers
equal to ``rel_tol`` relative (the engines sum in different orders, so the last
bits differ); nulls only where the other side has a null (NaN matches NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of comparing one table.

    Attributes:
        table: The table compared.
        rows: Rows on each side (when equal) or on the left.
        cells: Cells compared.
        differences: One line per difference (empty when the tables agree).
    """

    table: str
    rows: int
    cells: int
    differences: tuple[str, ...]


def _family(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    # Object and string columns: what their values are. Whole-number decimals
    # are integers: DuckDB sums integers into HUGEINT (DECIMAL(38,0) in Arrow),
    # Spark into BIGINT.
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "decimal" and all(value == int(value) for value in series.dropna()):
        return "integer"
    return {
        "string": "text",
        "empty": "empty",
        "floating": "float",
        "mixed-integer-float": "float",
        "datetime": "timestamp",
        "datetime64": "timestamp",
    }.get(kind, kind)


def _is_null(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _cells_equal(left: object, right: object, is_float: bool, rel_tol: float) -> bool:
    if _is_null(left) or _is_null(right):
        # NaN is a value, distinct from a null; both engines keep NaN.
        return (_is_nan(left) and _is_nan(right)) or (
            _is_null(left)
            and _is_null(right)
            and not _is_nan(left)
            and not _is_nan(right)
        )
    if is_float:
        left, right = float(left), float(right)
        if math.isinf(left) or math.isinf(right):
            return left == right
        return math.isclose(left, right, rel_tol=rel_tol, abs_tol=0.0)
    return bool(left == right)


def _sort_key(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    # Nulls sort last and floats are rounded for ordering only, so rows pair up
    # even when the last bits of a float differ between engines.
    keys = pd.DataFrame(index=frame.index)
    for column in columns:
        series = frame[column]
        if _family(series) == "float":
            keys[column] = series.astype("float64").round(6).astype("string")
        else:
            keys[column] = series.astype("string")
    return keys.fillna("\uffff")


def _paired(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    order = _sort_key(frame, keys)
    positions = np.lexsort([order[column].to_numpy() for column in reversed(keys)])
    return frame.iloc[positions].reset_index(drop=True)


def compare_tables(
    table: str,
    left: pd.DataFrame,
    right: pd.DataFrame,
    keys: Sequence[str] | None = None,
    rel_tol: float = REL_TOL,
    max_reported: int = 20,
) -> Comparison:
    """Compare ``left`` (the reference, e.g. DuckDB) with ``right`` (e.g. Spark).

    Args:
        table: Name used in the messages.
        left: The reference table.
        right: The table that must equal it.
        keys: Columns that identify a row; rows are paired by sorting on them
            (all columns when None: the tables are compared as multisets).
        rel_tol: Relative tolerance on floating-point columns.
        max_reported: Differences listed before the rest are only counted.

    Returns:
        The comparison; ``differences`` is empty when the tables agree.
    """
    differences: list[str] = []
    left_columns, right_columns = list(left.columns), list(right.columns)
    if left_columns != right_columns:
        only_left = sorted(set(left_columns) - set(right_columns))
        only_right = sorted(set(right_columns) - set(left_columns))
        differences.append(
            f"{table}: columns differ: only left {only_left}, only right "
            f"{only_right}, order left {left_columns} right {right_columns}"
        )
    if len(left) != len(right):
        differences.append(f"{table}: {len(left)} rows left, {len(right)} right")
    columns = [column for column in left_columns if column in right_columns]
    if differences:
        return Comparison(table, len(left), 0, tuple(differences))

    sort_columns = list(keys) if keys is not None else columns
    left_rows = _paired(left, sort_columns)
    right_rows = _paired(right, sort_columns)
    cells = 0
    found = 0
    for column in columns:
        left_family = _family(left_rows[column])
        right_family = _family(right_rows[column])
        nulls_only = "empty" in (left_family, right_family)
        if left_family != right_family and not nulls_only:
            differences.append(
                f"{table}.{column}: type {left_family} left, {right_family} right"
            )
            found += 1
            continue
        is_float = "float" in (left_family, right_family)
        left_values = left_rows[column].tolist()
        right_values = right_rows[column].tolist()
        for index, (a, b) in enumerate(zip(left_values, right_values, strict=True)):
            cells += 1
            if _cells_equal(a, b, is_float, rel_tol):
                continue
            found += 1
            if found <= max_reported:
                where = ", ".join(
                    f"{key}={left_rows.at[index, key]!r}" for key in sort_columns[:4]
                )
                differences.append(
                    f"{table}.{column} [{where}]: {a!r} left, {b!r} right"
                )
    if found > max_reported:
        differences.append(f"{table}: ... {found - max_reported} more differences")
    return Comparison(table, len(left), cells, tuple(differences))
