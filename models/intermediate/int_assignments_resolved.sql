{{
    config(
        materialized='incremental' if target.type == 'duckdb' else 'table',
        incremental_strategy='append',
        full_refresh=not experimentation.incremental_refresh_enabled(),
        pre_hook=["{{ experimentation.delete_units_to_refresh() }}"],
    )
}}
-- One row per experiment x unit among usable exposures: when the unit was first
-- exposed, to which arm, and whether it saw more than one variant (then it is
-- excluded from analysis and counted in experiment_health). Units are keyed by
-- unit_id + arm_key downstream: no row number (a global sort) is needed.
-- Incremental (`make refresh`): only the units in int_units_to_refresh are
-- recomputed, from all their exposures.
-- depends_on: {{ ref('int_units_to_refresh') }}
with

exposures as (

    select * from {{ ref('int_exposures_classified') }}
    where reason_code is null
        and {{ experimentation.only_units_to_refresh('unit_id') }}

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

per_unit as (

    select
        experiment_id,
        unit_id,
        min(exposed_at) as first_exposed_at,
        max(exposed_at) as last_exposed_at,
        count(*) as exposure_count,
        min(variant) as min_variant,
        max(variant) as max_variant,
        max(
            case
                when received_treatment then 1
                when not received_treatment then 0
            end
        ) as received_treatment
    from exposures
    group by experiment_id, unit_id

),

resolved as (

    select
        per_unit.experiment_id,
        per_unit.unit_id,
        case when per_unit.min_variant = per_unit.max_variant then per_unit.min_variant end as variant,
        case when per_unit.min_variant = per_unit.max_variant then arms.arm_key end as arm_key,
        per_unit.first_exposed_at,
        per_unit.last_exposed_at,
        per_unit.exposure_count,
        per_unit.min_variant <> per_unit.max_variant as is_multi_variant,
        per_unit.received_treatment
    from per_unit
    left join arms
        on per_unit.experiment_id = arms.experiment_id
        and per_unit.min_variant = arms.variant

)

select * from resolved
