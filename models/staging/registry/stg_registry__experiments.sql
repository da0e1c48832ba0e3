{#- Optional registry columns (issue 19 items 6, 1, 2 and 3): null when the registry
    has no such column (a registry supplied by a project installing this one);
    design is lower-cased and defaults to fixed (no column, or an empty cell). -#}
{%- set registry = experimentation.registry_relation('experiments') %}
{%- set optional = {
    'value_per_unit_lift': experimentation.type_double(),
    'cost': experimentation.type_double(),
    'decision_owner': dbt.type_string(),
    'custom_action': dbt.type_string(),
    'population_rule': dbt.type_string(),
    'layer': dbt.type_string(),
    'layer_share': experimentation.type_double(),
    'holdout_scope': dbt.type_string(),
    'bandit_min_share': experimentation.type_double(),
} %}

with

experiments as (

    select * from {{ experimentation.registry_relation('experiments') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(experiment_name as {{ dbt.type_string() }}) as experiment_name,
        cast(domain as {{ dbt.type_string() }}) as domain,
        cast(owner as {{ dbt.type_string() }}) as owner,
        cast(hypothesis as {{ dbt.type_string() }}) as hypothesis,
        lower(trim(cast(status as {{ dbt.type_string() }}))) as status,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(control_variant as {{ dbt.type_string() }}) as control_variant,
        cast(alpha as {{ experimentation.type_double() }}) as alpha,
        cast(power as {{ experimentation.type_double() }}) as power,
        cast(mde_relative as {{ experimentation.type_double() }}) as mde_relative,
        cast(analysis_window_days as {{ dbt.type_int() }}) as analysis_window_days,
        cast(cuped_lookback_days as {{ dbt.type_int() }}) as cuped_lookback_days,
        {%- for column, column_type in optional.items() %}
        {%- if experimentation.has_column(registry, column) %}
        cast({{ column }} as {{ column_type }}) as {{ column }},
        {%- else %}
        cast(null as {{ column_type }}) as {{ column }},
        {%- endif %}
        {%- endfor %}
        {%- if experimentation.has_column(registry, 'design') %}
        coalesce(
            nullif(lower(trim(cast(design as {{ dbt.type_string() }}))), ''), 'fixed'
        ) as design
        {%- else %}
        cast('fixed' as {{ dbt.type_string() }}) as design
        {%- endif %}
    from experiments

)

select * from typed
