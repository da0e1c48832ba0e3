"""End-to-end one-sided tests (issue 17 item 7): a registry with test_type and
non_inferiority_margin builds, and experiment_results' one-sided figures equal
scipy / statsmodels on the unit-level arrays rebuilt from the raw tables
(tests/support/oracle.py); bad test_type rows stop the build naming file, row
and fix. (Registries without the two columns: every other custom-dataset
test, e.g. tests/warehouse/test_warehouse.py, builds one.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from oracle import Registry, unit_arrays
from scipy import stats
from statsmodels.stats import weightstats
from warehouse import copy_project, load_and_build, read_tables

pytestmark = pytest.mark.warehouse
RTOL = 1e-9

ONE_SIDED_LINKS = """\
experiment_id,metric_id,role,guardrail_tolerance,test_type,non_inferiority_margin
checkout-2025,converted,primary,,,
checkout-2025,revenue,secondary,,non_inferiority,0.05
checkout-2025,aov,secondary,,superiority,
pricing ab,revenue,primary,,,
pricing ab,page_views,guardrail,0.05,non_inferiority,0.05
"""


def _project(tmp_path, links: str):
    seeds = tmp_path / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    (seeds / "experiment_metrics.csv").write_text(links)
    write_custom_dataset(tmp_path / "data")
    return copy_project(tmp_path / "project", seeds), seeds


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("one_sided")
    project, seeds = _project(work, ONE_SIDED_LINKS)
    database = work / "one_sided.duckdb"
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    load_and_build(project, work / "data", database, work)
    tables = read_tables(
        database, "raw.exposures", "raw.events", "marts.experiment_results"
    )
    raw = {"exposures": tables["raw.exposures"], "events": tables["raw.events"]}
    arrays = unit_arrays(raw, Registry.from_seeds(seeds), now)
    return tables["marts.experiment_results"], arrays


def _row(results, experiment, metric, variant):
    rows = results[
        (results.experiment_id == experiment)
        & (results.metric_id == metric)
        & (results.variant == variant)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def _linearised(m, d):
    r = m.sum() / d.sum()
    return r + (m - r * d) / d.mean()


def pooled_score_one_sided(c, t, null, alpha):
    """The pooled score z of H0 D = null by hand: the treatment values shifted
    by -null, all units about their common mean (numpy), and the bound
    d - q sqrt(h W / (N - 1 - q**2)) that inverts it."""
    shifted = t - null
    h = 1 / c.size + 1 / t.size
    pooled = np.var(np.concatenate([c, shifted]), ddof=1)
    z = (shifted.mean() - c.mean()) / np.sqrt(pooled * h)
    within = np.sum((c - c.mean()) ** 2) + np.sum((t - t.mean()) ** 2)
    q = stats.norm.isf(alpha)
    d = t.mean() - c.mean()
    bound = d - q * np.sqrt(h * within / (c.size + t.size - 1 - q * q))
    return stats.norm.sf(z), bound


def test_non_inferiority_of_a_sparse_mean_equals_the_pooled_score_by_hand(built):
    results, arrays = built
    row = _row(results, "checkout-2025", "revenue", "new")
    assert row.test_type == "non_inferiority" and row.method == "pooled_score_z"
    c = arrays[("checkout-2025", "old", "revenue")]["m"]
    t = arrays[("checkout-2025", "new", "revenue")]["m"]
    delta = 0.05 * c.mean()
    p, low = pooled_score_one_sided(c, t, -delta, 0.1)
    assert row.non_inferiority_margin == 0.05
    assert row.non_inferiority_margin_abs == pytest.approx(delta, rel=RTOL)
    assert row.one_sided_p_value == pytest.approx(p, rel=RTOL)
    assert row.one_sided_bound == pytest.approx(low, rel=RTOL)
    assert (row.one_sided_p_value < 0.1) == (row.one_sided_bound > -delta)
    assert row.is_significant == (row.one_sided_p_value_adjusted < 0.1)


def test_superiority_of_a_ratio_equals_scipy_on_linearised_values(built):
    results, arrays = built
    row = _row(results, "checkout-2025", "aov", "new")
    assert row.method == "ratio_delta_welch_t"
    c = arrays[("checkout-2025", "old", "aov")]
    t = arrays[("checkout-2025", "new", "aov")]
    oracle = stats.ttest_ind(
        _linearised(t["m"], t["d"]),
        _linearised(c["m"], c["d"]),
        equal_var=False,
        alternative="greater",
    )
    assert row.one_sided_p_value == pytest.approx(oracle.pvalue, rel=RTOL)
    low = oracle.confidence_interval(confidence_level=0.9).low
    assert row.one_sided_bound == pytest.approx(low, rel=RTOL)


def test_non_inferiority_guardrail_of_a_decrease_metric(built):
    results, arrays = built
    methods = set()
    for variant in ("p1", "p2"):
        row = _row(results, "pricing ab", "page_views", variant)
        c = arrays[("pricing ab", "p0", "page_views")]["m"]
        t = arrays[("pricing ab", variant, "page_views")]["m"]
        delta = 0.05 * c.mean()
        methods.add(row.method)
        if row.method == "welch_t":
            _, p, _ = weightstats.ttest_ind(
                t, c, alternative="smaller", usevar="unequal", value=delta
            )
            high = weightstats.CompareMeans.from_data(t, c).tconfint_diff(
                alpha=0.05, alternative="smaller", usevar="unequal"
            )[1]
        else:
            # A decrease metric: the pooled score test of -D against -delta.
            p, low = pooled_score_one_sided(-c, -t, -delta, 0.05)
            high = -low
        assert row.one_sided_p_value == pytest.approx(p, rel=RTOL)
        assert row.one_sided_bound == pytest.approx(high, rel=RTOL)
        passed = row.one_sided_p_value < 0.05
        assert passed == (high < delta)
        assert (row.guardrail_status == "passed") == passed
        assert row.guardrail_bound == pytest.approx(high / c.mean(), rel=RTOL)
    assert methods <= {"welch_t", "pooled_score_z"}


def test_two_sided_rows_have_no_one_sided_figures(built):
    results, _ = built
    two = results[results.test_type == "two_sided"]
    assert set(two.metric_id) == {"converted", "revenue"}
    assert two.one_sided_p_value.isna().all() and two.one_sided_bound.isna().all()
    assert (two.is_significant == (two.p_value_adjusted < two.alpha)).all()


BAD_LINKS = """\
experiment_id,metric_id,role,guardrail_tolerance,test_type,non_inferiority_margin
checkout-2025,converted,primary,,superior,
checkout-2025,revenue,secondary,,non_inferiority,
checkout-2025,aov,secondary,,two_sided,0.05
pricing ab,revenue,primary,,,
pricing ab,page_views,guardrail,0.05,,
"""
MESSAGES = [
    "seeds/experiment_metrics.csv | experiment_id = checkout-2025, metric_id = "
    "converted | unknown test_type 'superior' | Use one of two_sided, superiority, "
    "non_inferiority",
    "seeds/experiment_metrics.csv | experiment_id = checkout-2025, metric_id = "
    "revenue | test_type non_inferiority needs a positive non_inferiority_margin",
    "seeds/experiment_metrics.csv | experiment_id = checkout-2025, metric_id = aov "
    "| non_inferiority_margin is set but test_type is not non_inferiority",
]


def test_bad_test_types_stop_the_build_naming_row_and_fix(tmp_path):
    project, _ = _project(tmp_path, BAD_LINKS)
    with pytest.raises(AssertionError) as failure:
        load_and_build(project, tmp_path / "data", tmp_path / "bad.duckdb", tmp_path)
    output = " ".join(str(failure.value).split())
    for message in MESSAGES:
        assert message in output
    assert np.sum([output.count(m) for m in MESSAGES]) >= len(MESSAGES)
