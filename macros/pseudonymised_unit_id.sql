{% macro pseudonymised_unit_id(expression) -%}
    {#- A raw unit id as text; when XP_UNIT_ID_SALT is set, its salted hash
        sha256(salt || unit_id) in lowercase hex instead, the same in every
        table so that joins still work. Null and blank ids are kept as they are
        (they identify nobody) so that staging still flags them. -#}
    {%- set salt = experimentation.unit_id_salt() -%}
    {%- set unit_id = 'cast(' ~ expression ~ ' as ' ~ dbt.type_string() ~ ')' -%}
    {%- if salt -%}
        case
            when {{ experimentation.is_blank(expression) }} then {{ unit_id }}
            else {{ experimentation.sha256_hex(dbt.concat(["'" ~ salt ~ "'", unit_id])) }}
        end
    {%- else -%}
        {{ unit_id }}
    {%- endif -%}
{%- endmacro %}
