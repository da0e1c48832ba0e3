"""Balance of the planned experiments' hash assignment: the sample-ratio test of
marts.planned_assignments' arm counts against the registered weights.

Thin: reads the per-arm counts built in SQL and calls xpkit (as
assignment_balance does for the exposures).
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.assignment_balance import PLANNED_DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to PLANNED_DECLARATION.
    return PLANNED_DECLARATION.run(
        {
            "int_planned_arms_counted": dbt.ref("int_planned_arms_counted"),
        },
        {},
    )
