-- The experimentation portfolio: one row per registered experiment with its
-- state, headline result and decision, for executives and BI dashboards.
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

experiment_health as (

    select * from {{ ref('experiment_health') }}

),

assignment_balance as (

    select * from {{ ref('assignment_balance') }}

),

experiment_results as (

    select * from {{ ref('experiment_results') }}

),

experiment_decisions as (

    select * from {{ ref('experiment_decisions') }}

),

srm_by_experiment as (

    -- The SRM figures repeat on each arm row; null when the test could not run.
    select
        experiment_id,
        max(case when srm_flag then 1 when not srm_flag then 0 end) as srm_flag_max
    from assignment_balance
    group by experiment_id

),

run_dates as (

    -- Running experiments are measured up to the as-of date (at most their
    -- end date); completed and stopped ones up to their end date.
    select
        experiment_id,
        start_date,
        case
            when status = 'planned' or start_date is null then null
            when end_date is null then cast({{ experimentation.build_time() }} as date)
            when status = 'running' and end_date > cast({{ experimentation.build_time() }} as date)
                then cast({{ experimentation.build_time() }} as date)
            else end_date
        end as measured_to_date
    from experiments

),

days_counted as (

    -- Both the first and the last day count; 0 before the start date.
    select
        experiment_id,
        case
            when measured_to_date < start_date then 0
            when measured_to_date is not null
                then {{ dbt.datediff('start_date', 'measured_to_date', 'day') }} + 1
        end as days_running
    from run_dates

),

final as (

    select
        experiments.experiment_id,
        experiments.experiment_name,
        experiments.domain,
        experiments.owner,
        experiments.status,
        experiments.start_date,
        experiments.end_date,
        days_counted.days_running,
        coalesce(experiment_health.units_analysed, 0) as units,
        case srm_by_experiment.srm_flag_max
            when 1 then true
            when 0 then false
        end as srm_flag,
        experiment_decisions.primary_metric_id,
        experiment_decisions.primary_variant,
        experiment_results.rel_lift as primary_rel_lift,
        experiment_results.p_value as primary_p_value,
        experiment_results.p_value_adjusted as primary_p_value_adjusted,
        experiment_decisions.primary_rel_ci_low_adjusted,
        experiment_decisions.primary_rel_ci_high_adjusted,
        experiment_decisions.share_of_target,
        experiment_decisions.decision,
        experiment_decisions.rule,
        -- Rationales of the data-quality and sample-size rules do not quote the
        -- primary result: the result's summary sentence goes first there. Every
        -- rationale names every harm (experiment_decisions.harm_summary).
        case
            when experiment_decisions.rule in ('data_quality_failed', 'below_planned_sample')
                and experiment_results.p_value is not null
                then {{ dbt.concat(['experiment_results.summary', "' '", 'experiment_decisions.rationale']) }}
            else experiment_decisions.rationale
        end as analysis_summary,
        experiment_decisions.harm_summary,
        experiment_decisions.recommended_action,
        experiments.hypothesis,
        experiment_decisions.decided_at
    from experiments
    left join experiment_health
        on experiments.experiment_id = experiment_health.experiment_id
    left join srm_by_experiment
        on experiments.experiment_id = srm_by_experiment.experiment_id
    left join days_counted
        on experiments.experiment_id = days_counted.experiment_id
    left join experiment_decisions
        on experiments.experiment_id = experiment_decisions.experiment_id
    left join experiment_results
        on experiment_decisions.experiment_id = experiment_results.experiment_id
        and experiment_decisions.primary_metric_id = experiment_results.metric_id
        and experiment_decisions.primary_variant = experiment_results.variant

)

select * from final
