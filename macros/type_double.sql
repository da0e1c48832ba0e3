{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'experimentation')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {#- 64-bit floating point. Not dbt.type_float(): on DuckDB that is FLOAT, a
        32-bit type that would lose digits in every statistic. -#}
    double
{%- endmacro %}
