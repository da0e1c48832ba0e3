-- Per-arm sufficient statistics: everything the statistics package needs, so no
-- unit-level row ever leaves the warehouse. Units without events are zeros by
-- omission; n_units comes from the assignments.
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

caps as (

    select * from {{ ref('int_metric_quantile_caps') }}

),

arm_quantiles as (

    select * from {{ ref('int_arm_quantiles') }}

),

arm_sizes as (

    select
        arm_key,
        count(*) as n_units
    from assignments
    group by arm_key

),

arm_sums as (

    select
        unit_metrics.arm_key,
        unit_metrics.experiment_metric_key,
        {{ experimentation.sufficient_statistic_sums() }},
        {%- set uncapped = experimentation.scaled_integer('unit_metrics.uncapped_m', 'caps.uncapped_metric_scale') %}
        -- The values before the percentile cap (metrics with one only).
        {{ experimentation.exact_sum(uncapped) }} as uncapped_metric_sum,
        {{ experimentation.exact_sum(experimentation.exact_product(uncapped, uncapped)) }}
            as uncapped_metric_sum_squares
    from unit_metrics
    inner join shifts
        on unit_metrics.experiment_metric_key = shifts.experiment_metric_key
    left join caps
        on unit_metrics.experiment_metric_key = caps.experiment_metric_key
    group by unit_metrics.arm_key, unit_metrics.experiment_metric_key

),

summed as (

    -- Every registered arm x registered metric, with or without data.
    select
        arms.experiment_id,
        arms.variant,
        registered_metrics.metric_id,
        arms.is_control,
        registered_metrics.aggregation,
        registered_metrics.has_covariate,
        coalesce(arm_sizes.n_units, 0) as n_units,
        {{ experimentation.filled_sufficient_statistics(
            'arm_sums', 'registered_metrics.aggregation', 'shifts', 'coalesce(arm_sizes.n_units, 0)'
        ) }},
        caps.metric_cap,
        case
            when caps.metric_cap is not null
                then {{ experimentation.unscaled_double(
                    'coalesce(arm_sums.uncapped_metric_sum, 0)', ['caps.uncapped_metric_scale']) }}
        end as uncapped_metric_sum,
        case
            when caps.metric_cap is not null
                then {{ experimentation.unscaled_double(
                    'coalesce(arm_sums.uncapped_metric_sum_squares, 0)',
                    ['caps.uncapped_metric_scale', 'caps.uncapped_metric_scale']) }}
        end as uncapped_metric_sum_squares,
        arm_quantiles.quantile_level,
        arm_quantiles.quantile_value,
        arm_quantiles.quantile_lower_value,
        arm_quantiles.quantile_upper_value
    from arms
    inner join registered_metrics
        on arms.experiment_id = registered_metrics.experiment_id
    inner join shifts
        on registered_metrics.experiment_metric_key = shifts.experiment_metric_key
    left join arm_sizes
        on arms.arm_key = arm_sizes.arm_key
    left join arm_sums
        on arms.arm_key = arm_sums.arm_key
        and registered_metrics.experiment_metric_key = arm_sums.experiment_metric_key
    left join caps
        on registered_metrics.experiment_metric_key = caps.experiment_metric_key
    left join arm_quantiles
        on arms.arm_key = arm_quantiles.arm_key
        and registered_metrics.experiment_metric_key = arm_quantiles.experiment_metric_key

),

final as (

    select
        experiment_id,
        variant,
        metric_id,
        is_control,
        aggregation,
        has_covariate,
        {{ experimentation.arm_statistic_columns() }},
        metric_cap,
        uncapped_metric_sum,
        uncapped_metric_sum_squares,
        quantile_level,
        quantile_value,
        quantile_lower_value,
        quantile_upper_value
    from summed

)

select * from final
