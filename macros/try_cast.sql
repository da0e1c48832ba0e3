{% macro try_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'experimentation')(expression, data_type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}
