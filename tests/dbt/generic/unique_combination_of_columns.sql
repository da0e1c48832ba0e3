{% test unique_combination_of_columns(model, combination_of_columns) %}
    {#- Fails on every combination of the columns that appears more than once:
        the primary-key test for models keyed on several columns. -#}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
