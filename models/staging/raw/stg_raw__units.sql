-- Raw unit attributes with a reason code per row: one usable row per unit_id;
-- exact repeats and conflicting versions of a unit are flagged, not dropped.
{%- set attribute_columns = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(source('raw', 'units')) -%}
        {%- if column.name != 'unit_id' -%}
            {%- do attribute_columns.append(adapter.quote(column.name)) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}
{%- set all_columns = ['unit_id'] + attribute_columns %}

with

units as (

    select * from {{ source('raw', 'units') }}

),

typed as (

    select
        {%- for column in attribute_columns %}
        {{ column }},
        {%- endfor %}
        {{ experimentation.pseudonymised_unit_id('unit_id') }} as unit_id
    from units

),

counted as (

    select
        *,
        count(*) over (partition by unit_id) as unit_row_count,
        count(*) over (
            partition by {{ all_columns | join(', ') }}
        ) as identical_row_count,
        row_number() over (
            partition by {{ all_columns | join(', ') }}
            order by unit_id
        ) as duplicate_rank
    from typed

),

flagged as (

    select
        *,
        case
            when {{ experimentation.is_blank('unit_id') }} then 'missing_unit_id'
            when unit_row_count > identical_row_count then 'conflicting_unit_attributes'
            when duplicate_rank > 1 then 'duplicate_row'
        end as reason_code
    from counted

)

select * from flagged
