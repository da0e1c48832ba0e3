{{
    config(
        materialized='incremental' if target.type == 'duckdb' else 'table',
        incremental_strategy='append',
        full_refresh=not experimentation.incremental_refresh_enabled(),
        pre_hook=["{{ experimentation.delete_units_to_refresh() }}"],
    )
}}
-- One row per analysed unit x registered metric with at least one event: m and
-- x from the metric (or a ratio's numerator), d and w from a ratio's
-- denominator. The unit-level table of the project: arm_metrics,
-- arm_metrics_by_segment, arm_metrics_daily and the unit-level analyses read it.
-- Incremental on DuckDB (`make refresh`): the units in int_units_to_refresh
-- are deleted by the pre-hook and appended again from int_unit_metrics_windowed,
-- which then holds only them.
-- depends_on: {{ ref('int_units_to_refresh') }}
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_windowed') }}

),

metric_parts as (

    select * from {{ ref('int_metric_parts_mapped') }}

),

pivoted as (

    select
        unit_metrics.unit_id,
        unit_metrics.arm_key,
        metric_parts.experiment_metric_key,
        sum(case when metric_parts.is_numerator = 1 then unit_metrics.metric_value else 0 end) as m,
        sum(case when metric_parts.is_numerator = 1 then unit_metrics.covariate_value else 0 end) as x,
        sum(case when metric_parts.is_numerator = 0 then unit_metrics.metric_value else 0 end) as d,
        sum(case when metric_parts.is_numerator = 0 then unit_metrics.covariate_value else 0 end) as w,
        max(unit_metrics.last_event_at) as last_event_at
    from unit_metrics
    inner join metric_parts
        on unit_metrics.component_key = metric_parts.component_key
    group by
        unit_metrics.unit_id,
        unit_metrics.arm_key,
        metric_parts.experiment_metric_key

)

select * from pivoted
