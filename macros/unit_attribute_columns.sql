{% macro unit_attribute_columns() -%}
    {#- The lowercase column names of the raw units table (empty at parse time).
        Called outside `execute` so that dbt records the dependency. -#}
    {%- set units_relation = source('raw', 'units') -%}
    {%- set available = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(units_relation) -%}
            {%- do available.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(available) }}
{%- endmacro %}
