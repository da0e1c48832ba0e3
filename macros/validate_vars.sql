{% macro numeric_var(name, minimum=none, maximum=none, integer=false, allow_empty=false) -%}
    {#- The var `name` as a number, checked: a compiler error naming the var,
        the value and the fix when it is not a number (so that no text reaches
        the SQL it is pasted into) or is outside [minimum, maximum]. -#}
    {%- set raw = var(name, none) -%}
    {%- set text = (raw | string) | trim -%}
    {%- if raw is none or (allow_empty and text == '') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set pattern = '[+-]?[0-9]+' if integer else '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?' -%}
    {%- set kind = 'a whole number' if integer else 'a number' -%}
    {%- set bounds = [] -%}
    {%- if minimum is not none -%}{%- do bounds.append('at least ' ~ minimum) -%}{%- endif -%}
    {%- if maximum is not none -%}{%- do bounds.append('at most ' ~ maximum) -%}{%- endif -%}
    {%- set wanted = kind ~ ((' ' ~ (bounds | join(' and '))) if bounds else '') -%}
    {%- if raw is boolean or not modules.re.fullmatch(pattern, text) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " = " ~ (text | tojson) ~ " is refused: it must be " ~ wanted
            ~ ". Fix it in dbt_project.yml (vars) or in --vars."
        ) }}
    {%- endif -%}
    {%- set value = (text | int) if integer else (text | float) -%}
    {%- if (minimum is not none and value < minimum) or (maximum is not none and value > maximum) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " = " ~ text ~ " is refused: it must be " ~ wanted
            ~ ". Fix it in dbt_project.yml (vars) or in --vars."
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{% macro validate_vars() -%}
    {#- Every numeric var, and the as-of time, checked before a build runs
        (on-run-start in dbt_project.yml): a bad value stops the build with a
        message naming the var instead of changing or dropping SQL. -#}
    {%- do experimentation.numeric_var('future_tolerance_hours', 0, 87600) -%}
    {%- do experimentation.numeric_var('incremental_lookback_hours', 0, 87600) -%}
    {%- do experimentation.numeric_var('min_segment_units', 1, 1000000, integer=true) -%}
    {%- do experimentation.numeric_var('max_days_to_target', 1, 36500) -%}
    {%- do experimentation.numeric_var('max_multi_variant_share', 0, 1) -%}
    {%- do experimentation.numeric_var('sequential_tuning_units', 1) -%}
    {%- do experimentation.numeric_var('bayesian_prior_mean') -%}
    {%- do experimentation.numeric_var('bayesian_prior_sd', 0, allow_empty=true) -%}
    {%- do experimentation.numeric_var('weak_instrument_f_threshold', 0) -%}
    {%- do experimentation.numeric_var('cate_min_units', 1, integer=true) -%}
    {%- do experimentation.numeric_var('cate_max_units', 1, integer=true) -%}
    {%- do experimentation.build_time() -%}
    select 1 as vars_checked
{%- endmacro %}
