with

experiment_variants as (

    select * from {{ experimentation.registry_relation('experiment_variants') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(is_control as {{ dbt.type_boolean() }}) as is_control,
        cast(allocation_weight as {{ experimentation.type_double() }}) as allocation_weight
    from experiment_variants

)

select * from typed
