{% macro parse_timestamp_utc(expression) -%}
    {{ return(adapter.dispatch('parse_timestamp_utc', 'experimentation')(expression)) }}
{%- endmacro %}

{% macro default__parse_timestamp_utc(expression) -%}
    {{ experimentation.try_cast(expression, dbt.type_timestamp()) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp_utc(expression) -%}
    {#- Text with a UTC offset ('2024-10-01T10:00:00+02:00') is converted to UTC;
        naive text and TIMESTAMP values are taken as UTC (the profile sets
        TimeZone = UTC). Unparseable text gives null. -#}
    cast(
        timezone('UTC', try_cast({{ expression }} as timestamptz))
        as timestamp
    )
{%- endmacro %}
