-- One row per experiment x unit among usable exposures: when the unit was first
-- exposed, to which arm, and whether it saw more than one variant (then it is
-- excluded from analysis and counted in experiment_health).
with

exposures as (

    select * from {{ ref('int_exposures_classified') }}
    where reason_code is null

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
        count(distinct variant) as variant_count,
        min(variant) as min_variant
    from exposures
    group by experiment_id, unit_id

),

resolved as (

    select
        row_number() over (order by per_unit.experiment_id, per_unit.unit_id) as assignment_key,
        per_unit.experiment_id,
        per_unit.unit_id,
        case when per_unit.variant_count = 1 then per_unit.min_variant end as variant,
        case when per_unit.variant_count = 1 then arms.arm_key end as arm_key,
        per_unit.first_exposed_at,
        per_unit.last_exposed_at,
        per_unit.exposure_count,
        per_unit.variant_count,
        per_unit.variant_count > 1 as is_multi_variant
    from per_unit
    left join arms
        on per_unit.experiment_id = arms.experiment_id
        and per_unit.min_variant = arms.variant

)

select * from resolved
