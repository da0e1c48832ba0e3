{% test expression_is_true(model, expression, where_clause=none) %}
    {#- Fails on every row (optionally restricted by where_clause) for which the
        SQL expression is not true. -#}
    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)
    {%- if where_clause %}
        and ({{ where_clause }})
    {%- endif %}
{% endtest %}
