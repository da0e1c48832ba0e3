{% macro max_funnel_steps() -%}
    {#- The most steps a funnel metric may have (metrics.csv funnel_steps): the
        ordered steps are joined one after the other, so the SQL is written
        out for this many. -#}
    {{ return(5) }}
{%- endmacro %}
