{#- Optional registry columns (issue 17 items 8, 5, 6): null when the
    registry has no such column (an older registry, or one supplied by a
    project installing this one). -#}
{%- set registry = experimentation.registry_relation('metrics') %}
{%- set optional = {
    'cap_quantile': experimentation.type_double(),
    'quantile': experimentation.type_double(),
    'retention_start_day': dbt.type_int(),
    'retention_end_day': dbt.type_int(),
    'funnel_steps': dbt.type_string(),
} %}

with

metrics as (

    select * from {{ registry }}

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
        cast(description as {{ dbt.type_string() }}) as description,
        {%- for column, column_type in optional.items() %}
        {%- if experimentation.has_column(registry, column) %}
        {{ experimentation.try_cast('nullif(trim(cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')), \'\')', column_type) }}
            as {{ column }}{{ ',' if not loop.last }}
        {%- else %}
        cast(null as {{ column_type }}) as {{ column }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from metrics

)

select * from typed
