-- One row per experiment x registered (non-ratio) metric x treatment variant:
-- the Mann-Whitney sufficient statistics of that variant against control over
-- the pooled per-unit values of the two arms (issue 17 item 9). Units without
-- a row in int_unit_metrics_pivoted have value 0, so they are ranked as one
-- tie group here, never as rows: the nonzero values are ranked with RANK and
-- COUNT windows and the zero group is placed among them by counts.
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

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}
    where aggregation <> 'ratio'

),

arm_sizes as (

    select
        arm_key,
        count(*) as n_units
    from assignments
    group by arm_key

),

comparisons as (

    -- Every treatment arm with its experiment's control arm, per metric.
    select
        treatments.experiment_id,
        treatments.variant,
        registered_metrics.metric_id,
        registered_metrics.experiment_metric_key,
        treatments.arm_key as treatment_arm_key,
        controls.arm_key as control_arm_key,
        coalesce(treatment_sizes.n_units, 0) as n_treatment,
        coalesce(control_sizes.n_units, 0) as n_control
    from arms as treatments
    inner join arms as controls
        on treatments.experiment_id = controls.experiment_id
        and controls.is_control
    inner join registered_metrics
        on treatments.experiment_id = registered_metrics.experiment_id
    left join arm_sizes as treatment_sizes
        on treatments.arm_key = treatment_sizes.arm_key
    left join arm_sizes as control_sizes
        on controls.arm_key = control_sizes.arm_key
    where not treatments.is_control

),

pooled as (

    -- The nonzero unit values of both arms of each comparison.
    select
        comparisons.experiment_metric_key,
        comparisons.treatment_arm_key,
        case when unit_metrics.arm_key = comparisons.treatment_arm_key then 1 else 0 end as is_treatment,
        unit_metrics.m as unit_value
    from comparisons
    inner join unit_metrics
        on comparisons.experiment_metric_key = unit_metrics.experiment_metric_key
        and unit_metrics.arm_key in (comparisons.treatment_arm_key, comparisons.control_arm_key)
    where unit_metrics.m <> 0

),

ranked as (

    select
        experiment_metric_key,
        treatment_arm_key,
        is_treatment,
        unit_value,
        -- 1 + the number of nonzero values below this one.
        rank() over (
            partition by experiment_metric_key, treatment_arm_key
            order by unit_value
        ) as value_rank,
        count(*) over (
            partition by experiment_metric_key, treatment_arm_key, unit_value
        ) as tie_size
    from pooled

),

nonzero_summary as (

    select
        experiment_metric_key,
        treatment_arm_key,
        count(*) as nonzero_units,
        sum(is_treatment) as nonzero_treatment,
        sum(case when unit_value < 0 then 1 else 0 end) as negative_units,
        sum(case when is_treatment = 1 and unit_value > 0 then 1 else 0 end) as positive_treatment,
        -- Mid-ranks among the nonzero values: (rank - 1) + (t + 1) / 2.
        sum(
            case
                when is_treatment = 1
                    then cast(value_rank - 1 as {{ experimentation.type_double() }}) + (tie_size + 1) / 2.0
                else 0
            end
        ) as nonzero_treatment_rank_sum,
        -- Each tie group of size t has t rows: t (t**2 - 1) = t**3 - t.
        sum(cast(tie_size as {{ experimentation.type_double() }}) * tie_size - 1) as nonzero_tie_term
    from ranked
    group by experiment_metric_key, treatment_arm_key

),

zero_groups as (

    select
        comparisons.experiment_id,
        comparisons.variant,
        comparisons.metric_id,
        comparisons.n_control,
        comparisons.n_treatment,
        coalesce(nonzero_summary.negative_units, 0) as negative_units,
        coalesce(nonzero_summary.positive_treatment, 0) as positive_treatment,
        coalesce(nonzero_summary.nonzero_treatment_rank_sum, 0) as nonzero_treatment_rank_sum,
        coalesce(nonzero_summary.nonzero_tie_term, 0) as nonzero_tie_term,
        cast(
            comparisons.n_control + comparisons.n_treatment - coalesce(nonzero_summary.nonzero_units, 0)
            as {{ experimentation.type_double() }}
        ) as zero_units,
        cast(
            comparisons.n_treatment - coalesce(nonzero_summary.nonzero_treatment, 0)
            as {{ experimentation.type_double() }}
        ) as zero_treatment
    from comparisons
    left join nonzero_summary
        on comparisons.experiment_metric_key = nonzero_summary.experiment_metric_key
        and comparisons.treatment_arm_key = nonzero_summary.treatment_arm_key

),

final as (

    -- Positive values rank above the zero group, negative ones below it; the
    -- zero group's mid-rank is negatives + (Z + 1) / 2.
    select
        experiment_id,
        variant,
        metric_id,
        n_control,
        n_treatment,
        nonzero_treatment_rank_sum
        + positive_treatment * zero_units
        + zero_treatment * (negative_units + (zero_units + 1) / 2.0) as treatment_rank_sum,
        nonzero_tie_term + zero_units * zero_units * zero_units - zero_units as tie_term
    from zero_groups

)

select * from final
