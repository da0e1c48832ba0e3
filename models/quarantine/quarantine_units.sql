-- Raw unit rows that cannot be used, each with the first problem found.
with

units as (

    select * from {{ ref('stg_raw__units') }}

),

quarantined as (

    select
        *,
        {{ experimentation.quarantine_reason('reason_code') }} as reason
    from units
    where reason_code is not null

)

select * from quarantined
