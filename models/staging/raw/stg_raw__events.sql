-- Typed raw events with the row-level problems that need no registry; the
-- registry checks and the final reason code are in int_events_classified.
with

events as (

    select * from {{ source('raw', 'events') }}

),

typed as (

    select
        cast(unit_id as {{ dbt.type_string() }}) as unit_id,
        cast(event_name as {{ dbt.type_string() }}) as event_name,
        cast(event_at as {{ dbt.type_string() }}) as event_at_raw,
        {{ experimentation.parse_timestamp_utc('event_at') }} as event_at,
        cast(value as {{ dbt.type_string() }}) as value_raw,
        {{ experimentation.try_cast('value', experimentation.type_double()) }} as value
    from events

),

flagged as (

    select
        *,
        case
            when {{ experimentation.is_blank('unit_id') }} then 'missing_unit_id'
            when {{ experimentation.is_blank('event_name') }} then 'missing_event_name'
            when event_at is null then 'invalid_timestamp'
            when event_at > {{ dbt.dateadd('hour', var('future_tolerance_hours', 24), experimentation.build_time()) }}
                then 'future_timestamp'
            -- NaN and infinities fail the range test on DuckDB and Spark alike.
            when value_raw is not null and (value is null or not value between -1e308 and 1e308)
                then 'invalid_value'
        end as row_reason_code,
        row_number() over (
            partition by unit_id, event_name, event_at_raw, value_raw
            order by event_at_raw
        ) as duplicate_rank
    from typed

)

select * from flagged
