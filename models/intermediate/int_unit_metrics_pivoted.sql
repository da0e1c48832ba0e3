-- One row per analysed unit x registered metric with at least one event: m and
-- x from the metric (or a ratio's numerator), d and w from a ratio's
-- denominator. Feeds arm_metrics and arm_metrics_by_segment.
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_windowed') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

components as (

    select * from {{ ref('int_metric_components_expanded') }}

),

metric_parts as (

    -- Which component feeds which metric: the numerator (or the metric itself)
    -- and, for ratio metrics, the denominator.
    select
        registered_metrics.experiment_metric_key,
        components.component_key,
        1 as is_numerator
    from registered_metrics
    inner join components
        on registered_metrics.experiment_id = components.experiment_id
        and registered_metrics.numerator_metric_id = components.component_metric_id

    union all

    select
        registered_metrics.experiment_metric_key,
        components.component_key,
        0 as is_numerator
    from registered_metrics
    inner join components
        on registered_metrics.experiment_id = components.experiment_id
        and registered_metrics.denominator_metric_id = components.component_metric_id

),

pivoted as (

    select
        unit_metrics.assignment_key,
        unit_metrics.arm_key,
        metric_parts.experiment_metric_key,
        sum(case when metric_parts.is_numerator = 1 then unit_metrics.metric_value else 0 end) as m,
        sum(case when metric_parts.is_numerator = 1 then unit_metrics.covariate_value else 0 end) as x,
        sum(case when metric_parts.is_numerator = 0 then unit_metrics.metric_value else 0 end) as d,
        sum(case when metric_parts.is_numerator = 0 then unit_metrics.covariate_value else 0 end) as w
    from unit_metrics
    inner join metric_parts
        on unit_metrics.component_key = metric_parts.component_key
    group by
        unit_metrics.assignment_key,
        unit_metrics.arm_key,
        metric_parts.experiment_metric_key

)

select * from pivoted
