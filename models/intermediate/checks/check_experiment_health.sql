-- One row per registered experiment for the gate experiment_health: exposure
-- completeness and crossovers from experiment_health, and the latest usable
-- event feeding its analysis (freshness is measured from it at gate time).
with

health as (

    select * from {{ ref('experiment_health') }}

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

unit_metrics as (

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

latest_events as (

    select
        arms.experiment_id,
        max(unit_metrics.last_event_at) as last_event_at
    from unit_metrics
    inner join arms
        on unit_metrics.arm_key = arms.arm_key
    group by arms.experiment_id

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
