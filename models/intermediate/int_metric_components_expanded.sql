-- One row per experiment x base metric that must be computed from events: every
-- registered binary/count/sum metric, plus the numerator and denominator of every
-- registered ratio metric. Each gets an integer key for the big join.
-- Retention and funnel components (issue 17 item 6) carry their day range
-- and steps; int_unit_metrics_windowed computes them on their own path.
-- depends_on: {{ ref('int_registry_problems') }}
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}

),

registered as (

    select
        experiment_metrics.experiment_id,
        metrics.metric_id,
        metrics.aggregation,
        metrics.numerator_metric_id,
        metrics.denominator_metric_id
    from experiment_metrics
    inner join metrics
        on experiment_metrics.metric_id = metrics.metric_id

),

component_ids as (

    select
        experiment_id,
        metric_id as component_metric_id
    from registered
    where aggregation <> 'ratio'

    union

    select
        experiment_id,
        numerator_metric_id as component_metric_id
    from registered
    where aggregation = 'ratio'

    union

    select
        experiment_id,
        denominator_metric_id as component_metric_id
    from registered
    where aggregation = 'ratio'

),

expanded as (

    select
        row_number() over (
            order by component_ids.experiment_id, component_ids.component_metric_id
        ) as component_key,
        component_ids.experiment_id,
        component_ids.component_metric_id,
        metrics.event_name,
        metrics.aggregation,
        metrics.cap_value,
        metrics.cap_quantile,
        metrics.retention_start_day,
        metrics.retention_end_day,
        metrics.funnel_steps,
        experiments.analysis_window_days,
        experiments.cuped_lookback_days,
        case
            when experiments.end_date is not null
                then {{ dbt.dateadd('day', 1, 'cast(experiments.end_date as ' ~ dbt.type_timestamp() ~ ')') }}
        end as window_cutoff_at
    from component_ids
    inner join metrics
        on component_ids.component_metric_id = metrics.metric_id
    inner join experiments
        on component_ids.experiment_id = experiments.experiment_id

)

select * from expanded
