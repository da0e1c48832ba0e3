-- One row per registered experiment for the gate assignment_balance: its SRM
-- p-value (the same on every arm row of assignment_balance) and its
-- comparisons whose arms differed before the experiment (experiment_results'
-- pre-period bias check). DuckDB only, like assignment_balance and
-- experiment_results, Python models dbt-spark cannot run.
{{ config(enabled=(target.type != 'spark')) }}
with

balance as (

    select * from {{ ref('assignment_balance') }}

),

results as (

    select * from {{ ref('experiment_results') }}

),

balance_summary as (

    select
        experiment_id,
        max(status) as status,
        cast(sum(units) as {{ dbt.type_bigint() }}) as units,
        min(srm_p_value) as srm_p_value,
        max(srm_error_message) as srm_error_message
    from balance
    group by experiment_id

),

pre_period_summary as (

    select
        experiment_id,
        cast(sum(case when pre_period_imbalance_flag then 1 else 0 end) as {{ dbt.type_bigint() }})
            as pre_period_imbalanced_metrics,
        {{ dbt.listagg(
            "case when pre_period_imbalance_flag then " ~ dbt.concat(["metric_id", "' ('", "variant", "')'"]) ~ " end",
            "', '",
            "order by metric_id, variant"
        ) }} as pre_period_imbalanced_list
    from results
    group by experiment_id

),

final as (

    select
        balance_summary.experiment_id as subject,
        balance_summary.experiment_id,
        balance_summary.status,
        balance_summary.units,
        balance_summary.srm_p_value,
        balance_summary.srm_error_message,
        {{ experimentation.relation_label(ref('assignment_balance')) }} as balance_relation,
        coalesce(pre_period_summary.pre_period_imbalanced_metrics, 0) as pre_period_imbalanced_metrics,
        pre_period_summary.pre_period_imbalanced_list,
        {{ experimentation.relation_label(ref('experiment_results')) }} as results_relation
    from balance_summary
    left join pre_period_summary
        on balance_summary.experiment_id = pre_period_summary.experiment_id

)

select * from final
