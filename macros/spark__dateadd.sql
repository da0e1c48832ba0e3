{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {#- dbt-spark's dateadd goes through Unix seconds, dropping the
        microseconds of the timestamp (events in this project carry them), and
        raises on a null input. timestampadd keeps both, like DuckDB's
        timestamp + interval. -#}
    timestampadd({{ datepart }}, {{ interval }}, cast({{ from_date_or_timestamp }} as timestamp))
{%- endmacro %}
