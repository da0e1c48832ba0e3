with

metrics as (

    select * from {{ experimentation.registry_relation('metrics') }}

),

typed as (

    select
        cast(metric_id as {{ dbt.type_string() }}) as metric_id,
        cast(metric_name as {{ dbt.type_string() }}) as metric_name,
        nullif(cast(event_name as {{ dbt.type_string() }}), '') as event_name,
        lower(trim(cast(aggregation as {{ dbt.type_string() }}))) as aggregation,
        nullif(cast(numerator_metric_id as {{ dbt.type_string() }}), '') as numerator_metric_id,
        nullif(cast(denominator_metric_id as {{ dbt.type_string() }}), '') as denominator_metric_id,
        lower(trim(cast(desired_direction as {{ dbt.type_string() }}))) as desired_direction,
        cast(cap_value as {{ experimentation.type_double() }}) as cap_value,
        cast(description as {{ dbt.type_string() }}) as description
    from metrics

)

select * from typed
