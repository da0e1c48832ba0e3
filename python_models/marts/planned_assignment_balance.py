"""Balance of the planned experiments' hash assignment: the sample-ratio test of
marts.planned_assignments' arm counts against the registered weights.

Thin: reads the per-arm counts built in SQL and calls xpkit (as
assignment_balance does for the exposures).
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.assignment_balance import assignment_balance

    counts = dbt.ref("int_planned_arms_counted").to_arrow_table().to_pandas()
    return assignment_balance(counts)
