-- One row for the gate raw_units: the share of raw unit rows quarantined.
with

raw_units as (

    select count(*) as raw_rows from {{ source('raw', 'units') }}

),

quarantined as (

    select count(*) as quarantined_rows from {{ ref('quarantine_units') }}

),

final as (

    select
        {{ experimentation.relation_label(source('raw', 'units')) }} as subject,
        {{ experimentation.relation_label(ref('quarantine_units')) }} as quarantine_relation,
        raw_units.raw_rows,
        quarantined.quarantined_rows,
        case
            when raw_units.raw_rows > 0
                then cast(quarantined.quarantined_rows as {{ experimentation.type_double() }})
                / raw_units.raw_rows
        end as quarantine_share
    from raw_units
    cross join quarantined

)

select * from final
