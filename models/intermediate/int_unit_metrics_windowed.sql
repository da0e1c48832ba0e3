-- The only big join: usable events x analysed units, kept when the event falls in
-- the unit's CUPED pre-period [fe - lookback, fe) or analysis window
-- [fe, fe + window) cut at the end date. Windows are per experiment, so each
-- assignment carries its own [window_start_at, window_end_at) and the join is
-- on unit_id with the range in the join condition. Events are summed once per
-- unit x arm x event (count and value sum, pre and post), grouped on integer
-- keys, and only then turned into component values, so an event feeding
-- several metrics is read once. Value sums are exact (macros/exact_sums.sql):
-- each value is scaled by a power of 2 chosen from the largest value of its
-- event name and summed as an integer, so reruns give the same bits. Sparse: units without events are zeros by
-- omission. During an incremental refresh (`make refresh`) only the units in
-- int_units_to_refresh are joined: the view is the step that feeds
-- int_unit_metrics_pivoted, not a table to query.
-- Retention and funnel components (issue 17 item 6) take their own path
-- below: retention is 1 when the unit had the event in [fe + a days, fe + b
-- days) (inside the analysis window), with the pre-period activity as its
-- covariate; a funnel is 1 when the unit did its steps in order (each at or
-- after the previous one) inside the analysis window, covariate 0.
-- depends_on: {{ ref('int_units_to_refresh') }}
{%- set refresh = experimentation.unit_refresh_active() %}
{%- set max_funnel_steps = experimentation.max_funnel_steps() %}
with

events as (

    select * from {{ ref('int_events_classified') }}
    where reason_code is null

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null
        {%- if refresh %}
        and unit_id in (select unit_id from {{ ref('int_units_to_refresh') }})
        {%- endif %}

),

arms as (

    select * from {{ ref('int_arms_keyed') }}

),

components as (

    select * from {{ ref('int_metric_components_expanded') }}

),

funnel_steps as (

    -- One row per funnel component x step (steps separated by '|').
    {%- for step in range(1, max_funnel_steps + 1) %}
    select
        component_key,
        experiment_id,
        {{ step }} as step_index,
        nullif(trim({{ dbt.split_part('funnel_steps', "'|'", step) }}), '') as event_name
    from components
    where aggregation = 'funnel'
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

funnel_sizes as (

    select
        component_key,
        max(step_index) as n_steps
    from funnel_steps
    where event_name is not null
    group by component_key

),

event_names as (

    -- The event names some registered metric reads (funnel steps included),
    -- with an integer key.
    select
        event_name,
        row_number() over (order by event_name) as event_key
    from (
        select event_name from components
        where event_name is not null
        union
        select event_name from funnel_steps
        where event_name is not null
    ) as names

),

arm_components as (

    -- Which component each arm x event feeds (the arm fixes the experiment).
    select
        arms.arm_key,
        event_names.event_key,
        components.component_key,
        components.aggregation,
        components.cap_value
    from arms
    inner join components
        on arms.experiment_id = components.experiment_id
    inner join event_names
        on components.event_name = event_names.event_name
    where components.aggregation in ('binary', 'count', 'sum', 'quantile')

),

retention_components as (

    select
        arms.arm_key,
        event_names.event_key,
        components.component_key,
        components.retention_start_day,
        components.retention_end_day
    from arms
    inner join components
        on arms.experiment_id = components.experiment_id
    inner join event_names
        on components.event_name = event_names.event_name
    where components.aggregation = 'retention'

),

funnel_components as (

    select
        arms.arm_key,
        event_names.event_key,
        funnel_steps.component_key,
        funnel_steps.step_index
    from arms
    inner join funnel_steps
        on arms.experiment_id = funnel_steps.experiment_id
    inner join event_names
        on funnel_steps.event_name = event_names.event_name

),

experiment_windows as (

    select distinct
        experiment_id,
        analysis_window_days,
        cuped_lookback_days,
        window_cutoff_at
    from components

),

windowed_assignments as (

    select
        assignments.unit_id,
        assignments.arm_key,
        assignments.first_exposed_at,
        {{ dbt.dateadd('day', '-experiment_windows.cuped_lookback_days', 'assignments.first_exposed_at') }}
            as window_start_at,
        case
            when experiment_windows.window_cutoff_at is not null
                and experiment_windows.window_cutoff_at
                < {{ dbt.dateadd('day', 'experiment_windows.analysis_window_days', 'assignments.first_exposed_at') }}
                then experiment_windows.window_cutoff_at
            else {{ dbt.dateadd('day', 'experiment_windows.analysis_window_days', 'assignments.first_exposed_at') }}
        end as window_end_at
    from assignments
    inner join experiment_windows
        on assignments.experiment_id = experiment_windows.experiment_id

),

named_events as (

    -- Only events some registered metric reads, keyed by an integer.
    select
        events.unit_id,
        event_names.event_key,
        events.event_at,
        events.value
    from events
    inner join event_names
        on events.event_name = event_names.event_name

),

event_scales as (

    -- The power of 2 that turns every value of an event name into an integer
    -- of at most {{ experimentation.event_sum_bits() }} bits (from all its usable events, so a
    -- unit's sum does not depend on which units are summed with it).
    select
        event_key,
        {{ experimentation.exact_scale('max(abs(value))', experimentation.event_sum_bits()) }} as value_scale
    from named_events
    group by event_key

),

metric_events as (

    select
        named_events.unit_id,
        named_events.event_key,
        named_events.event_at,
        {{ experimentation.scaled_integer('named_events.value', 'event_scales.value_scale') }} as scaled_value
    from named_events
    inner join event_scales
        on named_events.event_key = event_scales.event_key

),

event_sums as (

    select
        windowed_assignments.unit_id,
        windowed_assignments.arm_key,
        metric_events.event_key,
        cast(sum(
            case when metric_events.event_at >= windowed_assignments.first_exposed_at then 1 else 0 end
        ) as {{ dbt.type_bigint() }}) as post_event_count,
        {{ experimentation.exact_sum(
            'case when metric_events.event_at >= windowed_assignments.first_exposed_at then metric_events.scaled_value end'
        ) }} as post_scaled_value_sum,
        cast(sum(
            case when metric_events.event_at < windowed_assignments.first_exposed_at then 1 else 0 end
        ) as {{ dbt.type_bigint() }}) as pre_event_count,
        {{ experimentation.exact_sum(
            'case when metric_events.event_at < windowed_assignments.first_exposed_at then metric_events.scaled_value end'
        ) }} as pre_scaled_value_sum,
        max(metric_events.event_at) as last_event_at
    from metric_events
    inner join windowed_assignments
        on metric_events.unit_id = windowed_assignments.unit_id
        and metric_events.event_at >= windowed_assignments.window_start_at
        and metric_events.event_at < windowed_assignments.window_end_at
    group by
        windowed_assignments.unit_id,
        windowed_assignments.arm_key,
        metric_events.event_key

),

unscaled as (

    select
        event_sums.*,
        {{ experimentation.unscaled_double('event_sums.post_scaled_value_sum', ['event_scales.value_scale']) }}
            as post_value_sum,
        {{ experimentation.unscaled_double('event_sums.pre_scaled_value_sum', ['event_scales.value_scale']) }}
            as pre_value_sum
    from event_sums
    inner join event_scales
        on event_sums.event_key = event_scales.event_key

),

valued as (

    select
        event_sums.unit_id,
        event_sums.arm_key,
        arm_components.component_key,
        event_sums.post_event_count,
        event_sums.pre_event_count,
        event_sums.last_event_at,
        arm_components.cap_value,
        cast(
            {{ experimentation.base_metric_value(
                'arm_components.aggregation', 'event_sums.post_event_count', 'event_sums.post_value_sum') }}
            as {{ experimentation.type_double() }}
        ) as uncapped_metric_value,
        cast(
            {{ experimentation.base_metric_value(
                'arm_components.aggregation', 'event_sums.pre_event_count', 'event_sums.pre_value_sum') }}
            as {{ experimentation.type_double() }}
        ) as uncapped_covariate_value
    from unscaled as event_sums
    inner join arm_components
        on event_sums.arm_key = arm_components.arm_key
        and event_sums.event_key = arm_components.event_key

),

capped as (

    select
        unit_id,
        arm_key,
        component_key,
        post_event_count,
        pre_event_count,
        last_event_at,
        case
            when uncapped_metric_value > cap_value then cap_value
            else uncapped_metric_value
        end as metric_value,
        case
            when uncapped_covariate_value > cap_value then cap_value
            else uncapped_covariate_value
        end as covariate_value
    from valued

),

retention_values as (

    -- Sparse: units with an event of the metric in their windows.
    select
        windowed_assignments.unit_id,
        windowed_assignments.arm_key,
        retention_components.component_key,
        max(case
            when named_events.event_at >= {{ dbt.dateadd(
                'day', 'retention_components.retention_start_day', 'windowed_assignments.first_exposed_at') }}
                and named_events.event_at < {{ dbt.dateadd(
                    'day', 'retention_components.retention_end_day', 'windowed_assignments.first_exposed_at') }}
                then 1
            else 0
        end) as retained,
        max(case when named_events.event_at < windowed_assignments.first_exposed_at then 1 else 0 end)
            as active_before,
        max(named_events.event_at) as last_event_at
    from named_events
    inner join windowed_assignments
        on named_events.unit_id = windowed_assignments.unit_id
        and named_events.event_at >= windowed_assignments.window_start_at
        and named_events.event_at < windowed_assignments.window_end_at
    inner join retention_components
        on windowed_assignments.arm_key = retention_components.arm_key
        and named_events.event_key = retention_components.event_key
    group by
        windowed_assignments.unit_id,
        windowed_assignments.arm_key,
        retention_components.component_key

),

funnel_events as (

    select
        windowed_assignments.unit_id,
        windowed_assignments.arm_key,
        funnel_components.component_key,
        funnel_components.step_index,
        named_events.event_at
    from named_events
    inner join windowed_assignments
        on named_events.unit_id = windowed_assignments.unit_id
        and named_events.event_at >= windowed_assignments.first_exposed_at
        and named_events.event_at < windowed_assignments.window_end_at
    inner join funnel_components
        on windowed_assignments.arm_key = funnel_components.arm_key
        and named_events.event_key = funnel_components.event_key

),

reached_1 as (

    -- The first time each unit did step 1; then step k at or after step k - 1.
    select
        unit_id,
        arm_key,
        component_key,
        min(event_at) as reached_at
    from funnel_events
    where step_index = 1
    group by unit_id, arm_key, component_key

),
{%- for step in range(2, max_funnel_steps + 1) %}

reached_{{ step }} as (

    select
        reached_{{ step - 1 }}.unit_id,
        reached_{{ step - 1 }}.arm_key,
        reached_{{ step - 1 }}.component_key,
        min(funnel_events.event_at) as reached_at
    from reached_{{ step - 1 }}
    inner join funnel_events
        on reached_{{ step - 1 }}.unit_id = funnel_events.unit_id
        and reached_{{ step - 1 }}.arm_key = funnel_events.arm_key
        and reached_{{ step - 1 }}.component_key = funnel_events.component_key
        and funnel_events.step_index = {{ step }}
        and reached_{{ step - 1 }}.reached_at <= funnel_events.event_at
    group by
        reached_{{ step - 1 }}.unit_id,
        reached_{{ step - 1 }}.arm_key,
        reached_{{ step - 1 }}.component_key

),
{%- endfor %}

funnel_values as (

    -- Units that did the last step of their funnel.
    {%- for step in range(1, max_funnel_steps + 1) %}
    select
        reached_{{ step }}.unit_id,
        reached_{{ step }}.arm_key,
        reached_{{ step }}.component_key,
        reached_{{ step }}.reached_at as last_event_at
    from reached_{{ step }}
    inner join funnel_sizes
        on reached_{{ step }}.component_key = funnel_sizes.component_key
    where funnel_sizes.n_steps = {{ step }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

combined as (

    select * from capped

    union all

    select
        unit_id,
        arm_key,
        component_key,
        cast(retained as {{ dbt.type_bigint() }}) as post_event_count,
        cast(active_before as {{ dbt.type_bigint() }}) as pre_event_count,
        last_event_at,
        cast(retained as {{ experimentation.type_double() }}) as metric_value,
        cast(active_before as {{ experimentation.type_double() }}) as covariate_value
    from retention_values

    union all

    select
        unit_id,
        arm_key,
        component_key,
        cast(1 as {{ dbt.type_bigint() }}) as post_event_count,
        cast(0 as {{ dbt.type_bigint() }}) as pre_event_count,
        last_event_at,
        cast(1 as {{ experimentation.type_double() }}) as metric_value,
        cast(0 as {{ experimentation.type_double() }}) as covariate_value
    from funnel_values

)

select * from combined
