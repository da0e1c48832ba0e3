"""End-to-end: marts.compliance_results on the demo warehouse equals statsmodels
2SLS (and OLS / WLS) on unit-level arrays rebuilt from the raw tables by the
independent oracle (tests/support/oracle.py), and recovers what the demo planted
for E005 (imperfect compliance driven by an unobserved trait)."""

from __future__ import annotations

import html
import re
import shutil
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from oracle import (
    Registry,
    _base_values,
    _timestamps,
    assignments,
    usable_events,
    usable_exposures,
)
from statsmodels.sandbox.regression.gmm import IV2SLS, IVGMM
from warehouse import REPO, read_tables

from xpkit.narrative import report as fmt
from xpkit.report import build_report

pytestmark = pytest.mark.warehouse
RTOL = 1e-9


def two_sls(z, d, y, w=None):
    """(estimate, classical SE, HC0 SE) of 2SLS y ~ 1 + d, instruments 1 + z;
    weighted 2SLS with w (on sqrt(w)-scaled arrays)."""
    s = np.ones(len(y)) if w is None else np.sqrt(w)
    X = np.column_stack([np.ones(len(y)), d]) * s[:, None]
    Z = np.column_stack([np.ones(len(y)), z]) * s[:, None]
    fit = IV2SLS(y * s, X, Z).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm = IVGMM(y * s, X, Z).fit(
            start_params=fit.params,
            maxiter=0,
            optim_method="bfgs",
            optim_args={"disp": 0, "maxiter": 0},
        )
    return fit.params[1], fit.bse[1], gmm.bse[1]


def quantile_group(values: pd.Series, bins: int) -> pd.Series:
    """1..bins: ceil(bins x (#values <= v) / #values), ties together; exact
    integer arithmetic. '(missing)' for nulls."""
    known = values.dropna().to_numpy()
    ordered = np.sort(known)
    n = len(ordered)
    out = pd.Series("(missing)", index=values.index, dtype=object)
    at_or_below = np.searchsorted(ordered, known, side="right")
    out[values.notna()] = [str((int(c) * bins - 1) // n + 1) for c in at_or_below]
    return out


def population_weights(units: pd.DataFrame) -> tuple[pd.Series, int, int]:
    """Weight 1 / P(eligible | stratum) per eligible unit id, population size,
    eligible population size; strata: the rows with role stratum of
    seeds/unit_attributes.csv (bins = quantile groups)."""
    declared = pd.read_csv(REPO / "seeds" / "unit_attributes.csv", dtype=str)
    strata = [
        {"column": row.column_name, "bins": None if pd.isna(row.bins) else row.bins}
        for row in declared[declared.role == "stratum"].itertuples()
    ]
    usable = units.drop_duplicates()
    usable = usable[~usable.unit_id.duplicated(keep=False)]
    population = usable[usable.eligible.notna()].copy()
    population["eligible"] = population.eligible.astype(bool)
    parts = []
    for stratum in strata:
        column = population[stratum["column"]]
        if stratum.get("bins"):
            parts.append(quantile_group(column, int(stratum["bins"])))
        else:
            parts.append(column.astype("string").fillna("(missing)").astype(object))
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    population["stratum"] = key
    counts = population.groupby("stratum").agg(
        units=("eligible", "size"), eligible=("eligible", "sum")
    )
    weight = (counts.units / counts.eligible).replace(np.inf, np.nan)
    eligible = population[population.eligible]
    by_unit = eligible.set_index("unit_id").stratum.map(weight)
    return by_unit, len(population), int(population.eligible.sum())


@pytest.fixture(scope="module")
def compliance(demo_warehouse):
    tables = read_tables(
        demo_warehouse["database"],
        "raw.exposures",
        "raw.events",
        "raw.units",
        "marts.compliance_results",
        "marts.experiment_results",
    )
    registry = Registry.from_seeds(REPO / "seeds")
    now = demo_warehouse["now"]
    raw_exposures = tables["raw.exposures"]
    exposures = usable_exposures(raw_exposures, registry, now)
    events = usable_events(tables["raw.events"], registry, now)
    # Received: any usable exposure row of the unit with received_treatment true.
    flags = pd.DataFrame(
        {
            "experiment_id": raw_exposures.experiment_id.astype("string"),
            "unit_id": raw_exposures.unit_id.astype("string"),
            "variant": raw_exposures.variant.astype("string"),
            "ts": _timestamps(raw_exposures.exposed_at),
            "received": raw_exposures.received_treatment.map(
                lambda v: np.nan if v is None or pd.isna(v) else float(bool(v))
            ),
        }
    ).drop_duplicates()
    usable = exposures.merge(
        flags, on=["experiment_id", "unit_id", "variant", "ts"], how="left"
    )
    received = usable.groupby(["experiment_id", "unit_id"]).received.max()
    assigned = assignments(exposures)
    analysed = assigned[assigned.n_variants == 1].copy()
    analysed["d"] = [
        received.get((e, u), np.nan)
        for e, u in zip(analysed.experiment_id, analysed.unit_id, strict=True)
    ]
    weights, population, eligible = population_weights(tables["raw.units"])
    return {
        "results": tables["marts.compliance_results"],
        "experiment_results": tables["marts.experiment_results"],
        "analysed": analysed,
        "events": events,
        "registry": registry,
        "weights": weights,
        "population": population,
        "eligible": eligible,
        "truth": demo_warehouse["truth"],
    }


def expected_figures(compliance, row):
    """Independent figures for one compliance_results row."""
    registry = compliance["registry"]
    experiment = registry.experiments.set_index("experiment_id").loc[row.experiment_id]
    experiment = experiment.copy()
    experiment["experiment_id"] = row.experiment_id
    metric = registry.metrics.set_index("metric_id").loc[row.metric_id]
    analysed = compliance["analysed"]
    units = analysed[
        (analysed.experiment_id == row.experiment_id)
        & analysed.variant.isin([row.variant, row.control_variant])
        & analysed.d.notna()
    ].reset_index(drop=True)
    y, _ = _base_values(compliance["events"], units, metric, experiment)
    z = (units.variant == row.variant).to_numpy(dtype=float)
    d = units.d.to_numpy(dtype=float)
    n = len(y)
    const_z = np.column_stack([np.ones(n), z])
    cace, se_classical, se_hc0 = two_sls(z, d, y)
    itt = sm.OLS(y, const_z).fit(cov_type="HC2")
    first = sm.OLS(d, const_z).fit(cov_type="HC1")
    first_classical = sm.OLS(d, const_z).fit()
    alpha = float(row.alpha)
    itt_ci = itt.conf_int(alpha)[1]
    treated, control = z == 1, z == 0

    def welch(a, b):
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        return a.mean() - b.mean(), se

    pp, pp_se = welch(y[treated & (d == 1)], y[control & (d == 0)])
    at, at_se = welch(y[d == 1], y[d == 0])
    out = {
        "n_treatment": int(treated.sum()),
        "n_control": int(control.sum()),
        "uptake_treatment": d[treated].mean(),
        "uptake_control": d[control].mean(),
        "itt": itt.params[1],
        "itt_se": itt.bse[1],
        "itt_ci_low": itt_ci[0],
        "itt_ci_high": itt_ci[1],
        "first_stage": first.params[1],
        "first_stage_se": first.bse[1],
        "first_stage_f": first.tvalues[1] ** 2,
        "first_stage_f_classical": first_classical.fvalue,
        "cace": cace,
        "cace_se": se_hc0 * np.sqrt(n / (n - 2)),
        "cace_se_classical": se_classical,
        "per_protocol": pp,
        "per_protocol_se": pp_se,
        "as_treated": at,
        "as_treated_se": at_se,
    }
    w = units.unit_id.map(compliance["weights"]).to_numpy(dtype=float)
    keep = ~np.isnan(w)
    ipw_cace, _, ipw_cace_se = two_sls(z[keep], d[keep], y[keep], w[keep])
    wls = sm.WLS(y[keep], const_z[keep], weights=w[keep]).fit(cov_type="HC0")
    out |= {
        "ipw_n_eligible": int(keep.sum()),
        "ipw_itt": wls.params[1],
        "ipw_itt_se": wls.bse[1],
        "ipw_cace": ipw_cace,
        "ipw_cace_se": ipw_cace_se,
    }
    return out


def test_demo_compliance_results_equal_statsmodels(compliance):
    results = compliance["results"]
    # Only E005's exposures carry received_treatment.
    assert set(results.experiment_id) == {"E005"}
    registered = compliance["registry"].experiment_metrics
    assert set(results.metric_id) == set(
        registered.metric_id[registered.experiment_id == "E005"]
    )
    checked = 0
    for row in results.itertuples(index=False):
        assert pd.isna(row.error_message), row
        assert row.n_received_unknown == 0
        expected = expected_figures(compliance, row)
        for column, value in expected.items():
            got = getattr(row, column)
            if isinstance(value, int):
                assert got == value, (row.metric_id, column)
            else:
                assert got == pytest.approx(value, rel=RTOL), (row.metric_id, column)
            checked += 1
        # Every unit of the population has a weight, so coverage is complete.
        assert row.ipw_population_coverage == 1.0
        assert compliance["eligible"] < compliance["population"]
    assert checked == 3 * 24


def test_demo_itt_is_the_experiment_results_lift(compliance):
    results = compliance["results"].set_index(["metric_id", "variant"])
    lifts = compliance["experiment_results"]
    for row in lifts[lifts.experiment_id == "E005"].itertuples(index=False):
        assert results.loc[(row.metric_id, row.variant), "itt"] == pytest.approx(
            row.abs_lift, rel=RTOL
        )


def test_demo_compliance_recovers_the_planted_story(compliance):
    """E005 plants 1.2 engagement minutes (and +0.015 purchase probability) for
    the treated, uptake rising with an unobserved trait that also raises the
    outcome: the CACE covers the planted effect, the naive comparisons are
    biased upwards, the instrument is strong."""
    truth = compliance["truth"]["experiments"]["E005"]["parameters"]
    results = compliance["results"].set_index("metric_id")
    uptake = truth["compliance"]["uptake_rate"]
    planted = {
        "engagement_minutes": truth["effect_on_treated"],
        "purchase_rate": truth["purchase_effect_on_treated"],
    }
    for metric_id, effect in planted.items():
        row = results.loc[metric_id]
        assert row.uptake_treatment == pytest.approx(
            uptake["personalised_feed"], abs=0.002
        )
        assert row.uptake_control == pytest.approx(uptake["control"], abs=0.002)
        assert abs(row.cace - effect) < 2 * row.cace_se, metric_id
        assert row.cace_ci_low < effect < row.cace_ci_high
        assert abs(row.ipw_cace - effect) < 2 * row.ipw_cace_se, metric_id
        assert row.first_stage_f > 1000 and not row.is_weak_instrument
    minutes = results.loc["engagement_minutes"]
    effect = truth["effect_on_treated"]
    assert abs(minutes.itt - truth["itt_effect_expected"]) < 2 * minutes.itt_se
    assert minutes.as_treated - effect > 3 * minutes.as_treated_se
    assert minutes.per_protocol - effect > 2 * minutes.per_protocol_se
    assert minutes.as_treated > minutes.per_protocol > minutes.cace > minutes.itt


def section_text(path, anchor):
    """The text of one section of a report page, whitespace collapsed."""
    page = path.read_text(encoding="utf-8")
    match = re.search(
        rf'<section class="card" id="{anchor}">(.*?)</section>', page, re.S
    )
    assert match, anchor
    text = html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))
    return " ".join(text.split())


def test_report_shows_the_compliance_figures(demo_warehouse, compliance, tmp_path):
    out = tmp_path / "reports"
    build_report(demo_warehouse["database"], out, log=lambda line: None)
    e005 = section_text(out / "experiments" / "E005.html", "compliance")
    results = compliance["results"]
    for row in results.itertuples(index=False):
        assert f"{row.variant} vs {row.control_variant}" in e005
        assert fmt.number(row.first_stage_f, 1) in e005
        assert fmt.number(row.first_stage_f_classical, 1) in e005
        assert fmt.metric_change(row.first_stage, "binary") in e005
    minutes = results.set_index("metric_id").loc["engagement_minutes"]
    for key in ("itt", "cace", "per_protocol", "as_treated", "ipw_cace"):
        assert fmt.metric_change(minutes[key], "sum", 2) in e005, key
    assert (
        fmt.interval(minutes.cace_ci_low, minutes.cace_ci_high, "metric", "sum", 2)
        in e005
    )
    assert "Complier effect" in e005 and "strong" in e005
    assert fmt.integer(compliance["population"]) in e005
    e001 = section_text(out / "experiments" / "E001.html", "compliance")
    assert "Not applicable" in e001 and "received_treatment" in e001


def test_report_warns_about_a_weak_instrument(demo_warehouse, tmp_path):
    """A copy of the warehouse whose E005 rows say the instrument is weak."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy2(demo_warehouse["database"], copy)
    warning = "weak instrument: first-stage F = 3.2 < 10; unreliable"
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update marts.compliance_results set first_stage_f = 3.2,"
            " is_weak_instrument = true, warning_message = ?",
            [warning],
        )
    out = tmp_path / "reports"
    build_report(copy, out, log=lambda line: None)
    e005 = section_text(out / "experiments" / "E005.html", "compliance")
    assert (
        "Weak instrument: the complier effect and its interval are unreliable" in e005
    )
    assert warning in e005 and "weak (threshold F = 10)" in e005
