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
-- The keys come from the macro duplicate_keys (hash first, then exact).
-- depends_on: {{ ref('int_units_to_refresh') }}
with

events as (

    select * from {{ ref('stg_raw__events') }}
    where row_reason_code is null
        and {{ experimentation.only_units_to_refresh('unit_id') }}
        {%- if not var('check_duplicates', true) %}
        -- The var check_duplicates is off: no row is treated as a duplicate.
        and 1 = 0
        {%- endif %}

),

{{ experimentation.duplicate_keys('events', ['unit_id', 'event_name', 'event_at', 'value']) }}

select * from duplicated
