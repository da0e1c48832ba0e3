-- One row for the gate raw_exposures: how the raw exposures split into usable
-- and quarantined rows, and whether any usable row lacks a key.
with

raw_exposures as (

    select count(*) as raw_rows from {{ source('raw', 'exposures') }}

),

quarantined as (

    select count(*) as quarantined_rows from {{ ref('quarantine_exposures') }}

),

usable as (

    select
        count(*) as usable_rows,
        {%- for key in ['experiment_id', 'unit_id', 'variant', 'exposed_at'] %}
        coalesce(sum(case when {{ experimentation.is_blank(key) }} then 1 else 0 end), 0)
            as usable_rows_without_{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_exposures_classified') }}
    where reason_code is null

),

final as (

    select
        {{ experimentation.relation_label(source('raw', 'exposures')) }} as subject,
        {{ experimentation.relation_label(ref('quarantine_exposures')) }} as quarantine_relation,
        raw_exposures.raw_rows,
        quarantined.quarantined_rows,
        case
            when raw_exposures.raw_rows > 0
                then cast(quarantined.quarantined_rows as {{ experimentation.type_double() }})
                / raw_exposures.raw_rows
        end as quarantine_share,
        usable.usable_rows,
        usable.usable_rows_without_experiment_id,
        usable.usable_rows_without_unit_id,
        usable.usable_rows_without_variant,
        usable.usable_rows_without_exposed_at
    from raw_exposures
    cross join quarantined
    cross join usable

)

select * from final
