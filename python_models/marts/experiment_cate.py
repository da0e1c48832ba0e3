"""Heterogeneous effects of ONE experiment (int_cate_units: var
cate_experiment_id, else the largest running or completed one): T-, S- and
X-learner CATE estimates, as heatmap cells (segment x activity bin) and
ROI-versus-budget curves.

Thin: reads that experiment's unit rows built in SQL and calls xpkit.stats.hte.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_cate import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "int_cate_units": dbt.ref("int_cate_units"),
        },
        {
            "min_segment_units": dbt.config.get("min_segment_units"),
        },
    )
