"""What the demo's stories share: time units, the registry facts, the row
builder and the Arrow helpers.

Size: just past the project's ~400 lines: the registry facts and the row
builder every story uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "Builder",
    "CSAT_BASE",
    "DAY",
    "DEFAULT_SEED",
    "EVENT_BAD_KINDS",
    "EXPERIMENT_IDS",
    "EXPOSURE_BAD_KINDS",
    "FORMAT_VERSION",
    "HOUR",
    "MINUTE",
    "NULL_TIME",
    "N_DUPLICATE_EVENTS",
    "N_DUPLICATE_EXPOSURES",
    "REGISTRY",
    "TEAMS",
    "TEAM_SHARES",
    "UNREGISTERED",
    "Vocab",
    "add_duplicates",
    "assign_exact",
    "concat",
    "draw_scores",
    "drop_exact_duplicates",
    "multi_variant",
    "offsets",
    "rounded",
    "sigmoid",
    "strings",
    "tilted_probabilities",
    "timestamps",
    "trunc_exp",
    "us",
    "variant_counts",
    "write",
]

FORMAT_VERSION = 1


DEFAULT_SEED = 20241001


MINUTE = 60_000_000


HOUR = 60 * MINUTE


DAY = 24 * HOUR


NULL_TIME = np.iinfo(np.int64).max


# Bad-row kinds, by raw table; code 0 is a clean row.
EXPOSURE_BAD_KINDS = (
    "duplicate",
    "unknown_variant",
    "unknown_experiment",
    "null_timestamp",
    "out_of_range",
)


EVENT_BAD_KINDS = (
    "duplicate",
    "null_unit_id",
    "empty_unit_id",
    "null_timestamp",
    "future_timestamp",
    "negative_value",
)


EXPERIMENT_IDS = ("E001", "E002", "E003", "E004", "E005")


UNREGISTERED = "E099"


N_DUPLICATE_EXPOSURES = 24


N_DUPLICATE_EVENTS = 36


def us(text: str) -> int:
    """Microseconds since the epoch of an ISO date or datetime (UTC)."""
    return int(np.datetime64(text, "us").astype(np.int64))


def trunc_exp(
    rng: np.random.Generator, mean: float, upper: float | np.ndarray, size: int
) -> np.ndarray:
    """Exponential draws with the given mean, truncated to [0, upper)."""
    u = rng.random(size)
    return -mean * np.log1p(-u * -np.expm1(-np.asarray(upper) / mean))


def offsets(
    rng: np.random.Generator, span_us: float | np.ndarray, size: int
) -> np.ndarray:
    """Integer offsets uniform on [0, span_us)."""
    return np.floor(rng.random(size) * span_us).astype(np.int64)


def tilted_probabilities(base: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Exponentially tilt a distribution on 1..k so each row has the given mean."""
    scores = np.arange(1, base.size + 1, dtype=np.float64)
    lo = np.full(means.shape, -20.0)
    hi = np.full(means.shape, 20.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        weights = base * np.exp(np.outer(mid, scores - 3.0))
        got = weights @ scores / weights.sum(axis=1)
        below = got < means
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    weights = base * np.exp(np.outer((lo + hi) / 2, scores - 3.0))
    return weights / weights.sum(axis=1, keepdims=True)


def draw_scores(
    rng: np.random.Generator, probabilities: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """One score 1..k per entry of ``rows`` (an index into ``probabilities``)."""
    cumulative = np.cumsum(probabilities, axis=1)[:, :-1]
    u = rng.random(rows.size)
    return 1.0 + (u[:, None] > cumulative[rows]).sum(axis=1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def rounded(x: float, digits: int = 6) -> float:
    return float(round(float(x), digits))


class Vocab:
    """Strings <-> integer codes, in insertion order."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        if value not in self._codes:
            self._codes[value] = len(self.values)
            self.values.append(value)
        return self._codes[value]

    def codes(self, values: Sequence[str]) -> np.ndarray:
        return np.array([self.code(v) for v in values], dtype=np.int32)

    def arrow(self) -> pa.Array:
        return pa.array(self.values, type=pa.string())


class Builder:
    """Collects rows as integer-coded numpy chunks, then writes Parquet."""

    def __init__(self) -> None:
        self.units = Vocab()
        self.names = Vocab()  # experiment ids, variants and event names
        self.unit_rows: list[dict[str, Any]] = []
        self.exposures: list[dict[str, np.ndarray]] = []
        self.events: list[dict[str, np.ndarray]] = []

    # -- units -------------------------------------------------------------
    def add_units(
        self,
        ids: list[str],
        segment: Sequence[str] | np.ndarray,
        *,
        age: np.ndarray | None = None,
        activity_score: np.ndarray | None = None,
        signup_month: np.ndarray | None = None,
        eligible: np.ndarray | None = None,
    ) -> np.ndarray:
        codes = self.units.codes(ids)
        n = len(ids)
        self.unit_rows.append(
            {
                "codes": codes,
                "segment": np.asarray(segment, dtype=object),
                "age": None if age is None else np.asarray(age, np.int64),
                "activity_score": activity_score,
                "signup_month": signup_month,
                "eligible": eligible,
                "n": n,
            }
        )
        return codes

    # -- exposures ---------------------------------------------------------
    def add_exposures(
        self,
        story: int,
        experiment_id: str,
        units: np.ndarray,
        variants: np.ndarray | str,
        at: np.ndarray,
        *,
        received: np.ndarray | None = None,
        kind: str | None = None,
        null_time: bool = False,
    ) -> None:
        n = len(units)
        if isinstance(variants, str):
            variant_codes = np.full(n, self.names.code(variants), np.int32)
        else:
            variant_codes = np.asarray(variants, np.int32)
        self.exposures.append(
            {
                "experiment": np.full(n, self.names.code(experiment_id), np.int32),
                "unit": np.asarray(units, np.int32),
                "variant": variant_codes,
                "at": np.full(n, NULL_TIME) if null_time else np.asarray(at, np.int64),
                "received": (
                    np.full(n, -1, np.int8)
                    if received is None
                    else np.asarray(received, np.int8)
                ),
                "story": np.full(n, story, np.int8),
                "kind": np.full(
                    n,
                    0 if kind is None else EXPOSURE_BAD_KINDS.index(kind) + 1,
                    np.int8,
                ),
            }
        )

    # -- events ------------------------------------------------------------
    def add_events(
        self,
        story: int,
        units: np.ndarray,
        event_name: str,
        at: np.ndarray,
        value: np.ndarray | None = None,
        *,
        kind: str | None = None,
    ) -> None:
        n = len(units)
        self.events.append(
            {
                "unit": np.asarray(units, np.int32),
                "name": np.full(n, self.names.code(event_name), np.int32),
                "at": np.asarray(at, np.int64),
                "value": (
                    np.full(n, np.nan) if value is None else np.asarray(value, float)
                ),
                "story": np.full(n, story, np.int8),
                "kind": np.full(
                    n, 0 if kind is None else EVENT_BAD_KINDS.index(kind) + 1, np.int8
                ),
            }
        )


def concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def drop_exact_duplicates(table: dict[str, np.ndarray], keys: list[str]) -> None:
    """Drop accidental exact duplicates among generated rows (first copy kept)."""
    columns = []
    for key in keys:
        col = table[key]
        if col.dtype == np.float64:
            col = np.where(np.isnan(col), np.inf, col).view(np.int64)
        columns.append(col)
    order = np.lexsort(columns[::-1])
    same = np.ones(order.size - 1, dtype=bool)
    for col in columns:
        sorted_col = col[order]
        same &= sorted_col[1:] == sorted_col[:-1]
    if same.any():
        keep = np.ones(order.size, dtype=bool)
        keep[order[1:][same]] = False
        for key in table:
            table[key] = table[key][keep]


def add_duplicates(
    rng: np.random.Generator, table: dict[str, np.ndarray], n: int
) -> None:
    """Append ``n`` extra copies of distinct clean rows, flagged as duplicates."""
    clean = np.flatnonzero(table["kind"] == 0)
    picked = np.sort(rng.choice(clean, size=n, replace=False))
    for key in table:
        extra = table[key][picked].copy()
        if key == "kind":
            extra[:] = 1  # "duplicate" is the first kind of both tables
        table[key] = np.concatenate([table[key], extra])


def timestamps(at: np.ndarray) -> pa.Array:
    null = at == NULL_TIME
    values = np.where(null, 0, at)
    return pa.array(values, type=pa.timestamp("us"), mask=null)


def strings(vocab: Vocab, codes: np.ndarray) -> pa.Array:
    indices = pa.array(codes, type=pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, vocab.arrow()).cast(pa.string())


def write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", write_statistics=True)


# --------------------------------------------------------------------------
# Registry facts the stories share with seeds/*.csv (tests check they agree).
# --------------------------------------------------------------------------
REGISTRY: dict[str, dict[str, Any]] = {
    "E001": {
        "name": "AI e-mail drafting for sales",
        "status": "completed",
        "start": "2024-10-01",
        "end": "2024-10-14",
        "variants": {"control": 0.5, "ai_drafted": 0.5},
        "window": 7,
        "lookback": 0,
    },
    "E002": {
        "name": "LLM support bot for tier-1 tickets",
        "status": "running",
        "start": "2024-10-10",
        "end": None,
        "variants": {"human_only": 0.5, "llm_assisted": 0.5},
        "window": 14,
        "lookback": 14,
    },
    "E003": {
        "name": "Automated resume screening",
        "status": "planned",
        "start": None,
        "end": None,
        "variants": {"manual_review": 0.5, "ai_screening": 0.5},
        "window": 28,
        "lookback": 28,
    },
    "E004": {
        "name": "E-mail personalisation by tone",
        "status": "completed",
        "start": "2024-09-02",
        "end": "2024-09-15",
        "variants": {
            "control": 0.25,
            "urgent": 0.25,
            "informational": 0.25,
            "friendly": 0.25,
        },
        "window": 7,
        "lookback": 0,
    },
    "E005": {
        "name": "Personalised home feed",
        "status": "completed",
        "start": "2024-06-03",
        "end": "2024-06-30",
        "variants": {"control": 0.5, "personalised_feed": 0.5},
        "window": 14,
        "lookback": 14,
    },
}


def assign_exact(rng: np.random.Generator, counts: Sequence[int]) -> np.ndarray:
    """A random permutation holding exactly ``counts[k]`` units of arm k."""
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def multi_variant(
    rng: np.random.Generator,
    b: Builder,
    story: int,
    experiment_id: str,
    units: np.ndarray,
    arm: np.ndarray,
    fe: np.ndarray,
    variant_codes: np.ndarray,
    n: int,
    delay_us: tuple[int, int],
    *,
    received: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Expose ``n`` random units once more, to another variant; return their index."""
    chosen = np.sort(rng.choice(units.size, size=n, replace=False))
    k = variant_codes.size
    other = (arm[chosen] + rng.integers(1, k, size=n)) % k
    at = fe[chosen] + delay_us[0] + offsets(rng, delay_us[1] - delay_us[0], n)
    b.add_exposures(
        story,
        experiment_id,
        units[chosen],
        variant_codes[other],
        at,
        received=None if received is None else received(other),
    )
    return chosen


def variant_counts(names: list[str], arm: np.ndarray) -> dict[str, int]:
    return {name: int((arm == k).sum()) for k, name in enumerate(names)}


# --------------------------------------------------------------------------
# E002: LLM support bot (agents are units, tickets are events)
# --------------------------------------------------------------------------
TEAMS = ("billing", "technical", "account")


TEAM_SHARES = np.array([0.35, 0.30, 0.35])


CSAT_BASE = np.array([0.04, 0.06, 0.12, 0.33, 0.45])
