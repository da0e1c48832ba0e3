-- Cohorts of each experiment's analysed units: segment x activity bin x signup
-- month, with their size, treatment rate, mean pre-period value and mean
-- outcome of the primary metric (docs/methodology.md, "Cohorts").
{%- set min_units = var('min_segment_units', 10) %}

with

units as (

    select * from {{ ref('int_experiment_unit_features') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

cohorts as (

    select
        experiment_id,
        segment,
        activity_bin,
        activity_bin_order,
        signup_month,
        primary_metric_id,
        primary_metric_aggregation,
        count(*) as units,
        sum(case when is_control then 0 else 1 end) as treatment_arm_units,
        sum(case when received_treatment then 1 else 0 end) as received_treatment_units,
        count(received_treatment) as units_with_received_flag,
        sum(outcome) as outcome_sum,
        sum(outcome_denominator) as outcome_denominator_sum,
        sum(pre_metric) as pre_metric_sum,
        count(pre_metric) as units_with_pre_metric,
        sum(pre_metric_denominator) as pre_metric_denominator_sum
    from units
    group by
        experiment_id,
        segment,
        activity_bin,
        activity_bin_order,
        signup_month,
        primary_metric_id,
        primary_metric_aggregation

),

final as (

    -- Means of ratio metrics are ratios of sums; cohorts with fewer than
    -- var min_segment_units units show their size and treatment rate only.
    select
        cohorts.experiment_id,
        experiments.status,
        cohorts.segment,
        cohorts.activity_bin,
        cohorts.activity_bin_order,
        cohorts.signup_month,
        cohorts.units,
        cast(cohorts.treatment_arm_units as {{ dbt.type_bigint() }}) as treatment_arm_units,
        cast(cohorts.treatment_arm_units as {{ experimentation.type_double() }}) / cohorts.units
        as treatment_rate,
        case
            when cohorts.units_with_received_flag > 0
                then cast(cohorts.received_treatment_units as {{ experimentation.type_double() }})
                / cohorts.units_with_received_flag
        end as received_treatment_rate,
        cohorts.primary_metric_id,
        case
            when cohorts.units < {{ min_units }} or cohorts.units_with_pre_metric = 0 then null
            when cohorts.primary_metric_aggregation = 'ratio'
                then cohorts.pre_metric_sum / nullif(cohorts.pre_metric_denominator_sum, 0)
            else cohorts.pre_metric_sum / cohorts.units
        end as mean_pre_metric,
        case
            when cohorts.units < {{ min_units }} or cohorts.primary_metric_id is null then null
            when cohorts.primary_metric_aggregation = 'ratio'
                then cohorts.outcome_sum / nullif(cohorts.outcome_denominator_sum, 0)
            else cohorts.outcome_sum / cohorts.units
        end as mean_outcome,
        cohorts.units < {{ min_units }} as is_suppressed
    from cohorts
    inner join experiments
        on cohorts.experiment_id = experiments.experiment_id

)

select * from final
