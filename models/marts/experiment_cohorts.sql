-- Cohorts of each experiment's analysed units: segment x activity bin x signup
-- month, with their size, treatment rate, mean pre-period value and mean
-- outcome of the primary metric (docs/methodology.md, "Cohorts"). The value
-- sums are exact integers (macros/exact_sums.sql), so reruns give the same bits.
{%- set min_units = var('min_segment_units', 10) %}
{%- set summed = ['outcome', 'outcome_denominator', 'pre_metric', 'pre_metric_denominator'] %}

with

units as (

    select * from {{ ref('int_experiment_unit_features') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

value_scales as (

    -- One power of 2 per experiment and summed value, from its largest
    -- magnitude, so every cohort's sum is an exact integer.
    select
        experiment_id,
        {%- for column in summed %}
        {{ experimentation.exact_scale('max(abs(' ~ column ~ '))', experimentation.event_sum_bits()) }}
            as {{ column }}_scale{{ ',' if not loop.last }}
        {%- endfor %}
    from units
    group by experiment_id

),

cohorts as (

    select
        units.experiment_id,
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
        {%- for column in summed %}
        {{ experimentation.unscaled_double(
            experimentation.exact_sum(experimentation.scaled_integer(
                'units.' ~ column, 'value_scales.' ~ column ~ '_scale')),
            ['value_scales.' ~ column ~ '_scale']) }} as {{ column }}_sum,
        {%- endfor %}
        count(pre_metric) as units_with_pre_metric
    from units
    inner join value_scales
        on units.experiment_id = value_scales.experiment_id
    group by
        {%- for column in summed %}
        value_scales.{{ column }}_scale,
        {%- endfor %}
        units.experiment_id,
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
