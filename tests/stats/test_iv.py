"""xpkit.stats.iv against statsmodels 2SLS on unit-level arrays, and on simulations."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.sandbox.regression.gmm import IV2SLS, IVGMM

from xpkit.marts.compliance_results import (
    COMPLIANCE_COLUMNS,
    RATIO_SKIPPED,
    compliance_results,
)
from xpkit.stats.iv import (
    ComplianceCell,
    compliance_estimates,
    weighted_compliance_estimates,
)

REL = 1e-9


def unit_cells(z, d, y, w=None):
    """The (z, d) cells of unit-level arrays, summed here independently."""
    z, d, y = (np.asarray(a) for a in (z, d, y))
    w = np.ones(y.size) if w is None else np.asarray(w, float)
    cells = {}
    for zz in (0, 1):
        for dd in (0, 1):
            m = (z == zz) & (d == dd)
            if m.any():
                cells[(zz, dd)] = ComplianceCell(
                    int(m.sum()),
                    float(w[m].sum()),
                    float((w[m] * y[m]).sum()),
                    float((w[m] ** 2).sum()),
                    float((w[m] ** 2 * y[m]).sum()),
                    float((w[m] ** 2 * y[m] ** 2).sum()),
                )
    return cells


def statsmodels_2sls(z, d, y, w=None):
    """2SLS of y on (1, d) instrumented by (1, z), optionally weighted.

    Returns the estimate, the classical SE (IV2SLS) and the HC0 SE (IVGMM,
    just identified, evaluated at the 2SLS estimate: its sandwich is HC0).
    """
    n = len(y)
    s = np.ones(n) if w is None else np.sqrt(np.asarray(w, float))
    X = np.column_stack([np.ones(n), d]) * s[:, None]
    Z = np.column_stack([np.ones(n), z]) * s[:, None]
    ys = np.asarray(y, float) * s
    iv = IV2SLS(ys, X, Z).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm = IVGMM(ys, X, Z).fit(
            start_params=iv.params,
            maxiter=0,
            optim_method="bfgs",
            optim_args={"disp": 0, "maxiter": 0},
        )
    return iv.params[1], iv.bse[1], gmm.bse[1]


def confounded(rng, n, effect, *, uptake_assigned=1.0, uptake_control=-2.0):
    """Randomised z; uptake and outcome both rise with an unobserved u."""
    z = rng.integers(0, 2, n)
    u = rng.standard_normal(n)
    d = (
        rng.random(n)
        < 1 / (1 + np.exp(-(np.where(z == 1, uptake_assigned, uptake_control) + u)))
    ).astype(int)
    noise = (rng.gamma(2.0, 1.0, n) - 2.0) * (1.0 + 0.5 * d)  # mean 0, skewed
    y = 5.0 + 2.0 * u + effect * d + noise
    return z, d, y


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cace_matches_statsmodels_2sls(seed):
    rng = np.random.default_rng(seed)
    z, d, y = confounded(rng, 3000 + 500 * seed, 1.5)
    got = compliance_estimates(unit_cells(z, d, y))
    beta, se_classical, se_hc0 = statsmodels_2sls(z, d, y)
    n = y.size
    assert got.error_message is None
    assert got.cace == pytest.approx(beta, rel=REL)
    assert got.cace_se_classical == pytest.approx(se_classical, rel=REL)
    assert got.cace_se == pytest.approx(se_hc0 * np.sqrt(n / (n - 2)), rel=REL)


def test_itt_first_stage_and_naive_against_statsmodels_ols():
    rng = np.random.default_rng(11)
    z, d, y = confounded(rng, 5000, 1.0)
    got = compliance_estimates(unit_cells(z, d, y), alpha=0.1)
    const = np.column_stack([np.ones(z.size), z])
    first = sm.OLS(d.astype(float), const).fit()
    first_hc1 = sm.OLS(d.astype(float), const).fit(cov_type="HC1")
    assert got.first_stage == pytest.approx(first.params[1], rel=REL)
    assert got.first_stage_f_classical == pytest.approx(first.fvalue, rel=REL)
    assert got.first_stage_f == pytest.approx(first_hc1.tvalues[1] ** 2, rel=REL)
    # ITT: OLS y ~ 1 + z with HC2 is Welch's standard error.
    itt = sm.OLS(y, const).fit(cov_type="HC2")
    assert got.itt == pytest.approx(itt.params[1], rel=REL)
    assert got.itt_se == pytest.approx(itt.bse[1], rel=REL)
    ci = itt.conf_int(alpha=0.1)[1]
    assert got.itt_ci_low == pytest.approx(ci[0], rel=REL)
    assert got.itt_ci_high == pytest.approx(ci[1], rel=REL)
    assert got.itt_p_value == pytest.approx(itt.pvalues[1], rel=1e-7)
    # Per-protocol and as-treated: plain differences of group means.
    pp = y[(z == 1) & (d == 1)].mean() - y[(z == 0) & (d == 0)].mean()
    at = y[d == 1].mean() - y[d == 0].mean()
    assert got.per_protocol == pytest.approx(pp, rel=REL)
    assert got.as_treated == pytest.approx(at, rel=REL)
    a, b = y[d == 1], y[d == 0]
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert got.as_treated_se == pytest.approx(se, rel=REL)
    # The CACE interval is estimate +- z x robust SE; its p-value from the same.
    z90 = 1.6448536269514722
    assert got.cace_ci_low == pytest.approx(got.cace - z90 * got.cace_se, rel=REL)
    assert got.uptake_treatment == pytest.approx(d[z == 1].mean(), rel=REL)
    assert got.uptake_control == pytest.approx(d[z == 0].mean(), rel=REL)


def test_weighted_cace_matches_weighted_2sls():
    rng = np.random.default_rng(5)
    z, d, y = confounded(rng, 4000, 2.0)
    w = rng.choice([1.0, 1.25, 2.5, 4.0], size=y.size)
    got = weighted_compliance_estimates(unit_cells(z, d, y, w))
    beta, _, se_hc0 = statsmodels_2sls(z, d, y, w)
    assert got.error_message is None
    assert got.cace == pytest.approx(beta, rel=REL)
    assert got.cace_se == pytest.approx(se_hc0, rel=REL)
    # Weighted ITT: WLS of y on (1, z); its HC0 SE is the fixed-weight SE.
    wls = sm.WLS(y, np.column_stack([np.ones(y.size), z]), weights=w).fit(
        cov_type="HC0"
    )
    assert got.itt == pytest.approx(wls.params[1], rel=REL)
    assert got.itt_se == pytest.approx(wls.bse[1], rel=REL)


def test_unit_weights_give_the_unweighted_estimate():
    rng = np.random.default_rng(8)
    z, d, y = confounded(rng, 2000, 1.0)
    cells = unit_cells(z, d, y)
    plain = compliance_estimates(cells)
    weighted = weighted_compliance_estimates(cells)
    n = y.size
    assert weighted.cace == pytest.approx(plain.cace, rel=REL)
    assert weighted.cace_se * np.sqrt(n / (n - 2)) == pytest.approx(
        plain.cace_se, rel=REL
    )


def test_simulation_cace_unbiased_naive_biased():
    """Confounded uptake: over replications the CACE centres on the planted
    effect (within Monte Carlo error) and its SE matches the spread; the naive
    comparisons are biased upwards by far more than their MC error."""
    effect, reps, n = 1.2, 300, 4000
    rng = np.random.default_rng(20241001)
    cace, se, pp, at, covered = [], [], [], [], 0
    for _ in range(reps):
        z, d, y = confounded(rng, n, effect)
        est = compliance_estimates(unit_cells(z, d, y))
        cace.append(est.cace)
        se.append(est.cace_se)
        pp.append(est.per_protocol)
        at.append(est.as_treated)
        covered += est.cace_ci_low <= effect <= est.cace_ci_high
    cace, pp, at = np.array(cace), np.array(pp), np.array(at)
    mc_error = cace.std(ddof=1) / np.sqrt(reps)
    assert abs(cace.mean() - effect) < 4 * mc_error
    # The reported SE tracks the sampling spread (within 15%).
    assert np.mean(se) == pytest.approx(cace.std(ddof=1), rel=0.15)
    # 95% intervals: coverage within 4 binomial SEs of 0.95.
    assert abs(covered / reps - 0.95) < 4 * np.sqrt(0.95 * 0.05 / reps)
    for naive in (pp, at):
        assert naive.mean() - effect > 10 * naive.std(ddof=1) / np.sqrt(reps)
        assert naive.mean() > effect + 0.5


def test_simulation_ipw_recovers_population_effect():
    """Eligibility depends on a stratum that modifies the effect: the eligible-
    only CACE is biased for the population effect; weighting by
    1 / P(eligible | stratum) recovers it."""
    rng = np.random.default_rng(7)
    effects = np.array([0.5, 1.0, 3.0])  # per stratum, for the treated
    shares = np.array([0.5, 0.3, 0.2])
    p_eligible = np.array([0.9, 0.6, 0.2])
    population_effect = float(shares @ effects)
    reps, n_pop = 200, 12000
    ipw, plain = [], []
    for _ in range(reps):
        stratum = rng.choice(3, size=n_pop, p=shares)
        eligible = rng.random(n_pop) < p_eligible[stratum]
        s = stratum[eligible]
        n = s.size
        z = rng.integers(0, 2, n)
        u = rng.standard_normal(n)
        d = (
            rng.random(n) < 1 / (1 + np.exp(-(np.where(z == 1, 1.5, -2.0) + u)))
        ).astype(int)
        y = 2.0 + u + effects[s] * d + rng.normal(0, 1, n)
        # Stratum weights from the population: units / eligible units.
        counts = np.bincount(stratum, minlength=3)
        eligible_counts = np.bincount(s, minlength=3)
        w = (counts / eligible_counts)[s]
        ipw.append(weighted_compliance_estimates(unit_cells(z, d, y, w)).cace)
        plain.append(compliance_estimates(unit_cells(z, d, y)).cace)
    ipw, plain = np.array(ipw), np.array(plain)
    assert abs(ipw.mean() - population_effect) < 4 * ipw.std(ddof=1) / np.sqrt(reps)
    assert population_effect - plain.mean() > 10 * plain.std(ddof=1) / np.sqrt(reps)


def test_no_uptake_difference_gives_no_cace():
    cells = {
        (1, 0): ComplianceCell.unweighted(50, 100.0, 300.0),
        (1, 1): ComplianceCell.unweighted(50, 150.0, 500.0),
        (0, 0): ComplianceCell.unweighted(40, 70.0, 200.0),
        (0, 1): ComplianceCell.unweighted(40, 90.0, 260.0),
    }
    got = compliance_estimates(cells)
    assert got.first_stage == 0.0
    assert got.cace is None and got.cace_se is None
    assert "not identified" in got.error_message
    assert got.is_weak_instrument is True
    assert got.itt == pytest.approx(250 / 100 - 160 / 80, rel=REL)
    weighted = weighted_compliance_estimates(cells)
    assert weighted.cace is None and "not identified" in weighted.error_message


def test_one_unit_per_cell():
    cells = {
        (1, 0): ComplianceCell.unweighted(1, 2.0, 4.0),
        (1, 1): ComplianceCell.unweighted(1, 5.0, 25.0),
        (0, 0): ComplianceCell.unweighted(1, 1.0, 1.0),
        (0, 1): ComplianceCell.unweighted(1, 3.0, 9.0),
    }
    got = compliance_estimates(cells)
    # Uptake 1/2 in both arms: no first stage, but the means exist.
    assert got.itt == pytest.approx(3.5 - 2.0, rel=REL)
    assert got.per_protocol == pytest.approx(5.0 - 1.0, rel=REL)
    assert got.as_treated == pytest.approx(4.0 - 1.5, rel=REL)
    assert got.per_protocol_se is None  # one unit per group: no variance
    assert got.cace is None
    # With uptake differing, three units: the figures exist and are finite,
    # the per-protocol SE still is not.
    got = compliance_estimates({k: v for k, v in cells.items() if k != (0, 1)})
    assert got.first_stage == pytest.approx(0.5, rel=REL)
    assert got.cace == pytest.approx((3.5 - 1.0) / 0.5, rel=REL)
    assert got.per_protocol_se is None


def test_missing_arm():
    cells = {
        (1, 0): ComplianceCell.unweighted(10, 20.0, 50.0),
        (1, 1): ComplianceCell.unweighted(30, 90.0, 300.0),
    }
    got = compliance_estimates(cells)
    assert got.cace is None and got.itt is None
    assert got.error_message == "no analysed units in the control arm"
    assert weighted_compliance_estimates(cells).error_message == (
        "no weighted units in the control arm"
    )
    assert compliance_estimates({}).error_message == (
        "no analysed units in the treatment arm"
    )


def test_full_compliance_cace_is_itt():
    rng = np.random.default_rng(3)
    z = rng.integers(0, 2, 500)
    y = rng.normal(size=500) + z
    got = compliance_estimates(unit_cells(z, z, y))
    assert got.first_stage == 1.0
    assert got.cace == pytest.approx(got.itt, rel=REL)
    assert got.is_weak_instrument is False
    beta, se_classical, se_hc0 = statsmodels_2sls(z, z, y)
    assert got.cace_se_classical == pytest.approx(se_classical, rel=REL)
    assert got.cace_se == pytest.approx(se_hc0 * np.sqrt(500 / 498), rel=REL)


def test_weak_instrument_warning():
    rng = np.random.default_rng(4)
    n = 2000
    z = rng.integers(0, 2, n)
    d = (rng.random(n) < np.where(z == 1, 0.22, 0.20)).astype(int)
    y = rng.normal(size=n) + d
    got = compliance_estimates(unit_cells(z, d, y))
    first = sm.OLS(d.astype(float), np.column_stack([np.ones(n), z])).fit(
        cov_type="HC1"
    )
    f = first.tvalues[1] ** 2
    assert f < 10
    assert got.first_stage_f == pytest.approx(f, rel=REL)
    assert got.is_weak_instrument is True
    assert any("weak instrument" in w for w in got.warnings)


def cells_frame(z, d, y, metric_id="m", aggregation="sum", **extra):
    """arm_metrics_by_compliance rows for unit arrays (d may hold NaN)."""
    rows = []
    for zz, variant in ((0, "control"), (1, "treated")):
        for dd in (0.0, 1.0, None):
            m = (z == zz) & (np.isnan(d) if dd is None else d == dd)
            if not m.any():
                continue
            rows.append(
                {
                    "experiment_id": "X1",
                    "variant": variant,
                    "metric_id": metric_id,
                    "is_control": zz == 0,
                    "aggregation": aggregation,
                    "received_treatment": None if dd is None else int(dd),
                    "n_units": int(m.sum()),
                    "metric_sum": float(y[m].sum()),
                    "metric_sum_squares": float((y[m] ** 2).sum()),
                    "eligible_units": int(m.sum()),
                    "ipw_weight_sum": float(m.sum()),
                    "ipw_weighted_sum": float(y[m].sum()),
                    "ipw_weight_sq_sum": float(m.sum()),
                    "ipw_weight_sq_weighted_sum": float(y[m].sum()),
                    "ipw_weight_sq_weighted_sum_squares": float((y[m] ** 2).sum()),
                    "population_units": 0,
                    "eligible_population_units": 0,
                    "covered_population_units": 0,
                    **extra,
                }
            )
    return pd.DataFrame(rows)


def test_compliance_results_frame():
    rng = np.random.default_rng(21)
    z, d, y = confounded(rng, 3000, 1.0)
    d = d.astype(float)
    d[:40] = np.nan  # unknown uptake: left out, counted
    frame = pd.concat(
        [
            cells_frame(z, d, y),
            cells_frame(z, d, y, metric_id="r", aggregation="ratio"),
        ]
    )
    experiments = pd.DataFrame(
        {"experiment_id": ["X1"], "control_variant": ["control"], "alpha": [0.1]}
    )
    out = compliance_results(frame, experiments, weak_f=20.0)
    assert list(out.columns) == list(COMPLIANCE_COLUMNS)
    assert list(out.metric_id) == ["m", "r"]
    row = out.iloc[0]
    known = ~np.isnan(d)
    beta, _, se_hc0 = statsmodels_2sls(z[known], d[known], y[known])
    n = int(known.sum())
    assert row.n_received_unknown == 40
    assert row.n_treatment + row.n_control == n
    assert row.variant == "treated" and row.control_variant == "control"
    assert row.cace == pytest.approx(beta, rel=REL)
    assert row.cace_se == pytest.approx(se_hc0 * np.sqrt(n / (n - 2)), rel=REL)
    assert row.alpha == 0.1 and row.weak_instrument_f_threshold == 20.0
    assert row.ipw_error_message == "raw.units has no eligibility for these units"
    assert pd.isna(row.ipw_cace) and pd.isna(row.error_message)
    ratio = out.iloc[1]
    assert ratio.error_message == RATIO_SKIPPED and pd.isna(ratio.cace)


def test_compliance_results_eligibility_messages():
    rng = np.random.default_rng(22)
    z, d, y = confounded(rng, 1000, 1.0)
    d = d.astype(float)
    experiments = pd.DataFrame({"experiment_id": ["X1"], "control_variant": [None]})
    everyone = cells_frame(
        z,
        d,
        y,
        population_units=1000,
        eligible_population_units=1000,
        covered_population_units=1000,
    )
    row = compliance_results(everyone, experiments).iloc[0]
    assert row.control_variant == "control"  # from is_control
    assert row.ipw_error_message == "everyone in raw.units is eligible: no weighting"
    partial = cells_frame(
        z,
        d,
        y,
        population_units=2000,
        eligible_population_units=1500,
        covered_population_units=1500,
    )
    row = compliance_results(partial, experiments).iloc[0]
    # Unit weights: the weighted CACE is the plain one.
    assert row.ipw_cace == pytest.approx(row.cace, rel=REL)
    assert row.ipw_population_coverage == 0.75
    assert row.ipw_error_message.startswith("strata holding 25.0% of raw.units")
    empty = compliance_results(everyone.iloc[0:0], experiments)
    assert len(empty) == 0 and list(empty.columns) == list(COMPLIANCE_COLUMNS)
