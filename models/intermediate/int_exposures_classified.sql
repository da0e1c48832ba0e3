-- Every raw exposure row with its final reason code: null = usable, otherwise
-- the first problem found. Staged and quarantined rows both come from here, so
-- they reconcile with the raw table by construction. A view, like
-- int_events_classified.
-- depends_on: {{ ref('int_registry_problems') }}
-- depends_on: {{ ref('stg_raw__units') }}
with

exposures as (

    select * from {{ ref('stg_raw__exposures') }}

),

duplicates as (

    select * from {{ ref('int_exposure_duplicates') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

experiment_variants as (

    select * from {{ ref('stg_registry__experiment_variants') }}

),

{%- set has_rules = experimentation.has_population_rules() %}
{%- if has_rules %}

population_units as (

    -- The usable units with one in_population_<k> flag per population rule
    -- (macros/population_rules.sql); only when some experiment has a rule.
    select
        unit_id
        {{ experimentation.population_flag_columns() }}
    from {{ ref('stg_raw__units') }}
    where reason_code is null

),
{%- endif %}

duplicate_units as (

    select distinct unit_id
    from duplicates

),

single_copies as (

    -- Rows of units without duplicates (nearly all): see int_events_classified.
    select
        exposures.*,
        1 as copy_rank
    from exposures
    where not exists (
        select 1
        from duplicate_units
        where duplicate_units.unit_id = exposures.unit_id
    )

),

duplicate_copies as (

    -- Rows of units with duplicates, ranked among identical rows.
    select
        exposures.*,
        row_number() over (
            partition by
                exposures.experiment_id,
                exposures.unit_id,
                exposures.variant,
                exposures.exposed_at,
                exposures.received_treatment,
                exposures.row_reason_code
            order by exposures.exposed_at_raw
        ) as copy_rank
    from exposures
    where exists (
        select 1
        from duplicate_units
        where duplicate_units.unit_id = exposures.unit_id
    )

),

ranked as (

    select * from single_copies
    union all
    select * from duplicate_copies

),

classified as (

    select
        ranked.experiment_id,
        ranked.unit_id,
        ranked.variant,
        ranked.exposed_at_raw,
        ranked.exposed_at,
        ranked.received_treatment,
        case
            when ranked.row_reason_code is not null then ranked.row_reason_code
            when experiments.experiment_id is null then 'unknown_experiment'
            -- A planned experiment has not started: its exposures are a logging
            -- or registry error, whatever their dates.
            when experiments.status = 'planned' then 'planned_experiment'
            when experiment_variants.variant is null then 'unknown_variant'
            when experiments.start_date is null
                or ranked.exposed_at < cast(experiments.start_date as {{ dbt.type_timestamp() }})
                then 'before_experiment_start'
            when experiments.end_date is not null
                and ranked.exposed_at
                >= {{ dbt.dateadd('day', 1, 'cast(experiments.end_date as ' ~ dbt.type_timestamp() ~ ')') }}
                then 'after_experiment_end'
            when ranked.copy_rank > 1 then 'duplicate_row'
            {%- if has_rules %}
            -- Outside the experiment's target population (its population_rule),
            -- or not in raw.units at all (its attributes are unknown).
            when not {{ experimentation.population_flag('ranked.experiment_id', 'population_units') }}
                then 'outside_population'
            {%- endif %}
        end as reason_code
    from ranked
    left join experiments
        on ranked.experiment_id = experiments.experiment_id
    left join experiment_variants
        on ranked.experiment_id = experiment_variants.experiment_id
        and ranked.variant = experiment_variants.variant
    {%- if has_rules %}
    left join population_units
        on ranked.unit_id = population_units.unit_id
    {%- endif %}

)

select * from classified
