-- The unit-level rows of the ONE experiment whose heterogeneous effects are
-- estimated (python model experiment_cate): var cate_experiment_id, or when it
-- is empty the running or completed experiment with the most analysed units
-- (at least var cate_min_units). Its control arm and its first treatment arm
-- (by name); treated = assigned to that treatment arm. At most var
-- cate_max_units units: a larger experiment is subsampled deterministically
-- (the units with the smallest md5 of their id), which keeps the learners fast.
{%- set chosen = var('cate_experiment_id', '') %}
{%- set min_units = var('cate_min_units', 1000) %}
{%- set max_units = var('cate_max_units', 200000) %}

with

units as (

    select * from {{ ref('int_experiment_unit_features') }}

),

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

treatment_arms as (

    select
        experiment_id,
        min(variant) as treatment_variant
    from {{ ref('int_arms_keyed') }}
    where not is_control
    group by experiment_id

),

compared as (

    select
        units.*,
        not units.is_control as treated
    from units
    inner join treatment_arms
        on units.experiment_id = treatment_arms.experiment_id
    where units.is_control or units.variant = treatment_arms.treatment_variant

),

candidates as (

    select
        compared.experiment_id,
        count(*) as units
    from compared
    inner join experiments
        on compared.experiment_id = experiments.experiment_id
    {%- if chosen %}
    where compared.experiment_id = '{{ chosen | replace("'", "''") }}'
    {%- else %}
    where experiments.status in ('running', 'completed')
    {%- endif %}
    group by compared.experiment_id
    having count(*) >= {{ min_units }}
        and sum(case when compared.treated then 1 else 0 end) > 0
        and sum(case when compared.treated then 0 else 1 end) > 0

),

selected as (

    select experiment_id
    from (
        select
            experiment_id,
            row_number() over (order by units desc, experiment_id asc) as candidate_rank
        from candidates
    ) as ranked
    where candidate_rank = 1

),

sampled as (

    select
        compared.*,
        row_number() over (
            order by {{ dbt.hash('compared.unit_id') }}, compared.unit_id
        ) as sample_rank
    from compared
    inner join selected
        on compared.experiment_id = selected.experiment_id

)

select * from sampled
where sample_rank <= {{ max_units }}
