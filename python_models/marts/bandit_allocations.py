"""Thompson-sampling allocation weights of the bandit experiments, by exposure
day, variant and segment. Thin: calls xpkit.marts.bandit_allocations."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.bandit_allocations import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
            "stg_registry__experiment_variants": dbt.ref(
                "stg_registry__experiment_variants"
            ),
            "stg_registry__metrics": dbt.ref("stg_registry__metrics"),
            "stg_registry__experiment_metrics": dbt.ref(
                "stg_registry__experiment_metrics"
            ),
            "arm_metrics_daily": dbt.ref("arm_metrics_daily"),
            "arm_metrics_by_segment": dbt.ref("arm_metrics_by_segment"),
        },
        {},
    )
