-- The cumulative effect of everything shipped against each holdout: the
-- holdout experiment's own results (its exposed arm against its holdout arm,
-- marts.experiment_results) next to the experiments in its scope whose
-- decision is scale (docs/methodology.md, "Layers and holdouts").
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

results as (

    select * from {{ ref('experiment_results') }}

),

decisions as (

    select * from {{ ref('experiment_decisions') }}

),

holdouts as (

    select
        experiment_id as holdout_id,
        lower(trim(holdout_scope)) as holdout_scope
    from experiments
    where holdout_scope is not null and trim(holdout_scope) != ''

),

in_scope as (

    select
        holdouts.holdout_id,
        experiments.experiment_id,
        decisions.decision
    from holdouts
    inner join experiments
        on holdouts.holdout_id != experiments.experiment_id
        and (holdouts.holdout_scope = 'all' or holdouts.holdout_scope = lower(trim(experiments.layer)))
    left join decisions
        on experiments.experiment_id = decisions.experiment_id

),

shipped as (

    select
        holdouts.holdout_id,
        count(in_scope.experiment_id) as experiments_in_scope,
        sum(case when in_scope.decision = 'scale' then 1 else 0 end) as experiments_shipped,
        {{ dbt.listagg(
            "case when in_scope.decision = 'scale' then in_scope.experiment_id end",
            "', '",
            "order by in_scope.experiment_id",
        ) }} as shipped_experiment_ids
    from holdouts
    left join in_scope
        on holdouts.holdout_id = in_scope.holdout_id
    group by holdouts.holdout_id

),

compared as (

    select
        holdouts.holdout_id,
        holdouts.holdout_scope,
        results.metric_id,
        results.metric_name,
        results.role,
        results.control_variant as holdout_variant,
        results.variant as exposed_variant,
        results.n_control,
        results.n_treatment,
        results.mean_control,
        results.mean_treatment,
        results.abs_lift,
        results.abs_ci_low,
        results.abs_ci_high,
        results.rel_lift,
        results.rel_ci_low,
        results.rel_ci_high,
        results.p_value,
        results.is_significant,
        results.direction,
        cast(coalesce(shipped.experiments_in_scope, 0) as {{ dbt.type_bigint() }}) as experiments_in_scope,
        cast(coalesce(shipped.experiments_shipped, 0) as {{ dbt.type_bigint() }}) as experiments_shipped,
        cast(shipped.shipped_experiment_ids as {{ dbt.type_string() }}) as shipped_experiment_ids
    from holdouts
    inner join results
        on holdouts.holdout_id = results.experiment_id
    left join shipped
        on holdouts.holdout_id = shipped.holdout_id

)

select * from compared
