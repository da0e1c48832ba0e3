-- Per-arm sufficient statistics within each segment (a value of a unit
-- attribute listed in the var segment_columns): the input of segment_results.
-- Same definitions as arm_metrics, restricted to the segment's units.
with

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

unit_segments as (

    select * from {{ ref('int_unit_segments_unpivoted') }}

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

dimensions as (

    select distinct segment_dimension
    from unit_segments

),

assignment_segments as (

    -- Every analysed unit in every dimension; units without attributes are
    -- '(missing)', so segment sizes add up to the arm size in each dimension.
    select
        assignments.unit_id,
        assignments.arm_key,
        assignments.experiment_id,
        dimensions.segment_dimension,
        coalesce(unit_segments.segment_value, '(missing)') as segment_value
    from assignments
    cross join dimensions
    left join unit_segments
        on assignments.unit_id = unit_segments.unit_id
        and dimensions.segment_dimension = unit_segments.segment_dimension

),

segments as (

    select distinct
        experiment_id,
        segment_dimension,
        segment_value
    from assignment_segments

),

segment_sizes as (

    select
        arm_key,
        segment_dimension,
        segment_value,
        count(*) as n_units
    from assignment_segments
    group by arm_key, segment_dimension, segment_value

),

segment_sums as (

    select
        assignment_segments.arm_key,
        unit_metrics.experiment_metric_key,
        assignment_segments.segment_dimension,
        assignment_segments.segment_value,
        {{ experimentation.sufficient_statistic_sums() }}
    from unit_metrics
    inner join assignment_segments
        on unit_metrics.unit_id = assignment_segments.unit_id
        and unit_metrics.arm_key = assignment_segments.arm_key
    inner join shifts
        on unit_metrics.experiment_metric_key = shifts.experiment_metric_key
    group by
        assignment_segments.arm_key,
        unit_metrics.experiment_metric_key,
        assignment_segments.segment_dimension,
        assignment_segments.segment_value

),

summed as (

    -- Every registered arm x metric x segment seen in the experiment.
    select
        arms.experiment_id,
        arms.variant,
        registered_metrics.metric_id,
        segments.segment_dimension,
        segments.segment_value,
        arms.is_control,
        registered_metrics.aggregation,
        registered_metrics.has_covariate,
        coalesce(segment_sizes.n_units, 0) as n_units,
        {{ experimentation.filled_sufficient_statistics(
            'segment_sums', 'registered_metrics.aggregation', 'shifts', 'coalesce(segment_sizes.n_units, 0)'
        ) }}
    from arms
    inner join registered_metrics
        on arms.experiment_id = registered_metrics.experiment_id
    inner join shifts
        on registered_metrics.experiment_metric_key = shifts.experiment_metric_key
    inner join segments
        on arms.experiment_id = segments.experiment_id
    left join segment_sizes
        on arms.arm_key = segment_sizes.arm_key
        and segments.segment_dimension = segment_sizes.segment_dimension
        and segments.segment_value = segment_sizes.segment_value
    left join segment_sums
        on arms.arm_key = segment_sums.arm_key
        and registered_metrics.experiment_metric_key = segment_sums.experiment_metric_key
        and segments.segment_dimension = segment_sums.segment_dimension
        and segments.segment_value = segment_sums.segment_value

),

final as (

    select
        experiment_id,
        variant,
        metric_id,
        segment_dimension,
        segment_value,
        is_control,
        aggregation,
        has_covariate,
        {{ experimentation.arm_statistic_columns() }}
    from summed

)

select * from final
