-- One row per usable unit x segment dimension (the declared dimensions of
-- seeds/unit_attributes.csv, or var segment_columns when set): the unit's
-- attribute value as text, '(missing)' when null.
-- depends_on: {{ ref('int_registry_problems') }}
{%- set dimensions = experimentation.segment_dimensions() %}

with

units as (

    select * from {{ ref('stg_raw__units') }}
    where reason_code is null

),

unpivoted as (

    {%- for dimension in dimensions %}
    select
        unit_id,
        '{{ dimension }}' as segment_dimension,
        coalesce(cast({{ adapter.quote(dimension) }} as {{ dbt.type_string() }}), '(missing)') as segment_value
    from units
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        unit_id,
        cast(null as {{ dbt.type_string() }}) as segment_dimension,
        cast(null as {{ dbt.type_string() }}) as segment_value
    from units
    where 1 = 0
    {%- endfor %}

)

select * from unpivoted
