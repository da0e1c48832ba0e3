-- Which base-metric component feeds which registered metric: the metric itself
-- (or a ratio's numerator, is_numerator = 1) and a ratio's denominator (0).
with

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

components as (

    select * from {{ ref('int_metric_components_expanded') }}

),

numerators as (

    select
        registered_metrics.experiment_metric_key,
        registered_metrics.experiment_id,
        registered_metrics.metric_id,
        components.component_key,
        1 as is_numerator,
        components.event_name,
        components.aggregation,
        components.cap_value,
        components.cap_quantile
    from registered_metrics
    inner join components
        on registered_metrics.experiment_id = components.experiment_id
        and registered_metrics.numerator_metric_id = components.component_metric_id

),

denominators as (

    select
        registered_metrics.experiment_metric_key,
        registered_metrics.experiment_id,
        registered_metrics.metric_id,
        components.component_key,
        0 as is_numerator,
        components.event_name,
        components.aggregation,
        components.cap_value,
        components.cap_quantile
    from registered_metrics
    inner join components
        on registered_metrics.experiment_id = components.experiment_id
        and registered_metrics.denominator_metric_id = components.component_metric_id

),

mapped as (

    select * from numerators
    union all
    select * from denominators

)

select * from mapped
