-- Per arm x metric x received_treatment cell sufficient statistics, for the
-- experiments whose exposures say whether the unit actually received the
-- treatment: the input of compliance_results (ITT, complier effect, per-protocol).
-- With a declared eligibility column (seeds/unit_attributes.csv), also the sums weighted by the inverse
-- probability of eligibility within the declared strata (role stratum).
-- Every sum is an exact integer (macros/exact_sums.sql), so reruns give the
-- same bits.
{%- set eligibility_column = experimentation.eligibility_column() %}
{%- set has_eligible = eligibility_column != '' %}
{%- set eligible = adapter.quote(eligibility_column) if has_eligible else '' %}
{%- set bits = experimentation.exact_sum_bits() %}
{%- set weight_parts = {
    'ipw_weight_sum': 'coalesce(ipw_weight, 0)',
    'ipw_weight_sq_sum': 'coalesce(ipw_weight * ipw_weight, 0)',
} %}
{%- set cell_parts = {
    'metric_sum': 'unit_metrics.m',
    'ipw_weighted_sum': 'coalesce(analysed.ipw_weight * unit_metrics.m, 0)',
    'ipw_weight_sq_weighted_sum': 'coalesce(analysed.ipw_weight * analysed.ipw_weight * unit_metrics.m, 0)',
    'ipw_weight_sq_weighted_sum_squares':
        'coalesce(analysed.ipw_weight * analysed.ipw_weight * unit_metrics.m * unit_metrics.m, 0)',
} %}
{%- set strata = experimentation.eligibility_strata() %}

with

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

unit_metrics as (

    select * from {{ ref('int_unit_metrics_capped') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

units as (

    select * from {{ ref('stg_raw__units') }}
    where reason_code is null

),

compliance_experiments as (

    -- Experiments with at least one analysed unit whose uptake is known.
    select experiment_id
    from assignments
    group by experiment_id
    having count(received_treatment) > 0

),

population as (

    -- Units with a known eligibility: the population the weighted estimate
    -- speaks for, each in its stratum of observed attributes.
    select
        unit_id,
        {%- if has_eligible %}
        case
            when {{ experimentation.try_cast(eligible, dbt.type_boolean()) }} then 1
            when not {{ experimentation.try_cast(eligible, dbt.type_boolean()) }} then 0
        end as is_eligible,
        {%- else %}
        cast(null as {{ dbt.type_int() }}) as is_eligible,
        {%- endif %}
        {%- if strata %}
        {%- set parts = [] %}
        {%- for stratum in strata %}
            {%- set column = adapter.quote(stratum['column']) %}
            {%- if stratum.get('bins') %}
                {#- Quantile group 1..bins of the value, ties kept together:
                    ceil(bins x (units with a value <= this one) / units with a
                    value), in exact integer arithmetic. -#}
                {%- set is_null = "case when " ~ column ~ " is null then 1 else 0 end" %}
                {%- set at_or_below = "count(*) over (partition by " ~ is_null ~ " order by " ~ column ~ ")" %}
                {%- set with_value = "count(*) over (partition by " ~ is_null ~ ")" %}
                {%- do parts.append("case when " ~ column ~ " is null then '(missing)' else cast(cast(floor((cast("
                    ~ at_or_below ~ " as " ~ experimentation.type_double() ~ ") * " ~ stratum['bins'] ~ " - 1) / "
                    ~ with_value ~ ") as " ~ dbt.type_bigint() ~ ") + 1 as " ~ dbt.type_string() ~ ") end") %}
            {%- else %}
                {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '(missing)')") %}
            {%- endif %}
            {%- if not loop.last %}{%- do parts.append("'|'") %}{%- endif %}
        {%- endfor %}
        {{ dbt.concat(parts) }} as stratum
        {%- else %}
        '(all)' as stratum
        {%- endif %}
    from units
    {%- if has_eligible %}
    where {{ experimentation.try_cast(eligible, dbt.type_boolean()) }} is not null
    {%- else %}
    where 1 = 0
    {%- endif %}

),

strata as (

    -- P(eligible | stratum) = eligible_units / population_units; its inverse
    -- is the weight of an eligible unit of the stratum.
    select
        stratum,
        count(*) as population_units,
        sum(is_eligible) as eligible_units,
        case
            when sum(is_eligible) > 0
                then cast(count(*) as {{ experimentation.type_double() }}) / sum(is_eligible)
        end as ipw_weight
    from population
    group by stratum

),

analysed as (

    select
        assignments.experiment_id,
        assignments.unit_id,
        assignments.arm_key,
        assignments.received_treatment,
        population.is_eligible,
        population.stratum,
        case when population.is_eligible = 1 then strata.ipw_weight end as ipw_weight
    from assignments
    inner join compliance_experiments
        on assignments.experiment_id = compliance_experiments.experiment_id
    left join population
        on assignments.unit_id = population.unit_id
    left join strata
        on population.stratum = strata.stratum

),

coverage as (

    -- Population units in strata where the experiment has weighted units: the
    -- part of the population the weighted estimate can speak for.
    select
        covered.experiment_id,
        sum(strata.population_units) as covered_population_units
    from (
        select distinct
            experiment_id,
            stratum
        from analysed
        where ipw_weight is not null
    ) as covered
    inner join strata
        on covered.stratum = strata.stratum
    group by covered.experiment_id

),

population_totals as (

    select
        sum(population_units) as population_units,
        sum(eligible_units) as eligible_population_units
    from strata

),

weight_scales as (

    -- One power of 2 per weight sum, from the largest term.
    select
        {%- for column, term in weight_parts.items() %}
        {{ experimentation.exact_scale('max(abs(' ~ term ~ '))', experimentation.event_sum_bits()) }}
            as {{ column }}_scale{{ ',' if not loop.last }}
        {%- endfor %}
    from analysed

),

cell_sizes as (

    select
        analysed.arm_key,
        analysed.received_treatment,
        count(*) as n_units,
        sum(case when analysed.is_eligible = 1 then 1 else 0 end) as eligible_units,
        {%- for column, term in weight_parts.items() %}
        {{ experimentation.unscaled_double(
            experimentation.exact_sum(experimentation.scaled_integer(term, 'weight_scales.' ~ column ~ '_scale')),
            ['weight_scales.' ~ column ~ '_scale']) }} as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from analysed
    cross join weight_scales
    group by
        {%- for column in weight_parts %}
        weight_scales.{{ column }}_scale,
        {%- endfor %}
        analysed.arm_key,
        analysed.received_treatment

),

cell_scales as (

    -- One power of 2 per registered metric and sum, from its largest term
    -- (squares: the metric's scale, squared, in an exact product).
    select
        unit_metrics.experiment_metric_key,
        {%- for column, term in cell_parts.items() %}
        {{ experimentation.exact_scale('max(abs(' ~ term ~ '))',
            bits if column == 'metric_sum' else experimentation.event_sum_bits()) }}
            as {{ column }}_scale{{ ',' if not loop.last }}
        {%- endfor %}
    from unit_metrics
    inner join analysed
        on unit_metrics.unit_id = analysed.unit_id
        and unit_metrics.arm_key = analysed.arm_key
    group by unit_metrics.experiment_metric_key

),

cell_sums as (

    select
        analysed.arm_key,
        analysed.received_treatment,
        unit_metrics.experiment_metric_key,
        {%- set metric_integer = experimentation.scaled_integer('unit_metrics.m', 'cell_scales.metric_sum_scale') %}
        {%- for column, term in cell_parts.items() %}
        {{ experimentation.unscaled_double(
            experimentation.exact_sum(experimentation.scaled_integer(term, 'cell_scales.' ~ column ~ '_scale')),
            ['cell_scales.' ~ column ~ '_scale']) }} as {{ column }},
        {%- endfor %}
        {{ experimentation.unscaled_double(
            experimentation.exact_sum(experimentation.exact_product(metric_integer, metric_integer)),
            ['cell_scales.metric_sum_scale', 'cell_scales.metric_sum_scale']) }} as metric_sum_squares
    from unit_metrics
    inner join analysed
        on unit_metrics.unit_id = analysed.unit_id
        and unit_metrics.arm_key = analysed.arm_key
    inner join cell_scales
        on unit_metrics.experiment_metric_key = cell_scales.experiment_metric_key
    group by
        {%- for column in cell_parts %}
        cell_scales.{{ column }}_scale,
        {%- endfor %}
        analysed.arm_key,
        analysed.received_treatment,
        unit_metrics.experiment_metric_key

),

final as (

    -- Every registered metric x cell with units; units without events count
    -- as zeros.
    select
        arms.experiment_id,
        arms.variant,
        registered_metrics.metric_id,
        arms.is_control,
        registered_metrics.aggregation,
        cell_sizes.received_treatment,
        cell_sizes.n_units,
        cast(coalesce(cell_sums.metric_sum, 0) as {{ experimentation.type_double() }}) as metric_sum,
        cast(
            coalesce(cell_sums.metric_sum_squares, 0) as {{ experimentation.type_double() }}
        ) as metric_sum_squares,
        cast(cell_sizes.eligible_units as {{ dbt.type_bigint() }}) as eligible_units,
        cast(cell_sizes.ipw_weight_sum as {{ experimentation.type_double() }}) as ipw_weight_sum,
        cast(
            coalesce(cell_sums.ipw_weighted_sum, 0) as {{ experimentation.type_double() }}
        ) as ipw_weighted_sum,
        cast(cell_sizes.ipw_weight_sq_sum as {{ experimentation.type_double() }}) as ipw_weight_sq_sum,
        cast(
            coalesce(cell_sums.ipw_weight_sq_weighted_sum, 0) as {{ experimentation.type_double() }}
        ) as ipw_weight_sq_weighted_sum,
        cast(
            coalesce(cell_sums.ipw_weight_sq_weighted_sum_squares, 0) as {{ experimentation.type_double() }}
        ) as ipw_weight_sq_weighted_sum_squares,
        cast(coalesce(population_totals.population_units, 0) as {{ dbt.type_bigint() }}) as population_units,
        cast(coalesce(population_totals.eligible_population_units, 0) as {{ dbt.type_bigint() }})
            as eligible_population_units,
        cast(coalesce(coverage.covered_population_units, 0) as {{ dbt.type_bigint() }})
            as covered_population_units
    from cell_sizes
    inner join arms
        on cell_sizes.arm_key = arms.arm_key
    inner join registered_metrics
        on arms.experiment_id = registered_metrics.experiment_id
    left join cell_sums
        on cell_sizes.arm_key = cell_sums.arm_key
        and registered_metrics.experiment_metric_key = cell_sums.experiment_metric_key
        and {{ experimentation.null_safe_equal('cell_sizes.received_treatment', 'cell_sums.received_treatment') }}
    left join coverage
        on arms.experiment_id = coverage.experiment_id
    cross join population_totals

)

select * from final
