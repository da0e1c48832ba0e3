"""Results of every registered comparison: one row per experiment x metric x
treatment variant. Thin: reads the per-arm sufficient statistics and the
registry, and calls xpkit.marts.experiment_results."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_results import experiment_results
    from xpkit.stats.bayesian import Prior

    return experiment_results(
        dbt.ref("arm_metrics").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiments").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__metrics").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiment_metrics").to_arrow_table().to_pandas(),
        correction=dbt.config.get("multiple_testing_correction"),
        correction_families=dbt.config.get("correction_families"),
        prior=Prior.from_vars(
            dbt.config.get("bayesian_prior_mean"), dbt.config.get("bayesian_prior_sd")
        ),
        experiment_variants=(
            dbt.ref("stg_registry__experiment_variants").to_arrow_table().to_pandas()
        ),
    )
