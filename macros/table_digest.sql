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
    {#- Order-independent digest of every column of every row: the sum of each
        row's 64-bit hash, exact in HUGEINT, as text. Duplicated rows count
        twice, unlike an XOR. DuckDB's hash() is not cryptographic and may change
        between DuckDB versions (build_manifest records the version), but it is
        about 30x faster than md5 of the row text (0.3 s vs 8.7 s for 10M rows). -#}
    cast(coalesce(sum(hash({{ relation_alias }})), 0) as varchar)
{%- endmacro %}

{% macro spark__table_digest(relation_alias) -%}
    {#- The same idea on Spark: the exact (DECIMAL) sum of each row's 64-bit
        xxhash64 over all its columns, as text. Digests differ between engines;
        each is stable for its engine and version. -#}
    cast(coalesce(sum(cast(xxhash64({{ relation_alias }}.*) as decimal(38, 0))), 0) as string)
{%- endmacro %}
