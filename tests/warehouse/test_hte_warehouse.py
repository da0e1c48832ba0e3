"""marts.experiment_cohorts and marts.experiment_cate on the demo warehouse,
against unit-level arrays rebuilt from the raw tables and the registry CSVs
with pandas (tests/support/oracle.py's usable-row rules), sharing no code with
the dbt models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from oracle import Registry, _base_values, assignments, usable_events, usable_exposures
from warehouse import REPO, read_tables

from xpkit.marts import experiment_cate as cate_mart
from xpkit.stats import hte

pytestmark = pytest.mark.warehouse
MIN_UNITS = 10  # var min_segment_units
EDGES = [2, 4, 6, 10]  # var activity_bin_edges
LABELS = ["<2", "2-4", "4-6", "6-10", ">=10"]


def usable_units(units: pd.DataFrame) -> pd.DataFrame:
    frame = units.copy()
    frame["unit_id"] = frame["unit_id"].astype("string")
    frame = frame[frame.unit_id.notna() & (frame.unit_id.str.strip() != "")]
    frame = frame.drop_duplicates()
    return frame[frame.unit_id.map(frame.unit_id.value_counts()) == 1].set_index(
        "unit_id"
    )


def received_by_unit(exposures, registry, now) -> pd.Series:
    """1 when any usable exposure of the unit says received, 0 when some say
    not and none say received, missing when none says either."""
    flag = pd.to_numeric(exposures["received_treatment"], errors="coerce")
    out = {}
    for value in (0, 1):
        rows = usable_exposures(exposures[flag == value], registry, now)
        for key in zip(rows.experiment_id, rows.unit_id, strict=True):
            out[key] = max(out.get(key, 0), value)
    return pd.Series(out, dtype=float)


def unit_table(raw, registry, now) -> pd.DataFrame:
    """One row per analysed experiment x unit: arm, attributes, activity bin
    and the primary metric's window and pre-period values."""
    exposures = usable_exposures(raw["exposures"], registry, now)
    events = usable_events(raw["events"], registry, now)
    assigned = assignments(exposures)
    analysed = assigned[assigned.n_variants == 1]
    units = usable_units(raw["units"])
    received = received_by_unit(raw["exposures"], registry, now)
    controls = registry.variants[registry.variants.is_control.str.lower() == "true"]
    metrics = registry.metrics.set_index("metric_id")
    frames = []
    for experiment in registry.experiments.itertuples(index=False):
        rows = analysed[analysed.experiment_id == experiment.experiment_id]
        if rows.empty:
            continue
        rows = rows.reset_index(drop=True).copy()
        primary = sorted(
            registry.experiment_metrics.loc[
                (registry.experiment_metrics.experiment_id == experiment.experiment_id)
                & (registry.experiment_metrics.role == "primary"),
                "metric_id",
            ]
        )[0]
        metric = metrics.loc[primary]
        if metric.aggregation == "ratio":
            m, x = _base_values(
                events, rows, metrics.loc[metric.numerator_metric_id], experiment
            )
            d, w = _base_values(
                events, rows, metrics.loc[metric.denominator_metric_id], experiment
            )
        else:
            m, x = _base_values(events, rows, metric, experiment)
            d = w = np.full(len(rows), np.nan)
        rows["aggregation"] = metric.aggregation
        rows["has_covariate"] = experiment.cuped_lookback_days > 0
        rows["m"], rows["x"], rows["d"], rows["w"] = m, x, d, w
        control = set(
            controls.loc[controls.experiment_id == experiment.experiment_id, "variant"]
        )
        rows["treatment_arm"] = ~rows.variant.isin(control)
        frames.append(rows)
    table = pd.concat(frames, ignore_index=True)
    attributes = units.reindex(table.unit_id.astype(str))
    table["segment"] = (
        attributes["segment"].astype("string").fillna("(missing)").to_numpy()
    )
    activity = pd.to_numeric(attributes["activity_score"], errors="coerce").to_numpy()
    labels = np.array(LABELS, dtype=object)[np.digitize(activity, EDGES)]
    table["activity_bin"] = np.where(np.isnan(activity), "(missing)", labels)
    table["signup_month"] = pd.to_numeric(
        attributes["signup_month"], errors="coerce"
    ).to_numpy()
    table["received"] = [
        received.get((e, u), np.nan)
        for e, u in zip(table.experiment_id, table.unit_id, strict=True)
    ]
    return table


@pytest.fixture(scope="module")
def cohort_data(demo_warehouse):
    tables = read_tables(
        demo_warehouse["database"],
        "raw.exposures",
        "raw.events",
        "raw.units",
        "marts.experiment_cohorts",
        "marts.experiment_cate",
        "intermediate.int_cate_units",
    )
    raw = {name: tables[f"raw.{name}"] for name in ("exposures", "events", "units")}
    registry = Registry.from_seeds(REPO / "seeds")
    units = unit_table(raw, registry, demo_warehouse["now"])
    return tables, units


def test_demo_cohorts_equal_pandas_oracle(cohort_data):
    tables, units = cohort_data
    cohorts = tables["marts.experiment_cohorts"]
    keys = ["experiment_id", "segment", "activity_bin", "signup_month"]
    rows = []
    for key, g in units.groupby(keys, dropna=False):
        shown = len(g) >= MIN_UNITS
        ratio = g.aggregation.iloc[0] == "ratio"
        outcome = g.m.sum() / g.d.sum() if ratio else g.m.mean()
        pre = g.x.sum() / g.w.sum() if ratio else g.x.mean()
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "units": len(g),
                "treatment_rate": g.treatment_arm.mean(),
                "received_rate": g.received.mean()
                if g.received.notna().any()
                else None,
                "mean_outcome": outcome if shown else None,
                "mean_pre_metric": pre if shown and g.has_covariate.iloc[0] else None,
            }
        )
    expected = pd.DataFrame(rows)
    got = cohorts.copy()
    for frame in (expected, got):
        frame["signup_month"] = frame["signup_month"].astype("Float64").fillna(-1)
    merged = expected.merge(
        got, on=keys, how="outer", suffixes=("_py", "_sql"), indicator=True
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert set(merged.experiment_id) == {"E001", "E002", "E004", "E005"}
    e005 = merged[merged.experiment_id == "E005"]
    # E005 has all three attributes: 3 segments x 5 bins x 6 months.
    assert len(e005) == 90 and e005.units_py.sum() > 40_000
    assert (merged.units_py == merged.units_sql).all()
    assert np.allclose(merged.treatment_rate_py, merged.treatment_rate_sql, rtol=1e-12)
    for py, sql in (
        ("received_rate", "received_treatment_rate"),
        ("mean_outcome_py", "mean_outcome_sql"),
        ("mean_pre_metric_py", "mean_pre_metric_sql"),
    ):
        a = pd.to_numeric(merged[py], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(merged[sql], errors="coerce").to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), py
        assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9), py
    # The demo's E005 has imperfect compliance, E001 none recorded.
    assert e005.received_treatment_rate.between(0.05, 0.95).all()
    assert merged[merged.experiment_id == "E001"].received_treatment_rate.isna().all()
    assert (merged.is_suppressed == (merged.units_py < MIN_UNITS)).all()


def test_demo_cate_cells_and_roi_equal_pandas_oracle(cohort_data):
    tables, units = cohort_data
    cate = tables["marts.experiment_cate"]
    assert cate.error_message.isna().all()
    # Default: the running or completed experiment with the most analysed units.
    assert set(cate.experiment_id) == {"E005"}
    e005 = units[units.experiment_id == "E005"]
    assert set(e005.variant) == {"control", "personalised_feed"}
    treated = e005.treatment_arm.to_numpy()
    y = e005.m.to_numpy()
    heat = cate[cate.output == "heatmap"]
    for (segment, bin_), g in e005.groupby(["segment", "activity_bin"]):
        cells = heat[(heat.segment == segment) & (heat.activity_bin == bin_)]
        assert len(cells) == 3
        t = g.treatment_arm.to_numpy()
        assert (cells.units == len(g)).all()
        assert (cells.treated_units == t.sum()).all()
        uplift = g.m[t].mean() - g.m[~t].mean()
        assert np.allclose(cells.observed_uplift, uplift, rtol=1e-9)
    assert len(heat) == 3 * e005.groupby(["segment", "activity_bin"]).ngroups
    ate = y[treated].mean() - y[~treated].mean()
    roi = cate[cate.output == "roi_curve"]
    for learner, curve in roi.groupby("learner"):
        curve = curve.sort_values("budget_share")
        assert list(curve.budget_share) == pytest.approx(list(hte.BUDGET_SHARES))
        expected_units = [
            math.ceil(round(q * len(e005), 9)) for q in curve.budget_share
        ]
        assert list(curve.units) == expected_units
        assert np.allclose(curve.random_outcome, curve.units * ate, rtol=1e-9)
        full = curve.iloc[-1]
        assert full.observed_uplift == pytest.approx(ate, rel=1e-9)
        # The mean estimate over everyone is the unit-weighted mean of the cells.
        cells = heat[heat.learner == learner]
        weighted = (cells.mean_cate * cells.units).sum() / cells.units.sum()
        assert full.mean_cate == pytest.approx(weighted, rel=1e-9)


def test_demo_cate_model_is_the_package_on_its_unit_rows(cohort_data):
    tables, _ = cohort_data
    again = cate_mart.experiment_cate(
        tables["intermediate.int_cate_units"], min_units=10
    )
    built = tables["marts.experiment_cate"]
    keys = ["output", "learner", "segment", "activity_bin", "budget_share", "decile"]
    a = again.sort_values(keys).reset_index(drop=True)
    b = built.sort_values(keys).reset_index(drop=True)
    for column in (
        "units",
        "treated_units",
        "mean_cate",
        "observed_uplift",
        "observed_uplift_low",
        "gain_over_random_high",
    ):
        assert np.allclose(
            a[column].astype(float), b[column].astype(float), equal_nan=True
        ), column
