-- Every raw event row with its final reason code: null = usable, otherwise the
-- first problem found. Staged and quarantined rows both come from here.
{%- set negative_ok = var('events_allowing_negative_values', []) %}

-- depends_on: {{ ref('int_registry_problems') }}
with

events as (

    select * from {{ ref('stg_raw__events') }}

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

classified as (

    select
        events.unit_id,
        events.event_name,
        events.event_at_raw,
        events.event_at,
        events.value_raw,
        events.value,
        case
            when events.row_reason_code is not null then events.row_reason_code
            when events.value < 0 and events_summed_by_metrics.event_name is not null
                then 'negative_value'
            when events.duplicate_rank > 1 then 'duplicate_row'
        end as reason_code
    from events
    left join events_summed_by_metrics
        on events.event_name = events_summed_by_metrics.event_name

)

select * from classified
