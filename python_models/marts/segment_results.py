"""Results within each segment (a value of a unit attribute in the var
segment_columns), with a per-segment SRM test and small-cell suppression.
Thin: reads arm_metrics_by_segment and the registry, calls xpkit."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.segment_results import segment_results
    from xpkit.stats.bayesian import Prior

    return segment_results(
        dbt.ref("arm_metrics_by_segment").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiments").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__metrics").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiment_metrics").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiment_variants").to_arrow_table().to_pandas(),
        correction=dbt.config.get("multiple_testing_correction"),
        correction_families=dbt.config.get("correction_families"),
        prior=Prior.from_vars(
            dbt.config.get("bayesian_prior_mean"), dbt.config.get("bayesian_prior_sd")
        ),
        min_units=int(dbt.config.get("min_segment_units")),
    )
