-- Pre-period baselines for power planning: for each planned experiment's primary
-- metric, the units active in the analysis_window_days before the as-of time.
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}
    where status = 'planned'

),

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}
    where role = 'primary'

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

metric_parts_mapped as (

    select * from {{ ref('int_metric_parts_mapped') }}

),

planned_metrics as (

    select
        registered_metrics.experiment_id,
        registered_metrics.metric_id,
        registered_metrics.aggregation,
        registered_metrics.numerator_metric_id,
        registered_metrics.denominator_metric_id,
        experiments.analysis_window_days as baseline_days,
        {{ dbt.dateadd('day', '-experiments.analysis_window_days', experimentation.build_time()) }}
        as baseline_start_at,
        {{ experimentation.build_time() }} as baseline_end_at
    from registered_metrics
    inner join experiments
        on registered_metrics.experiment_id = experiments.experiment_id
    inner join experiment_metrics
        on registered_metrics.experiment_id = experiment_metrics.experiment_id
        and registered_metrics.metric_id = experiment_metrics.metric_id

),

events as (

    -- Only events inside some planned experiment's baseline period: with no
    -- planned experiment the bound is null and the scan keeps nothing (without
    -- it, the join order may put every event in a hash table).
    select * from {{ ref('int_events_classified') }}
    where reason_code is null
        and event_at >= (select min(baseline_start_at) from planned_metrics)
        and event_at < (select max(baseline_end_at) from planned_metrics)

),

metric_parts as (

    -- The base metrics each planned metric is computed from: the metric itself
    -- (or a ratio's numerator) and, for ratio metrics, the denominator.
    select
        metric_parts_mapped.experiment_id,
        metric_parts_mapped.metric_id,
        metric_parts_mapped.event_name,
        metric_parts_mapped.aggregation,
        metric_parts_mapped.cap_value,
        metric_parts_mapped.is_numerator
    from metric_parts_mapped
    inner join planned_metrics
        on metric_parts_mapped.experiment_id = planned_metrics.experiment_id
        and metric_parts_mapped.metric_id = planned_metrics.metric_id

),

events_in_period as (

    select
        metric_parts.experiment_id,
        metric_parts.metric_id,
        metric_parts.is_numerator,
        metric_parts.aggregation,
        metric_parts.cap_value,
        events.unit_id,
        count(*) as event_count,
        sum(events.value) as value_sum
    from events
    inner join metric_parts
        on events.event_name = metric_parts.event_name
    inner join planned_metrics
        on metric_parts.experiment_id = planned_metrics.experiment_id
        and metric_parts.metric_id = planned_metrics.metric_id
    where events.event_at >= planned_metrics.baseline_start_at
        and events.event_at < planned_metrics.baseline_end_at
    group by
        metric_parts.experiment_id,
        metric_parts.metric_id,
        metric_parts.is_numerator,
        metric_parts.aggregation,
        metric_parts.cap_value,
        events.unit_id

),

valued as (

    select
        experiment_id,
        metric_id,
        is_numerator,
        unit_id,
        cap_value,
        cast(
            {{ experimentation.base_metric_value('aggregation', 'event_count', 'value_sum') }}
            as {{ experimentation.type_double() }}
        ) as uncapped_value
    from events_in_period

),

unit_values as (

    -- m: the metric (or a ratio's numerator); d: a ratio's denominator.
    select
        experiment_id,
        metric_id,
        unit_id,
        sum(
            case
                when is_numerator = 0 then 0
                when uncapped_value > cap_value then cap_value
                else uncapped_value
            end
        ) as m,
        sum(
            case
                when is_numerator = 1 then 0
                when uncapped_value > cap_value then cap_value
                else uncapped_value
            end
        ) as d
    from valued
    group by experiment_id, metric_id, unit_id

),

unit_sums as (

    select
        experiment_id,
        metric_id,
        count(*) as n_units,
        sum(m) as metric_sum,
        sum(m * m) as metric_sum_squares,
        sum(d) as denominator_sum,
        sum(d * d) as denominator_sum_squares,
        sum(m * d) as metric_denominator_sum_product
    from unit_values
    group by experiment_id, metric_id

),

summed as (

    -- Every planned experiment x primary metric, with or without pre-period data.
    select
        planned_metrics.experiment_id,
        planned_metrics.metric_id,
        planned_metrics.aggregation,
        planned_metrics.baseline_start_at,
        planned_metrics.baseline_end_at,
        planned_metrics.baseline_days,
        cast(coalesce(unit_sums.n_units, 0) as {{ dbt.type_bigint() }}) as n_units,
        cast(coalesce(unit_sums.metric_sum, 0) as {{ experimentation.type_double() }}) as metric_sum,
        cast(coalesce(unit_sums.metric_sum_squares, 0) as {{ experimentation.type_double() }})
        as metric_sum_squares,
        case
            when planned_metrics.aggregation = 'ratio'
                then cast(coalesce(unit_sums.denominator_sum, 0) as {{ experimentation.type_double() }})
        end as denominator_sum,
        case
            when planned_metrics.aggregation = 'ratio'
                then cast(coalesce(unit_sums.denominator_sum_squares, 0) as {{ experimentation.type_double() }})
        end as denominator_sum_squares,
        case
            when planned_metrics.aggregation = 'ratio'
                then cast(
                    coalesce(unit_sums.metric_denominator_sum_product, 0) as {{ experimentation.type_double() }}
                )
        end as metric_denominator_sum_product
    from planned_metrics
    left join unit_sums
        on planned_metrics.experiment_id = unit_sums.experiment_id
        and planned_metrics.metric_id = unit_sums.metric_id

),

final as (

    -- A binary metric is 1 for every unit with an event: without the units
    -- that had none, its baseline rate is not estimable, so mean and variance
    -- are null.
    select
        experiment_id,
        metric_id,
        aggregation,
        baseline_start_at,
        baseline_end_at,
        baseline_days,
        n_units,
        case
            when baseline_days > 0
                then cast(n_units as {{ experimentation.type_double() }}) / baseline_days
        end as daily_units,
        case
            when aggregation <> 'binary' then {{ experimentation.arm_mean() }}
        end as mean,
        case
            when aggregation <> 'binary' then {{ experimentation.arm_variance() }}
        end as variance,
        metric_sum,
        metric_sum_squares,
        denominator_sum,
        denominator_sum_squares,
        metric_denominator_sum_product
    from summed

)

select * from final
