-- Per-arm sufficient statistics by the day units were first exposed: summing
-- the days up to d gives the arm as it stood for the units exposed by then, the
-- input of cumulative-lift charts and (later) sequential results.
with

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

unit_metrics as (

    select * from {{ ref('int_unit_metrics_capped') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

shifts as (

    select * from {{ ref('int_metric_shifts') }}

),

assignment_days as (

    select
        unit_id,
        arm_key,
        cast(first_exposed_at as date) as exposure_date
    from assignments

),

day_sizes as (

    select
        arm_key,
        exposure_date,
        count(*) as n_units
    from assignment_days
    group by arm_key, exposure_date

),

day_sums as (

    select
        assignment_days.arm_key,
        assignment_days.exposure_date,
        unit_metrics.experiment_metric_key,
        {{ experimentation.sufficient_statistic_sums() }}
    from unit_metrics
    inner join assignment_days
        on unit_metrics.unit_id = assignment_days.unit_id
        and unit_metrics.arm_key = assignment_days.arm_key
    inner join shifts
        on unit_metrics.experiment_metric_key = shifts.experiment_metric_key
    group by
        assignment_days.arm_key,
        assignment_days.exposure_date,
        unit_metrics.experiment_metric_key

),

summed as (

    -- Every day with exposures x registered metric x arm with units that day.
    select
        arms.experiment_id,
        arms.variant,
        registered_metrics.metric_id,
        day_sizes.exposure_date,
        arms.is_control,
        registered_metrics.aggregation,
        registered_metrics.has_covariate,
        day_sizes.n_units,
        {{ experimentation.filled_sufficient_statistics(
            'day_sums', 'registered_metrics.aggregation', 'shifts', 'day_sizes.n_units'
        ) }}
    from day_sizes
    inner join arms
        on day_sizes.arm_key = arms.arm_key
    inner join registered_metrics
        on arms.experiment_id = registered_metrics.experiment_id
    inner join shifts
        on registered_metrics.experiment_metric_key = shifts.experiment_metric_key
    left join day_sums
        on day_sizes.arm_key = day_sums.arm_key
        and day_sizes.exposure_date = day_sums.exposure_date
        and registered_metrics.experiment_metric_key = day_sums.experiment_metric_key

),

final as (

    select
        experiment_id,
        variant,
        metric_id,
        exposure_date,
        is_control,
        aggregation,
        has_covariate,
        {{ experimentation.arm_statistic_columns(with_moments=false) }}
    from summed

)

select * from final
