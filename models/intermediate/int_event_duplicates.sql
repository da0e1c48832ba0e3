-- Keys of exact duplicate events: the same unit, event name, timestamp (as a UTC
-- instant) and value on more than one otherwise usable raw row. Usually empty;
-- computed once with a group-by (cheaper than ranking every row with a window),
-- so that int_events_classified ranks only the rows of these keys.
with

events as (

    select * from {{ ref('stg_raw__events') }}
    where row_reason_code is null

),

duplicated as (

    select
        unit_id,
        event_name,
        event_at,
        value,
        count(*) as row_count
    from events
    group by unit_id, event_name, event_at, value
    having count(*) > 1

)

select * from duplicated
