-- One row per registered experiment x metric for the gate experiment_metrics:
-- whether each part of the metric (the metric itself, or a ratio's numerator
-- and denominator) has a non-zero value in some analysed unit's analysis window.
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

metric_parts as (

    select * from {{ ref('int_metric_parts_mapped') }}

),

arm_metrics as (

    select * from {{ ref('arm_metrics') }}

),

part_events as (

    select distinct
        experiment_id,
        metric_id,
        event_name
    from metric_parts

),

event_names as (

    select
        experiment_id,
        metric_id,
        {{ dbt.listagg('event_name', "', '", 'order by event_name') }} as event_names
    from part_events
    group by experiment_id, metric_id

),

window_sums as (

    select
        experiment_id,
        metric_id,
        cast(sum(n_units) as {{ dbt.type_bigint() }}) as analysed_units,
        sum(metric_sum) as metric_sum,
        sum(metric_sum_squares) as metric_sum_squares,
        sum(denominator_sum) as denominator_sum,
        sum(denominator_sum_squares) as denominator_sum_squares
    from arm_metrics
    group by experiment_id, metric_id

),

final as (

    select
        experiment_metrics.experiment_id || ' / ' || experiment_metrics.metric_id as subject,
        experiment_metrics.experiment_id,
        experiment_metrics.metric_id,
        experiments.status,
        metrics.aggregation,
        coalesce(event_names.event_names, '(none)') as event_names,
        coalesce(window_sums.analysed_units, 0) as analysed_units,
        coalesce(window_sums.metric_sum, 0) as metric_sum,
        window_sums.denominator_sum,
        case when coalesce(window_sums.metric_sum_squares, 0) > 0 then 0 else 1 end
        + case
            when metrics.aggregation = 'ratio' and coalesce(window_sums.denominator_sum_squares, 0) = 0
                then 1
            else 0
        end as parts_without_values,
        {{ experimentation.relation_label(ref('arm_metrics')) }} as arm_metrics_relation,
        {{ experimentation.relation_label(ref('quarantine_events')) }} as quarantine_events_relation
    from experiment_metrics
    inner join experiments
        on experiment_metrics.experiment_id = experiments.experiment_id
    inner join metrics
        on experiment_metrics.metric_id = metrics.metric_id
    left join event_names
        on
            experiment_metrics.experiment_id = event_names.experiment_id
            and experiment_metrics.metric_id = event_names.metric_id
    left join window_sums
        on
            experiment_metrics.experiment_id = window_sums.experiment_id
            and experiment_metrics.metric_id = window_sums.metric_id

)

select * from final
