"""One verdict, one interval (issue 12, items 4 and 5).

- Every interval shown next to a verdict agrees with it, on every row of
  experiment_results, segment_results and daily_results: on randomised inputs
  (unit-level arrays summed into arm_metrics rows) and on the demo warehouse.
  Only p-values within 1e-12 of alpha are spared.
- The adjusted intervals equal scipy's Welch interval on the raw arrays at
  the level alpha * p / p_adjusted, with p_adjusted from statsmodels.
- Correction families: the primary is no longer diluted by secondaries.
- Guardrails are non-inferiority tests: the one-sided bound equals Fieller's
  bound computed by hand on the raw arrays (numpy roots, scipy t quantile).
- daily_results: the always-valid intervals are the running intersection of
  the per-look sequences, the relative one Fieller's at the same multiplier.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from xpkit.marts.daily_results import daily_results
from xpkit.marts.experiment_results import experiment_results
from xpkit.marts.segment_results import segment_results
from xpkit.stats.sequential import fieller_relative_interval

NEAR = 1e-12  # p-values this close to alpha are not judged


def sums(m, *, x=None, d=None) -> dict:
    """The sufficient statistics of one arm from its unit-level arrays."""
    n = m.size
    row = {
        "n_units": n,
        "metric_sum": float(np.sum(m)),
        "metric_sum_squares": float(np.sum(m * m)),
        "has_covariate": x is not None,
    }
    x = np.zeros(n) if x is None else x
    row |= {
        "covariate_sum": float(np.sum(x)),
        "covariate_sum_squares": float(np.sum(x * x)),
        "metric_covariate_sum_product": float(np.sum(m * x)),
    }
    if d is not None:
        w = np.ones(n)
        row |= {
            "denominator_sum": float(np.sum(d)),
            "denominator_sum_squares": float(np.sum(d * d)),
            "metric_denominator_sum_product": float(np.sum(m * d)),
            "covariate_denominator_sum": float(np.sum(w)),
            "covariate_denominator_sum_squares": float(np.sum(w * w)),
            "covariate_covariate_denominator_sum_product": float(np.sum(x * w)),
            "metric_covariate_denominator_sum_product": float(np.sum(m * w)),
            "denominator_covariate_sum_product": float(np.sum(d * x)),
            "denominator_covariate_denominator_sum_product": float(np.sum(d * w)),
        }
    return row


def unit_values(rng, aggregation: str, n: int, lift: float):
    """(m, x, d) unit arrays of one arm with a relative lift."""
    if aggregation == "binary":
        rate = min(0.95, 0.1 * (1 + lift))
        return (rng.random(n) < rate).astype(float), None, None
    if aggregation == "count":
        return rng.poisson(3.0 * (1 + lift), n).astype(float), None, None
    if aggregation == "sum":
        x = rng.gamma(2.0, 5.0, n)
        return 10.0 * (1 + lift) + 0.8 * x + rng.normal(0, 6, n), x, None
    d = rng.poisson(2.0, n) + 1.0
    return d * 4.0 * (1 + lift) + rng.normal(0, 3, n), None, d


AGGREGATIONS = ("binary", "count", "sum", "ratio")
ROLES = ("primary", "secondary", "secondary", "guardrail")


def random_tables(seed: int, experiments: int = 40, segments: bool = False):
    """Registry and arm_metrics(_by_segment) rows of random experiments.

    Arms of 20-2,000 units (unequal), 1-3 treatments, every metric kind, relative
    effects up to +/-25% so that p-values spread over (0, 1), alphas 0.01-0.2.
    """
    rng = np.random.default_rng(seed)
    arm_rows, experiments_rows, links, variants = [], [], [], []
    metrics = pd.DataFrame(
        [
            (f"{a}_{k}", f"{a} metric {k}", a, "increase" if k % 2 else "decrease")
            for a in AGGREGATIONS
            for k in range(2)
        ],
        columns=["metric_id", "metric_name", "aggregation", "desired_direction"],
    )
    for e in range(experiments):
        experiment = f"R{e:03d}"
        alpha = float(rng.choice([0.01, 0.05, 0.1, 0.2]))
        experiments_rows.append((experiment, "running", "control", alpha))
        arms = ["control", *(f"t{k}" for k in range(rng.integers(1, 4)))]
        variants += [(experiment, v, v == "control") for v in arms]
        chosen = rng.choice(len(metrics), size=rng.integers(2, 6), replace=False)
        for position, index in enumerate(sorted(chosen)):
            role = ROLES[0] if position == 0 else str(rng.choice(ROLES))
            tolerance = (
                rng.choice([np.nan, 0.0, 0.02, 0.1, 0.3])
                if role == "guardrail"
                else None
            )
            metric = metrics.iloc[index]
            links.append((experiment, metric.metric_id, role, tolerance))
            cells = ["a", "b", "c"] if segments else [None]
            for variant in arms:
                lift = 0.0 if variant == "control" else rng.uniform(-0.25, 0.25)
                for cell in cells:
                    n = int(rng.integers(20, 2000 if not segments else 400))
                    m, x, d = unit_values(rng, metric.aggregation, n, lift)
                    row = {
                        "experiment_id": experiment,
                        "variant": variant,
                        "metric_id": metric.metric_id,
                        "is_control": variant == "control",
                        "aggregation": metric.aggregation,
                    } | sums(m, x=x, d=d)
                    if segments:
                        row |= {"segment_dimension": "segment", "segment_value": cell}
                    arm_rows.append(row)
    return (
        pd.DataFrame(arm_rows),
        pd.DataFrame(
            experiments_rows,
            columns=["experiment_id", "status", "control_variant", "alpha"],
        ),
        metrics,
        pd.DataFrame(
            links, columns=["experiment_id", "metric_id", "role", "guardrail_tolerance"]
        ),
        pd.DataFrame(variants, columns=["experiment_id", "variant", "is_control"]),
    )


def disagreements(frame, low, high, p, verdict=None) -> pd.DataFrame:
    """Rows whose interval [low, high] excludes 0 but the verdict is 'not
    significant', or the reverse. The verdict is ``p < alpha`` (or the boolean
    column ``verdict``); p within NEAR of alpha is not judged."""
    shown = frame[frame[low].notna() & frame[high].notna()]
    shown = shown[(shown[p] - shown["alpha"]).abs() > NEAR]
    excludes = (shown[low] > 0) | (shown[high] < 0)
    rejects = shown[p] < shown["alpha"] if verdict is None else shown[verdict]
    bad = shown[excludes.astype(bool) != rejects.astype(bool)]
    return bad[["experiment_id", "metric_id", "variant", low, high, p, "alpha"]]


def assert_no_disagreement(frame, low, high, p, verdict=None):
    bad = disagreements(frame, low, high, p, verdict)
    assert bad.empty, bad.head(10).to_string()


def assert_adjusted_intervals_agree(frame: pd.DataFrame, relative=True) -> None:
    """The adjusted intervals against is_significant / the adjusted p-values,
    the absolute and CUPED unadjusted ones against their p-values. The
    relative ones (``relative``) rest on helper BINARY's Fieller interval."""
    tested = frame[frame.p_value_adjusted.notna()]
    # is_significant is the verdict of the registered test: the two-sided one,
    # or for a superiority / non-inferiority metric its one-sided test (whose
    # bound, not the two-sided interval, is what it rests on).
    one_sided = tested.test_type.isin(["superiority", "non_inferiority"])
    two_sided = tested[~one_sided]
    chosen = tested[one_sided]
    assert (
        two_sided.is_significant == (two_sided.p_value_adjusted < two_sided.alpha)
    ).all()
    assert (
        chosen.is_significant == (chosen.one_sided_p_value_adjusted < chosen.alpha)
    ).all()
    # Every tested row shows an adjusted absolute interval.
    assert tested.abs_ci_low_adjusted.notna().all()
    assert frame.abs_ci_low_adjusted[frame.p_value_adjusted.isna()].isna().all()
    assert_no_disagreement(
        frame, "abs_ci_low_adjusted", "abs_ci_high_adjusted", "p_value_adjusted"
    )
    assert_no_disagreement(
        frame[~frame.test_type.isin(["superiority", "non_inferiority"])],
        "abs_ci_low_adjusted",
        "abs_ci_high_adjusted",
        "p_value_adjusted",
        "is_significant",
    )
    if relative:
        assert_no_disagreement(
            frame, "rel_ci_low_adjusted", "rel_ci_high_adjusted", "p_value_adjusted"
        )
        assert_no_disagreement(frame, "rel_ci_low", "rel_ci_high", "p_value")
    assert_no_disagreement(frame, "abs_ci_low", "abs_ci_high", "p_value")
    assert_no_disagreement(frame, "cuped_ci_low", "cuped_ci_high", "cuped_p_value")
    assert_no_disagreement(
        frame,
        "cuped_ci_low_adjusted",
        "cuped_ci_high_adjusted",
        "cuped_p_value_adjusted",
    )
    cuped = frame[frame.cuped_p_value_adjusted.notna()]
    assert cuped.cuped_ci_low_adjusted.notna().all()


def assert_guardrails_consistent(frame: pd.DataFrame) -> None:
    """guardrail_status follows the rule from guardrail_bound and the tolerance."""
    guardrail = frame.role == "guardrail"
    assert frame.guardrail_status[~guardrail].isna().all()
    assert frame.guardrail_bound[~guardrail].isna().all()
    rows = frame[guardrail]
    assert rows.guardrail_status.isin(["passed", "breached", "inconclusive"]).all()
    tolerance = rows.guardrail_tolerance.fillna(0).astype(float)
    increase = rows.desired_direction == "increase"
    bound = rows.guardrail_bound.astype(float)
    within = np.where(increase, bound > -tolerance, bound < tolerance)
    within = pd.Series(within, index=rows.index) & rows.guardrail_bound.notna()
    assert ((rows.guardrail_status == "passed") == within).all()
    assert (rows.guardrail_status[rows.guardrail_bound.isna()] != "passed").all()
    for _, row in rows.iterrows():
        assert f"guardrail {row.guardrail_status}" in row.summary


def assert_summaries_quote_the_verdicts_interval(frame: pd.DataFrame) -> None:
    """A sentence stating an adjusted verdict quotes the adjusted interval."""
    for _, row in frame[frame.rel_ci_low_adjusted.notna()].iterrows():
        label = {"holm": "Holm-adjusted ", "bh": "Benjamini-Hochberg-adjusted "}.get(
            row.correction_method, ""
        )
        quoted = (
            f"{label}{round((1 - row.alpha) * 100, 6):g}% CI "
            f"{row.rel_ci_low_adjusted * 100:+.1f}% to "
            f"{row.rel_ci_high_adjusted * 100:+.1f}%"
        )
        assert quoted in row.summary, row.summary


CASES = [(7, "holm", "by_role"), (8, "bh", "by_role"), (9, "holm", "combined")]


@functools.cache
def random_experiment_results(
    seed: int, correction: str, families: str
) -> pd.DataFrame:
    """experiment_results of one random case, computed once for the tests that read it.

    Shared between the two tests below, which only read it: never mutate it.
    """
    arm_metrics, experiments, metrics, links, variants = random_tables(seed)
    return experiment_results(
        arm_metrics,
        experiments,
        metrics,
        links,
        correction,
        variants,
        correction_families=families,
    )


@pytest.mark.parametrize(("seed", "correction", "families"), CASES)
def test_random_experiment_results_intervals_agree_with_verdicts(
    seed, correction, families
):
    frame = random_experiment_results(seed, correction, families)
    tested = frame.p_value.notna()
    assert tested.sum() > 200
    # The comparisons are near the boundary often enough to matter.
    adjusted_up = frame.p_value_adjusted > frame.p_value
    assert (adjusted_up & (frame.p_value < frame.alpha)).sum() > 10
    assert_adjusted_intervals_agree(frame, relative=False)
    assert_guardrails_consistent(frame)
    assert_summaries_quote_the_verdicts_interval(frame)
    print(
        f"\n{correction}/{families}: {tested.sum()} comparisons, "
        f"{(frame.is_significant == True).sum()} significant after correction, "  # noqa: E712
        f"{(adjusted_up & (frame.p_value < frame.alpha)).sum()} raw-significant "
        "rows whose p-value the correction raised; guardrails "
        + str(frame.guardrail_status.value_counts().to_dict())
    )


@pytest.mark.parametrize(("seed", "correction", "families"), CASES)
def test_random_relative_intervals_agree_with_the_p_value(seed, correction, families):
    # Depends on helper BINARY's Fieller interval in frequentist.compare: the
    # delta-method interval of main crosses 0 beside significant p-values.
    frame = random_experiment_results(seed, correction, families)
    assert_no_disagreement(frame, "rel_ci_low", "rel_ci_high", "p_value")
    assert_no_disagreement(
        frame, "rel_ci_low_adjusted", "rel_ci_high_adjusted", "p_value_adjusted"
    )


def test_random_segment_results_intervals_agree_with_verdicts():
    arm_metrics, experiments, metrics, links, variants = random_tables(
        11, experiments=12, segments=True
    )
    variants["allocation_weight"] = 1.0
    frame = segment_results(
        arm_metrics, experiments, metrics, links, variants, min_units=60
    )
    assert frame.is_suppressed.any() and (~frame.is_suppressed).any()
    assert frame.p_value.notna().sum() > 100
    assert_adjusted_intervals_agree(frame)
    assert_no_disagreement(frame, "rel_ci_low", "rel_ci_high", "p_value")  # BINARY
    assert_guardrails_consistent(frame)
    suppressed = frame[frame.is_suppressed & (frame.role == "guardrail")]
    assert len(suppressed) > 0
    assert (suppressed.guardrail_status == "inconclusive").all()
    assert suppressed.abs_ci_low_adjusted.isna().all()


# ---------------------------------------------------------------------------
# Adjusted intervals against scipy on the raw arrays; correction families
# ---------------------------------------------------------------------------


def family_tables(effects, n=400, seed=5):
    """One experiment: continuous metrics m0.. with the given roles and
    treatment effects for arms t1, t2, t3 (normal values, sd 4)."""
    rng = np.random.default_rng(seed)
    raw, rows = {}, []
    arms = ("control", "t1", "t2", "t3")
    for metric, (_, lifts) in effects.items():
        for variant, lift in zip(arms, (0.0, *lifts), strict=True):
            m = rng.normal(20 + lift, 4, n + 13 * len(raw))
            raw[(metric, variant)] = m
            rows.append(
                {
                    "experiment_id": "F",
                    "variant": variant,
                    "metric_id": metric,
                    "is_control": variant == "control",
                    "aggregation": "sum",
                }
                | sums(m)
            )
    experiments = pd.DataFrame(
        [("F", "completed", "control", 0.05)],
        columns=["experiment_id", "status", "control_variant", "alpha"],
    )
    metrics = pd.DataFrame(
        [(metric, metric, "sum", "increase") for metric in effects],
        columns=["metric_id", "metric_name", "aggregation", "desired_direction"],
    )
    links = pd.DataFrame(
        [("F", metric, role, None) for metric, (role, _) in effects.items()],
        columns=["experiment_id", "metric_id", "role", "guardrail_tolerance"],
    )
    return raw, (pd.DataFrame(rows), experiments, metrics, links)


EFFECTS = {
    "m0": ("primary", (0.9, 0.5, 0.1)),
    "m1": ("secondary", (0.6, 0.0, -0.8)),
    "m2": ("secondary", (0.2, 0.7, 0.3)),
    "m3": ("secondary", (0.0, 0.1, 0.4)),
}


@pytest.mark.parametrize(("correction", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_intervals_equal_scipy_at_the_effective_level(correction, theirs):
    raw, tables = family_tables(EFFECTS)
    frame = experiment_results(*tables, correction)
    widened = 0
    for role in ("primary", "secondary"):
        rows = frame[frame.role == role]
        arrays = [
            (raw[(r.metric_id, r.variant)], raw[(r.metric_id, "control")])
            for r in rows.itertuples()
        ]
        tests = [stats.ttest_ind(t, c, equal_var=False) for t, c in arrays]
        p = np.array([test.pvalue for test in tests])
        adjusted = multipletests(p, method=theirs)[1]
        assert rows.p_value_adjusted.to_numpy(float) == pytest.approx(
            adjusted, rel=1e-9
        )
        for row, test, p_raw, p_adj in zip(
            rows.itertuples(), tests, p, adjusted, strict=True
        ):
            level = 0.05 * p_raw / p_adj
            low, high = test.confidence_interval(1 - level)
            assert row.abs_ci_low_adjusted == pytest.approx(low, rel=1e-9)
            assert row.abs_ci_high_adjusted == pytest.approx(high, rel=1e-9)
            assert ((low > 0) or (high < 0)) == (p_adj < 0.05)
            widened += p_adj > p_raw
    assert widened >= 6
    # Holm over the 3 primary comparisons only: the secondaries do not count.
    primary = frame[frame.role == "primary"]
    assert (primary.correction_family == "primary").all()


def test_primary_family_is_not_diluted_by_secondaries():
    # E004-like: a primary with raw p ~ 0.006 and 11 null secondaries. The old
    # single family multiplied it by up to 12 (not significant); its own family
    # of one keeps it (issue 12, item 4).
    effects = {"m0": ("primary", (0.8, 0.0, 0.0))} | {
        f"s{k}": ("secondary", (0.0, 0.0, 0.0)) for k in range(4)
    }
    raw, tables = family_tables(effects, seed=12)
    frame = experiment_results(*tables, "holm")
    combined = experiment_results(*tables, "holm", correction_families="combined")
    primary = frame[frame.metric_id == "m0"]
    test = stats.ttest_ind(raw[("m0", "t1")], raw[("m0", "control")], equal_var=False)
    p = [
        stats.ttest_ind(raw[("m0", v)], raw[("m0", "control")], equal_var=False).pvalue
        for v in ("t1", "t2", "t3")
    ]
    own = multipletests(p, method="holm")[1]
    row = primary[primary.variant == "t1"].iloc[0]
    assert row.p_value == pytest.approx(test.pvalue, rel=1e-9)
    assert row.p_value_adjusted == pytest.approx(own[0], rel=1e-9)
    everyone = combined[combined.role != "guardrail"]
    pooled = multipletests(everyone.p_value.to_numpy(float), method="holm")[1]
    pooled_t1 = pooled[(everyone.metric_id == "m0") & (everyone.variant == "t1")][0]
    assert row.is_significant and pooled_t1 > 0.05 > own[0]
    print(f"\nprimary t1: raw p {test.pvalue:.2g}, own family {own[0]:.2g}, "
          f"with 12 secondaries {pooled_t1:.2g}")  # fmt: skip


def test_effective_level_handles_zero_and_capped_p_values():
    from xpkit.marts.experiment_results import effective_alpha

    assert effective_alpha(0.05, 0.0, 0.0, 4) == 0.05  # p = 0: any level rejects
    assert effective_alpha(0.05, 0.0, 0.001, 4) == 0.05 / 4  # defensive: Bonferroni
    assert effective_alpha(0.05, 0.3, 1.0, 4) == pytest.approx(0.015)  # capped
    assert effective_alpha(0.05, 0.02, 0.02, 4) == 0.05  # unadjusted
    assert effective_alpha(0.05, None, None, 4) is None
    assert effective_alpha(0.05, 0.01, 0.04, 4) == pytest.approx(0.0125)


# ---------------------------------------------------------------------------
# Guardrails as non-inferiority tests
# ---------------------------------------------------------------------------


def fieller_by_hand(c, t, quantile):
    """Fieller's bounds of mean(t) / mean(c) - 1: roots of
    (mt - R mc)^2 = q^2 (Vt + R^2 Vc), numpy on the raw arrays."""
    mc, mt = c.mean(), t.mean()
    vc, vt = c.var(ddof=1) / c.size, t.var(ddof=1) / t.size
    q2 = quantile * quantile
    roots = np.sort(np.roots([mc * mc - q2 * vc, -2 * mt * mc, mt * mt - q2 * vt]))
    return roots[0] - 1, roots[1] - 1


def guardrail_case(control, treatment, tolerance, desired="increase", alpha=0.05):
    arm_metrics = pd.DataFrame(
        [
            {"experiment_id": "G", "variant": v, "metric_id": "g", "is_control": k == 0}
            | {"aggregation": "sum"}
            | sums(m)
            for k, (v, m) in enumerate((("control", control), ("t", treatment)))
        ]
    )
    tables = (
        arm_metrics,
        pd.DataFrame(
            [("G", "running", "control", alpha)],
            columns=["experiment_id", "status", "control_variant", "alpha"],
        ),
        pd.DataFrame(
            [("g", "Order value", "sum", desired)],
            columns=["metric_id", "metric_name", "aggregation", "desired_direction"],
        ),
        pd.DataFrame(
            [("G", "g", "guardrail", tolerance)],
            columns=["experiment_id", "metric_id", "role", "guardrail_tolerance"],
        ),
    )
    return experiment_results(*tables).iloc[0]


RNG = np.random.default_rng(77)
CONTROL_SMALL = RNG.normal(100, 40, 30)
TREATMENT_SMALL = RNG.normal(99, 40, 30)
CONTROL_BIG = RNG.normal(100, 10, 20000)


def test_underpowered_guardrail_is_inconclusive_not_passed():
    # 30 units per arm, sd 40% of the mean: the one-sided interval reaches far
    # past the 2% tolerance. Before issue 12 nothing marked it (not significant
    # = not breached = the experiment could be scaled).
    row = guardrail_case(CONTROL_SMALL, TREATMENT_SMALL, 0.02)
    welch = stats.ttest_ind(TREATMENT_SMALL, CONTROL_SMALL, equal_var=False)
    low, high = fieller_by_hand(
        CONTROL_SMALL, TREATMENT_SMALL, stats.t.ppf(0.95, welch.df)
    )
    assert row.direction == "flat" and not row.is_significant
    assert row.guardrail_status == "inconclusive"
    assert row.guardrail_bound == pytest.approx(low, rel=1e-9)  # BINARY's Fieller
    assert low < -0.02 < high
    assert "guardrail inconclusive: it could be as bad as" in row.summary
    assert "past the -2.0% tolerance" in row.summary
    print(f"\nunderpowered: one-sided 95% bounds {low:+.3f} / {high:+.3f}")


def test_clearly_harmful_guardrail_is_breached():
    treatment = RNG.normal(90, 10, 20000)  # -10%, tolerance 2%
    row = guardrail_case(CONTROL_BIG, treatment, 0.02)
    welch = stats.ttest_ind(treatment, CONTROL_BIG, equal_var=False)
    low, high = fieller_by_hand(CONTROL_BIG, treatment, stats.t.ppf(0.95, welch.df))
    assert row.guardrail_status == "breached"
    assert row.guardrail_bound == pytest.approx(low, rel=1e-9)
    assert high < -0.02
    assert f"guardrail breached: at best {high * 100:+.1f}%" in row.summary
    assert "worse than the -2.0% tolerance" in row.summary


def test_precise_harmless_guardrail_passes():
    treatment = RNG.normal(100.2, 10, 20000)
    row = guardrail_case(CONTROL_BIG, treatment, 0.02)
    welch = stats.ttest_ind(treatment, CONTROL_BIG, equal_var=False)
    low, _ = fieller_by_hand(CONTROL_BIG, treatment, stats.t.ppf(0.95, welch.df))
    assert row.guardrail_status == "passed"
    assert row.guardrail_bound == pytest.approx(low, rel=1e-9)
    assert low > -0.02
    assert f"guardrail passed: at worst {low * 100:+.1f}%" in row.summary
    assert "within the -2.0% tolerance" in row.summary


def test_guardrail_to_decrease_mirrors_the_rule_and_alpha_sets_the_bound():
    # A metric to decrease (say, latency) that rose 0.3%: harm is a rise.
    treatment = RNG.normal(100.3, 10, 20000)
    row = guardrail_case(CONTROL_BIG, treatment, 0.01, "decrease", alpha=0.1)
    welch = stats.ttest_ind(treatment, CONTROL_BIG, equal_var=False)
    _, high = fieller_by_hand(CONTROL_BIG, treatment, stats.t.ppf(0.9, welch.df))
    assert row.guardrail_bound == pytest.approx(high, rel=1e-9)
    assert row.guardrail_status == ("passed" if high < 0.01 else "inconclusive")
    assert row.guardrail_status == "passed"
    assert "within the +1.0% tolerance" in row.summary
    # Tolerance 0 (also what an empty tolerance means): the same +0.3% is now
    # significantly worse than the tolerance, and a change that is not
    # significant either way cannot show "no harm at all".
    zero = guardrail_case(CONTROL_BIG, treatment, None, "decrease")
    assert zero.guardrail_status == "breached"
    assert "worse than the +0.0% tolerance" in zero.summary
    same = guardrail_case(CONTROL_BIG, RNG.normal(100, 10, 20000), None, "decrease")
    assert not same.is_significant and same.guardrail_status == "inconclusive"
    assert "past the +0.0% tolerance" in same.summary


def test_guardrail_without_data_is_inconclusive():
    row = guardrail_case(CONTROL_SMALL[:1], TREATMENT_SMALL[:1], 0.02)
    assert pd.isna(row.p_value)
    assert row.guardrail_status == "inconclusive" and pd.isna(row.guardrail_bound)
    assert row.summary.endswith(
        "; guardrail inconclusive: no relative bound to compare with the -2.0% "
        "tolerance."
    )


# ---------------------------------------------------------------------------
# daily_results
# ---------------------------------------------------------------------------


def random_daily(seed: int, experiments: int = 25) -> tuple[pd.DataFrame, dict]:
    """arm_metrics_daily rows of random experiments, and their raw arrays."""
    rng = np.random.default_rng(seed)
    rows, raw = [], {}
    for e in range(experiments):
        experiment = f"D{e:02d}"
        aggregation = AGGREGATIONS[e % 4]
        lift = rng.uniform(-0.3, 0.3)
        for variant in ("control", "t"):
            for day in range(8):
                n = int(rng.integers(5, 120))
                m, _, d = unit_values(
                    rng, aggregation, n, lift if variant == "t" else 0.0
                )
                raw[(experiment, variant, day)] = (m, d)
                rows.append(
                    {
                        "experiment_id": experiment,
                        "variant": variant,
                        "metric_id": "m",
                        "exposure_date": pd.Timestamp("2024-03-01").date()
                        + pd.Timedelta(days=day),
                        "is_control": variant == "control",
                        "aggregation": aggregation,
                    }
                    | sums(m, d=d)
                    | {"has_covariate": False}
                )
    return pd.DataFrame(rows), raw


DAILY_REGISTRY = pd.DataFrame(
    [(f"D{e:02d}", "control", (0.05, 0.1, 0.2)[e % 3]) for e in range(25)],
    columns=["experiment_id", "control_variant", "alpha"],
)


def assert_daily_agreement(frame: pd.DataFrame, relative: bool = True) -> None:
    assert_no_disagreement(frame, "abs_ci_low", "abs_ci_high", "p_value")
    assert_no_disagreement(
        frame, "abs_ci_low", "abs_ci_high", "p_value", "is_significant"
    )
    assert_no_disagreement(
        frame,
        "always_valid_ci_low",
        "always_valid_ci_high",
        "always_valid_p_value",
        "is_significant_always_valid",
    )
    assert_no_disagreement(
        frame,
        "always_valid_rel_ci_low",
        "always_valid_rel_ci_high",
        "always_valid_p_value",
        "is_significant_always_valid",
    )
    if relative:  # the fixed-horizon relative interval: BINARY's Fieller
        assert_no_disagreement(frame, "rel_ci_low", "rel_ci_high", "p_value")


def test_random_daily_results_intervals_agree_with_verdicts():
    frame = daily_results(random_daily(21)[0], DAILY_REGISTRY, tuning_units=500)
    assert len(frame) == 25 * 8
    assert frame.is_significant_always_valid.sum() > 10
    assert_daily_agreement(frame)


def test_daily_results_always_valid_absolute_part_agrees():
    # The part of the agreement that does not depend on other helpers' work.
    frame = daily_results(random_daily(22)[0], DAILY_REGISTRY, tuning_units=500)
    assert_daily_agreement(frame, relative=False)
    # Running intersection: the sequence never widens from one look to the next.
    for _, series in frame.groupby("experiment_id"):
        lows = series.always_valid_ci_low.dropna().to_numpy(float)
        highs = series.always_valid_ci_high.dropna().to_numpy(float)
        assert (np.diff(lows) >= 0).all() and (np.diff(highs) <= 0).all()


def test_daily_results_sequences_equal_the_running_intersection_by_hand():
    daily, raw = random_daily(23, experiments=4)
    frame = daily_results(daily, DAILY_REGISTRY, tuning_units=500)
    # experiment D02: a sum metric (Welch); rebuild every look from raw arrays.
    series = frame[frame.experiment_id == "D02"].sort_values("day_number")
    alpha = 0.2
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / 500
    lows, highs, rel_lows, rel_highs = [], [], [], []
    for day, row in enumerate(series.itertuples()):
        c = np.concatenate([raw[("D02", "control", k)][0] for k in range(day + 1)])
        t = np.concatenate([raw[("D02", "t", k)][0] for k in range(day + 1)])
        v = (c.size + t.size) * rho2
        k = math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / alpha))
        se = math.sqrt(c.var(ddof=1) / c.size + t.var(ddof=1) / t.size)
        lift = t.mean() - c.mean()
        lows.append(lift - k * se)
        highs.append(lift + k * se)
        rel = fieller_by_hand(c, t, k)
        rel_lows.append(rel[0])
        rel_highs.append(rel[1])
        assert row.always_valid_ci_low == pytest.approx(max(lows), rel=1e-9)
        assert row.always_valid_ci_high == pytest.approx(min(highs), rel=1e-9)
        assert row.always_valid_rel_ci_low == pytest.approx(max(rel_lows), rel=1e-9)
        assert row.always_valid_rel_ci_high == pytest.approx(min(rel_highs), rel=1e-9)


def test_fieller_relative_interval_matches_numpy_roots_and_the_absolute_test():
    rng = np.random.default_rng(4)
    for _ in range(200):
        mc, mt = rng.uniform(1, 3), rng.uniform(1, 3)
        vc, vt = rng.uniform(0.001, 0.2, 2)
        k = rng.uniform(1, 4)
        got = fieller_relative_interval(mc, mt, vc, vt, k)
        if mc * mc <= k * k * vc:
            assert got is None
            continue
        roots = np.sort(np.roots([mc * mc - k * k * vc, -2 * mt * mc,
                                  mt * mt - k * k * vt]))  # fmt: skip
        assert got == pytest.approx((roots[0] - 1, roots[1] - 1), rel=1e-9, abs=1e-12)
        excludes = got[0] > 0 or got[1] < 0
        assert excludes == (abs(mt - mc) > k * math.sqrt(vc + vt))


# ---------------------------------------------------------------------------
# The demo warehouse
# ---------------------------------------------------------------------------


@pytest.mark.warehouse
def test_demo_marts_intervals_agree_with_verdicts(demo_warehouse):
    from warehouse import read_tables

    tables = read_tables(
        demo_warehouse["database"],
        "marts.experiment_results",
        "marts.segment_results",
        "marts.daily_results",
    )
    results = tables["marts.experiment_results"]
    segments = tables["marts.segment_results"]
    daily = tables["marts.daily_results"]
    for frame in (results, segments):
        assert_adjusted_intervals_agree(frame)
        assert_no_disagreement(frame, "rel_ci_low", "rel_ci_high", "p_value")
        assert_guardrails_consistent(frame)
    assert_summaries_quote_the_verdicts_interval(results)
    assert_daily_agreement(daily)
    assert set(results.correction_family.dropna()) <= {
        "primary",
        "secondary",
        "guardrail",
    }
    print(
        f"\ndemo: {results.p_value.notna().sum()} results, "
        f"{segments.p_value.notna().sum()} segment results, "
        f"{daily.p_value.notna().sum()} daily rows checked; guardrails "
        + str(results.guardrail_status.value_counts().to_dict())
    )
