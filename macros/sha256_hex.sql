{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'experimentation')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    {#- SHA-256 of a text value as 64 lowercase hex characters. There is no ANSI
        hash function; sha2(x, 256) is the common spelling (Spark, Databricks,
        Snowflake, Redshift, MySQL) and returns exactly this. An engine without
        it needs a <adapter>__sha256_hex override in this file, e.g. on
        PostgreSQL encode(sha256(convert_to(x, 'UTF8')), 'hex'). -#}
    sha2({{ expression }}, 256)
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}
