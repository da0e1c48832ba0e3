"""Deterministic demo data with planted effects, for the experimentation project.

``generate(out_dir, seed)`` writes the raw tables the dbt project reads and a
``planted_truth.json`` that records what was planted, so tests (and people) can
check that the pipeline recovers it. ``python -m xpkit.demo --out data/demo``
runs it from the command line. Everything is drawn from
``numpy.random.default_rng``: the same seed gives byte-identical files.

Stories (unit ids are namespaced per story, so one units table serves all):

- E001 AI e-mail drafting for sales: prospects ``prospect_00001``; exposure =
  an outbound e-mail (first touch, then follow-ups); events ``email_reply``,
  ``meeting_booked`` (value null), all within 7 days of the first touch.
  Exactly round(rate x units) prospects per arm reply (and book), so the
  realised rates are the story's 0.18 / 0.26 and 0.05 / 0.08.
- E002 LLM support bot: support agents ``agent_0001`` are the units; exposure =
  the start of each shift from the agent's first day in the experiment; every
  resolved ticket is an event ``ticket_resolved`` (value = resolution minutes)
  and a survey answer is ``csat_submitted`` (value = score 1-5). Resolution
  time is a ratio metric (minutes per ticket), so the ticket is the analysis
  grain while the agent is the randomisation unit; tickets from the 14 days
  before an agent's first exposure are the CUPED pre-period.
- E003 automated resume screening: planned, no exposures; recruiters
  ``recruiter_001`` have pre-launch ``resume_screened`` (value = minutes) and
  ``hire_quality_rated`` (value = score 1-5) events.
- E004 e-mail personalisation A/B/n: customers ``cust_00001`` in three segments,
  randomised within segment; exposure = the campaign e-mail (and a reminder);
  funnel events ``email_opened`` -> ``email_clicked`` -> ``order_placed``
  (value = order amount): only openers click, only clickers order.
- E005 personalised home feed: users ``user_000001``; exposure = a session in
  which the feed could be shown, with ``received_treatment`` telling whether
  it actually was (imperfect compliance driven by an unobserved trait);
  events ``app_session`` (value = minutes) and ``purchase`` (value = amount),
  in the 14 days before and after each user's first exposure.

Files written into ``out_dir``:

- ``exposures.parquet``: experiment_id, unit_id, variant (string), exposed_at
  (timestamp[us], UTC, no zone), received_treatment (bool, null except E005).
- ``events.parquet``: unit_id, event_name (string), event_at (timestamp[us]),
  value (float64, nullable).
- ``units.parquet``: unit_id, segment (string), age (int64), activity_score
  (float64), signup_month (int64), eligible (bool); attributes a story lacks
  are null.
- ``planted_truth.json``, with these keys:

  - ``format_version`` (int), ``seed`` (int), ``generator`` ("xpkit.demo").
  - ``row_counts``: {"exposures", "events", "units"}: rows in each file.
  - ``bad_rows``: {"exposures": {kind: n}, "events": {kind: n}}: every injected
    bad row by raw table and kind, over all experiments and unregistered ids.
    Exposure kinds: ``duplicate`` (extra copies of an exact duplicate row),
    ``unknown_variant``, ``unknown_experiment``, ``null_timestamp``,
    ``out_of_range`` (outside the experiment's start..end dates). Event kinds:
    ``duplicate``, ``null_unit_id``, ``empty_unit_id``, ``null_timestamp``,
    ``future_timestamp``, ``negative_value`` (on an event feeding a sum metric).
  - ``unknown_experiment_ids``: experiment ids used by ``unknown_experiment`` rows.
  - ``experiments``: {experiment_id: {...}} with, for each experiment:

    - ``name``, ``status``, ``control_variant``, ``variants`` (list).
    - ``units_per_variant``: units generated per assigned variant.
    - ``multi_variant_units``: sorted unit ids also exposed to a second variant
      (the pipeline excludes them); ``n_multi_variant_units``.
    - ``analysable_units_per_variant``: units_per_variant minus those units.
    - ``row_counts``: {"exposures", "events"}: rows attributable to the story,
      bad rows included.
    - ``bad_rows``: {"exposures": {kind: n}, "events": {kind: n}} for rows
      attributable to the story (events by their unit namespace or event name).
    - ``planted``: {metric_id: {variant: value}}: the per-arm value the story
      was drawn from (rates for binary metrics, per-unit means for count and
      sum metrics, ratios for ratio metrics; E005 values are expectations under
      the realised compliance).
    - ``parameters``: story-specific planted parameters (segment interactions,
      compliance model, per-category effects, timing); see each story below.
    - ``expected_decision``: the decision the story is built to produce (from
      DEMO_SCENARIOS.md), or null where it depends on the decision rules.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DEFAULT_SEED", "FORMAT_VERSION", "generate", "main"]

FORMAT_VERSION = 1
DEFAULT_SEED = 20241001

_MINUTE = 60_000_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_NULL_TIME = np.iinfo(np.int64).max

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
_EXPERIMENT_IDS = ("E001", "E002", "E003", "E004", "E005")
_UNREGISTERED = "E099"

_N_DUPLICATE_EXPOSURES = 24
_N_DUPLICATE_EVENTS = 36


def _us(text: str) -> int:
    """Microseconds since the epoch of an ISO date or datetime (UTC)."""
    return int(np.datetime64(text, "us").astype(np.int64))


def _trunc_exp(
    rng: np.random.Generator, mean: float, upper: float | np.ndarray, size: int
) -> np.ndarray:
    """Exponential draws with the given mean, truncated to [0, upper)."""
    u = rng.random(size)
    return -mean * np.log1p(-u * -np.expm1(-np.asarray(upper) / mean))


def _offsets(
    rng: np.random.Generator, span_us: float | np.ndarray, size: int
) -> np.ndarray:
    """Integer offsets uniform on [0, span_us)."""
    return np.floor(rng.random(size) * span_us).astype(np.int64)


def _tilted_probabilities(base: np.ndarray, means: np.ndarray) -> np.ndarray:
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


def _draw_scores(
    rng: np.random.Generator, probabilities: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """One score 1..k per entry of ``rows`` (an index into ``probabilities``)."""
    cumulative = np.cumsum(probabilities, axis=1)[:, :-1]
    u = rng.random(rows.size)
    return 1.0 + (u[:, None] > cumulative[rows]).sum(axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _round(x: float, digits: int = 6) -> float:
    return float(round(float(x), digits))


class _Vocab:
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


class _Builder:
    """Collects rows as integer-coded numpy chunks, then writes Parquet."""

    def __init__(self) -> None:
        self.units = _Vocab()
        self.names = _Vocab()  # experiment ids, variants and event names
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
                "at": np.full(n, _NULL_TIME) if null_time else np.asarray(at, np.int64),
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


def _concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def _drop_exact_duplicates(table: dict[str, np.ndarray], keys: list[str]) -> None:
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


def _add_duplicates(
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


def _timestamps(at: np.ndarray) -> pa.Array:
    null = at == _NULL_TIME
    values = np.where(null, 0, at)
    return pa.array(values, type=pa.timestamp("us"), mask=null)


def _strings(vocab: _Vocab, codes: np.ndarray) -> pa.Array:
    indices = pa.array(codes, type=pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, vocab.arrow()).cast(pa.string())


def _write(table: pa.Table, path: Path) -> None:
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


def _assign_exact(rng: np.random.Generator, counts: Sequence[int]) -> np.ndarray:
    """A random permutation holding exactly ``counts[k]`` units of arm k."""
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def _multi_variant(
    rng: np.random.Generator,
    b: _Builder,
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
    at = fe[chosen] + delay_us[0] + _offsets(rng, delay_us[1] - delay_us[0], n)
    b.add_exposures(
        story,
        experiment_id,
        units[chosen],
        variant_codes[other],
        at,
        received=None if received is None else received(other),
    )
    return chosen


def _variant_counts(names: list[str], arm: np.ndarray) -> dict[str, int]:
    return {name: int((arm == k).sum()) for k, name in enumerate(names)}


# --------------------------------------------------------------------------
# E001: AI e-mail drafting for sales
# --------------------------------------------------------------------------
def _story_e001(rng: np.random.Generator, b: _Builder) -> dict:
    story, reg = 1, REGISTRY["E001"]
    names = list(reg["variants"])
    counts = (500, 520)
    reply_rate = np.array([0.18, 0.26])
    meeting_rate = np.array([0.05, 0.08])
    window = reg["window"] * _DAY
    n = sum(counts)

    ids = [f"prospect_{i:05d}" for i in range(1, n + 1)]
    segment = rng.choice(
        ["smb", "mid_market", "enterprise"], size=n, p=[0.5, 0.35, 0.15]
    )
    units = b.add_units(ids, segment)
    arm = _assign_exact(rng, counts)
    codes = b.names.codes(names)

    # First touches on 1-3 October, in business hours (08:00-17:00 UTC).
    fe = (
        _us(reg["start"])
        + rng.integers(0, 3, n) * _DAY
        + 8 * _HOUR
        + _offsets(rng, 9 * _HOUR, n)
    )
    # Exactly round(rate x units) repliers and bookers per arm, so the realised
    # rates are the planted ones; meetings come from repliers.
    replied = np.zeros(n, dtype=bool)
    booked = np.zeros(n, dtype=bool)
    for k, size in enumerate(counts):
        members = rng.permutation(np.flatnonzero(arm == k))
        replied[members[: round(reply_rate[k] * size)]] = True
        booked[members[: round(meeting_rate[k] * size)]] = True
    reply_at = (
        fe + 10 * _MINUTE + _trunc_exp(rng, 1.2 * _DAY, 6 * _DAY, n).astype(np.int64)
    )
    meeting_at = reply_at + _offsets(rng, (fe + window - reply_at) * 0.9, n)
    # Some threads get a second reply, still inside the window.
    again = replied & (rng.random(n) < 0.25)
    again_at = reply_at + _offsets(rng, fe + window - reply_at, n)

    # Follow-ups after 3 and 7 days go to prospects who have not replied yet.
    follow1 = fe + 3 * _DAY + _offsets(rng, 2 * _HOUR, n)
    follow2 = fe + 7 * _DAY + _offsets(rng, 2 * _HOUR, n)
    send1 = ~(replied & (reply_at < follow1))
    send2 = ~(replied & (reply_at < follow2))

    b.add_exposures(story, "E001", units, codes[arm], fe)
    b.add_exposures(story, "E001", units[send1], codes[arm[send1]], follow1[send1])
    b.add_exposures(story, "E001", units[send2], codes[arm[send2]], follow2[send2])
    b.add_events(story, units[replied], "email_reply", reply_at[replied])
    b.add_events(story, units[again], "email_reply", again_at[again])
    b.add_events(story, units[booked], "meeting_booked", meeting_at[booked])

    # Late follow-ups logged after the end date (quarantined: out of range).
    late = np.sort(rng.choice(n, size=4, replace=False))
    late_at = _us("2024-10-15") + _offsets(rng, 3 * _DAY, 4)
    b.add_exposures(
        story, "E001", units[late], codes[arm[late]], late_at, kind="out_of_range"
    )

    return {
        "names": names,
        "arm": arm,
        "units": ids,
        "multi": np.array([], dtype=np.int64),
        "planted": {
            "reply_rate": dict(zip(names, reply_rate.tolist(), strict=True)),
            "meeting_booked_rate": dict(zip(names, meeting_rate.tolist(), strict=True)),
        },
        "parameters": {
            "sampling": "exactly round(rate x units) repliers and bookers per arm",
            "first_touch_days": ["2024-10-01", "2024-10-03"],
            "reply_delay_mean_days": 1.2,
            "second_reply_share_of_repliers": 0.25,
            "meeting_given_reply": {
                name: _round(m / r)
                for name, m, r in zip(names, meeting_rate, reply_rate, strict=True)
            },
            "follow_up_after_days": [3, 7],
            "relative_lift_reply_rate": _round(reply_rate[1] / reply_rate[0] - 1),
        },
        "expected_decision": "scale",
    }


# --------------------------------------------------------------------------
# E002: LLM support bot (agents are units, tickets are events)
# --------------------------------------------------------------------------
_TEAMS = ("billing", "technical", "account")
_TEAM_SHARES = np.array([0.35, 0.30, 0.35])
_CSAT_BASE = np.array([0.04, 0.06, 0.12, 0.33, 0.45])


def _story_e002(rng: np.random.Generator, b: _Builder) -> dict:
    story, reg = 2, REGISTRY["E002"]
    names = list(reg["variants"])
    counts = (300, 310)
    n = sum(counts)
    minutes_control = np.array([37.0, 52.0, 38.5])  # by team
    speed_up = 29.0 / 42.0
    csat_control = np.array([4.20, 3.90, 4.20])
    csat_treated = np.array([4.55, 3.65, 4.55])
    tickets_per_shift = 8.0
    csat_response_rate = 0.30

    ids = [f"agent_{i:04d}" for i in range(1, n + 1)]
    team = rng.choice(3, size=n, p=_TEAM_SHARES)
    units = b.add_units(ids, np.array(_TEAMS, dtype=object)[team])
    arm = _assign_exact(rng, counts)
    codes = b.names.codes(names)

    # A day grid per agent from 25 September to 31 October; agents work ~3/4 of
    # days, 8-hour shifts from 08:00-09:30 UTC, and join on 10-13 October.
    day0 = _us("2024-09-25")
    n_days = (_us("2024-11-01") - day0) // _DAY
    join_day = (_us(reg["start"]) - day0) // _DAY + rng.integers(0, 4, n)
    worked = rng.random((n, n_days)) < 0.75
    worked[np.arange(n), join_day] = True
    shift = (
        day0
        + np.arange(n_days, dtype=np.int64)[None, :] * _DAY
        + 8 * _HOUR
        + _offsets(rng, 90 * _MINUTE, n * n_days).reshape(n, n_days)
    )
    fe = shift[np.arange(n), join_day]
    on_shift = worked & (np.arange(n_days)[None, :] >= join_day[:, None])
    agent_grid = np.broadcast_to(np.arange(n)[:, None], (n, n_days))
    exposed_agent = agent_grid[on_shift]
    b.add_exposures(
        story, "E002", units[exposed_agent], codes[arm[exposed_agent]], shift[on_shift]
    )

    # Tickets: Poisson per worked shift, resolved uniformly through the shift.
    rate = rng.gamma(6.0, tickets_per_shift / 6.0, n)
    per_shift = rng.poisson(rate[:, None] * worked)
    t_agent = np.repeat(agent_grid.ravel(), per_shift.ravel())
    t_at = np.repeat(shift.ravel(), per_shift.ravel()) + _offsets(
        rng, 8 * _HOUR, t_agent.size
    )
    treated = (arm[t_agent] == 1) & (t_at >= fe[t_agent])
    agent_speed = np.exp(rng.normal(0.0, 0.25, n) - 0.25**2 / 2)
    noise = np.exp(rng.normal(0.0, 0.7, t_agent.size) - 0.7**2 / 2)
    minutes = (
        minutes_control[team[t_agent]]
        * agent_speed[t_agent]
        * noise
        * np.where(treated, speed_up, 1.0)
    )
    b.add_events(story, units[t_agent], "ticket_resolved", t_at, np.round(minutes, 2))

    # CSAT: about 30% of tickets get a 1-5 answer within two days.
    agent_csat = rng.normal(0.0, 0.12, n)
    means = np.clip(
        np.concatenate(
            [csat_control[team] + agent_csat, csat_treated[team] + agent_csat]
        ),
        1.2,
        4.85,
    )
    probabilities = _tilted_probabilities(_CSAT_BASE, means)
    responded = rng.random(t_agent.size) < csat_response_rate
    r_agent = t_agent[responded]
    scores = _draw_scores(
        rng, probabilities, r_agent + n * treated[responded].astype(np.int64)
    )
    r_at = (
        t_at[responded]
        + 2 * _MINUTE
        + _trunc_exp(rng, 3 * _HOUR, 48 * _HOUR, r_agent.size).astype(np.int64)
    )
    b.add_events(story, units[r_agent], "csat_submitted", r_at, scores)

    # Anonymous survey answers logged with an empty unit id (quarantined).
    anon = rng.choice(r_agent.size, size=2, replace=False)
    b.add_events(
        story,
        np.full(2, b.units.code(""), np.int32),
        "csat_submitted",
        r_at[anon] + 17 * _MINUTE,
        scores[anon],
        kind="empty_unit_id",
    )

    shares = _TEAM_SHARES
    overall = {
        "resolution_minutes_per_ticket": [
            shares @ minutes_control,
            shares @ minutes_control * speed_up,
        ],
        "csat_score": [shares @ csat_control, shares @ csat_treated],
    }
    return {
        "names": names,
        "arm": arm,
        "units": ids,
        "multi": np.array([], dtype=np.int64),
        "planted": {
            metric: {name: _round(v, 4) for name, v in zip(names, vals, strict=True)}
            for metric, vals in overall.items()
        },
        "parameters": {
            "segment_column": "segment (the agent's ticket-category team)",
            "team_shares": dict(zip(_TEAMS, shares.tolist(), strict=True)),
            "resolution_minutes_per_ticket_by_team": {
                names[0]: dict(zip(_TEAMS, minutes_control.tolist(), strict=True)),
                names[1]: {
                    t: _round(m * speed_up, 4)
                    for t, m in zip(_TEAMS, minutes_control, strict=True)
                },
            },
            "resolution_time_multiplier_treated": _round(speed_up),
            "csat_score_by_team": {
                names[0]: dict(zip(_TEAMS, csat_control.tolist(), strict=True)),
                names[1]: dict(zip(_TEAMS, csat_treated.tolist(), strict=True)),
            },
            "csat_relative_change_by_team": {
                t: _round(tr / c - 1)
                for t, c, tr in zip(_TEAMS, csat_control, csat_treated, strict=True)
            },
            "tickets_per_shift_mean": tickets_per_shift,
            "shift_probability_per_day": 0.75,
            "csat_response_rate": csat_response_rate,
            "agent_speed_lognormal_sd": 0.25,
            "ticket_minutes_lognormal_sd": 0.7,
            "agent_csat_shift_sd": 0.12,
            "join_days": ["2024-10-10", "2024-10-13"],
            "ticket_stream": ["2024-09-25", "2024-10-31"],
            "guardrail_story": "CSAT rises overall but drops in the technical team",
        },
        "expected_decision": "iterate",
    }


# --------------------------------------------------------------------------
# E003: automated resume screening (planned; pre-launch baseline only)
# --------------------------------------------------------------------------
def _story_e003(rng: np.random.Generator, b: _Builder) -> dict:
    story, reg = 3, REGISTRY["E003"]
    names = list(reg["variants"])
    n = 30
    minutes_mean = 6.5
    quality_mean = 3.6

    ids = [f"recruiter_{i:03d}" for i in range(1, n + 1)]
    area = rng.choice(
        ["engineering", "go_to_market", "operations"], size=n, p=[0.4, 0.35, 0.25]
    )
    units = b.add_units(ids, area)

    day0 = _us("2024-09-02")  # a Monday
    days = np.arange(((_us("2024-11-01") - day0) // _DAY), dtype=np.int64)
    days = days[(days % 7) < 5]
    grid_unit = np.repeat(np.arange(n), days.size)
    grid_day = np.tile(days, n)
    rate = rng.gamma(8.0, 14.0 / 8.0, n)
    per_day = rng.poisson(rate[grid_unit])
    r_unit = np.repeat(grid_unit, per_day)
    r_at = (
        day0
        + np.repeat(grid_day, per_day) * _DAY
        + 9 * _HOUR
        + _offsets(rng, 8 * _HOUR, r_unit.size)
    )
    speed = np.exp(rng.normal(0.0, 0.25, n) - 0.25**2 / 2)
    minutes = (
        minutes_mean
        * speed[r_unit]
        * np.exp(rng.normal(0.0, 0.5, r_unit.size) - 0.5**2 / 2)
    )
    b.add_events(story, units[r_unit], "resume_screened", r_at, np.round(minutes, 2))

    per_day = rng.poisson(0.12, grid_unit.size)
    q_unit = np.repeat(grid_unit, per_day)
    q_at = (
        day0
        + np.repeat(grid_day, per_day) * _DAY
        + 9 * _HOUR
        + _offsets(rng, 8 * _HOUR, q_unit.size)
    )
    probabilities = _tilted_probabilities(
        _CSAT_BASE, np.clip(quality_mean + rng.normal(0.0, 0.15, n), 1.2, 4.85)
    )
    scores = _draw_scores(rng, probabilities, q_unit)
    b.add_events(story, units[q_unit], "hire_quality_rated", q_at, scores)

    return {
        "names": names,
        "arm": np.array([], dtype=np.int64),
        "units": [],
        "multi": np.array([], dtype=np.int64),
        "planted": {},
        "parameters": {
            "recruiters": n,
            "baseline_period": ["2024-09-02", "2024-10-31"],
            "resumes_per_weekday_mean": 14.0,
            "baseline_screening_minutes_per_resume": minutes_mean,
            "baseline_hire_quality_score": quality_mean,
            "hire_quality_ratings_per_weekday": 0.12,
        },
        "expected_decision": "do_not_start",
    }


# --------------------------------------------------------------------------
# E004: e-mail personalisation A/B/n with a tone x segment interaction
# --------------------------------------------------------------------------
_SEGMENTS_E004 = ("High-Value Recent", "Standard", "New Customer")


def _story_e004(rng: np.random.Generator, b: _Builder) -> dict:
    story, reg = 4, REGISTRY["E004"]
    names = list(reg["variants"])
    sizes = np.array([1200, 3000, 1800])  # by segment; each divisible by 4
    open_base = np.array([0.45, 0.30, 0.35])
    click_base = np.array([0.35, 0.25, 0.30])  # given opened
    order_base = np.array([0.30, 0.22, 0.18])  # given clicked
    order_value = np.array([120.0, 60.0, 45.0])
    # Multipliers [variant, segment] on the open and click-given-open rates.
    open_mult = np.array(
        [
            [1.00, 1.00, 1.00],
            [1.35, 1.00, 0.85],
            [1.05, 1.10, 1.05],
            [0.95, 1.00, 1.35],
        ]
    )
    click_mult = np.array(
        [
            [1.00, 1.00, 1.00],
            [1.45, 0.95, 0.90],
            [1.05, 1.10, 1.05],
            [1.00, 1.00, 1.45],
        ]
    )
    window = reg["window"] * _DAY
    n = int(sizes.sum())

    segment = rng.permutation(np.repeat(np.arange(3), sizes))
    arm = np.empty(n, dtype=np.int64)
    for s, size in enumerate(sizes):
        members = np.flatnonzero(segment == s)
        arm[members] = _assign_exact(rng, [size // 4] * 4)
    ids = [f"cust_{i:05d}" for i in range(1, n + 1)]
    units = b.add_units(ids, np.array(_SEGMENTS_E004, dtype=object)[segment])
    codes = b.names.codes(names)

    # The campaign went out on 3-5 September in two batches a day.
    fe = (
        _us("2024-09-03")
        + rng.integers(0, 3, n) * _DAY
        + rng.choice([9 * _HOUR, 13 * _HOUR], size=n)
        + _offsets(rng, 40 * _MINUTE, n)
    )
    p_open = open_base[segment] * open_mult[arm, segment]
    p_click = click_base[segment] * click_mult[arm, segment]
    opened = rng.random(n) < p_open
    clicked = opened & (rng.random(n) < p_click)
    ordered = clicked & (rng.random(n) < order_base[segment])

    open_at = fe + _trunc_exp(rng, 10 * _HOUR, 5 * _DAY, n).astype(np.int64)
    click_at = (
        open_at
        + _MINUTE
        + _offsets(rng, 30 * _MINUTE, n)
        + _trunc_exp(rng, 2 * _HOUR, 20 * _HOUR, n).astype(np.int64)
    )
    order_at = (
        click_at
        + 5 * _MINUTE
        + np.floor(rng.random(n) ** 2 * (fe + window - click_at - 10 * _MINUTE) * 0.9)
    ).astype(np.int64)
    amount = np.round(
        order_value[segment] * np.exp(rng.normal(0.0, 0.5, n) - 0.5**2 / 2), 2
    )

    # Reminder to customers who had not opened within two days.
    remind_at = fe + 2 * _DAY + _offsets(rng, 30 * _MINUTE, n)
    reminded = ~(opened & (open_at < remind_at))

    b.add_exposures(story, "E004", units, codes[arm], fe)
    b.add_exposures(
        story, "E004", units[reminded], codes[arm[reminded]], remind_at[reminded]
    )
    b.add_events(story, units[opened], "email_opened", open_at[opened])
    b.add_events(story, units[clicked], "email_clicked", click_at[clicked])
    b.add_events(
        story, units[ordered], "order_placed", order_at[ordered], amount[ordered]
    )

    # Repeat opens (up to three days later), repeat clicks and second orders.
    k = rng.poisson(0.6, n) * opened
    u = np.repeat(np.arange(n), k)
    b.add_events(
        story,
        units[u],
        "email_opened",
        open_at[u] + 3 * _MINUTE + _offsets(rng, 3 * _DAY, u.size),
    )
    k = rng.poisson(0.3, n) * clicked
    u = np.repeat(np.arange(n), k)
    b.add_events(
        story,
        units[u],
        "email_clicked",
        click_at[u] + _MINUTE + _offsets(rng, fe[u] + window - click_at[u], u.size),
    )
    second = ordered & (rng.random(n) < 0.08)
    second_at = order_at + _offsets(rng, fe + window - order_at, n)
    second_amount = np.round(
        order_value[segment] * np.exp(rng.normal(0.0, 0.5, n) - 0.5**2 / 2), 2
    )
    b.add_events(
        story, units[second], "order_placed", second_at[second], second_amount[second]
    )

    # Mess: multi-variant customers, a mis-cased variant, negative order
    # amounts (refunds logged as orders), opens with no customer id.
    multi = _multi_variant(
        rng, b, story, "E004", units, arm, fe, codes, 18, (_DAY, 3 * _DAY)
    )
    bad = np.sort(rng.choice(np.setdiff1d(np.arange(n), multi), 3, replace=False))
    b.add_exposures(
        story,
        "E004",
        units[bad],
        "Urgent",
        fe[bad] + _HOUR + _offsets(rng, _DAY, 3),
        kind="unknown_variant",
    )
    buyers = np.flatnonzero(ordered & (order_at < fe + window - _HOUR))
    refund = np.sort(rng.choice(buyers, 4, replace=False))
    b.add_events(
        story,
        units[refund],
        "order_placed",
        order_at[refund] + _offsets(rng, fe[refund] + window - order_at[refund], 4),
        -amount[refund],
        kind="negative_value",
    )
    anon = np.sort(rng.choice(np.flatnonzero(opened), 2, replace=False))
    b.add_events(
        story,
        np.full(2, -1, np.int32),
        "email_opened",
        open_at[anon] + 7 * _MINUTE,
        kind="null_unit_id",
    )

    rates = {
        "email_open_rate": open_base[None, :] * open_mult,
        "email_click_rate": open_base * open_mult * click_base * click_mult,
    }
    rates["email_conversion_rate"] = rates["email_click_rate"] * order_base
    # Revenue per customer: conversion x (1 + 0.08 second orders) x mean amount.
    rates["revenue_per_customer"] = rates["email_conversion_rate"] * 1.08 * order_value
    shares = sizes / n
    by_segment = {
        metric: {
            seg: {name: _round(values[v, s]) for v, name in enumerate(names)}
            for s, seg in enumerate(_SEGMENTS_E004)
        }
        for metric, values in rates.items()
    }
    winners = {
        seg: names[int(np.argmax(rates["email_click_rate"][:, s]))]
        for s, seg in enumerate(_SEGMENTS_E004)
    }
    return {
        "names": names,
        "arm": arm,
        "units": ids,
        "multi": multi,
        "planted": {
            metric: {name: _round(values[v] @ shares) for v, name in enumerate(names)}
            for metric, values in rates.items()
        },
        "parameters": {
            "segment_sizes": dict(zip(_SEGMENTS_E004, sizes.tolist(), strict=True)),
            "randomisation": "stratified by segment, exactly 25% per arm",
            "open_rate_control": dict(
                zip(_SEGMENTS_E004, open_base.tolist(), strict=True)
            ),
            "click_given_open_control": dict(
                zip(_SEGMENTS_E004, click_base.tolist(), strict=True)
            ),
            "order_given_click": dict(
                zip(_SEGMENTS_E004, order_base.tolist(), strict=True)
            ),
            "order_value_mean": dict(
                zip(_SEGMENTS_E004, order_value.tolist(), strict=True)
            ),
            "second_order_share": 0.08,
            "open_multiplier": {
                name: dict(zip(_SEGMENTS_E004, open_mult[v].tolist(), strict=True))
                for v, name in enumerate(names)
            },
            "click_given_open_multiplier": {
                name: dict(zip(_SEGMENTS_E004, click_mult[v].tolist(), strict=True))
                for v, name in enumerate(names)
            },
            "by_segment": by_segment,
            "click_rate_winner_by_segment": winners,
            "send_days": ["2024-09-03", "2024-09-05"],
        },
        "expected_decision": None,
    }


# --------------------------------------------------------------------------
# E005: large product experiment, strong pre-period, imperfect compliance
# --------------------------------------------------------------------------
_SEGMENTS_E005 = ("casual", "regular", "vip")


def _story_e005(rng: np.random.Generator, b: _Builder) -> dict:
    story, reg = 5, REGISTRY["E005"]
    names = list(reg["variants"])
    n_pop = 52_700
    effect = 1.2  # engagement minutes per 14 days, for the treated
    purchase_effect = 0.015  # on the purchase probability, for the treated
    uptake = {"intercept_assigned": 1.0, "intercept_control": -3.0, "trait": 1.2}
    # The unobserved trait u also raises the outcome a little: enough to bias a
    # received-vs-not comparison upwards (to about 2 minutes), not the ITT.
    trait_on = {
        "log_session_rate": 0.05,
        "log_session_minutes": 0.02,
        "purchase_logit": 0.15,
    }
    sessions_mean, minutes_mean, session_shape = 6.0, 3.0, 1.3
    drift_sd = 0.40
    window = reg["window"] * _DAY
    lookback = reg["lookback"] * _DAY

    seg = rng.choice(3, size=n_pop, p=[0.5, 0.4, 0.1])
    age = np.clip(np.round(rng.normal(35.0, 10.0, n_pop)), 18, 75).astype(np.int64)
    activity = rng.gamma(2.0, 2.0, n_pop)
    signup = rng.integers(1, 7, n_pop)
    eligible = rng.random(n_pop) < _sigmoid(3.5 + 0.5 * (activity - 4.0))
    trait = rng.standard_normal(n_pop)  # unobserved: drives uptake and outcome
    ids = [f"user_{i:06d}" for i in range(1, n_pop + 1)]
    all_units = b.add_units(
        ids,
        np.array(_SEGMENTS_E005, dtype=object)[seg],
        age=age,
        activity_score=np.round(activity, 3),
        signup_month=signup,
        eligible=eligible,
    )

    # Only eligible users can be exposed; assignment is complete randomisation.
    pop = np.flatnonzero(eligible)
    n = pop.size
    units = all_units[pop]
    seg, activity, trait = seg[pop], activity[pop], trait[pop]
    arm = _assign_exact(rng, [n - n // 2, n // 2])
    codes = b.names.codes(names)
    received = rng.random(n) < _sigmoid(
        np.where(arm == 1, uptake["intercept_assigned"], uptake["intercept_control"])
        + uptake["trait"] * trait
    )

    fe = _us(reg["start"]) + _offsets(rng, 14 * _DAY, n)
    repeats = rng.poisson(2.0, n)
    r = np.repeat(np.arange(n), repeats)
    b.add_exposures(
        story, "E005", units, codes[arm], fe, received=received.astype(np.int8)
    )
    b.add_exposures(
        story,
        "E005",
        units[r],
        codes[arm[r]],
        fe[r] + _offsets(rng, window, r.size),
        received=received[r].astype(np.int8),
    )

    # Sessions: a per-user rate and length shared by both periods (the CUPED
    # signal), a per-period drift, gamma session lengths. The treated get extra
    # sessions worth `effect` minutes in expectation.
    seg_mult = np.array([0.7, 1.1, 1.8])[seg]
    rate = (
        sessions_mean
        * seg_mult
        * np.sqrt(activity / 4.0)
        * np.exp(trait_on["log_session_rate"] * trait + rng.normal(0.0, 0.55, n))
    )
    length = minutes_mean * np.exp(
        trait_on["log_session_minutes"] * trait + rng.normal(0.0, 0.25, n)
    )
    drift = np.exp(rng.normal(0.0, drift_sd, (2, n)) - drift_sd**2 / 2)
    n_pre = rng.poisson(rate * drift[0])
    n_post = rng.poisson(rate * drift[1]) + rng.poisson(effect / length * received)

    u_pre = np.repeat(np.arange(n), n_pre)
    u_post = np.repeat(np.arange(n), n_post)
    s_unit = np.concatenate([u_pre, u_post])
    s_at = np.concatenate(
        [
            fe[u_pre] - lookback + _offsets(rng, lookback, u_pre.size),
            fe[u_post] + _offsets(rng, window, u_post.size),
        ]
    )
    s_minutes = np.maximum(
        np.round(rng.gamma(session_shape, length[s_unit] / session_shape), 2), 0.01
    )
    b.add_events(story, units[s_unit], "app_session", s_at, s_minutes)

    p_buy = _sigmoid(
        -2.3
        + trait_on["purchase_logit"] * trait
        + np.array([-0.3, 0.1, 0.6])[seg]
        + 0.1 * (activity - 4)
    )
    buy_pre = rng.random(n) < p_buy
    buy_post = rng.random(n) < p_buy + purchase_effect * received
    p_unit = np.concatenate([np.flatnonzero(buy_pre), np.flatnonzero(buy_post)])
    p_at = np.concatenate(
        [
            fe[buy_pre] - lookback + _offsets(rng, lookback, int(buy_pre.sum())),
            fe[buy_post] + _offsets(rng, window, int(buy_post.sum())),
        ]
    )
    amount = np.round(25.0 * np.exp(rng.normal(0.0, 0.6, p_unit.size)), 2)
    b.add_events(story, units[p_unit], "purchase", p_at, amount)

    # Mess. Multi-variant users (0.3%), a retired variant name, exposures with
    # no timestamp or after the end date, sessions with no user id or a clock
    # in the future, purchases with no timestamp.
    n_multi = round(0.003 * n)
    multi = _multi_variant(
        rng,
        b,
        story,
        "E005",
        units,
        arm,
        fe,
        codes,
        n_multi,
        (_HOUR, 10 * _DAY),
        received=lambda other: (other == 1).astype(np.int8),
    )
    clean = np.setdiff1d(np.arange(n), multi)
    bad = np.sort(rng.choice(clean, 3 + 3 + 2 + 5, replace=False))
    legacy, no_time, late, other_exp = bad[:3], bad[3:6], bad[6:8], bad[8:]
    b.add_exposures(
        story,
        "E005",
        units[legacy],
        "treatment",
        fe[legacy] + _offsets(rng, window, 3),
        received=received[legacy].astype(np.int8),
        kind="unknown_variant",
    )
    b.add_exposures(
        story,
        "E005",
        units[no_time],
        codes[arm[no_time]],
        fe[no_time],
        received=received[no_time].astype(np.int8),
        null_time=True,
        kind="null_timestamp",
    )
    b.add_exposures(
        story,
        "E005",
        units[late],
        codes[arm[late]],
        _us("2024-07-01") + _offsets(rng, 2 * _DAY, 2),
        received=received[late].astype(np.int8),
        kind="out_of_range",
    )
    # An unregistered experiment someone ran on the same users.
    b.add_exposures(
        0,
        _UNREGISTERED,
        units[other_exp],
        np.array(
            b.names.codes(["control", "variant_b", "control", "variant_b", "control"])
        ),
        fe[other_exp] + _offsets(rng, _DAY, 5),
        kind="unknown_experiment",
    )
    sessions = rng.choice(u_post.size, 5, replace=False)
    b.add_events(
        story,
        np.full(2, -1, np.int32),
        "app_session",
        s_at[n_pre.sum() + sessions[:2]] + _MINUTE,
        np.round(s_minutes[n_pre.sum() + sessions[:2]], 2),
        kind="null_unit_id",
    )
    b.add_events(
        story,
        units[u_post[sessions[2:]]],
        "app_session",
        _us("2099-01-01") + _offsets(rng, 365 * _DAY, 3),
        np.round(s_minutes[n_pre.sum() + sessions[2:]], 2),
        kind="future_timestamp",
    )
    buyers = np.sort(rng.choice(np.flatnonzero(buy_post), 3, replace=False))
    b.add_events(
        story,
        units[buyers],
        "purchase",
        np.full(3, _NULL_TIME),
        np.round(25.0 * np.exp(rng.normal(0.0, 0.6, 3)), 2),
        kind="null_timestamp",
    )

    # Expected per-arm values given the realised units and compliance.
    base_minutes = rate * length
    planted: dict[str, Any] = {}
    uptake_rate: dict[str, Any] = {}
    for k, name in enumerate(names):
        in_arm = arm == k
        uptake_rate[name] = _round(received[in_arm].mean())
        planted.setdefault("engagement_minutes", {})[name] = _round(
            (base_minutes[in_arm] + effect * received[in_arm]).mean(), 4
        )
        planted.setdefault("sessions", {})[name] = _round(
            (rate[in_arm] + effect / length[in_arm] * received[in_arm]).mean(), 4
        )
        planted.setdefault("purchase_rate", {})[name] = _round(
            (p_buy[in_arm] + purchase_effect * received[in_arm]).mean(), 4
        )
    itt = effect * (uptake_rate[names[1]] - uptake_rate[names[0]])
    return {
        "names": names,
        "arm": arm,
        "units": [ids[i] for i in pop],
        "multi": multi,
        "planted": planted,
        "parameters": {
            "population": n_pop,
            "eligible_units": int(n),
            "eligibility": "P(eligible) = sigmoid(3.5 + 0.5 (activity_score - 4));"
            " only eligible users are exposed",
            "segment_shares": dict(zip(_SEGMENTS_E005, [0.5, 0.4, 0.1], strict=True)),
            "effect_on_treated": effect,
            "purchase_effect_on_treated": purchase_effect,
            "compliance": {
                "model": "P(received) = sigmoid(intercept + trait * u), u ~ N(0, 1)"
                " unobserved; u also raises session rate and length",
                **uptake,
                "uptake_rate": uptake_rate,
            },
            "trait_on_outcome": trait_on,
            "itt_effect_expected": _round(itt, 4),
            "naive_treated_vs_untreated": "biased upwards (uptake rises with u)",
            "exposure_dose": "not planted: the effect does not depend on how many"
            " exposures a user had",
            "sessions_per_14_days_mean": sessions_mean,
            "session_minutes_mean": minutes_mean,
            "period_drift_lognormal_sd": drift_sd,
            "first_exposure_span": ["2024-06-03", "2024-06-16"],
            "repeat_exposures_per_unit_mean": 2.0,
        },
        "expected_decision": None,
    }


_STORIES = (_story_e001, _story_e002, _story_e003, _story_e004, _story_e005)


def _kind_counts(kind: np.ndarray, kinds: tuple[str, ...]) -> dict[str, int]:
    return {name: int((kind == k + 1).sum()) for k, name in enumerate(kinds)}


def _exposure_table(b: _Builder, t: dict[str, np.ndarray]) -> pa.Table:
    received = t["received"]
    return pa.table(
        {
            "experiment_id": _strings(b.names, t["experiment"]),
            "unit_id": _strings(b.units, t["unit"]),
            "variant": _strings(b.names, t["variant"]),
            "exposed_at": _timestamps(t["at"]),
            "received_treatment": pa.array(
                received == 1, type=pa.bool_(), mask=received < 0
            ),
        }
    )


def _event_table(b: _Builder, t: dict[str, np.ndarray]) -> pa.Table:
    value = t["value"]
    return pa.table(
        {
            "unit_id": _strings(b.units, t["unit"]),
            "event_name": _strings(b.names, t["name"]),
            "event_at": _timestamps(t["at"]),
            "value": pa.array(
                np.where(np.isnan(value), 0.0, value),
                type=pa.float64(),
                mask=np.isnan(value),
            ),
        }
    )


def _unit_table(b: _Builder) -> pa.Table:
    columns: dict[str, list[pa.Array]] = {
        "unit_id": [],
        "segment": [],
        "age": [],
        "activity_score": [],
        "signup_month": [],
        "eligible": [],
    }
    types = {
        "age": pa.int64(),
        "activity_score": pa.float64(),
        "signup_month": pa.int64(),
        "eligible": pa.bool_(),
    }
    for chunk in b.unit_rows:
        n = chunk["n"]
        columns["unit_id"].append(_strings(b.units, chunk["codes"]))
        columns["segment"].append(pa.array(chunk["segment"], type=pa.string()))
        for name, kind in types.items():
            values = chunk[name]
            columns[name].append(
                pa.nulls(n, type=kind)
                if values is None
                else pa.array(np.asarray(values), type=kind)
            )
    return pa.table({k: pa.concat_arrays(v) for k, v in columns.items()})


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> dict:
    """Write the demo raw tables and planted truth into ``out_dir``.

    Args:
        out_dir: folder to write into (created if missing).
        seed: seed of ``numpy.random.default_rng``; the same seed gives
            byte-identical files.

    Returns:
        The planted truth, as written to ``planted_truth.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(seed).spawn(len(_STORIES) + 1)
    b = _Builder()
    b.units.code("")  # the empty unit id used by the empty_unit_id rows
    stories = {
        experiment_id: story(np.random.default_rng(stream), b)
        for experiment_id, story, stream in zip(
            _EXPERIMENT_IDS, _STORIES, streams, strict=False
        )
    }

    exposures = _concat(b.exposures)
    events = _concat(b.events)
    _drop_exact_duplicates(exposures, ["experiment", "unit", "variant", "at"])
    _drop_exact_duplicates(events, ["unit", "name", "at", "value"])
    mess = np.random.default_rng(streams[-1])
    _add_duplicates(mess, exposures, _N_DUPLICATE_EXPOSURES)
    _add_duplicates(mess, events, _N_DUPLICATE_EVENTS)

    # A log order: by time, then unit and name (nulls and far future last).
    for t, keys in (
        (exposures, ["experiment", "unit", "variant"]),
        (events, ["unit", "name"]),
    ):
        order = np.lexsort([t[k] for k in keys[::-1]] + [t["at"]])
        for key in t:
            t[key] = t[key][order]

    exposure_table = _exposure_table(b, exposures)
    event_table = _event_table(b, events)
    unit_table = _unit_table(b)
    _write(exposure_table, out_dir / "exposures.parquet")
    _write(event_table, out_dir / "events.parquet")
    _write(unit_table, out_dir / "units.parquet")

    truth: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "generator": "xpkit.demo",
        "row_counts": {
            "exposures": exposure_table.num_rows,
            "events": event_table.num_rows,
            "units": unit_table.num_rows,
        },
        "bad_rows": {
            "exposures": _kind_counts(exposures["kind"], EXPOSURE_BAD_KINDS),
            "events": _kind_counts(events["kind"], EVENT_BAD_KINDS),
        },
        "unknown_experiment_ids": [_UNREGISTERED],
        "experiments": {},
    }
    for number, (experiment_id, s) in enumerate(stories.items(), start=1):
        reg = REGISTRY[experiment_id]
        names, arm, multi = s["names"], s["arm"], s["multi"]
        in_exposures = exposures["story"] == number
        in_events = events["story"] == number
        units_per_variant = _variant_counts(names, arm)
        multi_per_variant = _variant_counts(names, arm[multi])
        truth["experiments"][experiment_id] = {
            "name": reg["name"],
            "status": reg["status"],
            "control_variant": names[0],
            "variants": names,
            "units_per_variant": units_per_variant,
            "multi_variant_units": sorted(s["units"][i] for i in multi),
            "n_multi_variant_units": int(multi.size),
            "analysable_units_per_variant": {
                v: units_per_variant[v] - multi_per_variant[v] for v in names
            },
            "row_counts": {
                "exposures": int(in_exposures.sum()),
                "events": int(in_events.sum()),
            },
            "bad_rows": {
                "exposures": _kind_counts(
                    exposures["kind"][in_exposures], EXPOSURE_BAD_KINDS
                ),
                "events": _kind_counts(events["kind"][in_events], EVENT_BAD_KINDS),
            },
            "planted": s["planted"],
            "parameters": s["parameters"],
            "expected_decision": s["expected_decision"],
        }

    (out_dir / "planted_truth.json").write_text(
        json.dumps(truth, indent=2) + "\n", encoding="utf-8"
    )
    return truth


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m xpkit.demo --out data/demo [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.demo",
        description="Write deterministic demo raw tables with planted effects.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    truth = generate(args.out, args.seed)
    elapsed = time.perf_counter() - started
    for experiment_id, e in truth["experiments"].items():
        per_variant = ", ".join(f"{v} {n:,}" for v, n in e["units_per_variant"].items())
        print(
            f"{experiment_id} {e['name']} ({e['status']}): "
            f"{sum(e['units_per_variant'].values()):,} units ({per_variant}), "
            f"{e['n_multi_variant_units']} multi-variant, "
            f"{e['row_counts']['exposures']:,} exposure rows, "
            f"{e['row_counts']['events']:,} event rows"
        )
    counts = truth["row_counts"]
    bad = {t: sum(k.values()) for t, k in truth["bad_rows"].items()}
    print(
        f"wrote {args.out}: exposures {counts['exposures']:,} rows "
        f"({bad['exposures']} injected bad), events {counts['events']:,} rows "
        f"({bad['events']} injected bad), units {counts['units']:,} rows "
        f"(seed {truth['seed']}, {elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
