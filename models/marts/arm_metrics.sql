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

    select * from {{ ref('int_unit_metrics_windowed') }}

),

components as (

    select * from {{ ref('int_metric_components_expanded') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}

),

arm_sizes as (

    select
        arm_key,
        count(*) as n_units
    from assignments
    group by arm_key

),

registered_metrics as (

    select
        row_number() over (
            order by experiment_metrics.experiment_id, experiment_metrics.metric_id
        ) as experiment_metric_key,
        experiment_metrics.experiment_id,
        metrics.metric_id,
        metrics.aggregation,
        case
            when metrics.aggregation = 'ratio' then metrics.numerator_metric_id
            else metrics.metric_id
        end as numerator_metric_id,
        case
            when metrics.aggregation = 'ratio' then metrics.denominator_metric_id
        end as denominator_metric_id
    from experiment_metrics
    inner join metrics
        on experiment_metrics.metric_id = metrics.metric_id

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

unit_metric_values as (

    -- One row per unit x metric: m and x from the numerator, d and w from the
    -- denominator (0 when the unit had no denominator events).
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

),

arm_sums as (

    select
        arm_key,
        experiment_metric_key,
        sum(m) as metric_sum,
        sum(m * m) as metric_sum_squares,
        sum(x) as covariate_sum,
        sum(x * x) as covariate_sum_squares,
        sum(m * x) as metric_covariate_sum_product,
        sum(d) as denominator_sum,
        sum(d * d) as denominator_sum_squares,
        sum(m * d) as metric_denominator_sum_product,
        sum(w) as covariate_denominator_sum,
        sum(w * w) as covariate_denominator_sum_squares,
        sum(x * w) as covariate_covariate_denominator_sum_product,
        sum(m * w) as metric_covariate_denominator_sum_product,
        sum(d * x) as denominator_covariate_sum_product,
        sum(d * w) as denominator_covariate_denominator_sum_product
    from unit_metric_values
    group by arm_key, experiment_metric_key

),

arm_metric_grid as (

    -- Every registered arm x registered metric, with or without data.
    select
        arms.arm_key,
        arms.experiment_id,
        arms.variant,
        arms.is_control,
        registered_metrics.experiment_metric_key,
        registered_metrics.metric_id,
        registered_metrics.aggregation,
        coalesce(experiments.cuped_lookback_days, 0) > 0 as has_covariate,
        coalesce(arm_sizes.n_units, 0) as n_units
    from arms
    inner join registered_metrics
        on arms.experiment_id = registered_metrics.experiment_id
    inner join experiments
        on arms.experiment_id = experiments.experiment_id
    left join arm_sizes
        on arms.arm_key = arm_sizes.arm_key

),

summed as (

    {%- set ratio_columns = [
        'denominator_sum', 'denominator_sum_squares', 'metric_denominator_sum_product',
        'covariate_denominator_sum', 'covariate_denominator_sum_squares',
        'covariate_covariate_denominator_sum_product', 'metric_covariate_denominator_sum_product',
        'denominator_covariate_sum_product', 'denominator_covariate_denominator_sum_product',
    ] %}

    select
        arm_metric_grid.experiment_id,
        arm_metric_grid.variant,
        arm_metric_grid.metric_id,
        arm_metric_grid.is_control,
        arm_metric_grid.aggregation,
        arm_metric_grid.has_covariate,
        arm_metric_grid.n_units,
        {%- for column in ['metric_sum', 'metric_sum_squares', 'covariate_sum',
                           'covariate_sum_squares', 'metric_covariate_sum_product'] %}
        cast(coalesce(arm_sums.{{ column }}, 0) as {{ experimentation.type_double() }}) as {{ column }},
        {%- endfor %}
        {%- for column in ratio_columns %}
        case
            when arm_metric_grid.aggregation = 'ratio'
                then cast(coalesce(arm_sums.{{ column }}, 0) as {{ experimentation.type_double() }})
        end as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from arm_metric_grid
    left join arm_sums
        on arm_metric_grid.arm_key = arm_sums.arm_key
        and arm_metric_grid.experiment_metric_key = arm_sums.experiment_metric_key

),

moments as (

    -- Sample (ddof = 1) variances and covariance of the unit values, from sums.
    select
        *,
        case
            when n_units > 1
                then (metric_sum_squares - metric_sum * metric_sum / n_units) / (n_units - 1)
        end as metric_var,
        case
            when n_units > 1 and aggregation = 'ratio'
                then (denominator_sum_squares - denominator_sum * denominator_sum / n_units) / (n_units - 1)
        end as denominator_var,
        case
            when n_units > 1 and aggregation = 'ratio'
                then (metric_denominator_sum_product - metric_sum * denominator_sum / n_units) / (n_units - 1)
        end as metric_denominator_cov
    from summed

),

final as (

    select
        experiment_id,
        variant,
        metric_id,
        is_control,
        aggregation,
        has_covariate,
        n_units,
        case
            when aggregation = 'ratio' and denominator_sum <> 0
                then metric_sum / denominator_sum
            when aggregation <> 'ratio' and n_units > 0
                then metric_sum / n_units
        end as mean,
        case
            when aggregation = 'ratio' and n_units > 1 and denominator_sum <> 0
                then greatest(
                    (
                        metric_var
                        - 2 * (metric_sum / denominator_sum) * metric_denominator_cov
                        + (metric_sum / denominator_sum) * (metric_sum / denominator_sum) * denominator_var
                    ) / ((denominator_sum / n_units) * (denominator_sum / n_units)),
                    0
                )
            when aggregation <> 'ratio' and n_units > 1
                then greatest(metric_var, 0)
        end as variance,
        metric_sum,
        metric_sum_squares,
        covariate_sum,
        covariate_sum_squares,
        metric_covariate_sum_product,
        {%- for column in ratio_columns %}
        {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from moments

)

select * from final
