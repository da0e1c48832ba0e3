{#- Optional registry columns (issue 17 item 7): null when the registry has
    no such column (older registries, or one supplied by a project installing
    this one); an empty test_type means two_sided. -#}
{%- set registry = experimentation.registry_relation('experiment_metrics') %}

with

experiment_metrics as (

    select * from {{ experimentation.registry_relation('experiment_metrics') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(metric_id as {{ dbt.type_string() }}) as metric_id,
        lower(trim(cast(role as {{ dbt.type_string() }}))) as role,
        cast(guardrail_tolerance as {{ experimentation.type_double() }}) as guardrail_tolerance,
        {%- if experimentation.has_column(registry, 'test_type') %}
        coalesce(
            nullif(lower(trim(cast(test_type as {{ dbt.type_string() }}))), ''),
            'two_sided'
        ) as test_type,
        {%- else %}
        cast('two_sided' as {{ dbt.type_string() }}) as test_type,
        {%- endif %}
        {%- if experimentation.has_column(registry, 'non_inferiority_margin') %}
        cast(non_inferiority_margin as {{ experimentation.type_double() }}) as non_inferiority_margin
        {%- else %}
        cast(null as {{ experimentation.type_double() }}) as non_inferiority_margin
        {%- endif %}
    from experiment_metrics

)

select * from typed
