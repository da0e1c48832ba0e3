-- One row for the gate raw_events: how the raw events split into usable
-- and quarantined rows, and whether any usable row lacks a key.
with

raw_events as (

    select count(*) as raw_rows from {{ source('raw', 'events') }}

),

quarantined as (

    select count(*) as quarantined_rows from {{ ref('quarantine_events') }}

),

usable as (

    select
        count(*) as usable_rows,
        {%- for key in ['unit_id', 'event_name', 'event_at'] %}
        coalesce(sum(case when {{ experimentation.is_blank(key) }} then 1 else 0 end), 0)
            as usable_rows_without_{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_events_classified') }}
    where reason_code is null

),

final as (

    select
        {{ experimentation.relation_label(source('raw', 'events')) }} as subject,
        {{ experimentation.relation_label(ref('quarantine_events')) }} as quarantine_relation,
        raw_events.raw_rows,
        quarantined.quarantined_rows,
        case
            when raw_events.raw_rows > 0
                then cast(quarantined.quarantined_rows as {{ experimentation.type_double() }})
                / raw_events.raw_rows
        end as quarantine_share,
        usable.usable_rows,
        usable.usable_rows_without_unit_id,
        usable.usable_rows_without_event_name,
        usable.usable_rows_without_event_at
    from raw_events
    cross join quarantined
    cross join usable

)

select * from final
