{% macro registry_problems() -%}
    {#- One row per problem in the registry seeds: which file, which row (by its
        key), what is wrong and how to fix it. Used by the singular test
        assert_registry__is_valid, which fails the build and prints each row. -#}
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

experiment_variants as (

    select * from {{ ref('stg_registry__experiment_variants') }}

),

metrics as (

    select * from {{ ref('stg_registry__metrics') }}

),

experiment_metrics as (

    select * from {{ ref('stg_registry__experiment_metrics') }}

),

experiment_counts as (

    select experiment_id, count(*) as row_count
    from experiments
    group by experiment_id

),

variant_counts as (

    select experiment_id, variant, count(*) as row_count
    from experiment_variants
    group by experiment_id, variant

),

control_counts as (

    select
        experiment_id,
        sum(case when is_control then 1 else 0 end) as control_count
    from experiment_variants
    group by experiment_id

),

metric_counts as (

    select metric_id, count(*) as row_count
    from metrics
    group by metric_id

),

experiment_metric_counts as (

    select experiment_id, metric_id, count(*) as row_count
    from experiment_metrics
    group by experiment_id, metric_id

),

problems as (

    select
        'seeds/experiments.csv' as seed_file,
        {{ dbt.concat(["'experiment_id = '", "coalesce(experiment_id, '<empty>')"]) }} as row_key,
        'experiment_id is empty' as problem,
        'Give every experiment a unique id.' as fix
    from experiments
    where {{ experimentation.is_blank('experiment_id') }}

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'experiment_id appears on '", "cast(row_count as " ~ dbt.type_string() ~ ")", "' rows'"]) }},
        'Keep one row per experiment_id.'
    from experiment_counts
    where row_count > 1

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'unknown status '''", "coalesce(status, '')", "''''"]) }},
        'Use one of planned, running, completed, stopped.'
    from experiments
    where status is null or status not in ('planned', 'running', 'completed', 'stopped')

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiments.experiment_id"]) }},
        {{ dbt.concat(["'control_variant '''", "coalesce(experiments.control_variant, '')",
                       "''' is not a variant of this experiment'"]) }},
        'Register the control in seeds/experiment_variants.csv or correct control_variant.'
    from experiments
    left join experiment_variants
        on experiments.experiment_id = experiment_variants.experiment_id
        and experiments.control_variant = experiment_variants.variant
    where experiment_variants.variant is null

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        'alpha or power is not strictly between 0 and 1',
        'Set alpha (e.g. 0.05) and power (e.g. 0.8) to values in (0, 1).'
    from experiments
    where alpha is null or alpha <= 0 or alpha >= 1
        or power is null or power <= 0 or power >= 1

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        'analysis_window_days must be a positive whole number and cuped_lookback_days zero or more',
        'Set analysis_window_days >= 1 and cuped_lookback_days >= 0 (0 disables CUPED).'
    from experiments
    where analysis_window_days is null or analysis_window_days < 1
        or cuped_lookback_days is null or cuped_lookback_days < 0

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        'mde_relative must be positive',
        'Set the minimum detectable effect as a positive relative change (0.1 = 10%).'
    from experiments
    where mde_relative is not null and mde_relative <= 0

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        'end_date is before start_date',
        'Correct the dates (both are inclusive, YYYY-MM-DD).'
    from experiments
    where end_date < start_date

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'status '", "status", "' needs a start_date'"]) }},
        'Set start_date, or set status to planned.'
    from experiments
    where status in ('running', 'completed', 'stopped') and start_date is null

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'status '", "status", "' needs an end_date'"]) }},
        'Set end_date (the last day that counts), or set status to running.'
    from experiments
    where status in ('completed', 'stopped') and end_date is null

    union all

    select
        'seeds/experiment_variants.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', variant = '", "variant"]) }},
        {{ dbt.concat(["'the pair appears on '", "cast(row_count as " ~ dbt.type_string() ~ ")", "' rows'"]) }},
        'Keep one row per experiment and variant.'
    from variant_counts
    where row_count > 1

    union all

    select
        'seeds/experiment_variants.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_variants.experiment_id",
                       "', variant = '", "coalesce(experiment_variants.variant, '<empty>')"]) }},
        'the experiment is not registered in seeds/experiments.csv',
        'Add the experiment to seeds/experiments.csv or remove these rows.'
    from experiment_variants
    left join experiment_counts
        on experiment_variants.experiment_id = experiment_counts.experiment_id
    where experiment_counts.experiment_id is null

    union all

    select
        'seeds/experiment_variants.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', variant = '", "coalesce(variant, '<empty>')"]) }},
        'variant is empty or allocation_weight is not positive',
        'Name every variant and give it a positive allocation_weight.'
    from experiment_variants
    where {{ experimentation.is_blank('variant') }}
        or allocation_weight is null or allocation_weight <= 0

    union all

    select
        'seeds/experiment_variants.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'has '", "cast(control_count as " ~ dbt.type_string() ~ ")", "' control variants'"]) }},
        'Mark exactly one variant per experiment with is_control = true.'
    from control_counts
    where control_count <> 1

    union all

    select
        'seeds/experiment_variants.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_variants.experiment_id",
                       "', variant = '", "experiment_variants.variant"]) }},
        'is_control disagrees with control_variant in seeds/experiments.csv',
        'Make is_control true for exactly the experiment''s control_variant.'
    from experiment_variants
    inner join experiments
        on experiment_variants.experiment_id = experiments.experiment_id
    where experiment_variants.is_control
        <> (experiment_variants.variant = experiments.control_variant)

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'metric_id appears on '", "cast(row_count as " ~ dbt.type_string() ~ ")", "' rows'"]) }},
        'Keep one row per metric_id.'
    from metric_counts
    where row_count > 1

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "coalesce(metric_id, '<empty>')"]) }},
        {{ dbt.concat(["'unknown aggregation '''", "coalesce(aggregation, '')", "''''"]) }},
        'Use one of binary, count, sum, ratio, quantile, retention, funnel.'
    from metrics
    where aggregation is null
        or aggregation not in ('binary', 'count', 'sum', 'ratio', 'quantile', 'retention', 'funnel')

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'unknown desired_direction '''", "coalesce(desired_direction, '')", "''''"]) }},
        'Use increase or decrease.'
    from metrics
    where desired_direction is null or desired_direction not in ('increase', 'decrease')

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'a '", "aggregation", "' metric needs an event_name'"]) }},
        'Set event_name to the raw event the metric is computed from.'
    from metrics
    where aggregation in ('binary', 'count', 'sum', 'quantile', 'retention') and event_name is null

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'a retention metric needs 0 <= retention_start_day < retention_end_day',
        'Set retention_start_day and retention_end_day: the unit is retained when active in days [start, end) after its first exposure, e.g. 7 and 14.'
    from metrics
    where aggregation = 'retention'
        and (
            retention_start_day is null or retention_end_day is null
            or retention_start_day < 0 or retention_end_day <= retention_start_day
        )

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_metrics.experiment_id",
                       "', metric_id = '", "experiment_metrics.metric_id"]) }},
        {{ dbt.concat(["'retention_end_day '", "cast(metrics.retention_end_day as " ~ dbt.type_string() ~ ")",
                       "' is past the analysis window of '", "cast(experiments.analysis_window_days as " ~ dbt.type_string() ~ ")",
                       "' days'"]) }},
        'Lengthen analysis_window_days in seeds/experiments.csv or shorten the retention range in seeds/metrics.csv: retention is measured inside the analysis window.'
    from experiment_metrics
    inner join metrics
        on experiment_metrics.metric_id = metrics.metric_id
    inner join experiments
        on experiment_metrics.experiment_id = experiments.experiment_id
    where metrics.aggregation = 'retention'
        and metrics.retention_end_day > experiments.analysis_window_days

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'a funnel metric needs funnel_steps: 1 to {{ experimentation.max_funnel_steps() }} event names separated by |, none empty',
        'Set funnel_steps to the ordered event names, e.g. view_item|add_to_cart|purchase.'
    from metrics
    where aggregation = 'funnel'
        and (
            funnel_steps is null
            or trim(funnel_steps) = ''
            or funnel_steps like '%||%'
            or trim(funnel_steps) like '|%'
            or trim(funnel_steps) like '%|'
            or length(funnel_steps) - length(replace(funnel_steps, '|', '')) >= {{ experimentation.max_funnel_steps() }}
        )

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'a quantile metric needs a quantile strictly between 0 and 1',
        'Set quantile to the level to compare, e.g. 0.5 for the median or 0.9 for the 90th percentile.'
    from metrics
    where aggregation = 'quantile' and (quantile is null or quantile <= 0 or quantile >= 1)

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'a ratio metric needs a numerator_metric_id and a denominator_metric_id',
        'Name the numerator and denominator metrics (each a binary, count or sum metric).'
    from metrics
    where aggregation = 'ratio'
        and (numerator_metric_id is null or denominator_metric_id is null)

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "ratios.metric_id"]) }},
        {{ dbt.concat(["'ratio part '''", "parts.part_metric_id", "''' is not a binary, count, sum, retention or funnel metric in seeds/metrics.csv'"]) }},
        'Point numerator_metric_id and denominator_metric_id at registered non-ratio metrics.'
    from metrics as ratios
    inner join (
        select metric_id, numerator_metric_id as part_metric_id from metrics
        where aggregation = 'ratio' and numerator_metric_id is not null
        union all
        select metric_id, denominator_metric_id as part_metric_id from metrics
        where aggregation = 'ratio' and denominator_metric_id is not null
    ) as parts
        on ratios.metric_id = parts.metric_id
    left join metrics as part_metrics
        on parts.part_metric_id = part_metrics.metric_id
        and part_metrics.aggregation in ('binary', 'count', 'sum', 'retention', 'funnel')
    where part_metrics.metric_id is null

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'cap_value must be positive',
        'Set cap_value to a positive number, or leave it empty for no cap.'
    from metrics
    where cap_value is not null and cap_value <= 0

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'cap_value and cap_quantile are both set',
        'Keep one cap: cap_value (a fixed cap) or cap_quantile (a percentile cap); empty the other.'
    from metrics
    where cap_value is not null and cap_quantile is not null

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        'cap_quantile must be strictly between 0 and 1',
        'Set cap_quantile to a quantile such as 0.99, or leave it empty for no percentile cap.'
    from metrics
    where cap_quantile is not null and (cap_quantile <= 0 or cap_quantile >= 1)

    union all

    select
        'seeds/metrics.csv',
        {{ dbt.concat(["'metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'cap_quantile is set on a '''", "aggregation", "''' metric'"]) }},
        'Percentile caps apply to count and sum metrics: set cap_quantile on the numerator or denominator metric of a ratio, or leave it empty.'
    from metrics
    where cap_quantile is not null and aggregation not in ('count', 'sum')

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'the pair appears on '", "cast(row_count as " ~ dbt.type_string() ~ ")", "' rows'"]) }},
        'Keep one row per experiment and metric.'
    from experiment_metric_counts
    where row_count > 1

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_metrics.experiment_id",
                       "', metric_id = '", "experiment_metrics.metric_id"]) }},
        'the experiment is not registered in seeds/experiments.csv',
        'Add the experiment to seeds/experiments.csv or remove this row.'
    from experiment_metrics
    left join experiment_counts
        on experiment_metrics.experiment_id = experiment_counts.experiment_id
    where experiment_counts.experiment_id is null

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_metrics.experiment_id",
                       "', metric_id = '", "experiment_metrics.metric_id"]) }},
        'the metric is not registered in seeds/metrics.csv',
        'Add the metric to seeds/metrics.csv or correct metric_id.'
    from experiment_metrics
    left join metric_counts
        on experiment_metrics.metric_id = metric_counts.metric_id
    where metric_counts.metric_id is null

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'unknown role '''", "coalesce(role, '')", "''''"]) }},
        'Use one of primary, secondary, guardrail.'
    from experiment_metrics
    where role is null or role not in ('primary', 'secondary', 'guardrail')

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', metric_id = '", "metric_id"]) }},
        'guardrail_tolerance must be zero or more',
        'Set the largest tolerated relative change in the bad direction (0.02 = 2%).'
    from experiment_metrics
    where guardrail_tolerance < 0

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', metric_id = '", "metric_id"]) }},
        {{ dbt.concat(["'unknown test_type '''", "coalesce(test_type, '')", "''''"]) }},
        'Use one of two_sided, superiority, non_inferiority (empty = two_sided).'
    from experiment_metrics
    where test_type not in ('two_sided', 'superiority', 'non_inferiority')

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', metric_id = '", "metric_id"]) }},
        'test_type non_inferiority needs a positive non_inferiority_margin',
        'Set non_inferiority_margin to the largest tolerated relative change in the bad direction (0.02 = 2%).'
    from experiment_metrics
    where test_type = 'non_inferiority'
        and (non_inferiority_margin is null or non_inferiority_margin <= 0)

    union all

    select
        'seeds/experiment_metrics.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id", "', metric_id = '", "metric_id"]) }},
        'non_inferiority_margin is set but test_type is not non_inferiority',
        'Set test_type to non_inferiority, or leave non_inferiority_margin empty.'
    from experiment_metrics
    where non_inferiority_margin is not null and test_type <> 'non_inferiority'

    union all

    -- seeds/unit_attributes.csv and the vars naming unit attributes, checked
    -- against the columns of raw.units at compile time.
    {{ experimentation.unit_attribute_problems() }}

    union all

    -- seeds/experiment_metric_covariates.csv (macros/regression_covariates.sql).
    {{ experimentation.regression_covariate_problems() }}

    union all

    -- Layers (issue 19 item 2): every experiment of a layer has a share in
    -- (0, 1] and the shares of a layer sum to at most 1.
    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'layer '", "layer", "' needs a layer_share in (0, 1]'"]) }},
        'Give the experiment the share of the units of its layer that it owns, e.g. 0.5.'
    from experiments
    where layer is not null and trim(layer) != ''
        and (layer_share is null or layer_share <= 0 or layer_share > 1)

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'layer = '", "layer"]) }},
        'the layer_share values of the layer sum to more than 1',
        'Lower the shares so that the experiments of the layer fit in its units.'
    from experiments
    where layer is not null and trim(layer) != ''
    group by layer
    having sum(layer_share) > 1 + 1e-9

    union all

    -- Bandits (issue 19 item 3): design is fixed or bandit, and a bandit's
    -- minimum share leaves room for every arm.
    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiment_id"]) }},
        {{ dbt.concat(["'design '''", "design", "''' is not fixed or bandit'"]) }},
        'Set design to fixed (or leave it empty) for a fixed allocation, or to bandit.'
    from experiments
    where design not in ('fixed', 'bandit')

    union all

    select
        'seeds/experiments.csv',
        {{ dbt.concat(["'experiment_id = '", "experiments.experiment_id"]) }},
        'bandit_min_share must lie in [0, 1 / number of variants)',
        'Set a minimum share per arm below 1 / arms, e.g. 0.05, or leave it empty for 0.05.'
    from experiments
    left join (
        select
            experiment_id,
            count(distinct variant) as arm_count
        from experiment_variants
        group by experiment_id
    ) as arm_counts
        on experiments.experiment_id = arm_counts.experiment_id
    where experiments.bandit_min_share is not null
        and (
            experiments.bandit_min_share < 0
            or experiments.bandit_min_share * coalesce(arm_counts.arm_count, 1) >= 1
        )

    union all

    -- The population rules of seeds/experiments.csv, parsed at compile time.
    {{ experimentation.population_rule_problems() }}

)

select * from problems
{%- endmacro %}
