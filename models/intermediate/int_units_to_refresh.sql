-- The units whose unit-level rows an incremental refresh (`make refresh`)
-- recomputes: every unit with a usable raw event or exposure at or after the
-- previous build's watermark minus the var incremental_lookback_hours (so late
-- arrivals inside the lookback are picked up). Empty on a full build, which
-- recomputes everyone. The watermarks are read from the tables the previous
-- build left: the latest event inside any unit's windows (int_unit_metrics_pivoted)
-- and the latest exposure (int_assignments_resolved).
{%- set refresh = experimentation.unit_refresh_active() %}
{%- set pivoted = adapter.get_relation(this.database, this.schema, 'int_unit_metrics_pivoted') if refresh else none %}
{%- set assignments = adapter.get_relation(this.database, this.schema, 'int_assignments_resolved') if refresh else none %}
{%- set lookback = var('incremental_lookback_hours', 72) %}
with

events as (

    select * from {{ ref('stg_raw__events') }}
    where row_reason_code is null

),

exposures as (

    select * from {{ ref('stg_raw__exposures') }}
    where row_reason_code is null

),

{%- if refresh and pivoted is not none and assignments is not none %}

watermarks as (

    select
        {{ dbt.dateadd('hour', -lookback, '(select max(last_event_at) from ' ~ pivoted ~ ')') }}
            as events_from_at,
        {{ dbt.dateadd('hour', -lookback, '(select max(last_exposed_at) from ' ~ assignments ~ ')') }}
            as exposures_from_at

),

recent_units as (

    -- A missing watermark (an empty table) selects every unit.
    select events.unit_id
    from events
    cross join watermarks
    where watermarks.events_from_at is null
        or events.event_at >= watermarks.events_from_at

    union

    select exposures.unit_id
    from exposures
    cross join watermarks
    where watermarks.exposures_from_at is null
        or exposures.exposed_at >= watermarks.exposures_from_at

)

{%- else %}

recent_units as (

    select unit_id
    from events
    where 1 = 0

    union

    select unit_id
    from exposures
    where 1 = 0

)

{%- endif %}

select distinct unit_id from recent_units
