-- The only big join: usable events x analysed units, kept when the event falls in
-- the unit's CUPED pre-period [fe - lookback, fe) or analysis window
-- [fe, fe + window) cut at the end date. Sparse: one row per unit x component
-- with at least one such event; units without events are zeros by omission, and
-- arm sizes come from int_assignments_resolved.
with

events as (

    select * from {{ ref('int_events_classified') }}
    where reason_code is null

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}
    where not is_multi_variant
        and arm_key is not null

),

components as (

    select * from {{ ref('int_metric_components_expanded') }}

),

events_in_windows as (

    select
        assignments.assignment_key,
        assignments.arm_key,
        components.component_key,
        case when events.event_at >= assignments.first_exposed_at then 1 else 0 end as is_post_period,
        events.value
    from events
    inner join components
        on events.event_name = components.event_name
    inner join assignments
        on events.unit_id = assignments.unit_id
        and components.experiment_id = assignments.experiment_id
    where events.event_at
        >= {{ dbt.dateadd('day', '-components.cuped_lookback_days', 'assignments.first_exposed_at') }}
        and events.event_at
        < {{ dbt.dateadd('day', 'components.analysis_window_days', 'assignments.first_exposed_at') }}
        and (
            components.window_cutoff_at is null
            or events.event_at < components.window_cutoff_at
        )

),

aggregated as (

    select
        assignment_key,
        arm_key,
        component_key,
        cast(sum(is_post_period) as {{ dbt.type_bigint() }}) as post_event_count,
        sum(case when is_post_period = 1 then value end) as post_value_sum,
        cast(sum(1 - is_post_period) as {{ dbt.type_bigint() }}) as pre_event_count,
        sum(case when is_post_period = 0 then value end) as pre_value_sum
    from events_in_windows
    group by assignment_key, arm_key, component_key

),

valued as (

    select
        aggregated.assignment_key,
        aggregated.arm_key,
        aggregated.component_key,
        aggregated.post_event_count,
        aggregated.pre_event_count,
        components.cap_value,
        cast(
            {{ experimentation.base_metric_value(
                'components.aggregation', 'aggregated.post_event_count', 'aggregated.post_value_sum') }}
            as {{ experimentation.type_double() }}
        ) as uncapped_metric_value,
        cast(
            {{ experimentation.base_metric_value(
                'components.aggregation', 'aggregated.pre_event_count', 'aggregated.pre_value_sum') }}
            as {{ experimentation.type_double() }}
        ) as uncapped_covariate_value
    from aggregated
    inner join components
        on aggregated.component_key = components.component_key

),

capped as (

    select
        assignment_key,
        arm_key,
        component_key,
        post_event_count,
        pre_event_count,
        case
            when uncapped_metric_value > cap_value then cap_value
            else uncapped_metric_value
        end as metric_value,
        case
            when uncapped_covariate_value > cap_value then cap_value
            else uncapped_covariate_value
        end as covariate_value
    from valued

)

select * from capped
