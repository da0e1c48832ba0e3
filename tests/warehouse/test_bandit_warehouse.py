"""marts.bandit_allocations (issue 19 item 3) on a copy of the demo warehouse
whose registry makes E001 (binary reply rate, 2 arms), E002 (ratio resolution
minutes per ticket, decrease) and E004 (binary click rate, 4 arms, minimum
share 0.1) bandits; the demo itself has no bandit (its decisions stay as
they are). The oracle is pandas on marts.arm_metrics_daily (cumulative sums
by hand) with the closed forms for two arms (Evan Miller's Beta sum;
Phi((m2 - m1) / sqrt(s1^2 + s2^2)) on delta-method ratio variances) and a
seeded Monte Carlo for four. The same registry has an unknown design and a
minimum share that leaves no room: both are registry problems."""

from __future__ import annotations

import math
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln
from scipy.stats import norm
from warehouse import BIN, REPO, read_tables, run

pytestmark = pytest.mark.warehouse


def beta_b_beats_a(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    return sum(
        math.exp(
            betaln(a_a + i, b_a + b_b)
            - math.log(b_b + i)
            - betaln(1 + i, b_b)
            - betaln(a_a, b_a)
        )
        for i in range(int(a_b))
    )


@pytest.fixture(scope="module")
def built(demo_warehouse, tmp_path_factory):
    work = tmp_path_factory.mktemp("bandit")
    database = work / "copy.duckdb"
    shutil.copy2(demo_warehouse["database"], database)
    with duckdb.connect(str(database)) as con:
        con.execute(
            "alter table registry.experiments add column bandit_min_share double"
        )
        con.execute(
            "update registry.experiments set design = 'bandit' "
            "where experiment_id in ('E001', 'E002', 'E004')"
        )
        con.execute(
            "update registry.experiments set bandit_min_share = 0.1 "
            "where experiment_id = 'E004'"
        )
        con.execute(
            "update registry.experiments set design = ' Adaptive' "
            "where experiment_id = 'E003'"
        )
        con.execute(
            "update registry.experiments set bandit_min_share = 0.7 "
            "where experiment_id = 'E005'"
        )
    env = {"XP_AS_OF": "2024-11-01 12:00:00"}
    for verb in ("run", "test"):
        run(
            [
                str(BIN / "dbt"),
                verb,
                "--profiles-dir",
                ".",
                "--select",
                "stg_registry__experiments int_registry_problems bandit_allocations"
                if verb == "run"
                else "bandit_allocations",
            ],
            REPO,
            database,
            work,
            env,
        )
    return read_tables(
        database,
        "marts.bandit_allocations",
        "marts.arm_metrics_daily",
        "marts.arm_metrics_by_segment",
        "intermediate.int_registry_problems",
        "staging.stg_registry__experiments",
    )


def cumulative(daily: pd.DataFrame, experiment_id: str, metric_id: str) -> pd.DataFrame:
    rows = daily[
        (daily.experiment_id == experiment_id) & (daily.metric_id == metric_id)
    ]
    columns = [
        "n_units",
        "metric_sum",
        "metric_sum_squares",
        "denominator_sum",
        "denominator_sum_squares",
        "metric_denominator_sum_product",
    ]
    wide = rows.pivot_table(
        index="exposure_date", columns="variant", values=columns, aggfunc="sum"
    ).fillna(0.0)
    return wide.sort_index().cumsum()


def test_only_the_bandits_have_rows_every_day_and_segment(built):
    out = built["marts.bandit_allocations"]
    assert set(out.experiment_id) == {"E001", "E002", "E004"}
    assert out.error_message.isna().all()
    sums = out.groupby(
        ["experiment_id", "exposure_date", "segment_dimension", "segment_value"]
    ).allocation_weight.sum()
    assert np.allclose(sums, 1.0, rtol=1e-12)
    e004 = out[out.experiment_id == "E004"]
    assert (e004.allocation_weight >= 0.1 - 1e-15).all()
    assert (out[out.experiment_id != "E004"].min_share == 0.05).all()
    daily = built["marts.arm_metrics_daily"]
    for experiment_id, metric_id in (
        ("E001", "reply_rate"),
        ("E002", "resolution_minutes_per_ticket"),
        ("E004", "email_click_rate"),
    ):
        mine = out[(out.experiment_id == experiment_id)]
        assert set(mine.metric_id) == {metric_id}
        days = sorted(
            daily[daily.experiment_id == experiment_id].exposure_date.unique()
        )
        overall = mine[mine.segment_dimension == "(all)"]
        assert sorted(overall.exposure_date.unique()) == days
        # Contextual rows: the demo's declared dimension, latest day only.
        segments = built["marts.arm_metrics_by_segment"]
        want = segments[
            (segments.experiment_id == experiment_id)
            & (segments.metric_id == metric_id)
        ][["segment_dimension", "segment_value"]].drop_duplicates()
        contextual = mine[mine.segment_dimension != "(all)"]
        got = contextual[["segment_dimension", "segment_value"]].drop_duplicates()
        assert len(got) == len(want) > 0
        assert (contextual.exposure_date == days[-1]).all()


def test_binary_two_arm_probabilities_equal_the_closed_form(built):
    out = built["marts.bandit_allocations"]
    sums = cumulative(built["marts.arm_metrics_daily"], "E001", "reply_rate")
    rows = out[(out.experiment_id == "E001") & (out.segment_dimension == "(all)")]
    for day, got in rows.groupby("exposure_date"):
        s, n = sums.loc[day, "metric_sum"], sums.loc[day, "n_units"]
        want = beta_b_beats_a(
            1 + s["control"],
            1 + n["control"] - s["control"],
            1 + s["ai_drafted"],
            1 + n["ai_drafted"] - s["ai_drafted"],
        )
        got = got.set_index("variant")
        assert got.probability_best["ai_drafted"] == pytest.approx(want, rel=1e-9)
        assert got.n_units.to_dict() == n.astype(int).to_dict()


def test_ratio_decrease_probabilities_equal_phi_of_the_delta_method(built):
    out = built["marts.bandit_allocations"]
    sums = cumulative(
        built["marts.arm_metrics_daily"], "E002", "resolution_minutes_per_ticket"
    )
    rows = out[(out.experiment_id == "E002") & (out.segment_dimension == "(all)")]
    checked = 0
    for day, got in rows.groupby("exposure_date"):
        got = got.set_index("variant")
        if got.error_message.notna().any():
            # An arm without a normal posterior yet (fewer than 2 units).
            assert (sums.loc[day, "n_units"] < 2).any()
            continue
        mean, sd = {}, {}
        for arm in ("human_only", "llm_assisted"):
            n = sums.loc[day, ("n_units", arm)]
            m = sums.loc[day, ("metric_sum", arm)]
            mm = sums.loc[day, ("metric_sum_squares", arm)]
            d = sums.loc[day, ("denominator_sum", arm)]
            dd = sums.loc[day, ("denominator_sum_squares", arm)]
            md = sums.loc[day, ("metric_denominator_sum_product", arm)]
            r = m / d
            # Sample (co)variances of m and d, then of (m - r d) / dbar.
            var_m = (mm - m * m / n) / (n - 1)
            var_d = (dd - d * d / n) / (n - 1)
            cov = (md - m * d / n) / (n - 1)
            var = (var_m - 2 * r * cov + r * r * var_d) / (d / n) ** 2
            mean[arm], sd[arm] = r, math.sqrt(var / n)
        # Lower is better: P(llm best) = P(r_llm < r_human).
        want = norm.cdf(
            (mean["human_only"] - mean["llm_assisted"])
            / math.hypot(sd["human_only"], sd["llm_assisted"])
        )
        # The mart reads the shifted sums, the oracle the raw ones.
        assert got.probability_best["llm_assisted"] == pytest.approx(want, rel=1e-8)
        for arm in ("human_only", "llm_assisted"):
            assert got.posterior_mean[arm] == pytest.approx(mean[arm], rel=1e-9)
            assert got.posterior_sd[arm] == pytest.approx(sd[arm], rel=1e-8)
        checked += 1
    # Every day on which both arms have 2+ units has a posterior and was checked.
    usable = sums["n_units"].ge(2).all(axis=1)
    assert checked == int(usable.sum()) > 0


def test_four_arm_probabilities_match_monte_carlo(built):
    out = built["marts.bandit_allocations"]
    rows = out[(out.experiment_id == "E004") & (out.segment_dimension == "(all)")]
    last = rows[rows.day_number == rows.day_number.max()].set_index("variant")
    a = 1 + last.n_units * last.metric_mean
    b = 1 + last.n_units * (1 - last.metric_mean)
    rng = np.random.default_rng(4)
    draws = np.column_stack([rng.beta(a[v], b[v], 400_000) for v in last.index])
    share = np.bincount(draws.argmax(axis=1), minlength=len(last)) / draws.shape[0]
    error = np.sqrt(share * (1 - share) / draws.shape[0])
    got = last.probability_best.to_numpy()
    assert np.all(np.abs(got - share) < 4 * error + 1e-12)
    assert last.allocation_weight.to_numpy() == pytest.approx(
        0.1 + 0.6 * got, rel=1e-12
    )


def test_unknown_design_and_roomless_min_share_are_registry_problems(built):
    problems = built["intermediate.int_registry_problems"]
    text = problems.astype(str).agg(" | ".join, axis=1)
    assert text.str.contains("experiment_id = E003").any()
    assert text.str.contains("design 'adaptive' is not fixed or bandit").any()
    assert text.str.contains("bandit_min_share must lie in").any()
    assert text[text.str.contains("bandit_min_share")].str.contains("E005").all()
    staged = built["staging.stg_registry__experiments"].set_index("experiment_id")
    assert staged.design["E005"] == "fixed"
    assert staged.design["E001"] == "bandit"
