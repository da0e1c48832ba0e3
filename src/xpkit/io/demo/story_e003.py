"""Story E003, Automated resume screening: its units, exposures and events, and
what was planted (see ``xpkit.io.demo``)."""

from __future__ import annotations

import numpy as np

from xpkit.io.demo.common import (
    CSAT_BASE,
    DAY,
    HOUR,
    REGISTRY,
    Builder,
    draw_scores,
    offsets,
    tilted_probabilities,
    us,
)

__all__ = ["story"]


# --------------------------------------------------------------------------
# E003: automated resume screening (planned; pre-launch baseline only)
# --------------------------------------------------------------------------
def story(rng: np.random.Generator, b: Builder) -> dict:
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

    day0 = us("2024-09-02")  # a Monday
    days = np.arange(((us("2024-11-01") - day0) // DAY), dtype=np.int64)
    days = days[(days % 7) < 5]
    grid_unit = np.repeat(np.arange(n), days.size)
    grid_day = np.tile(days, n)
    rate = rng.gamma(8.0, 14.0 / 8.0, n)
    per_day = rng.poisson(rate[grid_unit])
    r_unit = np.repeat(grid_unit, per_day)
    r_at = (
        day0
        + np.repeat(grid_day, per_day) * DAY
        + 9 * HOUR
        + offsets(rng, 8 * HOUR, r_unit.size)
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
        + np.repeat(grid_day, per_day) * DAY
        + 9 * HOUR
        + offsets(rng, 8 * HOUR, q_unit.size)
    )
    probabilities = tilted_probabilities(
        CSAT_BASE, np.clip(quality_mean + rng.normal(0.0, 0.15, n), 1.2, 4.85)
    )
    scores = draw_scores(rng, probabilities, q_unit)
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
