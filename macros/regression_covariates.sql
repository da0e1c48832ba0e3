{#- The regression adjustment's covariates (seeds/experiment_metric_covariates.csv)
    and its per-arm cross-product sums (int_regression_cross_products). -#}

{% macro regression_attribute_names() -%}
    {#- The numeric unit attributes a covariate row may name (attribute:<column>):
        the usable declared covariates and predictions, each column once, in
        file order. -#}
    {%- set names = [] -%}
    {%- for row in experimentation.unit_attributes('covariate') + experimentation.unit_attributes('prediction') -%}
        {%- if row['column_name'] not in names -%}
            {%- do names.append(row['column_name']) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{% macro regression_attribute_rows() -%}
    {#- The declared rows behind regression_attribute_names (the first row of
        each column), for their data types. -#}
    {%- set rows = [] -%}
    {%- set names = [] -%}
    {%- for row in experimentation.unit_attributes('covariate') + experimentation.unit_attributes('prediction') -%}
        {%- if row['column_name'] not in names -%}
            {%- do names.append(row['column_name']) -%}
            {%- do rows.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}

{% macro regression_stratum_rows() -%}
    {#- The categorical unit attributes a covariate row may post-stratify on
        (stratum:<column>): the usable declared dimensions and strata that are
        not doubles, each column once, in file order. -#}
    {%- set rows = [] -%}
    {%- set names = [] -%}
    {%- for row in experimentation.unit_attributes('dimension') + experimentation.unit_attributes('stratum') -%}
        {%- if row['column_name'] not in names and row['data_type'] != 'double' -%}
            {%- do names.append(row['column_name']) -%}
            {%- do rows.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}

{% macro regression_stratum_min_units() -%}
    {#- A stratum value with fewer units than this in any arm of the experiment
        is pooled with the other such values into one stratum '(pooled)'. -#}
    {{ return(10) }}
{%- endmacro %}

{% macro regression_covariate_problems() -%}
    {#- The problem rows (seed_file, row_key, problem, fix) of
        seeds/experiment_metric_covariates.csv, as a select for
        registry_problems: an experiment metric not registered, a ratio metric,
        an unknown kind, a pre-period of a metric not registered for the
        experiment (or a ratio, or with cuped_lookback_days 0), an attribute
        not declared as a numeric covariate or prediction, a duplicate row. -#}
    {%- set attributes = experimentation.regression_attribute_names() -%}
    {%- set strata = [] -%}
    {%- for row in experimentation.regression_stratum_rows() -%}
        {%- do strata.append(row['column_name']) -%}
    {%- endfor -%}
    {%- set stratum_id = "lower(substr(covariates.covariate, 9))" -%}
    {%- set key = dbt.concat(["'experiment_id = '", "coalesce(covariates.experiment_id, '')",
        "', metric_id = '", "coalesce(covariates.metric_id, '')",
        "', covariate = '", "coalesce(covariates.covariate, '')"]) -%}
    {%- set file = "'seeds/experiment_metric_covariates.csv'" -%}
    {%- set pre_id = "substr(covariates.covariate, 5)" -%}
    {%- set attribute_id = "lower(substr(covariates.covariate, 11))" -%}
    select
        {{ file }} as seed_file,
        {{ key }} as row_key,
        'the experiment metric is not registered in seeds/experiment_metrics.csv' as problem,
        'Register the metric for the experiment, or correct experiment_id and metric_id.' as fix
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    left join {{ ref('stg_registry__experiment_metrics') }} as experiment_metrics
        on covariates.experiment_id = experiment_metrics.experiment_id
        and covariates.metric_id = experiment_metrics.metric_id
    where experiment_metrics.metric_id is null

    union all

    select
        {{ file }},
        {{ key }},
        'a ratio metric cannot be regression-adjusted (its CUPED uses its own pre-period ratio)',
        'Delete the row: ratio metrics keep their CUPED adjustment.'
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    inner join {{ ref('stg_registry__metrics') }} as metrics
        on covariates.metric_id = metrics.metric_id
    where metrics.aggregation = 'ratio'

    union all

    select
        {{ file }},
        {{ key }},
        {{ dbt.concat(["'unknown covariate '''", "coalesce(covariates.covariate, '')", "''''"]) }},
        'Write pre:<metric_id>, attribute:<column> or stratum:<column>.'
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    where covariates.covariate is null
        or not (
            (covariates.covariate like 'pre:%' and length(covariates.covariate) > 4)
            or (covariates.covariate like 'attribute:%' and length(covariates.covariate) > 10)
            or (covariates.covariate like 'stratum:%' and length(covariates.covariate) > 8)
        )

    union all

    select
        {{ file }},
        {{ key }},
        {{ dbt.concat(["'metric '''", pre_id,
            "''' has no pre-period value for this experiment (not registered for it, a ratio, or cuped_lookback_days is 0)'"]) }},
        'Register the metric for the experiment in seeds/experiment_metrics.csv (not a ratio), set cuped_lookback_days in seeds/experiments.csv, or delete the row.'
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    left join (
        select experiment_metrics.experiment_id, experiment_metrics.metric_id
        from {{ ref('stg_registry__experiment_metrics') }} as experiment_metrics
        inner join {{ ref('stg_registry__metrics') }} as metrics
            on experiment_metrics.metric_id = metrics.metric_id
        inner join {{ ref('stg_registry__experiments') }} as experiments
            on experiment_metrics.experiment_id = experiments.experiment_id
        where metrics.aggregation <> 'ratio'
            and coalesce(experiments.cuped_lookback_days, 0) > 0
    ) as source_metrics
        on covariates.experiment_id = source_metrics.experiment_id
        and {{ pre_id }} = source_metrics.metric_id
    where covariates.covariate like 'pre:%'
        and length(covariates.covariate) > 4
        and source_metrics.metric_id is null

    union all

    select
        {{ file }},
        {{ key }},
        {{ dbt.concat(["'unit attribute '''", attribute_id,
            "''' is not declared as a numeric covariate or prediction (usable: " ~ (attributes | join(', ') or 'none') ~ ")'"]) }},
        'Declare the column in seeds/unit_attributes.csv with role covariate or prediction and data_type double or bigint, or correct the name.'
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    where covariates.covariate like 'attribute:%'
        and length(covariates.covariate) > 10
        {%- if attributes %}
        and {{ attribute_id }} not in ('{{ attributes | join("', '") }}')
        {%- endif %}

    union all

    select
        {{ file }},
        {{ key }},
        {{ dbt.concat(["'unit attribute '''", stratum_id,
            "''' is not declared as a categorical dimension or stratum (usable: " ~ (strata | join(', ') or 'none') ~ ")'"]) }},
        'Declare the column in seeds/unit_attributes.csv with role dimension or stratum and data_type string, bigint or boolean, or correct the name.'
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    where covariates.covariate like 'stratum:%'
        and length(covariates.covariate) > 8
        {%- if strata %}
        and {{ stratum_id }} not in ('{{ strata | join("', '") }}')
        {%- endif %}

    union all

    select
        {{ file }},
        {{ key }},
        {{ dbt.concat(["'the row appears '", "cast(count(*) as " ~ dbt.type_string() ~ ")", "' times'"]) }},
        'Keep one row per experiment, metric and covariate.'
    from {{ ref('stg_registry__experiment_metric_covariates') }} as covariates
    group by covariates.experiment_id, covariates.metric_id, covariates.covariate
    having count(*) > 1
{%- endmacro %}

{% macro cross_product_sums(terms_relation, scales_relation) -%}
    {#- Exact per-arm sums of the regression terms and of their pairwise
        products, in long form: from terms_relation (arm_key,
        experiment_metric_key, unit_id, term_index, value; zeros may be
        omitted) and scales_relation (experiment_metric_key, term_index,
        term_scale: a power of 2 from the term's largest magnitude,
        macros/exact_sums.sql). One row per arm x metric x term_i <= term_j
        with a unit holding both; term_j_index -1 is the constant 1, so those
        rows are the plain sums. The sums are integers (value x scale,
        rounded) added exactly, so they do not depend on row order. -#}
    {%- set scaled = experimentation.scaled_integer('terms.value', 'scales.term_scale') %}
    scaled as (

        select
            terms.arm_key,
            terms.experiment_metric_key,
            terms.unit_id,
            terms.term_index,
            {{ scaled }} as scaled_value
        from {{ terms_relation }} as terms
        inner join {{ scales_relation }} as scales
            on terms.experiment_metric_key = scales.experiment_metric_key
            and terms.term_index = scales.term_index

    ),

    single_sums as (

        select
            arm_key,
            experiment_metric_key,
            term_index as term_i_index,
            -1 as term_j_index,
            {{ experimentation.exact_sum('scaled_value') }} as exact_sum
        from scaled
        group by arm_key, experiment_metric_key, term_index

    ),

    product_sums as (

        select
            left_terms.arm_key,
            left_terms.experiment_metric_key,
            left_terms.term_index as term_i_index,
            right_terms.term_index as term_j_index,
            {{ experimentation.exact_sum(experimentation.exact_product(
                'left_terms.scaled_value', 'right_terms.scaled_value')) }} as exact_sum
        from scaled as left_terms
        inner join scaled as right_terms
            on left_terms.unit_id = right_terms.unit_id
            and left_terms.arm_key = right_terms.arm_key
            and left_terms.experiment_metric_key = right_terms.experiment_metric_key
            and left_terms.term_index <= right_terms.term_index
        group by
            left_terms.arm_key,
            left_terms.experiment_metric_key,
            left_terms.term_index,
            right_terms.term_index

    ),

    cross_sums as (

        select * from single_sums
        union all
        select * from product_sums

    )
{%- endmacro %}
