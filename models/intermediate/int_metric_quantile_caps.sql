-- One row per registered metric whose value (or ratio numerator) or ratio
-- denominator has a percentile cap (cap_quantile, issue 17 item 8): the cap is
-- that quantile of the pooled unit values of the experiment, every arm
-- together, after each unit's window is summed (never per event). Units
-- without events are 0: they are not in int_unit_metrics_pivoted, so their
-- block of zeros is placed between the negative and the other values by
-- rank arithmetic instead of being materialised. The quantile is the linear
-- interpolation between order statistics (numpy's default, DuckDB's
-- quantile_cont, Spark's percentile): with N units and h = (N - 1) q, the
-- values at 1-based positions floor(h) + 1 and floor(h) + 2. Written with
-- row_number, so one query serves every engine and every quantile (DuckDB's
-- quantile_cont takes only a constant fraction). Reads the whole
-- int_unit_metrics_pivoted table, so an incremental refresh recomputes the
-- caps over every unit, old and new.
-- uncapped_metric_scale is the power of 2 of the exact sums of the uncapped
-- values in arm_metrics (macros/exact_sums.sql).
{%- set bits = experimentation.exact_sum_bits() %}
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

metric_parts as (

    select * from {{ ref('int_metric_parts_mapped') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

experiment_sizes as (

    select
        experiment_id,
        count(*) as n_units
    from assignments
    group by experiment_id

),

capped_parts as (

    -- One row per registered metric x part (1: the metric or a ratio's
    -- numerator, 0: a ratio's denominator) with a percentile cap.
    select
        metric_parts.experiment_metric_key,
        metric_parts.is_numerator,
        metric_parts.cap_quantile,
        coalesce(experiment_sizes.n_units, 0) as n_units
    from metric_parts
    left join experiment_sizes
        on metric_parts.experiment_id = experiment_sizes.experiment_id
    where metric_parts.cap_quantile is not null

),

part_values as (

    select
        unit_metrics.experiment_metric_key,
        capped_parts.is_numerator,
        case when capped_parts.is_numerator = 1 then unit_metrics.m else unit_metrics.d end as unit_value
    from unit_metrics
    inner join capped_parts
        on unit_metrics.experiment_metric_key = capped_parts.experiment_metric_key

),

value_counts as (

    select
        experiment_metric_key,
        is_numerator,
        count(*) as n_values,
        sum(case when unit_value < 0 then 1 else 0 end) as n_negative,
        max(abs(unit_value)) as max_magnitude
    from part_values
    group by experiment_metric_key, is_numerator

),

targets as (

    -- h = (N - 1) q: the lower order statistic (1-based) and the weight of
    -- the next one.
    select
        capped_parts.experiment_metric_key,
        capped_parts.is_numerator,
        capped_parts.n_units,
        coalesce(value_counts.n_values, 0) as n_values,
        value_counts.max_magnitude,
        floor((capped_parts.n_units - 1) * capped_parts.cap_quantile) + 1 as lower_position,
        (capped_parts.n_units - 1) * capped_parts.cap_quantile
        - floor((capped_parts.n_units - 1) * capped_parts.cap_quantile) as upper_weight
    from capped_parts
    left join value_counts
        on capped_parts.experiment_metric_key = value_counts.experiment_metric_key
        and capped_parts.is_numerator = value_counts.is_numerator
    where capped_parts.n_units > 0

),

positioned as (

    -- Each value's position among all N units: negative values come before
    -- the (N - n_values) implicit zeros, the others after them.
    select
        part_values.experiment_metric_key,
        part_values.is_numerator,
        part_values.unit_value,
        row_number() over (
            partition by part_values.experiment_metric_key, part_values.is_numerator
            order by part_values.unit_value
        ) + case
            when part_values.unit_value < 0 then 0
            else targets.n_units - targets.n_values
        end as unit_position
    from part_values
    inner join targets
        on part_values.experiment_metric_key = targets.experiment_metric_key
        and part_values.is_numerator = targets.is_numerator

),

order_statistics as (

    -- A position no value holds is in the block of zeros.
    select
        targets.experiment_metric_key,
        targets.is_numerator,
        targets.max_magnitude,
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
        on targets.experiment_metric_key = positioned.experiment_metric_key
        and targets.is_numerator = positioned.is_numerator
        and positioned.unit_position between targets.lower_position and targets.lower_position + 1
    group by
        targets.experiment_metric_key,
        targets.is_numerator,
        targets.max_magnitude,
        targets.upper_weight,
        targets.lower_position,
        targets.n_units

),

interpolated as (

    -- numpy's lerp: from the nearer end, so a weight of 1 gives the upper
    -- value exactly.
    select
        experiment_metric_key,
        is_numerator,
        max_magnitude,
        case
            when upper_weight >= 0.5
                then upper_value - (upper_value - lower_value) * (1 - upper_weight)
            else lower_value + (upper_value - lower_value) * upper_weight
        end as cap
    from order_statistics

),

final as (

    select
        experiment_metric_key,
        max(case when is_numerator = 1 then cap end) as metric_cap,
        max(case when is_numerator = 0 then cap end) as denominator_cap,
        {{ experimentation.exact_scale('max(case when is_numerator = 1 then max_magnitude end)', bits) }}
            as uncapped_metric_scale
    from interpolated
    group by experiment_metric_key

)

select * from final
