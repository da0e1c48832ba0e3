{% macro assignment_strata_column() -%}
    {#- The raw.units column planned assignments are stratified by (var
        assignment_strata_column), or '' when the var is empty or names no
        column of raw.units (then with a warning). -#}
    {%- set wanted = var('assignment_strata_column', '') -%}
    {%- set available = experimentation.unit_attribute_columns() -%}
    {%- if not wanted or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- if wanted | lower not in available -%}
        {{ log("Warning: assignment_strata_column '" ~ wanted ~ "' is not a column of raw.units; planned assignments are not stratified.", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {{ return(wanted) }}
{%- endmacro %}
