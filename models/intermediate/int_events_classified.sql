-- Every raw event row with its final reason code: null = usable, otherwise the
-- first problem found. Staged and quarantined rows both come from here, so they
-- reconcile with the raw table by construction. A view: the big join reads its
-- usable rows and the quarantine its others, and no copy of the raw table is
-- written.
{%- set negative_ok = var('events_allowing_negative_values', []) %}

-- depends_on: {{ ref('int_registry_problems') }}
with

events as (

    select * from {{ ref('stg_raw__events') }}

),

duplicates as (

    select * from {{ ref('int_event_duplicates') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

events_summed_by_metrics as (

    -- Event names whose value feeds a sum metric: a negative value there is an
    -- error unless the event is listed in the var events_allowing_negative_values.
    select distinct event_name
    from metrics
    where aggregation = 'sum'
        and event_name is not null
        {%- if negative_ok %}
        and event_name not in (
            {%- for name in negative_ok %}'{{ name | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        )
        {%- endif %}

),

duplicate_units as (

    select distinct unit_id
    from duplicates

),

single_copies as (

    -- Rows of units without duplicates (nearly all): an anti-join on one key
    -- against a small, usually empty table, which costs next to nothing.
    select
        events.*,
        1 as copy_rank
    from events
    where not exists (
        select 1
        from duplicate_units
        where duplicate_units.unit_id = events.unit_id
    )

),

duplicate_copies as (

    -- Rows of units with duplicates, ranked among identical rows: the first
    -- copy of each is kept. (row_reason_code is in the partition so that a
    -- usable row is never ranked behind an unusable copy.)
    select
        events.*,
        row_number() over (
            partition by
                events.unit_id,
                events.event_name,
                events.event_at,
                events.value,
                events.row_reason_code
            order by events.event_at_raw, events.value_raw
        ) as copy_rank
    from events
    where exists (
        select 1
        from duplicate_units
        where duplicate_units.unit_id = events.unit_id
    )

),

ranked as (

    select * from single_copies
    union all
    select * from duplicate_copies

),

classified as (

    select
        ranked.unit_id,
        ranked.event_name,
        ranked.event_at_raw,
        ranked.event_at,
        ranked.value_raw,
        ranked.value,
        case
            when ranked.row_reason_code is not null then ranked.row_reason_code
            when ranked.value < 0 and events_summed_by_metrics.event_name is not null
                then 'negative_value'
            when ranked.copy_rank > 1 then 'duplicate_row'
        end as reason_code
    from ranked
    left join events_summed_by_metrics
        on ranked.event_name = events_summed_by_metrics.event_name

)

select * from classified
