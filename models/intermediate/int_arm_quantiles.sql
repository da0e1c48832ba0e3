-- One row per arm x registered quantile metric (aggregation = quantile, issue
-- 17 item 5): the arm's sample quantile of the unit values at the metric's
-- level nu, and the quantiles at the levels nu -/+ z0 sqrt(nu (1 - nu) / n)
-- (z0 = Phi^-1(0.975)) whose distance gives Woodruff's standard error
-- (src/xpkit/stats/quantiles.py; the interval is computed there from these
-- three numbers). Every quantile is the linear interpolation between order
-- statistics (numpy's default): with n units, h = (n - 1) level, between the
-- 1-based positions floor(h) + 1 and floor(h) + 2. Units without events are
-- 0 and are not in the unit table: their block of zeros is placed between the
-- negative and the other values by rank arithmetic (as in
-- int_metric_quantile_caps), so nothing is zero-filled and one query serves
-- DuckDB and Spark with a level per metric.
{%- set bound_z = 1.959963984540054 %}
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_capped') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

arm_sizes as (

    select
        arm_key,
        count(*) as n_units
    from assignments
    group by arm_key

),

quantile_metrics as (

    select
        registered_metrics.experiment_metric_key,
        registered_metrics.experiment_id,
        metrics.quantile as quantile_level
    from registered_metrics
    inner join metrics
        on registered_metrics.metric_id = metrics.metric_id
    where registered_metrics.aggregation = 'quantile'
        and metrics.quantile > 0
        and metrics.quantile < 1

),

arm_levels as (

    -- The three levels per arm, clipped to [0, 1] (too few units for the
    -- bound levels is reported by the statistics package).
    select
        arm_sizes.arm_key,
        quantile_metrics.experiment_metric_key,
        quantile_metrics.quantile_level,
        arm_sizes.n_units,
        {{ bound_z }} * sqrt(quantile_metrics.quantile_level * (1 - quantile_metrics.quantile_level) / arm_sizes.n_units)
            as bound_half_width
    from quantile_metrics
    inner join arms
        on quantile_metrics.experiment_id = arms.experiment_id
    inner join arm_sizes
        on arms.arm_key = arm_sizes.arm_key

),

targets as (

    select
        arm_key,
        experiment_metric_key,
        quantile_level,
        n_units,
        level_name,
        level,
        floor((n_units - 1) * level) + 1 as lower_position,
        (n_units - 1) * level - floor((n_units - 1) * level) as upper_weight
    from (
        {%- for level_name, level in [
            ('value', 'quantile_level'),
            ('lower', 'greatest(quantile_level - bound_half_width, 0)'),
            ('upper', 'least(quantile_level + bound_half_width, 1)'),
        ] %}
        select
            arm_key,
            experiment_metric_key,
            quantile_level,
            n_units,
            '{{ level_name }}' as level_name,
            {{ level }} as level
        from arm_levels
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as levels

),

arm_values as (

    select
        unit_metrics.arm_key,
        unit_metrics.experiment_metric_key,
        unit_metrics.m as unit_value
    from unit_metrics
    inner join quantile_metrics
        on unit_metrics.experiment_metric_key = quantile_metrics.experiment_metric_key

),

value_counts as (

    select
        arm_key,
        experiment_metric_key,
        count(*) as n_values
    from arm_values
    group by arm_key, experiment_metric_key

),

positioned as (

    -- Each value's position among the arm's n units: negative values come
    -- before the (n - n_values) implicit zeros, the others after them.
    select
        arm_values.arm_key,
        arm_values.experiment_metric_key,
        arm_values.unit_value,
        row_number() over (
            partition by arm_values.arm_key, arm_values.experiment_metric_key
            order by arm_values.unit_value
        ) + case
            when arm_values.unit_value < 0 then 0
            else arm_sizes.n_units - value_counts.n_values
        end as unit_position
    from arm_values
    inner join value_counts
        on arm_values.arm_key = value_counts.arm_key
        and arm_values.experiment_metric_key = value_counts.experiment_metric_key
    inner join arm_sizes
        on arm_values.arm_key = arm_sizes.arm_key

),

order_statistics as (

    -- A position no value holds is in the block of zeros.
    select
        targets.arm_key,
        targets.experiment_metric_key,
        targets.quantile_level,
        targets.level_name,
        targets.upper_weight,
        coalesce(max(case when positioned.unit_position = targets.lower_position then positioned.unit_value end), 0)
            as lower_value,
        case
            when targets.lower_position >= targets.n_units
                then coalesce(max(case when positioned.unit_position = targets.lower_position then positioned.unit_value end), 0)
            else coalesce(max(case when positioned.unit_position = targets.lower_position + 1 then positioned.unit_value end), 0)
        end as upper_value
    from targets
    left join positioned
        on targets.arm_key = positioned.arm_key
        and targets.experiment_metric_key = positioned.experiment_metric_key
        and positioned.unit_position between targets.lower_position and targets.lower_position + 1
    group by
        targets.arm_key,
        targets.experiment_metric_key,
        targets.quantile_level,
        targets.level_name,
        targets.upper_weight,
        targets.lower_position,
        targets.n_units

),

interpolated as (

    -- numpy's lerp: from the nearer end.
    select
        arm_key,
        experiment_metric_key,
        quantile_level,
        level_name,
        case
            when upper_weight >= 0.5
                then upper_value - (upper_value - lower_value) * (1 - upper_weight)
            else lower_value + (upper_value - lower_value) * upper_weight
        end as level_value
    from order_statistics

),

final as (

    select
        arm_key,
        experiment_metric_key,
        quantile_level,
        max(case when level_name = 'value' then level_value end) as quantile_value,
        max(case when level_name = 'lower' then level_value end) as quantile_lower_value,
        max(case when level_name = 'upper' then level_value end) as quantile_upper_value
    from interpolated
    group by arm_key, experiment_metric_key, quantile_level

)

select * from final
