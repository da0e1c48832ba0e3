-- Typed raw events with the problems that can be seen from the row alone; the
-- registry checks, duplicates and the final reason code are in
-- int_events_classified. A view: its text columns cost nothing unless a
-- consumer (the quarantine) selects them.
{%- set events_relation = source('raw', 'events') %}
with

events as (

    select * from {{ events_relation }}

),

typed as (

    select
        {{ experimentation.pseudonymised_unit_id('unit_id') }} as unit_id,
        cast(event_name as {{ dbt.type_string() }}) as event_name,
        cast(event_at as {{ dbt.type_string() }}) as event_at_raw,
        {{ experimentation.timestamp_utc_column(events_relation, 'event_at') }} as event_at,
        cast(value as {{ dbt.type_string() }}) as value_raw,
        {{ experimentation.double_column(events_relation, 'value') }} as value
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
            -- in arm_metrics could overflow. (The text test comes second, so
            -- it runs only on the rare rows without a usable number.)
            when (value is null or not value between -1e100 and 1e100)
                and not {{ experimentation.is_blank('value_raw') }}
                then 'invalid_value'
        end as row_reason_code
    from typed

)

select * from flagged
