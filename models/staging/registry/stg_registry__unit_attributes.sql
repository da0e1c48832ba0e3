-- One row per row of seeds/unit_attributes.csv (the declared unit attributes:
-- which raw.units column plays which role), typed; names and enumerations
-- lower-cased and trimmed, empty bins null. A consumer project without a
-- mapping for unit_attributes (var registry_relations) declares none.
{%- set mapped = var('registry_relations', {}).get('unit_attributes') %}
{%- set declared = mapped or var('registry_seeds_enabled', true) %}

with

{%- if declared %}

unit_attributes as (

    select * from {{ experimentation.registry_relation('unit_attributes') }}

),

typed as (

    select
        lower(trim(cast(column_name as {{ dbt.type_string() }}))) as column_name,
        lower(trim(cast(role as {{ dbt.type_string() }}))) as role,
        lower(trim(cast(data_type as {{ dbt.type_string() }}))) as data_type,
        nullif(trim(cast(bins as {{ dbt.type_string() }})), '') as bins,
        cast(description as {{ dbt.type_string() }}) as description
    from unit_attributes

)

{%- else %}

typed as (

    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as role,
        cast(null as {{ dbt.type_string() }}) as data_type,
        cast(null as {{ dbt.type_string() }}) as bins,
        cast(null as {{ dbt.type_string() }}) as description
    where 1 = 0

)

{%- endif %}

select * from typed
