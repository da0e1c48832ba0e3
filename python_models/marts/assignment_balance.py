"""Assignment balance and the sample-ratio-mismatch test, per experiment and arm.

Thin: reads the per-arm unit counts built in SQL and calls xpkit.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.assignment_balance import assignment_balance

    counts = dbt.ref("int_arms_counted").to_arrow_table().to_pandas()
    return assignment_balance(counts)
