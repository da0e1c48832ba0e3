{% macro has_eligibility() -%}
    {#- True when raw.units has an eligible column (who could be exposed at
        all); arm_metrics_by_compliance then adds inverse-probability weights. -#}
    {{ return(experimentation.has_column(source('raw', 'units'), 'eligible')) }}
{%- endmacro %}

{% macro eligibility_strata() -%}
    {#- The entries of the var eligibility_strata ({column, bins}) whose column
        exists in raw.units; logs a warning for each one that does not. -#}
    {%- set found = [] -%}
    {%- set units_relation = source('raw', 'units') -%}
    {%- for stratum in var('eligibility_strata', [{'column': 'segment'}, {'column': 'activity_score', 'bins': 5}, {'column': 'age', 'bins': 4}]) -%}
        {%- if experimentation.has_column(units_relation, stratum['column']) -%}
            {%- do found.append(stratum) -%}
        {%- elif execute -%}
            {{ log("Warning: eligibility stratum column '" ~ stratum['column'] ~ "' (var eligibility_strata) is not a column of raw.units; it is skipped.", info=True) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}
