-- Registered arms with a small integer key, so the large tables join and group
-- on integers instead of strings.
-- depends_on: {{ ref('int_registry_problems') }}
with

experiment_variants as (

    select * from {{ ref('stg_registry__experiment_variants') }}

),

keyed as (

    select
        row_number() over (order by experiment_id, variant) as arm_key,
        experiment_id,
        variant,
        is_control,
        allocation_weight
    from experiment_variants

)

select * from keyed
