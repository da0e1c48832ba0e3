{{ config(materialized='view') }}
-- int_unit_metrics_pivoted with the percentile caps of int_metric_quantile_caps
-- applied (issue 17 item 8): m and x at the metric's cap, d and w at the
-- denominator's; metrics without a percentile cap pass unchanged (their
-- cap_value, if any, was applied in int_unit_metrics_windowed). The arm_metrics
-- family reads this view; uncapped_m keeps the value before the percentile cap
-- for the uncapped figures beside the capped ones. A view: the caps change
-- whenever data arrives, the unit values do not.
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

caps as (

    select * from {{ ref('int_metric_quantile_caps') }}

),

capped as (

    select
        unit_metrics.unit_id,
        unit_metrics.arm_key,
        unit_metrics.experiment_metric_key,
        case when unit_metrics.m > caps.metric_cap then caps.metric_cap else unit_metrics.m end as m,
        case when unit_metrics.x > caps.metric_cap then caps.metric_cap else unit_metrics.x end as x,
        case when unit_metrics.d > caps.denominator_cap then caps.denominator_cap else unit_metrics.d end as d,
        case when unit_metrics.w > caps.denominator_cap then caps.denominator_cap else unit_metrics.w end as w,
        unit_metrics.last_event_at,
        unit_metrics.m as uncapped_m
    from unit_metrics
    left join caps
        on unit_metrics.experiment_metric_key = caps.experiment_metric_key

)

select * from capped
