{% macro base_metric_value(aggregation, event_count, value_sum) -%}
    {#- A unit's uncapped value of a base metric from its event count and value
        sum in one window: binary = 1 if any event, count = number of events,
        sum = sum of value (null values count as 0). -#}
    case {{ aggregation }}
        when 'binary' then case when {{ event_count }} > 0 then 1 else 0 end
        when 'count' then {{ event_count }}
        else coalesce({{ value_sum }}, 0)
    end
{%- endmacro %}
