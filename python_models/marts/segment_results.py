"""Results within each segment (a value of a unit attribute in the var
segment_columns), with a per-segment SRM test and small-cell suppression.
Thin: reads arm_metrics_by_segment and the registry, calls xpkit."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.segment_results import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "arm_metrics_by_segment": dbt.ref("arm_metrics_by_segment"),
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
            "stg_registry__metrics": dbt.ref("stg_registry__metrics"),
            "stg_registry__experiment_metrics": dbt.ref(
                "stg_registry__experiment_metrics"
            ),
            "stg_registry__experiment_variants": dbt.ref(
                "stg_registry__experiment_variants"
            ),
        },
        {
            "multiple_testing_correction": dbt.config.get(
                "multiple_testing_correction"
            ),
            "correction_families": dbt.config.get("correction_families"),
            "bayesian_prior_mean": dbt.config.get("bayesian_prior_mean"),
            "bayesian_prior_sd": dbt.config.get("bayesian_prior_sd"),
            "min_segment_units": dbt.config.get("min_segment_units"),
        },
    )
