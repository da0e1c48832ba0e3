{% macro segment_dimensions() -%}
    {#- The configured segment columns (var segment_columns) that exist in the
        raw units table; logs a warning for each one that does not. -#}
    {%- set wanted = var('segment_columns', ['segment']) -%}
    {%- set found = [] -%}
    {#- Called outside `execute` so that dbt records the dependency at parse time. -#}
    {%- set units_relation = source('raw', 'units') -%}
    {%- if execute -%}
        {%- set available = [] -%}
        {%- for column in adapter.get_columns_in_relation(units_relation) -%}
            {%- do available.append(column.name | lower) -%}
        {%- endfor -%}
        {%- for name in wanted -%}
            {%- if name | lower in available -%}
                {%- do found.append(name) -%}
            {%- else -%}
                {{ log("Warning: segment column '" ~ name ~ "' (var segment_columns) is not a column of raw.units; it is skipped.", info=True) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}
