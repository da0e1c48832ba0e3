{% macro is_blank(expression) -%}
    {#- True when a text value is null, empty or only whitespace. -#}
    (nullif(trim(cast({{ expression }} as {{ dbt.type_string() }})), '') is null)
{%- endmacro %}
