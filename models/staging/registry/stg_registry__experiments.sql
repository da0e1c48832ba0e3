with

experiments as (

    select * from {{ experimentation.registry_relation('experiments') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(experiment_name as {{ dbt.type_string() }}) as experiment_name,
        cast(domain as {{ dbt.type_string() }}) as domain,
        cast(owner as {{ dbt.type_string() }}) as owner,
        cast(hypothesis as {{ dbt.type_string() }}) as hypothesis,
        lower(trim(cast(status as {{ dbt.type_string() }}))) as status,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(control_variant as {{ dbt.type_string() }}) as control_variant,
        cast(alpha as {{ experimentation.type_double() }}) as alpha,
        cast(power as {{ experimentation.type_double() }}) as power,
        cast(mde_relative as {{ experimentation.type_double() }}) as mde_relative,
        cast(analysis_window_days as {{ dbt.type_int() }}) as analysis_window_days,
        cast(cuped_lookback_days as {{ dbt.type_int() }}) as cuped_lookback_days
    from experiments

)

select * from typed
