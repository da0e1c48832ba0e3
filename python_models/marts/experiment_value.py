"""What each experiment's decision is worth: expected value with interval,
cost, decision owner, custom action and the value of information that ranks
the running experiments. Thin: calls xpkit.marts.experiment_value."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_value import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
            "experiment_results": dbt.ref("experiment_results"),
            "experiment_decisions": dbt.ref("experiment_decisions"),
        },
        {},
    )
