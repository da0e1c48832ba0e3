{% macro relation_label(relation) -%}
    {#- 'schema.identifier' of a relation (no database, no quotes), as a SQL
        string literal: how the gates and their messages name the tables a
        build actually used, wherever the source vars and generate_schema_name
        put them. -#}
    '{{ relation.schema }}.{{ relation.identifier }}'
{%- endmacro %}
