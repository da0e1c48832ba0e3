"""Mann-Whitney U in the marts (issue 17 item 9): the mid-rank sums and tie
terms computed in SQL (intermediate.int_rank_sums_pooled, RANK / COUNT
windows, units without events as one tie group of zeros) give
experiment_results.mann_whitney_u and mann_whitney_p_value equal to
scipy.stats.mannwhitneyu on the unit-level values rebuilt from the raw tables
(tests/support/oracle.py), to 1e-9, on a custom dataset with an A/B/C test,
many ties (counts, binary) and a capped sum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from oracle import Registry, unit_arrays
from scipy import stats
from warehouse import copy_project, load_and_build, read_tables

pytestmark = pytest.mark.warehouse
RTOL = 1e-9

LINKS = """\
experiment_id,metric_id,role,guardrail_tolerance
checkout-2025,converted,primary,
checkout-2025,revenue,secondary,
checkout-2025,aov,secondary,
checkout-2025,orders,secondary,
pricing ab,revenue,primary,
pricing ab,page_views,guardrail,0.05
pricing ab,orders,secondary,
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("mann_whitney")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    (seeds / "experiment_metrics.csv").write_text(LINKS)
    write_custom_dataset(work / "data")
    project = copy_project(work / "project", seeds)
    database = work / "mw.duckdb"
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    load_and_build(project, work / "data", database, work)
    tables = read_tables(
        database,
        "raw.exposures",
        "raw.events",
        "marts.experiment_results",
        "intermediate.int_rank_sums_pooled",
    )
    raw = {"exposures": tables["raw.exposures"], "events": tables["raw.events"]}
    arrays = unit_arrays(raw, Registry.from_seeds(seeds), now)
    return tables, arrays


def test_mann_whitney_columns_equal_scipy_on_unit_values(built):
    tables, arrays = built
    results = tables["marts.experiment_results"]
    controls = {"checkout-2025": "old", "pricing ab": "p0"}
    checked = 0
    for row in results.itertuples():
        if row.aggregation == "ratio":
            assert pd.isna(row.mann_whitney_p_value)
            assert row.mann_whitney_error_message == "not computed for ratio metrics"
            continue
        c = arrays[(row.experiment_id, controls[row.experiment_id], row.metric_id)]["m"]
        t = arrays[(row.experiment_id, row.variant, row.metric_id)]["m"]
        oracle = stats.mannwhitneyu(
            t, c, method="asymptotic", use_continuity=True, alternative="two-sided"
        )
        assert row.mann_whitney_u == pytest.approx(oracle.statistic, rel=RTOL)
        assert row.mann_whitney_p_value == pytest.approx(oracle.pvalue, rel=RTOL)
        checked += 1
    # 3 checkout metrics x 1 variant + 3 pricing metrics x 2 variants.
    assert checked == 9


def test_rank_sums_and_tie_terms_equal_numpy(built):
    tables, arrays = built
    sums = tables["intermediate.int_rank_sums_pooled"]
    row = sums[
        (sums.experiment_id == "pricing ab")
        & (sums.metric_id == "page_views")
        & (sums.variant == "p2")
    ].iloc[0]
    c = arrays[("pricing ab", "p0", "page_views")]["m"]
    t = arrays[("pricing ab", "p2", "page_views")]["m"]
    pooled = np.concatenate([t, c])
    ranks = stats.rankdata(pooled)
    _, sizes = np.unique(pooled, return_counts=True)
    assert (row.n_control, row.n_treatment) == (c.size, t.size)
    assert row.treatment_rank_sum == pytest.approx(ranks[: t.size].sum(), rel=RTOL)
    assert row.tie_term == pytest.approx(float(np.sum(sizes**3 - sizes)), rel=RTOL)
    # Many units have no views: the zeros form one large tie group.
    assert (pooled == 0).sum() > 1
