-- One row per experiment x registered metric, with an integer key and the base
-- metrics it is computed from (the metric itself, or a ratio's two parts).
-- depends_on: {{ ref('int_registry_problems') }}
with

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

keyed as (

    select
        row_number() over (
            order by experiment_metrics.experiment_id, experiment_metrics.metric_id
        ) as experiment_metric_key,
        experiment_metrics.experiment_id,
        metrics.metric_id,
        -- Retention and funnel metrics are 0/1 per unit: their statistics
        -- are those of binary metrics (issue 17 item 6).
        case
            when metrics.aggregation in ('retention', 'funnel') then 'binary'
            else metrics.aggregation
        end as aggregation,
        case
            when metrics.aggregation = 'ratio' then metrics.numerator_metric_id
            else metrics.metric_id
        end as numerator_metric_id,
        case
            when metrics.aggregation = 'ratio' then metrics.denominator_metric_id
        end as denominator_metric_id,
        coalesce(experiments.cuped_lookback_days, 0) > 0 as has_covariate
    from experiment_metrics
    inner join metrics
        on experiment_metrics.metric_id = metrics.metric_id
    inner join experiments
        on experiment_metrics.experiment_id = experiments.experiment_id

)

select * from keyed
