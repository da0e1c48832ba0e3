"""Power and sample size per experiment x primary metric: required units for
the registered MDE, alpha and power, progress towards them and the projected
days to reach them. Thin: reads the marts and the registry, calls xpkit."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_power import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
            "stg_registry__metrics": dbt.ref("stg_registry__metrics"),
            "stg_registry__experiment_metrics": dbt.ref(
                "stg_registry__experiment_metrics"
            ),
            "stg_registry__experiment_variants": dbt.ref(
                "stg_registry__experiment_variants"
            ),
            "arm_metrics": dbt.ref("arm_metrics"),
            "arm_metrics_daily": dbt.ref("arm_metrics_daily"),
            "int_planned_metric_baselines": dbt.ref("int_planned_metric_baselines"),
            "int_experiment_populations": dbt.ref("int_experiment_populations"),
        },
        {},
    )
