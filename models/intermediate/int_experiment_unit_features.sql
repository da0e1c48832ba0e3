-- One row per analysed experiment x unit: arm, the unit's attributes used for
-- cohorts and heterogeneous effects (segment, age, activity score and its bin,
-- signup month; null when raw.units lacks the column) and the experiment's
-- primary metric in the analysis window (outcome) and the pre-period (CUPED
-- covariate). Feeds marts.experiment_cohorts and the CATE model.
{%- set available = experimentation.unit_attribute_columns() %}
{%- set edges = var('activity_bin_edges', [2, 4, 6, 10]) %}
{%- set resolved_columns = [] %}
{%- if execute %}
    {%- for column in adapter.get_columns_in_relation(ref('int_assignments_resolved')) %}
        {%- do resolved_columns.append(column.name | lower) %}
    {%- endfor %}
{%- endif %}

with

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant and arm_key is not null

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

units as (

    select * from {{ ref('stg_raw__units') }}
    where reason_code is null

),

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}
    where role = 'primary'

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

unit_metrics as (

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

primary_metrics as (

    -- The experiment's primary metric (the first by id if several are registered).
    select
        registered_metrics.experiment_id,
        registered_metrics.experiment_metric_key,
        registered_metrics.metric_id,
        registered_metrics.aggregation,
        registered_metrics.has_covariate,
        row_number() over (
            partition by registered_metrics.experiment_id order by registered_metrics.metric_id
        ) as metric_rank
    from registered_metrics
    inner join experiment_metrics
        on registered_metrics.experiment_id = experiment_metrics.experiment_id
        and registered_metrics.metric_id = experiment_metrics.metric_id

),

attributes as (

    select
        unit_id,
        {%- if 'segment' in available %}
        coalesce(cast({{ adapter.quote('segment') }} as {{ dbt.type_string() }}), '(missing)') as segment,
        {%- else %}
        '(missing)' as segment,
        {%- endif %}
        {%- if 'age' in available %}
        {{ experimentation.try_cast(adapter.quote('age'), experimentation.type_double()) }} as age,
        {%- else %}
        cast(null as {{ experimentation.type_double() }}) as age,
        {%- endif %}
        {%- if 'activity_score' in available %}
        {{ experimentation.try_cast(adapter.quote('activity_score'), experimentation.type_double()) }}
        as activity_score,
        {%- else %}
        cast(null as {{ experimentation.type_double() }}) as activity_score,
        {%- endif %}
        {%- if 'signup_month' in available %}
        {{ experimentation.try_cast(adapter.quote('signup_month'), dbt.type_bigint()) }} as signup_month
        {%- else %}
        cast(null as {{ dbt.type_bigint() }}) as signup_month
        {%- endif %}
    from units

),

binned as (

    -- Activity bins with fixed edges (var activity_bin_edges): below the first
    -- edge, [edge, next edge), and at or above the last edge.
    select
        *,
        case
            when activity_score is null then '(missing)'
            when activity_score < {{ edges[0] }} then '<{{ edges[0] }}'
            {%- for edge in edges[1:] %}
            when activity_score < {{ edge }} then '{{ edges[loop.index0] }}-{{ edge }}'
            {%- endfor %}
            else '>={{ edges[-1] }}'
        end as activity_bin,
        case
            when activity_score is null then {{ edges | length + 1 }}
            when activity_score < {{ edges[0] }} then 0
            {%- for edge in edges[1:] %}
            when activity_score < {{ edge }} then {{ loop.index }}
            {%- endfor %}
            else {{ edges | length }}
        end as activity_bin_order
    from attributes

),

final as (

    select
        assignments.experiment_id,
        assignments.unit_id,
        assignments.variant,
        assignments.arm_key,
        arms.is_control,
        {%- if 'received_treatment' in resolved_columns %}
        -- 1/0 (or true/false) upstream, null when not recorded.
        case
            when cast(assignments.received_treatment as {{ dbt.type_int() }}) = 1 then true
            when cast(assignments.received_treatment as {{ dbt.type_int() }}) = 0 then false
        end as received_treatment,
        {%- else %}
        cast(null as {{ dbt.type_boolean() }}) as received_treatment,
        {%- endif %}
        coalesce(binned.segment, '(missing)') as segment,
        binned.age,
        binned.activity_score,
        coalesce(binned.activity_bin, '(missing)') as activity_bin,
        coalesce(binned.activity_bin_order, {{ edges | length + 1 }}) as activity_bin_order,
        binned.signup_month,
        primary_metrics.metric_id as primary_metric_id,
        primary_metrics.aggregation as primary_metric_aggregation,
        cast(coalesce(unit_metrics.m, 0) as {{ experimentation.type_double() }}) as outcome,
        case
            when primary_metrics.aggregation = 'ratio'
                then cast(coalesce(unit_metrics.d, 0) as {{ experimentation.type_double() }})
        end as outcome_denominator,
        case
            when primary_metrics.has_covariate
                then cast(coalesce(unit_metrics.x, 0) as {{ experimentation.type_double() }})
        end as pre_metric,
        case
            when primary_metrics.has_covariate and primary_metrics.aggregation = 'ratio'
                then cast(coalesce(unit_metrics.w, 0) as {{ experimentation.type_double() }})
        end as pre_metric_denominator
    from assignments
    inner join arms
        on assignments.arm_key = arms.arm_key
    left join binned
        on assignments.unit_id = binned.unit_id
    left join primary_metrics
        on assignments.experiment_id = primary_metrics.experiment_id
        and primary_metrics.metric_rank = 1
    left join unit_metrics
        on assignments.unit_id = unit_metrics.unit_id
        and assignments.arm_key = unit_metrics.arm_key
        and primary_metrics.experiment_metric_key = unit_metrics.experiment_metric_key

)

select * from final
