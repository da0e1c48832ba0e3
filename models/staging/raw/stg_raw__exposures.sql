-- Typed raw exposures with the row-level problems that need no registry; the
-- registry checks and the final reason code are in int_exposures_classified.
with

exposures as (

    select * from {{ source('raw', 'exposures') }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        {{ experimentation.pseudonymised_unit_id('unit_id') }} as unit_id,
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
            -- Parseable but absurd: infinities, years beyond 9999, and the Unix
            -- epoch (a common placeholder for "unset") or anything before it.
            when exposed_at is null
                or exposed_at <= cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})
                or exposed_at > cast('9999-12-31 23:59:59' as {{ dbt.type_timestamp() }})
                then 'invalid_timestamp'
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
