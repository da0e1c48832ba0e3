-- One row per registered experiment for the gate experiment_health: exposure
-- completeness and crossovers from experiment_health, and the latest usable
-- event of a running experiment's units (freshness is measured from it at gate
-- time). Events are reduced to one row per unit before the join.
with

health as (

    select * from {{ ref('experiment_health') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}

),

events as (

    select * from {{ ref('int_events_classified') }}
    where reason_code is null

),

running_assignments as (

    select
        assignments.experiment_id,
        assignments.unit_id
    from assignments
    inner join health
        on assignments.experiment_id = health.experiment_id
    where health.status = 'running'

),

unit_latest_events as (

    select
        unit_id,
        max(event_at) as last_event_at
    from events
    where unit_id in (select running_assignments.unit_id from running_assignments)
    group by unit_id

),

latest_events as (

    select
        running_assignments.experiment_id,
        max(unit_latest_events.last_event_at) as last_event_at
    from running_assignments
    inner join unit_latest_events
        on running_assignments.unit_id = unit_latest_events.unit_id
    group by running_assignments.experiment_id

),

final as (

    select
        health.experiment_id as subject,
        health.experiment_id,
        health.status,
        health.units_exposed,
        health.multi_variant_units,
        health.multi_variant_share,
        health.exposure_rows_quarantined,
        latest_events.last_event_at,
        {{ experimentation.relation_label(ref('experiment_health')) }} as health_relation,
        {{ experimentation.relation_label(ref('quarantine_exposures')) }} as quarantine_relation,
        {{ experimentation.relation_label(ref('quarantine_events')) }} as quarantine_events_relation
    from health
    left join latest_events
        on health.experiment_id = latest_events.experiment_id

)

select * from final
