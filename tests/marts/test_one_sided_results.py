"""experiment_results with test_type superiority / non_inferiority (issue 17
item 7): the one-sided columns against scipy and statsmodels on the raw arrays,
the registered test deciding is_significant, direction and guardrail_status."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats import proportion, weightstats
from statsmodels.stats.multitest import multipletests
from test_results import RAW, TABLES, close, linearised, pick

from xpkit.marts.experiment_results import experiment_results


def run(test_types: dict[tuple[str, str], tuple[str, float | None]]) -> pd.DataFrame:
    arm_metrics, experiments, metrics, experiment_metrics, variants = TABLES
    links = experiment_metrics.copy()
    links["test_type"] = None
    links["non_inferiority_margin"] = None
    for (experiment, metric), (test_type, margin) in test_types.items():
        at = (links.experiment_id == experiment) & (links.metric_id == metric)
        assert at.sum() == 1
        links.loc[at, "test_type"] = test_type
        links.loc[at, "non_inferiority_margin"] = margin
    return experiment_results(
        arm_metrics, experiments, metrics, links, experiment_variants=variants
    )


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return run(
        {
            ("E001", "reply"): ("superiority", None),
            ("E001", "revenue"): ("non_inferiority", 0.02),
            ("E002", "resolution"): ("superiority", None),
            ("E002", "csat"): ("non_inferiority", 0.15),
            ("E004", "click"): ("non_inferiority", 0.1),
        }
    )


def test_two_sided_rows_are_unchanged_when_others_are_one_sided(results):
    plain = run({})
    row, base = (
        pick(results, "E001", "meeting", "ai_drafted"),
        pick(plain, "E001", "meeting", "ai_drafted"),
    )
    assert row.test_type == "two_sided" and pd.isna(row.one_sided_p_value)
    assert row.p_value_adjusted == base.p_value_adjusted
    assert row.is_significant == base.is_significant
    assert (plain.test_type == "two_sided").all()
    assert plain.one_sided_p_value.isna().all()


def test_binary_superiority_matches_statsmodels_score_test(results):
    row = pick(results, "E001", "reply", "ai_drafted")
    c, t = RAW[("E001", "control", "reply")], RAW[("E001", "ai_drafted", "reply")]
    oracle = proportion.test_proportions_2indep(
        t.sum(),
        t.size,
        c.sum(),
        c.size,
        method="score",
        compare="diff",
        alternative="larger",
        correction=False,
    )
    assert row.method == "two_proportion_score_z"
    assert row.one_sided_p_value == close(oracle.pvalue)
    # The primary family has one row: adjusted = unadjusted.
    assert row.one_sided_p_value_adjusted == close(oracle.pvalue)
    assert row.is_significant and row.direction == "good"
    assert "one-sided superiority test" in row.summary


def test_cuped_and_welch_non_inferiority_guardrail(results):
    row = pick(results, "E001", "revenue", "ai_drafted")
    c, t = RAW[("E001", "control", "revenue")], RAW[("E001", "ai_drafted", "revenue")]
    delta = 0.02 * np.mean(c)
    _, p, _ = weightstats.ttest_ind(
        t, c, alternative="larger", usevar="unequal", value=-delta
    )
    assert row.one_sided_p_value == close(p)
    assert row.non_inferiority_margin_abs == close(delta)
    low = weightstats.CompareMeans.from_data(t, c).tconfint_diff(
        alpha=0.05, alternative="larger", usevar="unequal"
    )[0]
    assert row.one_sided_bound == close(low)
    assert row.guardrail_status == ("passed" if p < 0.05 else "inconclusive")
    assert row.guardrail_bound == close(low / np.mean(c))
    assert row.cuped_one_sided_p_value is not None and row.cuped_one_sided_bound < (
        row.cuped_abs_lift
    )


def test_ratio_superiority_of_a_decrease_metric(results):
    row = pick(results, "E002", "resolution", "llm_assisted")
    z_c = linearised(
        RAW[("E002", "human_only", "minutes")], RAW[("E002", "human_only", "tickets")]
    )
    z_t = linearised(
        RAW[("E002", "llm_assisted", "minutes")],
        RAW[("E002", "llm_assisted", "tickets")],
    )
    oracle = stats.ttest_ind(z_t, z_c, equal_var=False, alternative="less")
    assert row.one_sided_p_value == close(oracle.pvalue)
    high = oracle.confidence_interval(confidence_level=1 - 0.1).high  # alpha 0.1
    assert row.one_sided_bound == close(high)
    assert row.is_significant and row.direction == "good"


def test_non_inferiority_guardrail_breached_when_the_best_case_is_past_margin(results):
    # CSAT falls from about 4.1 to 3.7 (-10%): worse than a 5% margin for sure,
    # and past 15% at best? No: the best case is about -8%, so a 15% margin
    # passes, while the two-sided test still names the harm.
    row = pick(results, "E002", "csat", "llm_assisted")
    assert row.guardrail_status == "passed" and row.is_significant
    assert row.direction == "bad"
    tight = run({("E002", "csat"): ("non_inferiority", 0.02)})
    row = pick(tight, "E002", "csat", "llm_assisted")
    assert row.guardrail_status == "breached" and not row.is_significant
    c = RAW[("E002", "human_only", "csat")]
    t = RAW[("E002", "llm_assisted", "csat")]
    high = weightstats.CompareMeans.from_data(t, c).tconfint_diff(
        alpha=0.1, alternative="smaller", usevar="unequal"
    )[1]
    assert high < -0.02 * np.mean(c)


def test_one_sided_p_values_share_the_family_correction(results):
    """E004 secondary family: click (non-inferiority, one-sided p) and no other
    secondary: three variants x one metric, Holm over the registered p-values."""
    rows = results[(results.experiment_id == "E004") & (results.metric_id == "click")]
    p = rows.one_sided_p_value.to_numpy(dtype=float)
    want = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(rows.one_sided_p_value_adjusted, want, rtol=1e-12)
    for row, adjusted in zip(rows.itertuples(), want, strict=True):
        assert row.is_significant == (adjusted < 0.05)


def test_one_sided_p_below_alpha_exactly_when_bound_clears(results):
    rows = results[results.one_sided_p_value.notna()]
    assert len(rows) >= 6
    for row in rows.itertuples():
        sign = -1 if row.desired_direction == "decrease" else 1
        delta = (
            row.non_inferiority_margin_abs
            if pd.notna(row.non_inferiority_margin_abs)
            else 0
        )
        assert (row.one_sided_p_value < row.alpha) == (
            sign * row.one_sided_bound > -delta
        )
