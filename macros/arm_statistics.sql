{% macro ratio_statistic_columns() -%}
    {#- The sufficient statistics that only ratio metrics have (null otherwise). -#}
    {{ return([
        'denominator_sum', 'denominator_sum_squares', 'metric_denominator_sum_product',
        'covariate_denominator_sum', 'covariate_denominator_sum_squares',
        'covariate_covariate_denominator_sum_product', 'metric_covariate_denominator_sum_product',
        'denominator_covariate_sum_product', 'denominator_covariate_denominator_sum_product',
    ]) }}
{%- endmacro %}

{% macro sufficient_statistic_sums() -%}
    {#- Aggregates over unit rows with columns m (metric), x (its pre-period
        covariate), d (a ratio's denominator) and w (its pre-period), joined to
        their int_metric_shifts row: every sum the statistics package needs,
        as exact integers (macros/exact_sums.sql): each value times its
        scale, rounded, so the sums do not depend on the order rows are added
        in. filled_sufficient_statistics turns them into DOUBLEs. -#}
    {%- set scales = experimentation.statistic_scale_columns() %}
    {%- set shifts = experimentation.shift_columns() %}
    {%- for column, variables in experimentation.shifted_statistic_terms() %}
    {%- set parts = [] %}
    {%- for variable in variables %}
        {%- do parts.append(experimentation.scaled_integer(variable, scales[variable])) %}
    {%- endfor %}
    {{ experimentation.exact_sum(parts[0] if parts | length == 1 else experimentation.exact_product(parts[0], parts[1])) }}
        as {{ column }},
    {%- endfor %}
    {#- The same sums of the values minus their shift, over the units with a
        row; filled_sufficient_statistics adds the units without one. #}
    count(*) as units_with_values,
    {%- for column, variables in experimentation.shifted_statistic_terms() %}
    {%- set parts = [] %}
    {%- for variable in variables %}
        {%- do parts.append(experimentation.scaled_integer(
            '(' ~ variable ~ ' - ' ~ shifts[variable] ~ ')', experimentation.shifted_scale_columns()[variable])) %}
    {%- endfor %}
    {{ experimentation.exact_sum(parts[0] if parts | length == 1 else experimentation.exact_product(parts[0], parts[1])) }}
        as {{ column }}_shifted{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro statistic_variable_prefixes() -%}
    {#- The column prefix of each unit-level variable in int_metric_shifts. -#}
    {{ return({'m': 'metric', 'x': 'covariate', 'd': 'denominator', 'w': 'covariate_denominator'}) }}
{%- endmacro %}

{% macro statistic_scale_columns() -%}
    {#- The power-of-2 scale of each unit-level variable in the exact raw sums
        (columns of int_metric_shifts). -#}
    {%- set scales = {} %}
    {%- for variable, prefix in experimentation.statistic_variable_prefixes().items() %}
        {%- do scales.update({variable: prefix ~ '_scale'}) %}
    {%- endfor %}
    {{ return(scales) }}
{%- endmacro %}

{% macro shifted_scale_columns() -%}
    {#- The power-of-2 scale of each shifted variable (v - its shift) in the
        exact shifted sums (columns of int_metric_shifts). -#}
    {%- set scales = {} %}
    {%- for variable, prefix in experimentation.statistic_variable_prefixes().items() %}
        {%- do scales.update({variable: prefix ~ '_shifted_scale'}) %}
    {%- endfor %}
    {{ return(scales) }}
{%- endmacro %}

{% macro shift_columns() -%}
    {#- The shift of each unit-level variable (columns of int_metric_shifts). -#}
    {{ return({
        'm': 'metric_shift', 'x': 'covariate_shift',
        'd': 'denominator_shift', 'w': 'covariate_denominator_shift',
    }) }}
{%- endmacro %}

{% macro shifted_statistic_terms() -%}
    {#- Each sufficient statistic with the variables it multiplies, in
        contract order: metric_sum is sum(m), metric_covariate_sum_product is
        sum(m * x), ... Its shifted version sums the product of (v - shift_v). -#}
    {{ return([
        ('metric_sum', ['m']), ('metric_sum_squares', ['m', 'm']),
        ('covariate_sum', ['x']), ('covariate_sum_squares', ['x', 'x']),
        ('metric_covariate_sum_product', ['m', 'x']),
        ('denominator_sum', ['d']), ('denominator_sum_squares', ['d', 'd']),
        ('metric_denominator_sum_product', ['m', 'd']),
        ('covariate_denominator_sum', ['w']), ('covariate_denominator_sum_squares', ['w', 'w']),
        ('covariate_covariate_denominator_sum_product', ['x', 'w']),
        ('metric_covariate_denominator_sum_product', ['m', 'w']),
        ('denominator_covariate_sum_product', ['d', 'x']),
        ('denominator_covariate_denominator_sum_product', ['d', 'w']),
    ]) }}
{%- endmacro %}

{% macro filled_sufficient_statistics(sums_relation, aggregation_column, shifts_relation, n_units) -%}
    {#- The exact sums of sums_relation as doubles (divided by the scales of
        shifts_relation), 0 when the arm had no events;
        ratio-only sums null for non-ratio metrics. Then the shifts of
        shifts_relation and the shifted sums over all n_units units: a unit
        without a row in int_unit_metrics_pivoted has values 0, so it adds
        (0 - shift) to a shifted sum and the product of the shifts to a
        shifted product. -#}
    {%- set ratio_only = experimentation.ratio_statistic_columns() %}
    {%- set raw_scales = experimentation.statistic_scale_columns() %}
    {%- set shifted_scales = experimentation.shifted_scale_columns() %}
    {%- for column, variables in experimentation.shifted_statistic_terms() %}
    {%- set scales = [] %}
    {%- for variable in variables %}
        {%- do scales.append(shifts_relation ~ '.' ~ raw_scales[variable]) %}
    {%- endfor %}
    {%- set value = experimentation.unscaled_double('coalesce(' ~ sums_relation ~ '.' ~ column ~ ', 0)', scales) %}
    {%- if column in ratio_only %}
    case
        when {{ aggregation_column }} = 'ratio'
            then {{ value }}
    end as {{ column }},
    {%- else %}
    {{ value }} as {{ column }},
    {%- endif %}
    {%- endfor %}
    {%- for variable, shift in experimentation.shift_columns().items() %}
    {%- if variable in ('d', 'w') %}
    case
        when {{ aggregation_column }} = 'ratio'
            then cast({{ shifts_relation }}.{{ shift }} as {{ experimentation.type_double() }})
    end as {{ shift }},
    {%- else %}
    cast({{ shifts_relation }}.{{ shift }} as {{ experimentation.type_double() }}) as {{ shift }},
    {%- endif %}
    {%- endfor %}
    {%- for column, variables in experimentation.shifted_statistic_terms() %}
    {%- set absent_units = '(' ~ n_units ~ ' - coalesce(' ~ sums_relation ~ '.units_with_values, 0))' %}
    {%- set parts = [] %}
    {%- for variable in variables %}
        {%- do parts.append(shifts_relation ~ '.' ~ experimentation.shift_columns()[variable]) %}
    {%- endfor %}
    {%- set absent_term = ('-' ~ parts[0]) if variables | length == 1 else (parts | join(' * ')) %}
    {%- set scales = [] %}
    {%- for variable in variables %}
        {%- do scales.append(shifts_relation ~ '.' ~ shifted_scales[variable]) %}
    {%- endfor %}
    {%- set filled = 'cast(' ~ experimentation.unscaled_double(
        'coalesce(' ~ sums_relation ~ '.' ~ column ~ '_shifted, 0)', scales) ~ ' + '
        ~ absent_units ~ ' * (' ~ absent_term ~ ') as ' ~ experimentation.type_double() ~ ')' %}
    {%- if column in ratio_only %}
    case
        when {{ aggregation_column }} = 'ratio'
            then {{ filled }}
    end as {{ column }}_shifted{{ ',' if not loop.last }}
    {%- else %}
    {{ filled }} as {{ column }}_shifted{{ ',' if not loop.last }}
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{% macro arm_mean() -%}
    {#- metric_sum / n_units, or metric_sum / denominator_sum for ratio
        metrics; null when the divisor is 0. -#}
    case
        when aggregation = 'ratio' and denominator_sum <> 0
            then metric_sum / denominator_sum
        when aggregation <> 'ratio' and n_units > 0
            then metric_sum / n_units
    end
{%- endmacro %}

{% macro arm_variance(suffix='') -%}
    {#- Sample variance (ddof = 1) of the unit values from their sums; for ratio
        metrics the delta-method unit-level variance
        (var_m - 2 r cov_md + r^2 var_d) / dbar^2. Null when n_units < 2.
        Clamped at 0 against rounding. suffix '_shifted' takes the second
        moments from the shifted sums (the spread does not depend on the
        shift, and shifted sums do not cancel when the mean is large). -#}
    {%- set s = suffix %}
    {%- set var_m = '(metric_sum_squares' ~ s ~ ' - metric_sum' ~ s ~ ' * metric_sum' ~ s ~ ' / n_units) / (n_units - 1)' %}
    {%- set var_d = '(denominator_sum_squares' ~ s ~ ' - denominator_sum' ~ s ~ ' * denominator_sum' ~ s ~ ' / n_units) / (n_units - 1)' %}
    {%- set cov_md = '(metric_denominator_sum_product' ~ s ~ ' - metric_sum' ~ s ~ ' * denominator_sum' ~ s ~ ' / n_units) / (n_units - 1)' %}
    {%- set r = '(metric_sum / denominator_sum)' %}
    {%- set dbar = '(denominator_sum / n_units)' %}
    case
        when aggregation = 'ratio' and n_units > 1 and denominator_sum <> 0
            then greatest(
                ({{ var_m }} - 2 * {{ r }} * {{ cov_md }} + {{ r }} * {{ r }} * {{ var_d }})
                / ({{ dbar }} * {{ dbar }}),
                0
            )
        when aggregation <> 'ratio' and n_units > 1
            then greatest({{ var_m }}, 0)
    end
{%- endmacro %}

{% macro arm_statistic_columns(with_moments=true) -%}
    {#- The public statistic columns of the arm_metrics family, in contract
        order, from a relation with n_units, aggregation and the filled sums. -#}
    n_units,
    {%- if with_moments %}
    {{ experimentation.arm_mean() }} as mean,
    {{ experimentation.arm_variance('_shifted') }} as variance,
    {%- endif %}
    metric_sum,
    metric_sum_squares,
    covariate_sum,
    covariate_sum_squares,
    metric_covariate_sum_product,
    {{ experimentation.ratio_statistic_columns() | join(',\n    ') }},
    {{ experimentation.shift_columns().values() | join(',\n    ') }},
    {%- for column, variables in experimentation.shifted_statistic_terms() %}
    {{ column }}_shifted{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro value_shift(mean, sd, minimum, n_values) -%}
    {#- A central value of a unit-level variable, subtracted before squaring:
        the mean floored to a power-of-2 grid no coarser than the sd (so the
        shifted values have spread about 1 sd around a mean within 1 sd of 0),
        or the minimum when the values are all equal; 0 with no values. The
        grid makes it the same number in every rerun, although parallel
        floating-point sums are not: only a mean within its rounding error of
        a grid line could differ. -#}
    {%- set step = 'power(2, floor(ln(greatest(' ~ sd ~ ', abs(' ~ mean ~ ') * 1e-12)) / ln(2)))' %}
    cast(coalesce(
        case
            when {{ n_values }} > 1 and {{ sd }} > 0
                then floor({{ mean }} / {{ step }}) * {{ step }}
            else {{ minimum }}
        end,
        0
    ) as {{ experimentation.type_double() }})
{%- endmacro %}
