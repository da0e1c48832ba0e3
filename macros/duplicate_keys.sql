{% macro duplicate_keys(rows_cte, key_columns) -%}
    {#- CTEs ending in `duplicated`: the keys (key_columns) that appear on more
        than one row of rows_cte, with row_count. Where the engine has a 64-bit
        row hash (row_hash), rows are first grouped on the hash of the key (one
        8-byte key instead of several columns: far less memory for 100M mostly
        distinct rows) and only rows whose hash repeats are grouped exactly.
        Used by int_event_duplicates and int_exposure_duplicates. -#}
    {%- set key_hash = experimentation.row_hash(key_columns) %}
    {%- set keys = key_columns | join(', ') %}
    {%- if key_hash %}
repeated_hashes as (

    -- Every duplicated key, plus (rarely) distinct keys whose hashes collide.
    select {{ key_hash }} as key_hash
    from {{ rows_cte }}
    group by {{ key_hash }}
    having count(*) > 1

),

candidates as (

    select * from {{ rows_cte }}
    where {{ key_hash }} in (select key_hash from repeated_hashes)

),
    {%- else %}
candidates as (

    select * from {{ rows_cte }}

),
    {%- endif %}

duplicated as (

    select
        {{ keys }},
        count(*) as row_count
    from candidates
    group by {{ keys }}
    having count(*) > 1

)
{%- endmacro %}
