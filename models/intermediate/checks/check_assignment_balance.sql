-- One row per registered experiment for the gate assignment_balance: its SRM
-- p-value (the same on every arm row of assignment_balance). DuckDB only, like
-- assignment_balance, a Python model dbt-spark cannot run.
{{ config(enabled=(target.type != 'spark')) }}
with

balance as (

    select * from {{ ref('assignment_balance') }}

),

final as (

    select
        experiment_id as subject,
        experiment_id,
        max(status) as status,
        cast(sum(units) as {{ dbt.type_bigint() }}) as units,
        min(srm_p_value) as srm_p_value,
        max(srm_error_message) as srm_error_message,
        {{ experimentation.relation_label(ref('assignment_balance')) }} as balance_relation
    from balance
    group by experiment_id

)

select * from final
