"""Heterogeneous effects of ONE experiment (int_cate_units: var
cate_experiment_id, else the largest running or completed one): T-, S- and
X-learner CATE estimates, as heatmap cells (segment x activity bin) and
ROI-versus-budget curves.

Thin: reads that experiment's unit rows built in SQL and calls xpkit.stats.hte.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_cate import experiment_cate

    units = dbt.ref("int_cate_units").to_arrow_table().to_pandas()
    return experiment_cate(units, min_units=int(dbt.config.get("min_units")))
