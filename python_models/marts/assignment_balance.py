"""Assignment balance and the sample-ratio-mismatch test, per experiment and arm.

Thin: reads the per-arm unit counts built in SQL and calls xpkit.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.assignment_balance import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "int_arms_counted": dbt.ref("int_arms_counted"),
        },
        {},
    )
