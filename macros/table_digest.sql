{% macro table_digest(relation_alias) -%}
    {{ return(adapter.dispatch('table_digest', 'experimentation')(relation_alias)) }}
{%- endmacro %}

{% macro default__table_digest(relation_alias) -%}
    {{ exceptions.raise_compiler_error(
        "table_digest has no implementation for adapter '" ~ adapter.type() ~ "': add "
        ~ adapter.type() ~ "__table_digest to macros/table_digest.sql (an order-independent "
        ~ "aggregate of a per-row hash, as text).") }}
{%- endmacro %}

{% macro duckdb__table_digest(relation_alias) -%}
    {#- Order-independent digest of every column of every row: the sum of the
        low 64 bits of each row's md5 (as its text), exact in HUGEINT, as text.
        Duplicated rows count twice, unlike an XOR. -#}
    cast(coalesce(sum(md5_number_lower(cast({{ relation_alias }} as varchar))), 0) as varchar)
{%- endmacro %}
