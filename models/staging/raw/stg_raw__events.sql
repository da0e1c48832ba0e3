-- Typed raw events with the row-level problems that need no registry; the
-- registry checks and the final reason code are in int_events_classified.
with

events as (

    select * from {{ source('raw', 'events') }}

),

typed as (

    select
        {{ experimentation.pseudonymised_unit_id('unit_id') }} as unit_id,
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
            -- Parseable but absurd: infinities, years beyond 9999, and the Unix
            -- epoch (a common placeholder for "unset") or anything before it.
            when event_at is null
                or event_at <= cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})
                or event_at > cast('9999-12-31 23:59:59' as {{ dbt.type_timestamp() }})
                then 'invalid_timestamp'
            when event_at > {{ dbt.dateadd('hour', var('future_tolerance_hours', 24), experimentation.build_time()) }}
                then 'future_timestamp'
            -- A blank value is a missing one. NaN and infinities fail the range
            -- test on DuckDB and Spark alike; beyond 1e100 the sums of squares
            -- in arm_metrics could overflow.
            when not {{ experimentation.is_blank('value_raw') }}
                and (value is null or not value between -1e100 and 1e100)
                then 'invalid_value'
        end as row_reason_code,
        row_number() over (
            partition by unit_id, event_name, event_at_raw, value_raw
            order by event_at_raw
        ) as duplicate_rank
    from typed

)

select * from flagged
