{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Run as the root project, schemas are exactly the folder's schema
        (marts, staging, ...), not <target>_marts, so SQL users and BI tools
        see stable names. Installed as a package, the project that installs it
        decides: its own generate_schema_name (dbt would otherwise use this
        package's macro for the package's models), else dbt's default
        <target schema>_<schema>. -#}
    {%- if project_name == 'experimentation' -%}
        {%- if custom_schema_name is none -%}
            {{ target.schema }}
        {%- else -%}
            {{ custom_schema_name | trim }}
        {%- endif -%}
    {%- else -%}
        {%- set root_macros = context.get(project_name) or {} -%}
        {%- if 'generate_schema_name' in root_macros -%}
            {{ root_macros['generate_schema_name'](custom_schema_name, node) }}
        {%- else -%}
            {{ dbt.default__generate_schema_name(custom_schema_name, node) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
