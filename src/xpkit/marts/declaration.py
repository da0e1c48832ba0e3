"""One declaration per Python mart: the relations it reads, the dbt vars it
takes and the columns it writes.

The dbt Python model (``python_models/marts/<name>.py``), the Spark path
(``xpkit.io.spark``) and the docs test all read the same ``MartDeclaration``.
dbt finds a model's refs and config keys by parsing its file for literal
``dbt.ref("...")`` and ``dbt.config.get("...")`` calls, so each model still
spells them out; ``tests/marts/test_declarations.py`` checks that they equal
the declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from xpkit.marts.frames import to_pandas
from xpkit.settings import VARS, Var

__all__ = ["MartDeclaration", "experiment_list", "read_var"]

_BLANK = (None, "", "none", "None", "null")


def experiment_list(value: Any) -> list[str]:
    """Experiment ids from a dbt var value: a list, or a comma-separated string
    (how a list reaches a Python model through ``config``)."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return sorted({str(v).strip() for v in value if str(v).strip()})
    text = str(value).strip().strip("[]")
    items = (part.strip().strip("'\"") for part in text.split(","))
    return sorted({item for item in items if item})


def read_var(var: Var, raw: Any) -> Any:
    """A dbt var's value as its declared kind; ``var.default`` when not set.

    Raises:
        ValueError: When the value cannot be read as the var's kind; the
            message names the var.
    """
    if var.kind == "list":
        return tuple(experiment_list(var.default if raw is None else raw))
    if var.kind == "number_or_empty":
        value = var.default if raw is None else raw
        return value if value in _BLANK else _convert(var, float, value)
    if raw is None or (var.kind != "str" and raw == ""):
        raw = var.default
    if var.kind == "str":
        return str(raw).strip()
    if var.kind == "int":
        return _convert(var, lambda v: int(str(v).strip()), raw)
    if var.kind == "float":
        return _convert(var, float, raw)
    if var.kind == "yaml":
        return raw
    raise ValueError(f"var {var.name}: unknown kind {var.kind!r}")


def _convert(var: Var, kind: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"var {var.name} = {raw!r} is not a {var.kind} "
            f"(dbt_project.yml vars or --vars; default {var.default!r})"
        ) from None


@dataclass(frozen=True, slots=True)
class MartDeclaration:
    """A Python mart: what it reads, what it takes, what it writes.

    Attributes:
        name: The model and table name, in schema ``marts``.
        inputs: The relations it refs, as ``schema.relation`` (the schema is
            where the Spark path finds them).
        settings: The dbt vars it reads (keys of ``xpkit.settings.VARS``).
        columns: Its output columns, name -> pandas dtype, in order.
        build: The builder: frames by relation name and typed settings by var
            name -> the mart's frame.
    """

    name: str
    inputs: tuple[str, ...]
    settings: tuple[str, ...]
    columns: Mapping[str, str]
    build: Callable[[Mapping[str, pd.DataFrame], Mapping[str, Any]], pd.DataFrame]

    @property
    def refs(self) -> tuple[str, ...]:
        """The relation names the dbt model refs (``inputs`` without schema)."""
        return tuple(item.split(".", 1)[-1] for item in self.inputs)

    def typed_settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The declared settings read from ``values`` (var name -> raw value;
        missing or None -> the default of ``xpkit.settings``)."""
        return {name: read_var(VARS[name], values.get(name)) for name in self.settings}

    def run(self, inputs: Mapping[str, Any], values: Mapping[str, Any]) -> pd.DataFrame:
        """The mart from its inputs (frames, or relations with
        ``to_arrow_table``, by relation name) and raw var values.

        Raises:
            ValueError: When an input is missing or the builder's columns
                differ from the declared ones.
        """
        missing = [ref for ref in self.refs if ref not in inputs]
        if missing:
            raise ValueError(f"mart {self.name}: inputs {missing} not given")
        frames = {ref: to_pandas(inputs[ref]) for ref in self.refs}
        out = self.build(frames, self.typed_settings(values))
        if list(out.columns) != list(self.columns):
            raise ValueError(
                f"mart {self.name}: built columns {list(out.columns)} differ from "
                f"the declared {list(self.columns)} (src/xpkit/marts/{self.name}.py)"
            )
        return out
