{% macro build_time() -%}
    {#- The reference "now" of a build, as a timestamp literal in UTC: the var
        as_of or else the environment variable XP_AS_OF when set (reproducible
        rebuilds of old data), else the moment dbt started. -#}
    {%- set as_of = var('as_of', none) or env_var('XP_AS_OF', '') -%}
    {%- if as_of -%}
        cast('{{ as_of }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
