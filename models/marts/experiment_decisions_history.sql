-- Every build's decisions, appended: one row per build x experiment, with what
-- the decision was based on (inputs digest, as-of time). Append-only
-- (full_refresh false: `make rebuild` keeps it) and deduplicated on the inputs
-- digest like experiment_results_history. DuckDB only: it reads the Python marts.
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

experiment_decisions as (

    select * from {{ ref('experiment_decisions') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

final as (

    select
        cast({{ experimentation.build_id() }} as varchar) as build_id,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as built_at,
        cast({{ experimentation.build_time() }} as timestamp) as as_of,
        inputs.inputs_digest,
        inputs.input_digests,
        experiment_decisions.experiment_id,
        experiment_decisions.status,
        experiment_decisions.decision,
        experiment_decisions.rule,
        experiment_decisions.recommended_action,
        experiment_decisions.decided_at,
        experiment_decisions.primary_metric_id,
        experiment_decisions.primary_variant,
        experiment_decisions.primary_rel_lift,
        experiment_decisions.primary_rel_ci_low_adjusted,
        experiment_decisions.primary_rel_ci_high_adjusted,
        experiment_decisions.primary_p_value_adjusted,
        experiment_decisions.share_of_target,
        experiment_decisions.units_analysed,
        experiments.decision_owner,
        experiments.custom_action
    from experiment_decisions
    cross join inputs
    left join experiments
        on experiment_decisions.experiment_id = experiments.experiment_id
    where {{ experimentation.history_is_new('inputs.inputs_digest') }}

)

select * from final
