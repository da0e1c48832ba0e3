"""Cumulative results by exposure day, fixed-horizon and always-valid: one row
per experiment x metric x treatment variant x day. Thin: reads
arm_metrics_daily and the registry, calls xpkit.stats.sequential.daily_results."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.daily_results import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "arm_metrics_daily": dbt.ref("arm_metrics_daily"),
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
        },
        {
            "sequential_experiments": dbt.config.get("sequential_experiments"),
            "sequential_tuning_units": dbt.config.get("sequential_tuning_units"),
        },
    )
