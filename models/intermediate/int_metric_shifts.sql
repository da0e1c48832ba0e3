-- One row per experiment x registered metric: the shift subtracted from each
-- unit value before the arm_metrics family sums its squares and products, so a
-- large mean with a small spread loses no digits, and the powers of 2 that
-- make the family's sums exact integers (macros/exact_sums.sql). One shift and
-- one scale serve every arm, day, segment and compliance cell, so the sums add
-- up across them. Every figure here comes from exact sums, min and max, so
-- every rerun gives the same bits.
{%- set bits = experimentation.exact_sum_bits() %}
{%- set variables = experimentation.shift_columns() %}
{%- set prefixes = experimentation.statistic_variable_prefixes() %}
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_capped') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

ranges as (

    -- Over the units with a row (the others are 0 and add spread of their own).
    select
        experiment_metric_key,
        count(*) as n_values,
        {%- for variable in variables %}
        min({{ variable }}) as {{ prefixes[variable] }}_min,
        max({{ variable }}) as {{ prefixes[variable] }}_max{{ ',' if not loop.last }}
        {%- endfor %}
    from unit_metrics
    group by experiment_metric_key

),

scales as (

    select
        *,
        {%- for variable in variables %}
        {%- set prefix = prefixes[variable] %}
        {{ experimentation.exact_scale(
            'greatest(abs(' ~ prefix ~ '_min), abs(' ~ prefix ~ '_max))', bits) }} as {{ prefix }}_scale
            {{- ',' if not loop.last }}
        {%- endfor %}
    from ranges

),

value_sums as (

    select
        unit_metrics.experiment_metric_key,
        {%- for variable in variables %}
        {%- set prefix = prefixes[variable] %}
        {{ experimentation.exact_sum(experimentation.scaled_integer(
            'unit_metrics.' ~ variable, 'scales.' ~ prefix ~ '_scale')) }} as {{ prefix }}_scaled_sum
            {{- ',' if not loop.last }}
        {%- endfor %}
    from unit_metrics
    inner join scales
        on unit_metrics.experiment_metric_key = scales.experiment_metric_key
    group by unit_metrics.experiment_metric_key

),

means as (

    select
        scales.*,
        {%- for variable in variables %}
        {%- set prefix = prefixes[variable] %}
        {{ experimentation.unscaled_double('value_sums.' ~ prefix ~ '_scaled_sum', ['scales.' ~ prefix ~ '_scale']) }}
            / scales.n_values as {{ prefix }}_mean{{ ',' if not loop.last }}
        {%- endfor %}
    from scales
    inner join value_sums
        on scales.experiment_metric_key = value_sums.experiment_metric_key

),

deviation_sums as (

    -- Exact sums of squared deviations from the mean (rounded to the
    -- scale's grid).
    select
        unit_metrics.experiment_metric_key,
        {%- for variable in variables %}
        {%- set prefix = prefixes[variable] %}
        {%- set deviation = experimentation.scaled_integer('unit_metrics.' ~ variable, 'means.' ~ prefix ~ '_scale')
            ~ ' - ' ~ experimentation.scaled_integer('means.' ~ prefix ~ '_mean', 'means.' ~ prefix ~ '_scale') %}
        {{ experimentation.exact_sum(experimentation.exact_product(deviation, deviation)) }}
            as {{ prefix }}_scaled_squared_deviations{{ ',' if not loop.last }}
        {%- endfor %}
    from unit_metrics
    inner join means
        on unit_metrics.experiment_metric_key = means.experiment_metric_key
    group by unit_metrics.experiment_metric_key

),

spreads as (

    -- Sample standard deviations.
    select
        means.*,
        {%- for variable in variables %}
        {%- set prefix = prefixes[variable] %}
        case
            when means.n_values > 1
                then sqrt({{ experimentation.unscaled_double(
                    'deviation_sums.' ~ prefix ~ '_scaled_squared_deviations',
                    ['means.' ~ prefix ~ '_scale', 'means.' ~ prefix ~ '_scale']) }} / (means.n_values - 1))
        end as {{ prefix }}_sd{{ ',' if not loop.last }}
        {%- endfor %}
    from means
    inner join deviation_sums
        on means.experiment_metric_key = deviation_sums.experiment_metric_key

),

shifted as (

    select
        *,
        {%- for variable, shift in variables.items() %}
        {%- set prefix = prefixes[variable] %}
        {{ experimentation.value_shift(
            prefix ~ '_mean', prefix ~ '_sd', prefix ~ '_min', 'n_values',
        ) }} as {{ shift }}{{ ',' if not loop.last }}
        {%- endfor %}
    from spreads

),

final as (

    select
        registered_metrics.experiment_metric_key,
        {%- for variable, shift in variables.items() %}
        coalesce(shifted.{{ shift }}, 0) as {{ shift }},
        {%- endfor %}
        {%- for variable in variables %}
        {%- set prefix = prefixes[variable] %}
        coalesce(shifted.{{ prefix }}_scale, 1) as {{ prefix }}_scale,
        -- The largest shifted value is at the minimum or the maximum.
        coalesce({{ experimentation.exact_scale(
            'greatest(abs(shifted.' ~ prefix ~ '_min - shifted.' ~ variables[variable]
            ~ '), abs(shifted.' ~ prefix ~ '_max - shifted.' ~ variables[variable] ~ '))', bits) }}, 1)
            as {{ prefix }}_shifted_scale{{ ',' if not loop.last }}
        {%- endfor %}
    from registered_metrics
    left join shifted
        on registered_metrics.experiment_metric_key = shifted.experiment_metric_key

)

select * from final
