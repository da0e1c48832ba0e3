-- One row per experiment x metric x arm x pair of regression terms (term_i <=
-- term_j): the exact sums the regression adjustment (xpkit.stats.regression,
-- Lin 2013) needs, in long form so that the number of covariates is not fixed
-- in the schema. Term 0 is the metric in the analysis window; terms 1..k its
-- covariates: seeds/experiment_metric_covariates.csv, or by default the
-- metric's own pre-period (the CUPED covariate); stratum:<column> becomes one
-- dummy per stratum but the first (post-stratification, combined with any
-- other covariates). term_j 1 (index -1) marks
-- the plain sums. Non-ratio metrics only. Units without a value are zeros by
-- omission; n_units comes from the assignments, so every sum covers every
-- analysed unit of the arm. experiment_results reads it.
-- depends_on: {{ ref('int_registry_problems') }}
{%- set bits = experimentation.exact_sum_bits() %}
{%- set attributes = experimentation.regression_attribute_rows() %}
{%- set strata = experimentation.regression_stratum_rows() %}
{%- set min_units = experimentation.regression_stratum_min_units() %}
with

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant and arm_key is not null

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

declared_covariates as (

    select * from {{ ref('stg_registry__experiment_metric_covariates') }}

),

unit_metrics as (

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

units as (

    select * from {{ ref('stg_raw__units') }}
    where reason_code is null

),

declared_metrics as (

    select distinct
        experiment_id,
        metric_id
    from declared_covariates

),

chosen_covariates as (

    -- The registered rows, or the default (own pre-period) for a metric
    -- without rows; ratio metrics have none.
    select
        registered_metrics.experiment_metric_key,
        registered_metrics.metric_id,
        declared_covariates.covariate
    from registered_metrics
    inner join declared_covariates
        on registered_metrics.experiment_id = declared_covariates.experiment_id
        and registered_metrics.metric_id = declared_covariates.metric_id
    where registered_metrics.aggregation <> 'ratio'

    union

    select
        registered_metrics.experiment_metric_key,
        registered_metrics.metric_id,
        {{ dbt.concat(["'pre:'", "registered_metrics.metric_id"]) }} as covariate
    from registered_metrics
    left join declared_metrics
        on registered_metrics.experiment_id = declared_metrics.experiment_id
        and registered_metrics.metric_id = declared_metrics.metric_id
    where registered_metrics.aggregation <> 'ratio'
        and registered_metrics.has_covariate
        and declared_metrics.metric_id is null

),

stratum_values as (

    -- One row per usable unit x declared categorical attribute (a stratum
    -- column); a null value is its own stratum '(missing)'.
    {%- if strata %}
    {%- for row in strata %}
    select
        unit_id,
        '{{ row["column_name"] }}' as stratum_column,
        coalesce(
            cast({{ experimentation.unit_attribute_value(row) }} as {{ dbt.type_string() }}), '(missing)'
        ) as stratum_value
    from units
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(unit_id as {{ dbt.type_string() }}) as unit_id,
        cast(null as {{ dbt.type_string() }}) as stratum_column,
        cast(null as {{ dbt.type_string() }}) as stratum_value
    from units
    where 1 = 0
    {%- endif %}

),

stratum_covariates as (

    select distinct
        registered_metrics.experiment_id,
        chosen_covariates.experiment_metric_key,
        chosen_covariates.covariate,
        lower(substr(chosen_covariates.covariate, 9)) as stratum_column
    from chosen_covariates
    inner join registered_metrics
        on chosen_covariates.experiment_metric_key = registered_metrics.experiment_metric_key
    where chosen_covariates.covariate like 'stratum:%'

),

unit_strata as (

    -- The experiment's analysed units with their value of each stratum
    -- column asked for ('(missing)' without a units row).
    select distinct
        assignments.experiment_id,
        assignments.arm_key,
        assignments.unit_id,
        stratum_columns.stratum_column,
        coalesce(stratum_values.stratum_value, '(missing)') as stratum_value
    from assignments
    inner join (
        select distinct
            experiment_id,
            stratum_column
        from stratum_covariates
    ) as stratum_columns
        on assignments.experiment_id = stratum_columns.experiment_id
    left join stratum_values
        on assignments.unit_id = stratum_values.unit_id
        and stratum_columns.stratum_column = stratum_values.stratum_column

),

stratum_cells as (

    select
        observed.experiment_id,
        observed.stratum_column,
        observed.stratum_value,
        arms.arm_key,
        count(members.unit_id) as n_units
    from (
        select distinct
            experiment_id,
            stratum_column,
            stratum_value
        from unit_strata
    ) as observed
    inner join arms
        on observed.experiment_id = arms.experiment_id
    left join unit_strata as members
        on observed.experiment_id = members.experiment_id
        and observed.stratum_column = members.stratum_column
        and observed.stratum_value = members.stratum_value
        and arms.arm_key = members.arm_key
    group by
        observed.experiment_id,
        observed.stratum_column,
        observed.stratum_value,
        arms.arm_key

),

pooled_values as (

    -- The pooling rule: a value with fewer than {{ min_units }} units in any
    -- arm joins '(pooled)'.
    select
        experiment_id,
        stratum_column,
        stratum_value,
        case
            when min(n_units) < {{ min_units }} then '(pooled)'
            else stratum_value
        end as pooled_value
    from stratum_cells
    group by experiment_id, stratum_column, stratum_value

),

stratum_dummies as (

    -- One dummy per pooled value but the first (the reference stratum).
    select
        stratum_covariates.experiment_metric_key,
        stratum_covariates.stratum_column,
        levels.pooled_value,
        {{ dbt.concat(["stratum_covariates.covariate", "'='", "levels.pooled_value"]) }} as term
    from stratum_covariates
    inner join (
        select
            experiment_id,
            stratum_column,
            pooled_value,
            row_number() over (
                partition by experiment_id, stratum_column order by pooled_value
            ) as level_rank
        from (
            select distinct
                experiment_id,
                stratum_column,
                pooled_value
            from pooled_values
        ) as distinct_levels
    ) as levels
        on stratum_covariates.experiment_id = levels.experiment_id
        and stratum_covariates.stratum_column = levels.stratum_column
    where levels.level_rank > 1

),

expanded_covariates as (

    select
        experiment_metric_key,
        metric_id,
        covariate as term
    from chosen_covariates
    where covariate not like 'stratum:%'

    union all

    select
        stratum_dummies.experiment_metric_key,
        registered_metrics.metric_id,
        stratum_dummies.term
    from stratum_dummies
    inner join registered_metrics
        on stratum_dummies.experiment_metric_key = registered_metrics.experiment_metric_key

),

covariate_terms as (

    -- Order: the metric's own pre-period first, then by name (the order in
    -- which collinear covariates are dropped).
    select
        experiment_metric_key,
        term,
        row_number() over (
            partition by experiment_metric_key
            order by
                case when term = {{ dbt.concat(["'pre:'", "metric_id"]) }} then 0 else 1 end,
                term
        ) as term_index
    from expanded_covariates

),

terms as (

    select
        experiment_metric_key,
        'metric' as term,
        0 as term_index
    from registered_metrics
    where aggregation <> 'ratio'
        and experiment_metric_key in (select experiment_metric_key from covariate_terms)

    union all

    select
        experiment_metric_key,
        term,
        term_index
    from covariate_terms

),

pre_sources as (

    -- pre:<metric_id> terms with the experiment metric their values come from.
    select
        covariate_terms.experiment_metric_key,
        covariate_terms.term_index,
        source_metrics.experiment_metric_key as source_key
    from covariate_terms
    inner join registered_metrics as target_metrics
        on covariate_terms.experiment_metric_key = target_metrics.experiment_metric_key
    inner join registered_metrics as source_metrics
        on target_metrics.experiment_id = source_metrics.experiment_id
        and covariate_terms.term = {{ dbt.concat(["'pre:'", "source_metrics.metric_id"]) }}
        and source_metrics.aggregation <> 'ratio'
        and source_metrics.has_covariate

),

attribute_values as (

    -- One row per usable unit x declared numeric attribute with a value.
    {%- if attributes %}
    {%- for row in attributes %}
    select
        unit_id,
        'attribute:{{ row["column_name"] }}' as term,
        cast({{ experimentation.unit_attribute_value(row) }} as {{ experimentation.type_double() }}) as value
    from units
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(unit_id as {{ dbt.type_string() }}) as unit_id,
        cast(null as {{ dbt.type_string() }}) as term,
        cast(null as {{ experimentation.type_double() }}) as value
    from units
    where 1 = 0
    {%- endif %}

),

unit_terms as (

    -- Unit-level values of every term; zeros and nulls omitted (they add 0).
    select
        unit_metrics.arm_key,
        unit_metrics.experiment_metric_key,
        unit_metrics.unit_id,
        0 as term_index,
        cast(unit_metrics.m as {{ experimentation.type_double() }}) as value
    from unit_metrics
    where unit_metrics.m <> 0
        and unit_metrics.experiment_metric_key in (select experiment_metric_key from covariate_terms)

    union all

    select
        unit_metrics.arm_key,
        pre_sources.experiment_metric_key,
        unit_metrics.unit_id,
        pre_sources.term_index,
        cast(unit_metrics.x as {{ experimentation.type_double() }}) as value
    from pre_sources
    inner join unit_metrics
        on pre_sources.source_key = unit_metrics.experiment_metric_key
    where unit_metrics.x <> 0

    union all

    select
        assignments.arm_key,
        covariate_terms.experiment_metric_key,
        assignments.unit_id,
        covariate_terms.term_index,
        attribute_values.value
    from covariate_terms
    inner join registered_metrics
        on covariate_terms.experiment_metric_key = registered_metrics.experiment_metric_key
    inner join assignments
        on registered_metrics.experiment_id = assignments.experiment_id
    inner join attribute_values
        on assignments.unit_id = attribute_values.unit_id
        and covariate_terms.term = attribute_values.term
    where attribute_values.value <> 0

    union all

    select
        unit_strata.arm_key,
        covariate_terms.experiment_metric_key,
        unit_strata.unit_id,
        covariate_terms.term_index,
        cast(1 as {{ experimentation.type_double() }}) as value
    from covariate_terms
    inner join stratum_dummies
        on covariate_terms.experiment_metric_key = stratum_dummies.experiment_metric_key
        and covariate_terms.term = stratum_dummies.term
    inner join registered_metrics
        on covariate_terms.experiment_metric_key = registered_metrics.experiment_metric_key
    inner join pooled_values
        on registered_metrics.experiment_id = pooled_values.experiment_id
        and stratum_dummies.stratum_column = pooled_values.stratum_column
        and stratum_dummies.pooled_value = pooled_values.pooled_value
    inner join unit_strata
        on pooled_values.experiment_id = unit_strata.experiment_id
        and pooled_values.stratum_column = unit_strata.stratum_column
        and pooled_values.stratum_value = unit_strata.stratum_value

),

term_scales as (

    select
        terms.experiment_metric_key,
        terms.term_index,
        {{ experimentation.exact_scale('max(abs(unit_terms.value))', bits) }} as term_scale
    from terms
    left join unit_terms
        on terms.experiment_metric_key = unit_terms.experiment_metric_key
        and terms.term_index = unit_terms.term_index
    group by terms.experiment_metric_key, terms.term_index

),

{{ experimentation.cross_product_sums('unit_terms', 'term_scales') }},

arm_sizes as (

    select
        arm_key,
        count(*) as n_units
    from assignments
    group by arm_key

),

term_pairs as (

    -- Every registered arm x metric x pair of its terms (-1: the constant).
    select
        arms.arm_key,
        arms.experiment_id,
        arms.variant,
        arms.is_control,
        left_terms.experiment_metric_key,
        left_terms.term_index as term_i_index,
        left_terms.term as term_i,
        right_terms.term_index as term_j_index,
        right_terms.term as term_j
    from arms
    inner join registered_metrics
        on arms.experiment_id = registered_metrics.experiment_id
    inner join terms as left_terms
        on registered_metrics.experiment_metric_key = left_terms.experiment_metric_key
    inner join (
        select
            experiment_metric_key,
            term,
            term_index
        from terms
        union all
        select distinct
            experiment_metric_key,
            '1' as term,
            -1 as term_index
        from terms
    ) as right_terms
        on left_terms.experiment_metric_key = right_terms.experiment_metric_key
        and (left_terms.term_index <= right_terms.term_index or right_terms.term_index = -1)

),

final as (

    select
        term_pairs.experiment_id,
        term_pairs.variant,
        registered_metrics.metric_id,
        term_pairs.is_control,
        coalesce(arm_sizes.n_units, 0) as n_units,
        term_pairs.term_i_index,
        term_pairs.term_i,
        term_pairs.term_j_index,
        term_pairs.term_j,
        cast(coalesce(cross_sums.exact_sum, 0) as {{ dbt.type_string() }}) as exact_sum,
        left_scales.term_scale as term_i_scale,
        coalesce(right_scales.term_scale, 1) as term_j_scale,
        {{ experimentation.unscaled_double('coalesce(cross_sums.exact_sum, 0)',
            ['left_scales.term_scale', 'coalesce(right_scales.term_scale, 1)']) }} as sum_value
    from term_pairs
    inner join registered_metrics
        on term_pairs.experiment_metric_key = registered_metrics.experiment_metric_key
    inner join term_scales as left_scales
        on term_pairs.experiment_metric_key = left_scales.experiment_metric_key
        and term_pairs.term_i_index = left_scales.term_index
    left join term_scales as right_scales
        on term_pairs.experiment_metric_key = right_scales.experiment_metric_key
        and term_pairs.term_j_index = right_scales.term_index
    left join arm_sizes
        on term_pairs.arm_key = arm_sizes.arm_key
    left join cross_sums
        on term_pairs.arm_key = cross_sums.arm_key
        and term_pairs.experiment_metric_key = cross_sums.experiment_metric_key
        and term_pairs.term_i_index = cross_sums.term_i_index
        and term_pairs.term_j_index = cross_sums.term_j_index

)

select * from final
