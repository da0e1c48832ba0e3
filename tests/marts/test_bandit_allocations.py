"""The bandit_allocations mart (issue 19 item 3) on hand-made frames: unit-level
data is generated with numpy, summed per arm and day into arm_metrics_daily
rows, and every posterior and probability is checked against an independent
computation from the units (numpy moments; closed forms for two arms: Evan
Miller's Beta sum and Phi((m2 - m1) / sqrt(s1^2 + s2^2)); a seeded Monte Carlo
for three arms). Weights sum to 1 and keep the minimum share."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln
from scipy.stats import norm

from xpkit.marts.bandit_allocations import (
    ALL_SEGMENTS,
    BANDIT_COLUMNS,
    DECLARATION,
    DEFAULT_MIN_SHARE,
    bandit_allocations,
)

DAYS = pd.to_datetime(["2024-10-01", "2024-10-02", "2024-10-03"]).date


def beta_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """P(X_B > X_A) for X ~ Beta, integer a_B (Evan Miller's closed form)."""
    return sum(
        math.exp(
            betaln(a_a + i, b_a + b_b)
            - math.log(b_b + i)
            - betaln(1 + i, b_b)
            - betaln(a_a, b_a)
        )
        for i in range(a_b)
    )


def registry(design="bandit", min_share=None, arms=("a", "b"), metric="m"):
    experiments = pd.DataFrame(
        {
            "experiment_id": ["B1", "F1"],
            "design": [design, "fixed"],
            "bandit_min_share": [min_share, None],
            "control_variant": [arms[0], "c"],
        }
    )
    variants = pd.DataFrame(
        {
            "experiment_id": ["B1"] * len(arms) + ["F1", "F1"],
            "variant": [*arms, "c", "t"],
            "is_control": [v == arms[0] for v in arms] + [True, False],
        }
    )
    links = pd.DataFrame(
        {
            "experiment_id": ["B1", "B1", "F1"],
            "metric_id": [metric, "zz_secondary", metric],
            "role": ["primary", "secondary", "primary"],
        }
    )
    return experiments, variants, links


def metrics(aggregation="binary", direction="increase"):
    return pd.DataFrame(
        {
            "metric_id": ["m", "zz_secondary"],
            "aggregation": [aggregation, "count"],
            "desired_direction": [direction, "increase"],
        }
    )


def units(aggregation, arms, rng):
    """Unit-level data: (arm, day index, value, denominator) rows."""
    out = []
    for position, arm in enumerate(arms):
        for day in range(len(DAYS)):
            n = int(rng.integers(40, 80))
            if aggregation == "binary":
                value = (rng.random(n) < 0.2 + 0.05 * position).astype(float)
            else:
                value = rng.gamma(2.0, 3.0 + 0.2 * position, n)
            denominator = rng.integers(1, 5, n).astype(float)
            out += [(arm, day, v, d) for v, d in zip(value, denominator, strict=True)]
    return pd.DataFrame(out, columns=["variant", "day", "value", "denominator"])


def daily_rows(unit_frame, aggregation, experiment_id="B1", metric_id="m"):
    rows = []
    for (arm, day), group in unit_frame.groupby(["variant", "day"]):
        v, d = group.value.to_numpy(), group.denominator.to_numpy()
        rows.append(
            {
                "experiment_id": experiment_id,
                "variant": arm,
                "metric_id": metric_id,
                "exposure_date": DAYS[day],
                "aggregation": aggregation,
                "has_covariate": False,
                "n_units": len(v),
                "metric_sum": v.sum(),
                "metric_sum_squares": (v * v).sum(),
                "denominator_sum": d.sum(),
                "denominator_sum_squares": (d * d).sum(),
                "metric_denominator_sum_product": (v * d).sum(),
            }
        )
    return pd.DataFrame(rows)


def segment_rows(unit_frame, aggregation, segment_of):
    rows = []
    frame = unit_frame.assign(segment=[segment_of(i) for i in range(len(unit_frame))])
    for (arm, segment), group in frame.groupby(["variant", "segment"]):
        v = group.value.to_numpy()
        rows.append(
            {
                "experiment_id": "B1",
                "variant": arm,
                "metric_id": "m",
                "segment_dimension": "tier",
                "segment_value": segment,
                "aggregation": aggregation,
                "has_covariate": False,
                "n_units": len(v),
                "metric_sum": v.sum(),
                "metric_sum_squares": (v * v).sum(),
            }
        )
    return pd.DataFrame(rows, columns=[*rows[0]] if rows else None)


def build(aggregation="binary", direction="increase", min_share=None, arms=("a", "b")):
    rng = np.random.default_rng(20241203)
    frame = units(aggregation, arms, rng)
    experiments, variants, links = registry(min_share=min_share, arms=arms)
    # A fixed experiment's rows are ignored.
    other = daily_rows(units(aggregation, ("c", "t"), rng), aggregation, "F1")
    daily = pd.concat([daily_rows(frame, aggregation), other], ignore_index=True)
    segments = segment_rows(frame, aggregation, lambda i: "gold" if i % 3 else "basic")
    out = bandit_allocations(
        experiments, variants, metrics(aggregation, direction), links, daily, segments
    )
    return out, frame


def overall(out):
    return out[out.segment_dimension == ALL_SEGMENTS]


def test_binary_two_arms_match_the_beta_closed_form_each_day():
    out, frame = build("binary")
    assert list(out.columns) == list(BANDIT_COLUMNS)
    assert set(out.experiment_id) == {"B1"}
    rows = overall(out)
    assert len(rows) == 2 * len(DAYS)
    for day in range(len(DAYS)):
        upto = frame[frame.day <= day]
        s = upto.groupby("variant").value.sum()
        n = upto.groupby("variant").size()
        want_b = beta_b_beats_a(
            int(1 + s.a), int(1 + n.a - s.a), int(1 + s.b), int(1 + n.b - s.b)
        )
        got = rows[rows.day_number == day + 1].set_index("variant")
        assert got.exposure_date.tolist() == [DAYS[day]] * 2
        assert got.probability_best["b"] == pytest.approx(want_b, rel=1e-9)
        assert got.probability_best["a"] == pytest.approx(1 - want_b, rel=1e-9)
        for arm in ("a", "b"):
            a, b = 1 + s[arm], 1 + n[arm] - s[arm]
            assert got.n_units[arm] == n[arm]
            assert got.metric_mean[arm] == pytest.approx(s[arm] / n[arm], rel=1e-12)
            assert got.posterior_mean[arm] == pytest.approx(a / (a + b), rel=1e-12)
            sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
            assert got.posterior_sd[arm] == pytest.approx(sd, rel=1e-12)
        # Default floor 0.05: w = 0.05 + 0.9 p.
        w = got.allocation_weight
        assert w.sum() == pytest.approx(1.0, rel=1e-12)
        assert w["b"] == pytest.approx(0.05 + 0.9 * want_b, rel=1e-9)
        assert (got.min_share == DEFAULT_MIN_SHARE).all()
        assert got.is_control.tolist() == [True, False]
        assert (got.posterior_family == "beta").all()
        assert got.error_message.isna().all()


def test_decrease_makes_the_lowest_rate_best():
    up, _ = build("binary", "increase")
    down, _ = build("binary", "decrease")
    p_up = overall(up).set_index(["day_number", "variant"]).probability_best
    p_down = overall(down).set_index(["day_number", "variant"]).probability_best
    # Two arms, P(b lowest) is P(a highest) up to P(tie) = 0 for continuous
    # posteriors: Beta(1 + f, 1 + s) of the failure rates swaps the roles.
    for day in range(1, len(DAYS) + 1):
        assert p_down[(day, "a")] == pytest.approx(p_up[(day, "b")], rel=1e-9)


@pytest.mark.parametrize("aggregation", ["count", "ratio"])
def test_normal_two_arms_match_phi_of_the_unit_level_moments(aggregation):
    out, frame = build(aggregation)
    rows = overall(out)
    for day in range(len(DAYS)):
        upto = frame[frame.day <= day]
        mean, sd = {}, {}
        for arm, group in upto.groupby("variant"):
            v, d = group.value.to_numpy(), group.denominator.to_numpy()
            if aggregation == "count":
                mean[arm] = v.mean()
                sd[arm] = v.std(ddof=1) / math.sqrt(len(v))
            else:
                r = v.sum() / d.sum()
                linear = (v - r * d) / d.mean()
                mean[arm] = r
                sd[arm] = linear.std(ddof=1) / math.sqrt(len(v))
        got = rows[rows.day_number == day + 1].set_index("variant")
        want_b = norm.cdf((mean["b"] - mean["a"]) / math.hypot(sd["a"], sd["b"]))
        assert got.probability_best["b"] == pytest.approx(want_b, rel=1e-9)
        for arm in ("a", "b"):
            assert got.posterior_mean[arm] == pytest.approx(mean[arm], rel=1e-9)
            assert got.posterior_sd[arm] == pytest.approx(sd[arm], rel=1e-9)
        assert (got.posterior_family == "normal").all()
        assert got.allocation_weight.sum() == pytest.approx(1.0, rel=1e-12)


def test_three_arms_weights_sum_to_one_and_keep_the_floor():
    out, frame = build("count", min_share=0.1, arms=("a", "b", "c"))
    last = overall(out)
    last = last[last.day_number == len(DAYS)].set_index("variant")
    assert last.allocation_weight.sum() == pytest.approx(1.0, rel=1e-12)
    assert (last.allocation_weight >= 0.1 - 1e-15).all()
    assert (last.min_share == 0.1).all()
    # Monte Carlo oracle of P(best) from the unit-level normal posteriors.
    groups = frame.groupby("variant").value
    means = groups.mean().to_numpy()
    sds = (groups.std(ddof=1) / np.sqrt(groups.size())).to_numpy()
    rng = np.random.default_rng(5)
    draws = rng.normal(means, sds, size=(400_000, 3))
    share = np.bincount(draws.argmax(axis=1), minlength=3) / draws.shape[0]
    error = np.sqrt(share * (1 - share) / draws.shape[0])
    got = last.probability_best.to_numpy()
    assert np.all(np.abs(got - share) < 4 * error + 1e-12)
    assert last.allocation_weight.to_numpy() == pytest.approx(
        0.1 + 0.7 * got, rel=1e-12
    )


def test_segments_are_allocated_on_the_latest_day_from_their_own_units():
    out, frame = build("binary")
    segments = out[out.segment_dimension == "tier"]
    assert set(segments.segment_value) == {"gold", "basic"}
    assert (segments.exposure_date == DAYS[-1]).all()
    assert (segments.day_number == len(DAYS)).all()
    frame = frame.assign(
        segment=["gold" if i % 3 else "basic" for i in range(len(frame))]
    )
    for value, rows in segments.groupby("segment_value"):
        units_in = frame[frame.segment == value]
        s = units_in.groupby("variant").value.sum()
        n = units_in.groupby("variant").size()
        want_b = beta_b_beats_a(
            int(1 + s.a), int(1 + n.a - s.a), int(1 + s.b), int(1 + n.b - s.b)
        )
        got = rows.set_index("variant")
        assert got.probability_best["b"] == pytest.approx(want_b, rel=1e-9)
        assert got.n_units.to_dict() == n.to_dict()
        assert got.allocation_weight.sum() == pytest.approx(1.0, rel=1e-12)


def test_no_bandit_gives_zero_rows_with_the_columns():
    experiments, variants, links = registry(design="fixed")
    frame = units("binary", ("a", "b"), np.random.default_rng(1))
    out = bandit_allocations(
        experiments,
        variants,
        metrics(),
        links,
        daily_rows(frame, "binary"),
        pd.DataFrame(),
    )
    assert out.empty
    assert list(out.columns) == list(BANDIT_COLUMNS)
    assert out.dtypes.to_dict() == {
        name: pd.Series([], dtype=kind).dtype for name, kind in BANDIT_COLUMNS.items()
    }


def test_reasons_when_no_allocation_can_be_computed():
    experiments, variants, links = registry()
    empty = pd.DataFrame(columns=["experiment_id", "metric_id", "variant"])
    # No primary metric: one row naming it.
    out = bandit_allocations(
        experiments, variants, metrics(), links[links.role != "primary"], empty, empty
    )
    assert out.error_message.tolist() == ["no primary metric registered"]
    # No units yet.
    out = bandit_allocations(experiments, variants, metrics(), links, empty, empty)
    assert out.error_message.tolist() == ["no analysed units of the primary metric yet"]
    # A normal arm with one unit has no posterior sd: no weights that day.
    one = pd.DataFrame(
        [
            {"variant": "a", "day": 0, "value": 1.0, "denominator": 1.0},
            {"variant": "b", "day": 0, "value": 2.0, "denominator": 1.0},
            {"variant": "b", "day": 0, "value": 4.0, "denominator": 1.0},
        ]
    )
    out = bandit_allocations(
        experiments, variants, metrics("count"), links, daily_rows(one, "count"), empty
    )
    assert out.allocation_weight.isna().all()
    assert out.error_message.str.contains("no normal posterior").all()
    # A floor that leaves no room is named.
    experiments, variants, links = registry(min_share=0.5)
    frame = units("binary", ("a", "b"), np.random.default_rng(2))
    out = bandit_allocations(
        experiments, variants, metrics(), links, daily_rows(frame, "binary"), empty
    )
    assert out.error_message.str.contains("bandit_min_share 0.5").all()


def test_an_arm_without_units_keeps_the_uniform_beta_prior():
    experiments, variants, links = registry(arms=("a", "b", "c"))
    frame = units("binary", ("a", "b"), np.random.default_rng(3))
    out = bandit_allocations(
        experiments,
        variants,
        metrics(),
        links,
        daily_rows(frame, "binary"),
        pd.DataFrame(columns=["experiment_id", "metric_id"]),
    )
    first = out[out.day_number == 1].set_index("variant")
    assert first.n_units["c"] == 0
    assert first.posterior_mean["c"] == pytest.approx(0.5)
    assert first.allocation_weight.sum() == pytest.approx(1.0, rel=1e-12)


def test_declaration_runs_the_builder():
    experiments, variants, links = registry(design="fixed")
    empty = pd.DataFrame()
    out = DECLARATION.run(
        {
            "stg_registry__experiments": experiments,
            "stg_registry__experiment_variants": variants,
            "stg_registry__metrics": metrics(),
            "stg_registry__experiment_metrics": links,
            "arm_metrics_daily": empty,
            "arm_metrics_by_segment": empty,
        },
        {},
    )
    assert out.empty
