"""End-to-end: every figure of marts.experiment_results on the demo warehouse
equals an independent computation on the unit-level arrays rebuilt from the raw
tables (tests/support/oracle.py): scipy's Welch t-test, statsmodels' Wald test
for two proportions, numpy's delta method on linearised ratio values,
statsmodels OLS arm by arm for CUPED and multipletests for the adjusted p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from oracle import Registry, unit_arrays
from scipy import optimize, stats
from statsmodels.stats import proportion
from statsmodels.stats.multitest import multipletests
from warehouse import REPO, read_tables

pytestmark = pytest.mark.warehouse
RTOL = 1e-9


def welch(a, b, alpha):
    """Welch t on two arrays: (lift, se, df, p, ci) via scipy."""
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(1 - alpha)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    return a.mean() - b.mean(), np.sqrt(va + vb), test.df, test.pvalue, ci


def linearised(m, d):
    """Delta-method linearisation of a ratio of sums: u = r + (m - r d) / dbar."""
    r = m.sum() / d.sum()
    return r + (m - r * d) / d.mean()


def cuped_lin(y_c, x_c, y_t, x_t, alpha):
    """Lin's CUPED from unit arrays: each arm's OLS of y on (1, x - xbar).

    Lift = difference of the intercepts; variance = their squared standard
    errors + (theta_t - theta_c)**2 var_x / N; Welch df with n - 2 per arm.
    """
    xbar = np.concatenate([x_c, x_t]).mean()
    fits = [
        sm.OLS(y, sm.add_constant(x - xbar, has_constant="add")).fit()
        for y, x in ((y_c, x_c), (y_t, x_t))
    ]
    n_c, n_t = len(y_c), len(y_t)
    var_x = (np.var(x_c, ddof=1) * (n_c - 1) + np.var(x_t, ddof=1) * (n_t - 1)) / (
        n_c + n_t - 2
    )
    arm_c, arm_t = fits[0].bse[0] ** 2, fits[1].bse[0] ** 2
    slopes = (fits[1].params[1] - fits[0].params[1]) ** 2 * var_x / (n_c + n_t)
    se = np.sqrt(arm_c + arm_t + slopes)
    dof = (arm_c + arm_t) ** 2 / (arm_c**2 / (n_c - 2) + arm_t**2 / (n_t - 2))
    lift = fits[1].params[0] - fits[0].params[0]
    half = stats.t.isf(alpha / 2, dof) * se
    plain = np.var(y_c, ddof=1) / n_c + np.var(y_t, ddof=1) / n_t
    return {
        "cuped_abs_lift": lift,
        "cuped_ci_low": lift - half,
        "cuped_ci_high": lift + half,
        "cuped_p_value": 2 * stats.t.sf(abs(lift) / se, dof),
        "variance_reduction": 1 - se**2 / plain,
    }


def fieller(mean_c, mean_t, v_c, v_t, q):
    """Fieller's bounds of mean_t / mean_c - 1 (bounded case), via numpy.roots."""
    roots = np.roots(
        [mean_c**2 - q**2 * v_c, -2 * mean_c * mean_t, mean_t**2 - q**2 * v_t]
    )
    low, high = sorted(roots.real)
    return max(low, 0.0) - 1, high - 1


def score_bound(count_t, n_t, count_c, n_c, compare, q, shift, start, end):
    """Root of |effect - value| - shift = q sqrt(V), V from statsmodels' score test."""
    effect = count_t / n_t - count_c / n_c

    def gap(value):
        res = proportion.score_test_proportions_2indep(
            count_t, n_t, count_c, n_c, value=value, compare=compare, correction=False
        )
        if compare == "diff":
            numerator = abs(effect - value) - shift
        else:
            numerator = abs(count_t / n_t - value * count_c / n_c) - shift * (
                1 / n_t + value / n_c
            )
        return numerator - q * np.sqrt(res.variance)

    return optimize.brentq(gap, start, end, xtol=1e-15, rtol=1e-15)


def expected_row(row, arrays, alpha):
    """The independent figures for one experiment_results row."""
    c = arrays[(row.experiment_id, row.control_variant, row.metric_id)]
    t = arrays[(row.experiment_id, row.variant, row.metric_id)]
    out = {"n_control": len(c["m"]), "n_treatment": len(t["m"])}
    rel_bounds = {}
    if row.aggregation == "binary":
        count_t, count_c = t["m"].sum(), c["m"].sum()
        n_t, n_c = len(t["m"]), len(c["m"])
        table = [[count_c, n_c - count_c], [count_t, n_t - count_t]]
        corrected = row.method == "two_proportion_score_z_continuity_corrected"
        p_value = stats.chi2_contingency(table, correction=corrected).pvalue
        q = stats.norm.ppf(1 - alpha / 2)
        d = count_t / n_t - count_c / n_c
        h = 1 / n_c + 1 / n_t
        mean_c, mean_t = count_c / n_c, count_t / n_t
        shift = 0.5 * h if corrected else 0.0
        low = score_bound(
            count_t, n_t, count_c, n_c, "diff", q, shift, max(d - 0.5, -0.999), d
        )
        high = score_bound(
            count_t, n_t, count_c, n_c, "diff", q, shift, d, min(d + 0.5, 0.999)
        )
        ratio = mean_t / mean_c
        ratio_shift = 0.5 if corrected else 0.0
        rel_bounds = {
            "rel_ci_low": score_bound(
                count_t, n_t, count_c, n_c, "ratio", q, ratio_shift, ratio / 20, ratio
            )
            - 1,
            "rel_ci_high": score_bound(
                count_t, n_t, count_c, n_c, "ratio", q, ratio_shift, ratio, ratio * 20
            )
            - 1,
        }
        out |= {"p_value": p_value, "abs_ci_low": low, "abs_ci_high": high}
    else:
        if row.aggregation == "ratio":
            y_c, y_t = linearised(c["m"], c["d"]), linearised(t["m"], t["d"])
            mean_c = c["m"].sum() / c["d"].sum()
            mean_t = t["m"].sum() / t["d"].sum()
        else:
            y_c, y_t = c["m"], t["m"]
            mean_c, mean_t = y_c.mean(), y_t.mean()
        if row.method == "pooled_score_z":
            n_c, n_t = len(y_c), len(y_t)
            h, total = 1 / n_c + 1 / n_t, n_c + n_t
            d = mean_t - mean_c
            q = stats.norm.ppf(1 - alpha / 2)
            s0 = np.var(np.concatenate([y_c, y_t]), ddof=1)
            p_value = 2 * stats.norm.sf(abs(d) / np.sqrt(s0 * h))
            within = np.sum((y_c - mean_c) ** 2) + np.sum((y_t - mean_t) ** 2)
            spread = within / (total - 1 - q * q)
            half = q * np.sqrt(spread * h)
            out |= {"p_value": p_value, "abs_ci_low": d - half, "abs_ci_high": d + half}
            v_c, v_t = spread / n_c, spread / n_t
        else:
            _, _, dof, p_value, ci = welch(y_t, y_c, alpha)
            v_c, v_t = np.var(y_c, ddof=1) / len(y_c), np.var(y_t, ddof=1) / len(y_t)
            q = stats.t.ppf(1 - alpha / 2, dof)
            out |= {"p_value": p_value, "abs_ci_low": ci.low, "abs_ci_high": ci.high}
        if mean_c**2 > q**2 * v_c:  # Fieller's set is bounded
            low, high = fieller(mean_c, mean_t, v_c, v_t, q)
            rel_bounds = {"rel_ci_low": low, "rel_ci_high": high}
    out |= {
        "mean_control": mean_c,
        "mean_treatment": mean_t,
        "abs_lift": mean_t - mean_c,
        "rel_lift": mean_t / mean_c - 1,
    } | rel_bounds
    if not pd.isna(row.cuped_error_message):
        return out
    if row.cuped_method == "cuped_lin_welch_t":
        out |= cuped_lin(c["m"], c["x"], t["m"], t["x"], alpha)
    elif row.cuped_method == "ratio_cuped_lin_welch_t":
        out |= cuped_lin(
            linearised(c["m"], c["d"]),
            linearised(c["x"], c["w"]),
            linearised(t["m"], t["d"]),
            linearised(t["x"], t["w"]),
            alpha,
        )
    return out


@pytest.fixture(scope="module")
def results_and_oracle(demo_warehouse):
    tables = read_tables(
        demo_warehouse["database"],
        "raw.exposures",
        "raw.events",
        "raw.units",
        "marts.experiment_results",
        "marts.segment_results",
    )
    raw = {"exposures": tables["raw.exposures"], "events": tables["raw.events"]}
    registry = Registry.from_seeds(REPO / "seeds")
    arrays = unit_arrays(raw, registry, demo_warehouse["now"])
    return tables["marts.experiment_results"], arrays


@pytest.fixture(scope="module")
def segment_tables(demo_warehouse):
    tables = read_tables(
        demo_warehouse["database"],
        "raw.exposures",
        "raw.events",
        "raw.units",
        "marts.segment_results",
    )
    raw = {name: tables[f"raw.{name}"] for name in ("exposures", "events", "units")}
    return raw, tables["marts.segment_results"]


def test_demo_experiment_results_equal_independent_tests(results_and_oracle):
    results, arrays = results_and_oracle
    tested = results[results.p_value.notna()]
    assert len(tested) >= 15
    assert set(tested.method) <= {
        "welch_t",
        "pooled_score_z",
        "two_proportion_score_z",
        "two_proportion_score_z_continuity_corrected",
        "ratio_delta_welch_t",
    }
    assert {"welch_t", "two_proportion_score_z", "ratio_delta_welch_t"} <= set(
        tested.method
    )
    adjusted = tested[tested.cuped_error_message.isna()]
    assert set(adjusted.cuped_method) == {
        "cuped_lin_welch_t",
        "ratio_cuped_lin_welch_t",
    }
    # Experiments without a pre-period (cuped_lookback_days = 0) get no CUPED.
    no_lookback = tested[tested.experiment_id.isin(["E001", "E004"])]
    assert no_lookback.cuped_abs_lift.isna().all()
    assert no_lookback.cuped_error_message.notna().all()
    problems = []
    for row in tested.itertuples(index=False):
        for column, want in expected_row(row, arrays, row.alpha).items():
            got = getattr(row, column)
            if pd.isna(got) or not np.isclose(got, want, rtol=RTOL, atol=1e-12):
                key = (row.experiment_id, row.metric_id, row.variant)
                problems.append((key, column, want, got))
    assert not problems, "\n".join(map(str, problems[:30]))


def test_demo_adjusted_p_values_equal_multipletests(results_and_oracle):
    results, _ = results_and_oracle
    tested = results[results.p_value.notna()].copy()
    # Families by role (issue 12): primary, secondary and guardrail apart.
    tested["family"] = np.where(
        tested.role.isin(["primary", "guardrail"]), tested.role, "secondary"
    )
    assert (tested.correction_family == tested.family).all()
    checked = 0
    for _, family in tested.groupby(["experiment_id", "family"]):
        _, adjusted, _, _ = multipletests(family.p_value.to_numpy(float), method="holm")
        np.testing.assert_allclose(
            family.p_value_adjusted.to_numpy(float), adjusted, rtol=RTOL
        )
        significant = adjusted < family.alpha.to_numpy(float)
        assert (family.is_significant.to_numpy(bool) == significant).all()
        checked += len(family)
    assert checked == len(tested)


def test_demo_results_recover_planted_effects(results_and_oracle, demo_warehouse):
    results, _ = results_and_oracle
    by_key = results.set_index(["experiment_id", "metric_id", "variant"])
    good = [
        ("E001", "reply_rate", "ai_drafted"),
        ("E002", "resolution_minutes_per_ticket", "llm_assisted"),
        ("E005", "engagement_minutes", "personalised_feed"),
    ]
    for key in good:
        assert by_key.loc[key, "direction"] == "good", key
    assert (
        by_key.loc[
            ("E002", "resolution_minutes_per_ticket", "llm_assisted"), "abs_lift"
        ]
        < 0
    )
    cuped = by_key.loc[("E005", "engagement_minutes", "personalised_feed")]
    assert 0.25 < cuped.variance_reduction < 0.40
    planned = results[results.experiment_id == "E003"]
    assert len(planned) > 0
    assert planned.p_value.isna().all()
    assert planned.error_message.str.contains("planned").all()


def test_demo_segment_results_equal_independent_tests(segment_tables, demo_warehouse):
    raw, segments = segment_tables
    registry = Registry.from_seeds(REPO / "seeds")
    chosen = segments[segments.experiment_id.isin(["E002", "E004"])]
    assert {"technical", "High-Value Recent", "New Customer"} <= set(
        chosen.segment_value
    )
    problems = []
    for value, rows in chosen.groupby("segment_value"):
        arrays = unit_arrays(
            raw, registry, demo_warehouse["now"], segment=("segment", value)
        )
        for row in rows[rows.p_value.notna()].itertuples(index=False):
            for column, want in expected_row(row, arrays, row.alpha).items():
                got = getattr(row, column)
                if pd.isna(got) or not np.isclose(got, want, rtol=RTOL, atol=1e-12):
                    problems.append((value, row.metric_id, row.variant, column))
    assert not problems, problems[:20]


def test_demo_segment_srm_equals_scipy_and_small_cells_are_suppressed(segment_tables):
    _, segments = segment_tables
    registry = Registry.from_seeds(REPO / "seeds")
    weights = registry.variants.set_index(["experiment_id", "variant"])
    checked = 0
    for (experiment_id, _value), rows in segments.groupby(
        ["experiment_id", "segment_value"]
    ):
        arms = rows.drop_duplicates("variant")
        control = rows.drop_duplicates("control_variant")
        counts = {v: n for v, n in zip(arms.variant, arms.n_treatment, strict=True)}
        counts[control.control_variant.iloc[0]] = control.n_control.iloc[0]
        names = sorted(counts)
        observed = np.array([counts[v] for v in names], dtype=float)
        w = np.array(
            [weights.loc[(experiment_id, v), "allocation_weight"] for v in names]
        )
        if observed.sum() == 0:
            continue
        _, p_value = stats.chisquare(observed, observed.sum() * w / w.sum())
        np.testing.assert_allclose(
            rows.segment_srm_p_value.to_numpy(float), p_value, rtol=RTOL
        )
        checked += 1
    assert checked >= 10
    small = (segments.n_control < 10) | (segments.n_treatment < 10)
    assert (segments.is_suppressed == small).all()
    assert segments.loc[small, "p_value"].isna().all()
    assert segments.loc[small, "error_message"].str.contains("suppressed").all()


def test_demo_significant_results_agree_with_planted_direction(
    results_and_oracle, demo_warehouse
):
    """No significant result points against the planted truth, and the large
    planted effects (E001 reply rate, E002 resolution time, E005 engagement)
    are all found."""
    results, _ = results_and_oracle
    planted = {
        experiment_id: story["planted"]
        for experiment_id, story in demo_warehouse["truth"]["experiments"].items()
    }
    significant = results[results.is_significant.fillna(False).astype(bool)]
    assert len(significant) >= 5
    for row in significant.itertuples(index=False):
        truth = planted[row.experiment_id][row.metric_id]
        planted_lift = truth[row.variant] - truth[row.control_variant]
        assert np.sign(row.abs_lift) == np.sign(planted_lift), (
            row.experiment_id,
            row.metric_id,
            row.variant,
        )
