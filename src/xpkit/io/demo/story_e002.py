"""Story E002, LLM support bot for tier-1 tickets: its units, exposures and events, and
what was planted (see ``xpkit.io.demo``)."""

from __future__ import annotations

import numpy as np

from xpkit.io.demo.common import (
    CSAT_BASE,
    DAY,
    HOUR,
    MINUTE,
    REGISTRY,
    TEAM_SHARES,
    TEAMS,
    Builder,
    assign_exact,
    draw_scores,
    offsets,
    rounded,
    tilted_probabilities,
    trunc_exp,
    us,
)

__all__ = ["story"]


def story(rng: np.random.Generator, b: Builder) -> dict:
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
    team = rng.choice(3, size=n, p=TEAM_SHARES)
    units = b.add_units(ids, np.array(TEAMS, dtype=object)[team])
    arm = assign_exact(rng, counts)
    codes = b.names.codes(names)

    # A day grid per agent from 25 September to 31 October; agents work ~3/4 of
    # days, 8-hour shifts from 08:00-09:30 UTC, and join on 10-13 October.
    day0 = us("2024-09-25")
    n_days = (us("2024-11-01") - day0) // DAY
    join_day = (us(reg["start"]) - day0) // DAY + rng.integers(0, 4, n)
    worked = rng.random((n, n_days)) < 0.75
    worked[np.arange(n), join_day] = True
    shift = (
        day0
        + np.arange(n_days, dtype=np.int64)[None, :] * DAY
        + 8 * HOUR
        + offsets(rng, 90 * MINUTE, n * n_days).reshape(n, n_days)
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
    t_at = np.repeat(shift.ravel(), per_shift.ravel()) + offsets(
        rng, 8 * HOUR, t_agent.size
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
    probabilities = tilted_probabilities(CSAT_BASE, means)
    responded = rng.random(t_agent.size) < csat_response_rate
    r_agent = t_agent[responded]
    scores = draw_scores(
        rng, probabilities, r_agent + n * treated[responded].astype(np.int64)
    )
    r_at = (
        t_at[responded]
        + 2 * MINUTE
        + trunc_exp(rng, 3 * HOUR, 48 * HOUR, r_agent.size).astype(np.int64)
    )
    b.add_events(story, units[r_agent], "csat_submitted", r_at, scores)

    # Anonymous survey answers logged with an empty unit id (quarantined).
    anon = rng.choice(r_agent.size, size=2, replace=False)
    b.add_events(
        story,
        np.full(2, b.units.code(""), np.int32),
        "csat_submitted",
        r_at[anon] + 17 * MINUTE,
        scores[anon],
        kind="empty_unit_id",
    )

    shares = TEAM_SHARES
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
            metric: {name: rounded(v, 4) for name, v in zip(names, vals, strict=True)}
            for metric, vals in overall.items()
        },
        "parameters": {
            "segment_column": "segment (the agent's ticket-category team)",
            "team_shares": dict(zip(TEAMS, shares.tolist(), strict=True)),
            "resolution_minutes_per_ticket_by_team": {
                names[0]: dict(zip(TEAMS, minutes_control.tolist(), strict=True)),
                names[1]: {
                    t: rounded(m * speed_up, 4)
                    for t, m in zip(TEAMS, minutes_control, strict=True)
                },
            },
            "resolution_time_multiplier_treated": rounded(speed_up),
            "csat_score_by_team": {
                names[0]: dict(zip(TEAMS, csat_control.tolist(), strict=True)),
                names[1]: dict(zip(TEAMS, csat_treated.tolist(), strict=True)),
            },
            "csat_relative_change_by_team": {
                t: rounded(tr / c - 1)
                for t, c, tr in zip(TEAMS, csat_control, csat_treated, strict=True)
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
