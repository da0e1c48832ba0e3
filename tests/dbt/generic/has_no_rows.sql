{% test has_no_rows(model, message_columns) %}
    {#- Fails when the model has rows; each row is printed in the build log by
        joining message_columns, so the failure says what is wrong and where. -#}
    {%- if execute %}
        {%- set found = run_query('select ' ~ message_columns | join(', ') ~ ' from ' ~ model) %}
        {%- for row in found.rows %}
            {{ log(model.identifier ~ ': ' ~ row.values() | join(' | '), info=True) }}
        {%- endfor %}
    {%- endif %}
    select * from {{ model }}
{% endtest %}
