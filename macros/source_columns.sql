{% macro column_data_type(relation, column_name) -%}
    {#- The data type of relation.column_name at run time, lowercased; '' at
        parse time, when the relation does not exist yet, or when it has no such
        column. Lets a model skip a conversion the loader has already done. -#}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- if column.name | lower == column_name | lower -%}
            {{ return(column.dtype | lower) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{% macro has_column(relation, column_name) -%}
    {#- True when relation has column_name at run time (an optional raw column). -#}
    {{ return(experimentation.column_data_type(relation, column_name) != '') }}
{%- endmacro %}

{% macro timestamp_utc_column(relation, column_name) -%}
    {#- column_name as a UTC timestamp: the column itself when the loader typed it
        as a timestamp without time zone (taken as UTC, as parse_timestamp_utc
        does), parse_timestamp_utc otherwise. Parsing a typed column again
        costs ~0.6 s per 10M rows on DuckDB for nothing. -#}
    {%- if experimentation.column_data_type(relation, column_name)
        in ('timestamp', 'timestamp without time zone', 'datetime', 'timestamp_ntz') -%}
        {{ column_name }}
    {%- else -%}
        {{ experimentation.parse_timestamp_utc(column_name) }}
    {%- endif -%}
{%- endmacro %}

{% macro double_column(relation, column_name) -%}
    {#- column_name as a double: the column itself when already one, try_cast
        otherwise (unparseable text gives null). -#}
    {%- if experimentation.column_data_type(relation, column_name)
        in ('double', 'double precision', 'float8') -%}
        {{ column_name }}
    {%- else -%}
        {{ experimentation.try_cast(column_name, experimentation.type_double()) }}
    {%- endif -%}
{%- endmacro %}

{% macro null_safe_equal(left, right) -%}
    {{ return(adapter.dispatch('null_safe_equal', 'experimentation')(left, right)) }}
{%- endmacro %}

{% macro default__null_safe_equal(left, right) -%}
    {#- True when both are equal or both null; a hash-join key on DuckDB. -#}
    ({{ left }} is not distinct from {{ right }})
{%- endmacro %}

{% macro spark__null_safe_equal(left, right) -%}
    ({{ left }} <=> {{ right }})
{%- endmacro %}

{% macro row_hash(columns) -%}
    {#- A 64-bit hash of the columns (nulls included), or none when the engine
        has no such function: duplicate detection then groups on the columns. -#}
    {{ return(adapter.dispatch('row_hash', 'experimentation')(columns)) }}
{%- endmacro %}

{% macro default__row_hash(columns) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    {{ return('hash(' ~ columns | join(', ') ~ ')') }}
{%- endmacro %}

{% macro spark__row_hash(columns) -%}
    {{ return('xxhash64(' ~ columns | join(', ') ~ ')') }}
{%- endmacro %}
