-- One row per row of seeds/experiment_metric_covariates.csv (the covariates of
-- the regression adjustment per experiment x metric), typed and trimmed. An
-- experiment metric
-- without rows uses the default: its own pre-period (CUPED). A
-- consumer project without a mapping for experiment_metric_covariates (var
-- registry_relations) declares none, so every metric uses the default.
{%- set mapped = var('registry_relations', {}).get('experiment_metric_covariates') %}
{%- set declared = mapped or var('registry_seeds_enabled', true) %}

with

{%- if declared %}

covariates as (

    select * from {{ experimentation.registry_relation('experiment_metric_covariates') }}

),

typed as (

    select
        trim(cast(experiment_id as {{ dbt.type_string() }})) as experiment_id,
        trim(cast(metric_id as {{ dbt.type_string() }})) as metric_id,
        trim(cast(covariate as {{ dbt.type_string() }})) as covariate
    from covariates

)

{%- else %}

typed as (

    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as metric_id,
        cast(null as {{ dbt.type_string() }}) as covariate
    where 1 = 0

)

{%- endif %}

select * from typed
