"""Frame conversion at the edge of the marts: frames in, records, frames out.

The dbt Python models and the Spark path hand the mart builders pandas
frames; the builders work on records (dicts with missing values as None) and
return a frame typed by the mart's declared columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from xpkit.settings import DEFAULT_ALPHA
from xpkit.stats.numbers import finite, is_missing

__all__ = ["alpha_or_default", "clean", "native", "records", "to_pandas", "typed_frame"]


def clean(value: Any) -> Any:
    """None for missing values (None, NaN, NaT, pandas NA); the value otherwise."""
    return None if is_missing(value) else value


def native(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds; other values unchanged."""
    return value.item() if hasattr(value, "item") else value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as dicts with missing values as None."""
    return [
        {key: clean(value) for key, value in row.items()}
        for row in frame.to_dict("records")
    ]


def typed_frame(rows: list[dict[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    """The rows as a frame with exactly ``columns`` (name -> pandas dtype)."""
    data = {
        name: pd.array([row.get(name) for row in rows], dtype=dtype)
        for name, dtype in columns.items()
    }
    return pd.DataFrame(data, columns=list(columns))


def alpha_or_default(value: Any) -> float:
    """The experiment's alpha; ``DEFAULT_ALPHA`` when empty or not in (0, 1)."""
    alpha = finite(value)
    return alpha if alpha is not None and 0 < alpha < 1 else DEFAULT_ALPHA


def to_pandas(relation: Any) -> pd.DataFrame:
    """A pandas frame of a frame, a pyarrow table or a relation with
    ``to_arrow_table`` (a DuckDB relation, as ``dbt.ref`` returns)."""
    if isinstance(relation, pd.DataFrame):
        return relation
    if hasattr(relation, "to_arrow_table"):
        relation = relation.to_arrow_table()
    return relation.to_pandas()
