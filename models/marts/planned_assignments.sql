-- Arms for the experiments that are still planned: every eligible unit of
-- raw.units gets a variant from a hash of the experiment's salt and its id
-- (docs/methodology.md, "Assignment of planned experiments"). Optionally
-- stratified by a declared unit attribute (var assignment_strata_column);
-- units whose declared eligibility column is false are not assigned, nor units
-- outside the experiment's population_rule (macros/population_rules.sql).
-- Experiments of one layer get disjoint units; a holdout's units are kept out
-- of every experiment in its scope (docs/methodology.md, "Layers and holdouts").
{%- set eligibility_column = experimentation.assignment_eligibility_column() %}
{%- set strata_column = experimentation.assignment_strata_column() %}
{%- set salt_prefix = var('assignment_salt', '') | replace("'", "''") %}
{%- set stratified = strata_column != '' %}
{%- set has_eligibility = eligibility_column != '' %}

with

units as (

    select * from {{ ref('stg_raw__units') }}
    where reason_code is null

),

registry as (

    select * from {{ ref('stg_registry__experiments') }}

),

experiments as (

    select * from registry
    where status = 'planned'

),

layer_ranges as (

    -- Mutually exclusive layers: every experiment of a layer (whatever its
    -- status) owns the layer buckets [layer_low, layer_high) of [0, 10000), in
    -- experiment_id order, each a range of layer_share x 10000 buckets. An
    -- experiment added later with a later id takes the next free range, so the
    -- others keep theirs (shares summing to more than 1 are a registry problem).
    select
        experiment_id,
        layer,
        cast(round(10000 * coalesce(sum(layer_share) over (
            partition by layer order by experiment_id
            rows between unbounded preceding and 1 preceding
        ), 0), 0) as {{ dbt.type_bigint() }}) as layer_low,
        cast(round(10000 * sum(layer_share) over (
            partition by layer order by experiment_id
            rows between unbounded preceding and current row
        ), 0) as {{ dbt.type_bigint() }}) as layer_high
    from registry
    where layer is not null and trim(layer) != ''

),

holdouts as (

    -- Holdout experiments: the units of their control arm (the first
    -- round(10000 x control share) buckets of their own hash) are kept out of
    -- every other experiment in their scope (a layer name, or all).
    select
        registry.experiment_id as holdout_id,
        lower(trim(registry.holdout_scope)) as holdout_scope,
        cast(round(10000 * sum(case when arms.is_control then arms.allocation_weight else 0 end)
            / sum(arms.allocation_weight), 0) as {{ dbt.type_bigint() }}) as holdout_high
    from registry
    inner join {{ ref('int_arms_keyed') }} as arms
        on registry.experiment_id = arms.experiment_id
    where registry.holdout_scope is not null and trim(registry.holdout_scope) != ''
        and arms.allocation_weight > 0
    group by registry.experiment_id, registry.holdout_scope

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

arm_ranges as (

    -- Each arm owns the buckets [bucket_low, bucket_high) of [0, 10000):
    -- arms in registry order (control first, then by name), each a share of
    -- the range proportional to its allocation weight.
    select
        arms.experiment_id,
        arms.variant,
        arms.is_control,
        arms.allocation_weight,
        cast(round(10000 * coalesce(sum(arms.allocation_weight) over (
            partition by arms.experiment_id
            order by case when arms.is_control then 0 else 1 end, arms.variant
            rows between unbounded preceding and 1 preceding
        ), 0) / sum(arms.allocation_weight) over (partition by arms.experiment_id), 0) as {{ dbt.type_bigint() }})
        as bucket_low,
        cast(round(10000 * sum(arms.allocation_weight) over (
            partition by arms.experiment_id
            order by case when arms.is_control then 0 else 1 end, arms.variant
            rows between unbounded preceding and current row
        ) / sum(arms.allocation_weight) over (partition by arms.experiment_id), 0) as {{ dbt.type_bigint() }})
        as bucket_high
    from arms
    inner join experiments
        on arms.experiment_id = experiments.experiment_id
    where arms.allocation_weight > 0

),

eligible_units as (

    select
        unit_id,
        {%- if stratified %}
        coalesce(cast({{ adapter.quote(strata_column) }} as {{ dbt.type_string() }}), '(missing)') as stratum
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as stratum
        {%- endif %}
        {{ experimentation.population_flag_columns() }}
    from units
    {%- if has_eligibility %}
    -- Units whose eligibility flag is false are never assigned (null = unknown: kept).
    where coalesce(cast({{ adapter.quote(eligibility_column) }} as {{ dbt.type_boolean() }}), true)
    {%- endif %}

),

hashed as (

    select
        experiments.experiment_id,
        eligible_units.unit_id,
        eligible_units.stratum,
        {{ dbt.hash(dbt.concat(["'" ~ salt_prefix ~ "'", 'experiments.experiment_id', "':'", 'eligible_units.unit_id'])) }}
        as unit_hash,
        {{ experimentation.hash_bucket(
            dbt.concat(["'" ~ salt_prefix ~ "'", 'experiments.experiment_id', "':'", 'eligible_units.unit_id'])
        ) }} as hash_bucket,
        experiments.layer,
        experiments.holdout_scope,
        layer_ranges.layer_low,
        layer_ranges.layer_high,
        case when layer_ranges.experiment_id is not null then
            {{ experimentation.hash_bucket(
                dbt.concat(["'" ~ salt_prefix ~ "layer:'", 'layer_ranges.layer', "':'", 'eligible_units.unit_id'])
            ) }}
        end as layer_bucket
    from experiments
    inner join (select distinct experiment_id from arm_ranges) as assignable
        on experiments.experiment_id = assignable.experiment_id
    left join layer_ranges
        on experiments.experiment_id = layer_ranges.experiment_id
    cross join eligible_units
    -- Only the experiment's target population (population_rule; every unit
    -- when the experiment registers none).
    where {{ experimentation.population_flag('experiments.experiment_id', 'eligible_units') }}

),

held_out as (

    -- The units each holdout keeps out, with its scope.
    select
        holdouts.holdout_id,
        holdouts.holdout_scope,
        eligible_units.unit_id
    from holdouts
    cross join eligible_units
    where {{ experimentation.hash_bucket(
        dbt.concat(["'" ~ salt_prefix ~ "'", 'holdouts.holdout_id', "':'", 'eligible_units.unit_id'])
    ) }} < holdouts.holdout_high

),

layered as (

    -- A layered experiment gets only the units whose layer bucket it owns; no
    -- experiment in a holdout's scope gets that holdout's units.
    select hashed.*
    from hashed
    where (hashed.layer_bucket is null
        or (hashed.layer_bucket >= hashed.layer_low and hashed.layer_bucket < hashed.layer_high))
        and not exists (
            select 1
            from held_out
            where held_out.unit_id = hashed.unit_id
                and held_out.holdout_id != hashed.experiment_id
                and (held_out.holdout_scope = 'all'
                    or held_out.holdout_scope = lower(trim(hashed.layer)))
        )

),

bucketed as (

    select
        experiment_id,
        unit_id,
        stratum,
        hash_bucket,
        layer,
        layer_bucket,
        {%- if stratified %}
        -- Stratified: within each stratum, units ranked by their hash are dealt
        -- to the arms in weight proportion (systematic allocation), so each
        -- arm's count in a stratum is within one unit of stratum size x share.
        cast(floor(
            (row_number() over (partition by experiment_id, stratum order by unit_hash, unit_id) - 0.5)
            * 10000 / count(*) over (partition by experiment_id, stratum)
        ) as {{ dbt.type_bigint() }}) as assignment_bucket
        {%- else %}
        hash_bucket as assignment_bucket
        {%- endif %}
    from layered

),

assigned as (

    select
        bucketed.experiment_id,
        bucketed.unit_id,
        arm_ranges.variant,
        arm_ranges.is_control,
        bucketed.hash_bucket,
        bucketed.assignment_bucket,
        {%- if stratified %}
        '{{ strata_column }}' as strata_column,
        'stratified_deal' as assignment_method,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as strata_column,
        'hash_bucket' as assignment_method,
        {%- endif %}
        bucketed.stratum,
        bucketed.layer,
        bucketed.layer_bucket
    from bucketed
    inner join arm_ranges
        on bucketed.experiment_id = arm_ranges.experiment_id
        and bucketed.assignment_bucket >= arm_ranges.bucket_low
        and bucketed.assignment_bucket < arm_ranges.bucket_high

)

select * from assigned
