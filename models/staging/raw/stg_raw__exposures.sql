-- Typed raw exposures with the problems that can be seen from the row alone;
-- the registry checks, duplicates and the final reason code are in
-- int_exposures_classified.
{%- set exposures_relation = source('raw', 'exposures') %}
{%- set has_received_treatment = experimentation.has_column(exposures_relation, 'received_treatment') %}
with

exposures as (

    select * from {{ exposures_relation }}

),

typed as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        {{ experimentation.pseudonymised_unit_id('unit_id') }} as unit_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(exposed_at as {{ dbt.type_string() }}) as exposed_at_raw,
        {{ experimentation.timestamp_utc_column(exposures_relation, 'exposed_at') }} as exposed_at,
        {%- if has_received_treatment %}
        {{ experimentation.try_cast('received_treatment', dbt.type_boolean()) }} as received_treatment
        {%- else %}
        cast(null as {{ dbt.type_boolean() }}) as received_treatment
        {%- endif %}
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
        end as row_reason_code
    from typed

)

select * from flagged
