{% macro build_time() -%}
    {#- The reference "now" of a build, as a timestamp literal in UTC: the var
        as_of or else the environment variable XP_AS_OF when set (reproducible
        rebuilds of old data), else the moment dbt started. The value must be
        'YYYY-MM-DD', 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD HH:MM:SS' (a T may
        replace the space): anything else is a compiler error naming it, so
        that no text reaches the SQL literal. -#}
    {%- set as_of = (var('as_of', none) or env_var('XP_AS_OF', '')) | string | trim -%}
    {%- if as_of and not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?', as_of) -%}
        {{ exceptions.raise_compiler_error(
            "as_of / XP_AS_OF = " ~ (as_of | tojson) ~ " is refused: it must be a UTC time "
            ~ "such as '2024-11-01 12:00:00'. Fix the var as_of or the environment "
            ~ "variable XP_AS_OF, or leave both empty for the build time."
        ) }}
    {%- endif -%}
    {%- if as_of -%}
        cast('{{ as_of | replace("T", " ") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
