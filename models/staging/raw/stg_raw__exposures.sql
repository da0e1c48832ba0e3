-- Typed raw exposures with the row-level problems that need no registry; the
-- registry checks and the final reason code are in int_exposures_classified.
with

exposures as (

    select * from {{ source('raw', 'exposures') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(unit_id as {{ dbt.type_string() }}) as unit_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(exposed_at as {{ dbt.type_string() }}) as exposed_at_raw,
        {{ experimentation.parse_timestamp_utc('exposed_at') }} as exposed_at
    from exposures

),

flagged as (

    select
        *,
        case
            when {{ experimentation.is_blank('unit_id') }} then 'missing_unit_id'
            when {{ experimentation.is_blank('experiment_id') }} then 'missing_experiment_id'
            when {{ experimentation.is_blank('variant') }} then 'missing_variant'
            when exposed_at is null then 'invalid_timestamp'
            when exposed_at > {{ dbt.dateadd('hour', var('future_tolerance_hours', 24), experimentation.build_time()) }}
                then 'future_timestamp'
        end as row_reason_code,
        row_number() over (
            partition by experiment_id, unit_id, variant, exposed_at_raw
            order by exposed_at_raw
        ) as duplicate_rank
    from typed

)

select * from flagged
