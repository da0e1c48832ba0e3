"""Results of every registered comparison: one row per experiment x metric x
treatment variant. Thin: reads the per-arm sufficient statistics (and the
regression terms' cross products) and the registry, and calls
xpkit.marts.experiment_results."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_results import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "arm_metrics": dbt.ref("arm_metrics"),
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
            "stg_registry__metrics": dbt.ref("stg_registry__metrics"),
            "stg_registry__experiment_metrics": dbt.ref(
                "stg_registry__experiment_metrics"
            ),
            "stg_registry__experiment_variants": dbt.ref(
                "stg_registry__experiment_variants"
            ),
            "int_regression_cross_products": dbt.ref("int_regression_cross_products"),
            "int_rank_sums_pooled": dbt.ref("int_rank_sums_pooled"),
        },
        {
            "multiple_testing_correction": dbt.config.get(
                "multiple_testing_correction"
            ),
            "correction_families": dbt.config.get("correction_families"),
            "bayesian_prior_mean": dbt.config.get("bayesian_prior_mean"),
            "bayesian_prior_sd": dbt.config.get("bayesian_prior_sd"),
        },
    )
