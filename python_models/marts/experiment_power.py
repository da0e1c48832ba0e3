"""Power and sample size per experiment x primary metric: required units for
the registered MDE, alpha and power, progress towards them and the projected
days to reach them. Thin: reads the marts and the registry, calls xpkit."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_power import experiment_power

    return experiment_power(
        dbt.ref("stg_registry__experiments").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__metrics").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiment_metrics").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiment_variants").to_arrow_table().to_pandas(),
        dbt.ref("arm_metrics").to_arrow_table().to_pandas(),
        dbt.ref("arm_metrics_daily").to_arrow_table().to_pandas(),
        dbt.ref("int_planned_metric_baselines").to_arrow_table().to_pandas(),
    )
