-- Units analysed per registered arm (0 when none), with the allocation weight:
-- the input of the sample-ratio-mismatch test in assignment_balance.
with

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

arm_sizes as (

    select
        arm_key,
        count(*) as units
    from assignments
    group by arm_key

),

counted as (

    select
        arms.experiment_id,
        arms.variant,
        arms.is_control,
        arms.allocation_weight,
        experiments.status,
        coalesce(arm_sizes.units, 0) as units
    from arms
    inner join experiments
        on arms.experiment_id = experiments.experiment_id
    left join arm_sizes
        on arms.arm_key = arm_sizes.arm_key

)

select * from counted
