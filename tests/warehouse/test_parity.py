"""The engine-parity check itself (tests/support/parity.py): it must catch any
difference test_spark_parity.py could meet. Fast, run by `make test-python`."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from parity import compare_tables


def _arms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment_id": pd.array(["E1", "E1", "E2"], dtype="string"),
            "variant": pd.array(["a", "b", None], dtype="string"),
            "n_units": pd.array([10, 12, 0], dtype="Int64"),
            "metric_sum": [3.25, 1e-300, float("nan")],
            "mean": pd.array([0.325, None, None], dtype="Float64"),
            "is_control": pd.array([True, False, None], dtype="boolean"),
            "first_at": pd.to_datetime(
                ["2024-10-01 08:00:00.123456", "2024-10-02 00:00:00.000000", None]
            ),
        }
    )


KEYS = ("experiment_id", "variant")


def test_compare_tables_equal_up_to_row_order_and_last_bits():
    left = _arms()
    right = left.iloc[::-1].reset_index(drop=True)
    right["metric_sum"] = right["metric_sum"] * (1 + 1e-12)
    result = compare_tables("arms", left, right, KEYS)
    assert result.differences == ()
    assert result.rows == 3
    assert result.cells == 21


@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("metric_sum", 0, 3.25 * (1 + 2e-9), "arms.metric_sum"),
        ("metric_sum", 1, 0.0, "arms.metric_sum"),
        ("metric_sum", 2, 0.0, "arms.metric_sum"),
        ("n_units", 1, 13, "arms.n_units"),
        ("mean", 1, 0.0, "arms.mean"),
        ("mean", 0, None, "arms.mean"),
        ("is_control", 0, False, "arms.is_control"),
        ("first_at", 0, pd.Timestamp("2024-10-01 08:00:00.123457"), "arms.first_at"),
    ],
)
def test_compare_tables_detects_a_perturbed_cell(column, row, value, expected):
    right = _arms()
    right.loc[row, column] = value
    result = compare_tables("arms", _arms(), right, KEYS)
    assert len(result.differences) == 1
    assert result.differences[0].startswith(expected)


def test_compare_tables_detects_missing_rows_columns_and_types():
    left = _arms()
    assert compare_tables("arms", left, left.iloc[:2], KEYS).differences
    assert compare_tables("arms", left, left.drop(columns="mean"), KEYS).differences
    as_text = left.assign(n_units=left["n_units"].astype("string"))
    (line,) = compare_tables("arms", left, as_text, KEYS).differences
    assert "type integer left, text right" in line


def test_compare_tables_without_keys_compares_multisets():
    left = pd.DataFrame({"reason_code": ["a", "a", "b"], "value": [1.0, 1.0, None]})
    same = left.iloc[[2, 0, 1]].reset_index(drop=True)
    assert compare_tables("q", left, same).differences == ()
    other = pd.DataFrame({"reason_code": ["a", "b", "b"], "value": [1.0, 1.0, None]})
    assert compare_tables("q", left, other).differences


def test_compare_tables_whole_decimals_equal_integers():
    # DuckDB's HUGEINT sums arrive as Decimal objects, Spark's as int64.
    left = pd.DataFrame({"k": ["a", "b"], "units": [Decimal(3), Decimal(40)]})
    right = pd.DataFrame({"k": ["a", "b"], "units": pd.array([3, 40], dtype="Int64")})
    assert compare_tables("t", left, right, ("k",)).differences == ()
    right.loc[1, "units"] = 41
    assert compare_tables("t", left, right, ("k",)).differences
    fractional = left.assign(units=[Decimal("3.5"), Decimal(40)])
    assert compare_tables("t", fractional, right, ("k",)).differences
