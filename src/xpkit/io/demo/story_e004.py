"""Story E004, E-mail personalisation by tone: its units, exposures and events, and
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
    multi_variant,
    offsets,
    rounded,
    trunc_exp,
    us,
)

__all__ = ["story"]


# --------------------------------------------------------------------------
# E004: e-mail personalisation A/B/n with a tone x segment interaction
# --------------------------------------------------------------------------
SEGMENTS_E004 = ("High-Value Recent", "Standard", "New Customer")


def story(rng: np.random.Generator, b: Builder) -> dict:
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
    window = reg["window"] * DAY
    n = int(sizes.sum())

    segment = rng.permutation(np.repeat(np.arange(3), sizes))
    arm = np.empty(n, dtype=np.int64)
    for s, size in enumerate(sizes):
        members = np.flatnonzero(segment == s)
        arm[members] = assign_exact(rng, [size // 4] * 4)
    ids = [f"cust_{i:05d}" for i in range(1, n + 1)]
    units = b.add_units(ids, np.array(SEGMENTS_E004, dtype=object)[segment])
    codes = b.names.codes(names)

    # The campaign went out on 3-5 September in two batches a day.
    fe = (
        us("2024-09-03")
        + rng.integers(0, 3, n) * DAY
        + rng.choice([9 * HOUR, 13 * HOUR], size=n)
        + offsets(rng, 40 * MINUTE, n)
    )
    p_open = open_base[segment] * open_mult[arm, segment]
    p_click = click_base[segment] * click_mult[arm, segment]
    opened = rng.random(n) < p_open
    clicked = opened & (rng.random(n) < p_click)
    ordered = clicked & (rng.random(n) < order_base[segment])

    open_at = fe + trunc_exp(rng, 10 * HOUR, 5 * DAY, n).astype(np.int64)
    click_at = (
        open_at
        + MINUTE
        + offsets(rng, 30 * MINUTE, n)
        + trunc_exp(rng, 2 * HOUR, 20 * HOUR, n).astype(np.int64)
    )
    order_at = (
        click_at
        + 5 * MINUTE
        + np.floor(rng.random(n) ** 2 * (fe + window - click_at - 10 * MINUTE) * 0.9)
    ).astype(np.int64)
    amount = np.round(
        order_value[segment] * np.exp(rng.normal(0.0, 0.5, n) - 0.5**2 / 2), 2
    )

    # Reminder to customers who had not opened within two days.
    remind_at = fe + 2 * DAY + offsets(rng, 30 * MINUTE, n)
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
        open_at[u] + 3 * MINUTE + offsets(rng, 3 * DAY, u.size),
    )
    k = rng.poisson(0.3, n) * clicked
    u = np.repeat(np.arange(n), k)
    b.add_events(
        story,
        units[u],
        "email_clicked",
        click_at[u] + MINUTE + offsets(rng, fe[u] + window - click_at[u], u.size),
    )
    second = ordered & (rng.random(n) < 0.08)
    second_at = order_at + offsets(rng, fe + window - order_at, n)
    second_amount = np.round(
        order_value[segment] * np.exp(rng.normal(0.0, 0.5, n) - 0.5**2 / 2), 2
    )
    b.add_events(
        story, units[second], "order_placed", second_at[second], second_amount[second]
    )

    # Mess: multi-variant customers, a mis-cased variant, negative order
    # amounts (refunds logged as orders), opens with no customer id.
    multi = multi_variant(
        rng, b, story, "E004", units, arm, fe, codes, 18, (DAY, 3 * DAY)
    )
    bad = np.sort(rng.choice(np.setdiff1d(np.arange(n), multi), 3, replace=False))
    b.add_exposures(
        story,
        "E004",
        units[bad],
        "Urgent",
        fe[bad] + HOUR + offsets(rng, DAY, 3),
        kind="unknown_variant",
    )
    buyers = np.flatnonzero(ordered & (order_at < fe + window - HOUR))
    refund = np.sort(rng.choice(buyers, 4, replace=False))
    b.add_events(
        story,
        units[refund],
        "order_placed",
        order_at[refund] + offsets(rng, fe[refund] + window - order_at[refund], 4),
        -amount[refund],
        kind="negative_value",
    )
    anon = np.sort(rng.choice(np.flatnonzero(opened), 2, replace=False))
    b.add_events(
        story,
        np.full(2, -1, np.int32),
        "email_opened",
        open_at[anon] + 7 * MINUTE,
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
            seg: {name: rounded(values[v, s]) for v, name in enumerate(names)}
            for s, seg in enumerate(SEGMENTS_E004)
        }
        for metric, values in rates.items()
    }
    winners = {
        seg: names[int(np.argmax(rates["email_click_rate"][:, s]))]
        for s, seg in enumerate(SEGMENTS_E004)
    }
    return {
        "names": names,
        "arm": arm,
        "units": ids,
        "multi": multi,
        "planted": {
            metric: {name: rounded(values[v] @ shares) for v, name in enumerate(names)}
            for metric, values in rates.items()
        },
        "parameters": {
            "segment_sizes": dict(zip(SEGMENTS_E004, sizes.tolist(), strict=True)),
            "randomisation": "stratified by segment, exactly 25% per arm",
            "open_rate_control": dict(
                zip(SEGMENTS_E004, open_base.tolist(), strict=True)
            ),
            "click_given_open_control": dict(
                zip(SEGMENTS_E004, click_base.tolist(), strict=True)
            ),
            "order_given_click": dict(
                zip(SEGMENTS_E004, order_base.tolist(), strict=True)
            ),
            "order_value_mean": dict(
                zip(SEGMENTS_E004, order_value.tolist(), strict=True)
            ),
            "second_order_share": 0.08,
            "open_multiplier": {
                name: dict(zip(SEGMENTS_E004, open_mult[v].tolist(), strict=True))
                for v, name in enumerate(names)
            },
            "click_given_open_multiplier": {
                name: dict(zip(SEGMENTS_E004, click_mult[v].tolist(), strict=True))
                for v, name in enumerate(names)
            },
            "by_segment": by_segment,
            "click_rate_winner_by_segment": winners,
            "send_days": ["2024-09-03", "2024-09-05"],
        },
        "expected_decision": None,
    }
