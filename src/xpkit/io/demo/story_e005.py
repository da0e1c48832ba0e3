"""Story E005, Personalised home feed: its units, exposures and events, and
what was planted (see ``xpkit.io.demo``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xpkit.io.demo.common import (
    DAY,
    HOUR,
    MINUTE,
    NULL_TIME,
    REGISTRY,
    UNREGISTERED,
    Builder,
    assign_exact,
    multi_variant,
    offsets,
    rounded,
    sigmoid,
    us,
)

__all__ = ["story"]


# --------------------------------------------------------------------------
# E005: large product experiment, strong pre-period, imperfect compliance
# --------------------------------------------------------------------------
SEGMENTS_E005 = ("casual", "regular", "vip")


def story(rng: np.random.Generator, b: Builder) -> dict:
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
    window = reg["window"] * DAY
    lookback = reg["lookback"] * DAY

    seg = rng.choice(3, size=n_pop, p=[0.5, 0.4, 0.1])
    age = np.clip(np.round(rng.normal(35.0, 10.0, n_pop)), 18, 75).astype(np.int64)
    activity = rng.gamma(2.0, 2.0, n_pop)
    signup = rng.integers(1, 7, n_pop)
    eligible = rng.random(n_pop) < sigmoid(3.5 + 0.5 * (activity - 4.0))
    trait = rng.standard_normal(n_pop)  # unobserved: drives uptake and outcome
    ids = [f"user_{i:06d}" for i in range(1, n_pop + 1)]
    all_units = b.add_units(
        ids,
        np.array(SEGMENTS_E005, dtype=object)[seg],
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
    arm = assign_exact(rng, [n - n // 2, n // 2])
    codes = b.names.codes(names)
    received = rng.random(n) < sigmoid(
        np.where(arm == 1, uptake["intercept_assigned"], uptake["intercept_control"])
        + uptake["trait"] * trait
    )

    fe = us(reg["start"]) + offsets(rng, 14 * DAY, n)
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
        fe[r] + offsets(rng, window, r.size),
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
            fe[u_pre] - lookback + offsets(rng, lookback, u_pre.size),
            fe[u_post] + offsets(rng, window, u_post.size),
        ]
    )
    s_minutes = np.maximum(
        np.round(rng.gamma(session_shape, length[s_unit] / session_shape), 2), 0.01
    )
    b.add_events(story, units[s_unit], "app_session", s_at, s_minutes)

    p_buy = sigmoid(
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
            fe[buy_pre] - lookback + offsets(rng, lookback, int(buy_pre.sum())),
            fe[buy_post] + offsets(rng, window, int(buy_post.sum())),
        ]
    )
    amount = np.round(25.0 * np.exp(rng.normal(0.0, 0.6, p_unit.size)), 2)
    b.add_events(story, units[p_unit], "purchase", p_at, amount)

    # Mess. Multi-variant users (0.3%), a retired variant name, exposures with
    # no timestamp or after the end date, sessions with no user id or a clock
    # in the future, purchases with no timestamp.
    n_multi = round(0.003 * n)
    multi = multi_variant(
        rng,
        b,
        story,
        "E005",
        units,
        arm,
        fe,
        codes,
        n_multi,
        (HOUR, 10 * DAY),
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
        fe[legacy] + offsets(rng, window, 3),
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
        us("2024-07-01") + offsets(rng, 2 * DAY, 2),
        received=received[late].astype(np.int8),
        kind="out_of_range",
    )
    # An unregistered experiment someone ran on the same users.
    b.add_exposures(
        0,
        UNREGISTERED,
        units[other_exp],
        np.array(
            b.names.codes(["control", "variant_b", "control", "variant_b", "control"])
        ),
        fe[other_exp] + offsets(rng, DAY, 5),
        kind="unknown_experiment",
    )
    sessions = rng.choice(u_post.size, 5, replace=False)
    b.add_events(
        story,
        np.full(2, -1, np.int32),
        "app_session",
        s_at[n_pre.sum() + sessions[:2]] + MINUTE,
        np.round(s_minutes[n_pre.sum() + sessions[:2]], 2),
        kind="null_unit_id",
    )
    b.add_events(
        story,
        units[u_post[sessions[2:]]],
        "app_session",
        us("2099-01-01") + offsets(rng, 365 * DAY, 3),
        np.round(s_minutes[n_pre.sum() + sessions[2:]], 2),
        kind="future_timestamp",
    )
    buyers = np.sort(rng.choice(np.flatnonzero(buy_post), 3, replace=False))
    b.add_events(
        story,
        units[buyers],
        "purchase",
        np.full(3, NULL_TIME),
        np.round(25.0 * np.exp(rng.normal(0.0, 0.6, 3)), 2),
        kind="null_timestamp",
    )

    # Expected per-arm values given the realised units and compliance.
    base_minutes = rate * length
    planted: dict[str, Any] = {}
    uptake_rate: dict[str, Any] = {}
    for k, name in enumerate(names):
        in_arm = arm == k
        uptake_rate[name] = rounded(received[in_arm].mean())
        planted.setdefault("engagement_minutes", {})[name] = rounded(
            (base_minutes[in_arm] + effect * received[in_arm]).mean(), 4
        )
        planted.setdefault("sessions", {})[name] = rounded(
            (rate[in_arm] + effect / length[in_arm] * received[in_arm]).mean(), 4
        )
        planted.setdefault("purchase_rate", {})[name] = rounded(
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
            "segment_shares": dict(zip(SEGMENTS_E005, [0.5, 0.4, 0.1], strict=True)),
            "effect_on_treated": effect,
            "purchase_effect_on_treated": purchase_effect,
            "compliance": {
                "model": "P(received) = sigmoid(intercept + trait * u), u ~ N(0, 1)"
                " unobserved; u also raises session rate and length",
                **uptake,
                "uptake_rate": uptake_rate,
            },
            "trait_on_outcome": trait_on,
            "itt_effect_expected": rounded(itt, 4),
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
