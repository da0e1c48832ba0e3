{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Schemas are exactly the folder's schema (marts, staging, ...), not
        <target>_marts, so SQL users and BI tools see stable names. -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
