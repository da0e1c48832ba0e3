{% macro quarantine_reason(reason_code) -%}
    {#- The human-readable explanation (and fix) of each quarantine reason code.
        Every code used by stg_raw__*, int_*_classified has a text here. -#}
    case {{ reason_code }}
        when 'missing_unit_id' then 'unit_id is null or empty: the row cannot be attributed to a unit.'
        when 'missing_experiment_id' then 'experiment_id is null or empty.'
        when 'missing_variant' then 'variant is null or empty.'
        when 'missing_event_name' then 'event_name is null or empty.'
        when 'invalid_timestamp'
            then 'The timestamp is null, not a valid timestamp, infinite, after the year 9999, or at or before 1970-01-01 00:00:00 (the Unix epoch, a common placeholder for unset).'
        when 'future_timestamp'
            then 'The timestamp is later than the build time plus the future_tolerance_hours var.'
        when 'invalid_value'
            then 'value is not a number, or not finite, or beyond +/-1e100 (too large to sum squares safely).'
        when 'negative_value'
            then 'value is negative for an event summed by a metric; list the event in the events_allowing_negative_values var if negatives are legitimate.'
        when 'unknown_experiment' then 'experiment_id is not registered in seeds/experiments.csv.'
        when 'planned_experiment'
            then 'The experiment''s status is planned, so it should have no exposures yet; set its status to running in seeds/experiments.csv if it has started.'
        when 'unknown_variant'
            then 'variant is not registered for this experiment in seeds/experiment_variants.csv.'
        when 'before_experiment_start'
            then 'Exposure before the experiment start_date (or the experiment has no start_date).'
        when 'after_experiment_end' then 'Exposure after the experiment end_date.'
        when 'outside_population'
            then 'The unit is outside the experiment''s target population (population_rule in seeds/experiments.csv), or has no usable row in raw.units; widen the rule if the unit should be in.'
        when 'duplicate_row' then 'Exact duplicate of another raw row; one copy is kept.'
        when 'conflicting_unit_attributes'
            then 'The unit_id appears on several rows with different attributes; none is used.'
        else 'Unknown reason code.'
    end
{%- endmacro %}
