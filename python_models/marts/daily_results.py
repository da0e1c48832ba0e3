"""Cumulative results by exposure day, fixed-horizon and always-valid: one row
per experiment x metric x treatment variant x day. Thin: reads
arm_metrics_daily and the registry, calls xpkit.stats.sequential.daily_results."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.daily_results import daily_results, experiment_list

    return daily_results(
        dbt.ref("arm_metrics_daily").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiments").to_arrow_table().to_pandas(),
        sequential_experiments=experiment_list(
            dbt.config.get("sequential_experiments")
        ),
        tuning_units=float(dbt.config.get("sequential_tuning_units")),
    )
