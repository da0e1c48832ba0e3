-- Every build's primary, secondary and guardrail results, appended: one row per
-- build x experiment x metric x treatment variant. Append-only (full_refresh
-- false: `make rebuild` keeps it) and deduplicated on the inputs digest, so a
-- build on the same inputs adds nothing and a build after new data adds a row
-- per result. DuckDB only: it reads the Python marts.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='append_new_columns',
        enabled=target.type == 'duckdb'
    )
}}

with

inputs as (

    {{ experimentation.history_inputs_digest(ref('int_input_digests')) }}

),

experiment_results as (

    select * from {{ ref('experiment_results') }}

),

final as (

    select
        cast({{ experimentation.build_id() }} as varchar) as build_id,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as built_at,
        cast({{ experimentation.build_time() }} as timestamp) as as_of,
        inputs.inputs_digest,
        inputs.input_digests,
        experiment_results.experiment_id,
        experiment_results.metric_id,
        experiment_results.variant,
        experiment_results.role,
        experiment_results.experiment_status,
        experiment_results.n_control,
        experiment_results.n_treatment,
        experiment_results.mean_control,
        experiment_results.mean_treatment,
        experiment_results.abs_lift,
        experiment_results.rel_lift,
        experiment_results.rel_ci_low,
        experiment_results.rel_ci_high,
        experiment_results.rel_ci_low_adjusted,
        experiment_results.rel_ci_high_adjusted,
        experiment_results.p_value,
        experiment_results.p_value_adjusted,
        experiment_results.is_significant,
        experiment_results.direction,
        experiment_results.posterior_rel_lift,
        experiment_results.chance_to_beat_control
    from experiment_results
    cross join inputs
    where {{ experimentation.history_is_new('inputs.inputs_digest') }}

)

select * from final
