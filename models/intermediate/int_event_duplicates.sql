{{
    config(
        materialized='incremental' if target.type == 'duckdb' else 'table',
        incremental_strategy='append',
        full_refresh=not experimentation.incremental_refresh_enabled(),
        pre_hook=["{{ experimentation.delete_units_to_refresh() }}"],
    )
}}
-- Keys of exact duplicate events: the same unit, event name, timestamp (as a UTC
-- instant) and value on more than one otherwise usable raw row. Usually empty;
-- computed once with a group-by (cheaper than ranking every row with a window),
-- so that int_events_classified ranks only the rows of these keys. Incremental
-- (`make refresh`): only the keys of the units in int_units_to_refresh are
-- recomputed, since a duplicate always belongs to one unit.
-- Where the engine has a 64-bit row hash, rows are first grouped on the hash
-- of the key (one 8-byte key instead of four columns: far less memory for 100M
-- mostly distinct rows) and only rows whose hash repeats are grouped exactly.
-- depends_on: {{ ref('int_units_to_refresh') }}
{%- set key_hash = experimentation.row_hash(['unit_id', 'event_name', 'event_at', 'value']) %}
with

events as (

    select * from {{ ref('stg_raw__events') }}
    where row_reason_code is null
        and {{ experimentation.only_units_to_refresh('unit_id') }}

),

{%- if key_hash %}

repeated_hashes as (

    -- Every duplicated key, plus (rarely) distinct keys whose hashes collide.
    select {{ key_hash }} as key_hash
    from events
    group by {{ key_hash }}
    having count(*) > 1

),

candidates as (

    select * from events
    where {{ key_hash }} in (select key_hash from repeated_hashes)

),

{%- else %}

candidates as (

    select * from events

),

{%- endif %}

duplicated as (

    select
        unit_id,
        event_name,
        event_at,
        value,
        count(*) as row_count
    from candidates
    group by unit_id, event_name, event_at, value
    having count(*) > 1

)

select * from duplicated
