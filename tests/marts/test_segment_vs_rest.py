"""Segment-vs-rest tests in segment_results: the lift difference against OLS with
a treatment x segment interaction and HC2 standard errors (statsmodels) on the
unit-level arrays, Benjamini-Hochberg against statsmodels, degenerate cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from xpkit.marts.segment_results import SEGMENT_VS_REST_COLUMNS, segment_results

SEGMENTS = ("a", "b", "c")
RNG = np.random.default_rng(88)


def unit_data() -> pd.DataFrame:
    """Units of experiment X: arm, segment, a continuous metric m, a binary
    metric, and a ratio metric num / den; the treatment works only in b."""
    rows = []
    for variant in ("control", "t"):
        for segment, n in zip(SEGMENTS, (120, 80, 60), strict=True):
            effect = 1.5 if (variant == "t" and segment == "b") else 0.0
            den = RNG.poisson(3, n) + 1.0
            rows.append(
                pd.DataFrame(
                    {
                        "variant": variant,
                        "segment": segment,
                        "m": RNG.normal(10 + effect, 3, n),
                        "conv": (RNG.random(n) < 0.2 + 0.1 * effect).astype(float),
                        "num": den * (5 + effect) + RNG.normal(0, 2, n),
                        "den": den,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


UNITS = unit_data()
METRICS = {"m": "sum", "conv": "binary", "ratio": "ratio"}


def segment_rows(units: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (variant, segment), cell in units.groupby(["variant", "segment"]):
        for metric, aggregation in METRICS.items():
            m = cell["num" if metric == "ratio" else metric].to_numpy()
            row = {
                "experiment_id": "X",
                "variant": variant,
                "metric_id": metric,
                "segment_dimension": "segment",
                "segment_value": segment,
                "is_control": variant == "control",
                "aggregation": aggregation,
                "has_covariate": False,
                "n_units": m.size,
                "metric_sum": m.sum(),
                "metric_sum_squares": (m * m).sum(),
            }
            if metric == "ratio":
                d = cell["den"].to_numpy()
                row |= {
                    "denominator_sum": d.sum(),
                    "denominator_sum_squares": (d * d).sum(),
                    "metric_denominator_sum_product": (m * d).sum(),
                }
            rows.append(row)
    return pd.DataFrame(rows)


REGISTRY = (
    pd.DataFrame(
        [
            {
                "experiment_id": "X",
                "status": "completed",
                "control_variant": "control",
                "alpha": 0.05,
            }
        ]
    ),
    pd.DataFrame(
        [
            {
                "metric_id": k,
                "metric_name": k,
                "aggregation": v,
                "desired_direction": "increase",
            }
            for k, v in METRICS.items()
        ]
    ),
    pd.DataFrame(
        [{"experiment_id": "X", "metric_id": k, "role": "primary"} for k in METRICS]
    ),
    pd.DataFrame(
        [
            {
                "experiment_id": "X",
                "variant": v,
                "is_control": v == "control",
                "allocation_weight": 0.5,
            }
            for v in ("control", "t")
        ]
    ),
)


def outcome(units: pd.DataFrame, metric: str) -> np.ndarray:
    """Unit values; for the ratio, delta-method linearised values per cell."""
    if metric != "ratio":
        return units[metric].to_numpy(float)
    y = np.empty(len(units))
    for _, cell in units.groupby(["variant", "in_segment"]):
        r = cell["num"].sum() / cell["den"].sum()
        dbar = cell["den"].mean()
        y[cell.index] = r + (cell["num"] - r * cell["den"]) / dbar
    return y


def ols_interaction(segment: str, metric: str):
    """OLS y ~ 1 + T + S + T:S with HC2 errors; returns the interaction fit."""
    units = UNITS.assign(
        in_segment=(UNITS["segment"] == segment).astype(float),
        treated=(UNITS["variant"] == "t").astype(float),
    )
    y = outcome(units, metric)
    design = np.column_stack(
        [
            np.ones(len(units)),
            units["treated"],
            units["in_segment"],
            units["treated"] * units["in_segment"],
        ]
    )
    fit = sm.OLS(y, design).fit(cov_type="HC2")
    return fit.params[3], fit.bse[3], fit.pvalues[3]


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return segment_results(segment_rows(UNITS), *REGISTRY)


@pytest.mark.parametrize("metric", list(METRICS))
def test_lift_difference_matches_ols_interaction_with_hc2(results, metric):
    rows = results[results["metric_id"] == metric].set_index("segment_value")
    p_values = []
    for segment in SEGMENTS:
        coefficient, std_error, p_value = ols_interaction(segment, metric)
        row = rows.loc[segment]
        assert row.lift_difference == pytest.approx(coefficient, rel=1e-9)
        assert row.lift_difference_std_error == pytest.approx(std_error, rel=1e-9)
        assert row.lift_difference_p_value == pytest.approx(p_value, rel=1e-9)
        rest = UNITS[UNITS["segment"] != segment]
        assert row.rest_n_control == (rest["variant"] == "control").sum()
        assert row.rest_n_treatment == (rest["variant"] == "t").sum()
        p_values.append(p_value)
    adjusted = multipletests(p_values, method="fdr_bh")[1]
    for segment, expected in zip(SEGMENTS, adjusted, strict=True):
        row = rows.loc[segment]
        assert row.lift_difference_p_value_adjusted == pytest.approx(expected, rel=1e-9)
        assert row.is_heterogeneous == (expected < 0.05)
        assert pd.isna(row.lift_difference_error_message)


def test_rest_lift_equals_the_lift_over_the_other_segments(results):
    row = results[(results.metric_id == "m") & (results.segment_value == "b")].iloc[0]
    rest = UNITS[UNITS["segment"] != "b"]
    expected = (
        rest.loc[rest.variant == "t", "m"].mean()
        - rest.loc[rest.variant == "control", "m"].mean()
    )
    assert row.rest_abs_lift == pytest.approx(expected, rel=1e-9)
    # The planted effect lives in segment b only.
    assert row.is_heterogeneous


def test_segment_vs_rest_columns_present_and_typed(results):
    for column, dtype in SEGMENT_VS_REST_COLUMNS.items():
        assert str(results[column].dtype) == dtype


def test_degenerate_segments_give_reasons_not_crashes():
    # One segment value only: nothing to compare with.
    single = UNITS.assign(segment="all")
    out = segment_results(segment_rows(single), *REGISTRY)
    assert out["lift_difference"].isna().all()
    assert (
        out["lift_difference_error_message"]
        == "no units outside the segment (a single segment value)"
    ).all()
    # A segment with one treated unit: its test is null, the others still run
    # (and the BH family shrinks to them).
    keep = ~((UNITS.segment == "c") & (UNITS.variant == "t")) | (
        UNITS.index == UNITS[(UNITS.segment == "c") & (UNITS.variant == "t")].index[0]
    )
    out = segment_results(segment_rows(UNITS[keep].reset_index(drop=True)), *REGISTRY)
    m = out[out.metric_id == "m"].set_index("segment_value")
    assert pd.isna(m.loc["c", "lift_difference_p_value"])
    assert m.loc["c", "lift_difference_error_message"] == (
        "fewer than 2 treatment units in the segment"
    )
    assert not pd.isna(m.loc["a", "lift_difference_p_value_adjusted"])
    # Small-cell suppression hides the segment-vs-rest figures too.
    out = segment_results(segment_rows(UNITS), *REGISTRY, min_units=70)
    c = out[(out.metric_id == "m") & (out.segment_value == "c")].iloc[0]
    assert c.is_suppressed and pd.isna(c.lift_difference)
    assert c.lift_difference_error_message.startswith("suppressed")
    # Zero variance everywhere: a difference but no test.
    flat = UNITS.assign(m=1.0)
    out = segment_results(segment_rows(flat), *REGISTRY)
    m = out[out.metric_id == "m"].iloc[0]
    assert m.lift_difference == 0.0 and pd.isna(m.lift_difference_p_value)
    assert "zero variance" in m.lift_difference_error_message
    # Missing control arm in a segment.
    no_control = UNITS[~((UNITS.segment == "a") & (UNITS.variant == "control"))]
    out = segment_results(segment_rows(no_control.reset_index(drop=True)), *REGISTRY)
    a = out[(out.metric_id == "m") & (out.segment_value == "a")].iloc[0]
    assert a.lift_difference_error_message == "no control units in the segment"
