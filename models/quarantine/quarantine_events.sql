-- Raw events rows that cannot be used, each with the first problem found.
with

classified as (

    select * from {{ ref('int_events_classified') }}

),

quarantined as (

    select
        *,
        {{ experimentation.quarantine_reason('reason_code') }} as reason
    from classified
    where reason_code is not null

)

select * from quarantined
