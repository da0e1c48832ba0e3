-- One row per analysed experiment x unit: arm, the unit's declared attributes
-- (seeds/unit_attributes.csv) used for cohorts and heterogeneous effects, and
-- the experiment's primary metric in the analysis window (outcome) and the
-- pre-period (CUPED covariate). The cohort keys: segment = the first declared
-- dimension, activity_bin = the first covariate with bins cut at its edges,
-- signup_month = the first bigint covariate without bins ('(missing)' / null
-- when not declared). The CATE features: feature_num__<column> for each
-- covariate and prediction, feature_cat__<column> for each dimension.
-- Feeds marts.experiment_cohorts and the CATE model.
-- depends_on: {{ ref('int_registry_problems') }}
{%- set cohort = experimentation.cohort_attributes() %}
{%- set features = experimentation.cate_features() %}
{%- set edges = cohort['activity_edges'] or [] %}
{%- set activity = cohort['activity'] %}
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

    select * from {{ ref('int_unit_metrics_capped') }}

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
        {%- if cohort['segment'] %}
        coalesce({{ experimentation.unit_attribute_value(cohort['segment']) }}, '(missing)') as segment,
        {%- else %}
        '(missing)' as segment,
        {%- endif %}
        {%- if activity %}
        {{ experimentation.try_cast(adapter.quote(activity['column_name']), experimentation.type_double()) }}
        as activity_value,
        {%- else %}
        cast(null as {{ experimentation.type_double() }}) as activity_value,
        {%- endif %}
        {%- if cohort['signup_month'] %}
        {{ experimentation.try_cast(adapter.quote(cohort['signup_month']['column_name']), dbt.type_bigint()) }}
        as signup_month,
        {%- else %}
        cast(null as {{ dbt.type_bigint() }}) as signup_month,
        {%- endif %}
        {%- for row in features['numeric'] %}
        cast({{ experimentation.unit_attribute_value(row) }} as {{ experimentation.type_double() }})
        as {{ adapter.quote('feature_num__' ~ row['column_name']) }},
        {%- endfor %}
        {%- for row in features['categorical'] %}
        coalesce(cast({{ experimentation.unit_attribute_value(row) }} as {{ dbt.type_string() }}), '(missing)')
        as {{ adapter.quote('feature_cat__' ~ row['column_name']) }},
        {%- endfor %}
        1 as has_attributes
    from units

),

binned as (

    -- Bins of the declared activity covariate with fixed edges (its bins, or
    -- var activity_bin_edges when set): below the first edge, [edge, next
    -- edge), and at or above the last edge; '(missing)' when not declared.
    select
        *,
        {%- if edges %}
        case
            when activity_value is null then '(missing)'
            when activity_value < {{ edges[0] }} then '<{{ edges[0] }}'
            {%- for edge in edges[1:] %}
            when activity_value < {{ edge }} then '{{ edges[loop.index0] }}-{{ edge }}'
            {%- endfor %}
            else '>={{ edges[-1] }}'
        end as activity_bin,
        case
            when activity_value is null then {{ edges | length + 1 }}
            when activity_value < {{ edges[0] }} then 0
            {%- for edge in edges[1:] %}
            when activity_value < {{ edge }} then {{ loop.index }}
            {%- endfor %}
            else {{ edges | length }}
        end as activity_bin_order
        {%- else %}
        '(missing)' as activity_bin,
        1 as activity_bin_order
        {%- endif %}
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
        coalesce(binned.activity_bin, '(missing)') as activity_bin,
        coalesce(binned.activity_bin_order, {{ edges | length + 1 }}) as activity_bin_order,
        binned.signup_month,
        {%- for row in features['numeric'] %}
        binned.{{ adapter.quote('feature_num__' ~ row['column_name']) }},
        {%- endfor %}
        {%- for row in features['categorical'] %}
        coalesce(binned.{{ adapter.quote('feature_cat__' ~ row['column_name']) }}, '(missing)')
        as {{ adapter.quote('feature_cat__' ~ row['column_name']) }},
        {%- endfor %}
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
