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
        covariate), d (a ratio's denominator) and w (its pre-period): every sum
        the statistics package needs. -#}
    sum(m) as metric_sum,
    sum(m * m) as metric_sum_squares,
    sum(x) as covariate_sum,
    sum(x * x) as covariate_sum_squares,
    sum(m * x) as metric_covariate_sum_product,
    sum(d) as denominator_sum,
    sum(d * d) as denominator_sum_squares,
    sum(m * d) as metric_denominator_sum_product,
    sum(w) as covariate_denominator_sum,
    sum(w * w) as covariate_denominator_sum_squares,
    sum(x * w) as covariate_covariate_denominator_sum_product,
    sum(m * w) as metric_covariate_denominator_sum_product,
    sum(d * x) as denominator_covariate_sum_product,
    sum(d * w) as denominator_covariate_denominator_sum_product
{%- endmacro %}

{% macro filled_sufficient_statistics(sums_relation, aggregation_column) -%}
    {#- The sums of sums_relation as doubles, 0 when the arm had no events;
        ratio-only sums null for non-ratio metrics. -#}
    {%- for column in ['metric_sum', 'metric_sum_squares', 'covariate_sum',
                       'covariate_sum_squares', 'metric_covariate_sum_product'] %}
    cast(coalesce({{ sums_relation }}.{{ column }}, 0) as {{ experimentation.type_double() }}) as {{ column }},
    {%- endfor %}
    {%- for column in experimentation.ratio_statistic_columns() %}
    case
        when {{ aggregation_column }} = 'ratio'
            then cast(coalesce({{ sums_relation }}.{{ column }}, 0) as {{ experimentation.type_double() }})
    end as {{ column }}{{ ',' if not loop.last }}
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

{% macro arm_variance() -%}
    {#- Sample variance (ddof = 1) of the unit values from their sums; for ratio
        metrics the delta-method unit-level variance
        (var_m - 2 r cov_md + r^2 var_d) / dbar^2. Null when n_units < 2.
        Clamped at 0 against rounding. -#}
    {%- set var_m = '(metric_sum_squares - metric_sum * metric_sum / n_units) / (n_units - 1)' %}
    {%- set var_d = '(denominator_sum_squares - denominator_sum * denominator_sum / n_units) / (n_units - 1)' %}
    {%- set cov_md = '(metric_denominator_sum_product - metric_sum * denominator_sum / n_units) / (n_units - 1)' %}
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
    {{ experimentation.arm_variance() }} as variance,
    {%- endif %}
    metric_sum,
    metric_sum_squares,
    covariate_sum,
    covariate_sum_squares,
    metric_covariate_sum_product,
    {{ experimentation.ratio_statistic_columns() | join(',\n    ') }}
{%- endmacro %}
