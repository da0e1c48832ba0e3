-- Units per arm of each planned experiment's assignment (marts.planned_assignments),
-- arms without units included: the input of the balance check.
with

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}
    where status = 'planned'

),

assignments as (

    select * from {{ ref('planned_assignments') }}

),

counted as (

    select
        experiment_id,
        variant,
        count(*) as units
    from assignments
    group by experiment_id, variant

),

final as (

    select
        arms.experiment_id,
        arms.variant,
        arms.is_control,
        arms.allocation_weight,
        experiments.status,
        cast(coalesce(counted.units, 0) as {{ dbt.type_bigint() }}) as units
    from arms
    inner join experiments
        on arms.experiment_id = experiments.experiment_id
    left join counted
        on arms.experiment_id = counted.experiment_id
        and arms.variant = counted.variant

)

select * from final
