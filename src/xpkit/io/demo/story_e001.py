"""Story E001, AI e-mail drafting for sales: its units, exposures and events, and
what was planted (see ``xpkit.io.demo``)."""

from __future__ import annotations

import numpy as np

from xpkit.io.demo.common import (
    DAY,
    HOUR,
    MINUTE,
    REGISTRY,
    Builder,
    assign_exact,
    offsets,
    rounded,
    trunc_exp,
    us,
)

__all__ = ["story"]


# --------------------------------------------------------------------------
# E001: AI e-mail drafting for sales
# --------------------------------------------------------------------------
def story(rng: np.random.Generator, b: Builder) -> dict:
    story, reg = 1, REGISTRY["E001"]
    names = list(reg["variants"])
    counts = (500, 520)
    reply_rate = np.array([0.18, 0.26])
    meeting_rate = np.array([0.05, 0.08])
    window = reg["window"] * DAY
    n = sum(counts)

    ids = [f"prospect_{i:05d}" for i in range(1, n + 1)]
    segment = rng.choice(
        ["smb", "mid_market", "enterprise"], size=n, p=[0.5, 0.35, 0.15]
    )
    units = b.add_units(ids, segment)
    arm = assign_exact(rng, counts)
    codes = b.names.codes(names)

    # First touches on 1-3 October, in business hours (08:00-17:00 UTC).
    fe = (
        us(reg["start"])
        + rng.integers(0, 3, n) * DAY
        + 8 * HOUR
        + offsets(rng, 9 * HOUR, n)
    )
    # Exactly round(rate x units) repliers and bookers per arm, so the realised
    # rates are the planted ones; meetings come from repliers.
    replied = np.zeros(n, dtype=bool)
    booked = np.zeros(n, dtype=bool)
    for k, size in enumerate(counts):
        members = rng.permutation(np.flatnonzero(arm == k))
        replied[members[: round(reply_rate[k] * size)]] = True
        booked[members[: round(meeting_rate[k] * size)]] = True
    reply_at = fe + 10 * MINUTE + trunc_exp(rng, 1.2 * DAY, 6 * DAY, n).astype(np.int64)
    meeting_at = reply_at + offsets(rng, (fe + window - reply_at) * 0.9, n)
    # Some threads get a second reply, still inside the window.
    again = replied & (rng.random(n) < 0.25)
    again_at = reply_at + offsets(rng, fe + window - reply_at, n)

    # Follow-ups after 3 and 7 days go to prospects who have not replied yet.
    follow1 = fe + 3 * DAY + offsets(rng, 2 * HOUR, n)
    follow2 = fe + 7 * DAY + offsets(rng, 2 * HOUR, n)
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
    late_at = us("2024-10-15") + offsets(rng, 3 * DAY, 4)
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
                name: rounded(m / r)
                for name, m, r in zip(names, meeting_rate, reply_rate, strict=True)
            },
            "follow_up_after_days": [3, 7],
            "relative_lift_reply_rate": rounded(reply_rate[1] / reply_rate[0] - 1),
        },
        "expected_decision": "scale",
    }
