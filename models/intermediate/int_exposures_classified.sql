-- Every raw exposure row with its final reason code: null = usable, otherwise
-- the first problem found. Staged and quarantined rows both come from here, so
-- they reconcile with the raw table by construction.
-- depends_on: {{ ref('int_registry_problems') }}
with

exposures as (

    select * from {{ ref('stg_raw__exposures') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

experiment_variants as (

    select * from {{ ref('stg_registry__experiment_variants') }}

),

classified as (

    select
        exposures.experiment_id,
        exposures.unit_id,
        exposures.variant,
        exposures.exposed_at_raw,
        exposures.exposed_at,
        case
            when exposures.row_reason_code is not null then exposures.row_reason_code
            when experiments.experiment_id is null then 'unknown_experiment'
            -- A planned experiment has not started: its exposures are a logging
            -- or registry error, whatever their dates.
            when experiments.status = 'planned' then 'planned_experiment'
            when experiment_variants.variant is null then 'unknown_variant'
            when experiments.start_date is null
                or exposures.exposed_at < cast(experiments.start_date as {{ dbt.type_timestamp() }})
                then 'before_experiment_start'
            when experiments.end_date is not null
                and exposures.exposed_at
                >= {{ dbt.dateadd('day', 1, 'cast(experiments.end_date as ' ~ dbt.type_timestamp() ~ ')') }}
                then 'after_experiment_end'
            when exposures.duplicate_rank > 1 then 'duplicate_row'
        end as reason_code
    from exposures
    left join experiments
        on exposures.experiment_id = experiments.experiment_id
    left join experiment_variants
        on exposures.experiment_id = experiment_variants.experiment_id
        and exposures.variant = experiment_variants.variant

)

select * from classified
