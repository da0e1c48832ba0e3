{% macro hash_bucket(expression, buckets=10000) -%}
    {#- A deterministic bucket in [0, buckets) for a text value: the first 8
        hex characters of md5(expression) (dbt.hash) read as an unsigned
        32-bit integer, modulo `buckets`. Reproducible outside the warehouse:
        int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % buckets. -#}
    ({{ experimentation.hex_to_bigint('substr(' ~ dbt.hash(expression) ~ ', 1, 8)') }} % {{ buckets }})
{%- endmacro %}

{% macro hex_to_bigint(expression) -%}
    {{ return(adapter.dispatch('hex_to_bigint', 'experimentation')(expression)) }}
{%- endmacro %}

{% macro default__hex_to_bigint(expression) -%}
    {#- A text of at most 15 hex digits as a 64-bit integer. There is no ANSI
        spelling; conv(x, 16, 10) is Spark's, Databricks' and Hive's (it
        returns the decimal digits as text). An engine without it needs a
        <adapter>__hex_to_bigint override in this file, e.g. on PostgreSQL
        ('x' || lpad(x, 16, '0'))::bit(64)::bigint, on Snowflake
        to_number(x, 'XXXXXXXXXXXXXXX'). -#}
    cast(conv({{ expression }}, 16, 10) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro duckdb__hex_to_bigint(expression) -%}
    {#- DuckDB parses text with a 0x prefix as a hexadecimal integer. -#}
    cast(('0x' || {{ expression }}) as {{ dbt.type_bigint() }})
{%- endmacro %}
