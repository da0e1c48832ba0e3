"""Meta-analysis across experiments: per domain x metric and over the
programme's primary metrics, DerSimonian-Laird pooled improvement, tau^2,
empirical-Bayes shrunken improvement per experiment, win rate and summed
shipped impact. Thin: calls xpkit.marts.experiment_meta_analysis."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_meta_analysis import DECLARATION

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
