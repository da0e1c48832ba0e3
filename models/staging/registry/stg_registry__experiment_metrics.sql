with

experiment_metrics as (

    select * from {{ experimentation.registry_relation('experiment_metrics') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(metric_id as {{ dbt.type_string() }}) as metric_id,
        lower(trim(cast(role as {{ dbt.type_string() }}))) as role,
        cast(guardrail_tolerance as {{ experimentation.type_double() }}) as guardrail_tolerance
    from experiment_metrics

)

select * from typed
