-- The benchmark's reference: per-arm sufficient statistics of the bench registry
-- (bench/generate.py) in one hand-written DuckDB query over raw.exposures and
-- raw.events. Same semantics as marts.arm_metrics on clean data: first exposure,
-- multi-variant units excluded, pre-period [fe - 14d, fe), window [fe, fe + 14d)
-- cut at end_date + 1 day, caps, zeros by omission (n from the assignments).
-- Written for this registry: the ratio's numerator and denominator share the
-- event `session`, so one row per unit x event name carries every metric.
with

arms (arm_id, experiment_id, variant) as (

    values
        (1, 'X1', 'control'),
        (2, 'X1', 'treatment'),
        (3, 'X2', 'bold'),
        (4, 'X2', 'control'),
        (5, 'X2', 'subtle'),
        (6, 'X3', 'control'),
        (7, 'X3', 'treatment')

),

experiments (experiment_id, window_days, lookback_days, cutoff_at) as (

    values
        ('X1', 14, 14, timestamp '2024-02-19 00:00:00'),
        ('X2', 14, 14, timestamp 'infinity'),
        ('X3', 14, 14, timestamp '2024-03-04 00:00:00')

),

assignments as materialized (

    -- First exposure computed once, with an integer arm id. (A row id per
    -- unit x experiment, row_number() over (), measured 10-15% slower at S2
    -- than grouping on unit_id + arm_id: the window costs more than it saves.)
    select
        arms.arm_id,
        first_exposures.unit_id,
        first_exposures.first_exposed_at,
        first_exposures.first_exposed_at - to_days(experiments.lookback_days)
            as pre_start_at,
        least(
            first_exposures.first_exposed_at + to_days(experiments.window_days),
            experiments.cutoff_at
        ) as post_end_at
    from (
        select
            experiment_id,
            unit_id,
            min(exposed_at) as first_exposed_at,
            min(variant) as variant
        from raw.exposures
        group by experiment_id, unit_id
        having min(variant) = max(variant)
    ) as first_exposures
    inner join arms
        on first_exposures.experiment_id = arms.experiment_id
        and first_exposures.variant = arms.variant
    inner join experiments
        on first_exposures.experiment_id = experiments.experiment_id

),

unit_event_sums as (

    -- The one big join: events to first exposures on unit, the window in the
    -- join condition, pre and post split with FILTER.
    select
        assignments.unit_id,
        assignments.arm_id,
        events.event_name = 'session' as is_session,
        count(*) filter (where events.event_at >= assignments.first_exposed_at)
            as post_n,
        coalesce(sum(events.value) filter (
            where events.event_at >= assignments.first_exposed_at
        ), 0) as post_sum,
        count(*) filter (where events.event_at < assignments.first_exposed_at)
            as pre_n,
        coalesce(sum(events.value) filter (
            where events.event_at < assignments.first_exposed_at
        ), 0) as pre_sum
    from raw.events as events
    inner join assignments
        on events.unit_id = assignments.unit_id
        and events.event_at >= assignments.pre_start_at
        and events.event_at < assignments.post_end_at
    where events.event_name in ('session', 'purchase')
    group by assignments.unit_id, assignments.arm_id, is_session

),

unit_values as (

    select
        arm_id,
        is_session,
        cast(post_n as double) as n1,
        cast(pre_n as double) as n0,
        post_sum as s1,
        pre_sum as s0,
        cast(post_n > 0 as double) as b1,
        cast(pre_n > 0 as double) as b0,
        least(post_sum, 300) as r1,
        least(pre_sum, 300) as r0
    from unit_event_sums

),

arm_sums as (

    select
        arm_id,
        -- sessions (count): m = n1, x = n0
        sum(n1) filter (where is_session) as sessions_m,
        sum(n1 * n1) filter (where is_session) as sessions_mm,
        sum(n0) filter (where is_session) as sessions_x,
        sum(n0 * n0) filter (where is_session) as sessions_xx,
        sum(n1 * n0) filter (where is_session) as sessions_mx,
        -- minutes_per_session (ratio): m = s1, x = s0, d = n1, w = n0
        sum(s1) filter (where is_session) as minutes_m,
        sum(s1 * s1) filter (where is_session) as minutes_mm,
        sum(s0) filter (where is_session) as minutes_x,
        sum(s0 * s0) filter (where is_session) as minutes_xx,
        sum(s1 * s0) filter (where is_session) as minutes_mx,
        sum(s1 * n1) filter (where is_session) as minutes_md,
        sum(s0 * n0) filter (where is_session) as minutes_xw,
        sum(s1 * n0) filter (where is_session) as minutes_mw,
        sum(n1 * s0) filter (where is_session) as minutes_dx,
        sum(n1 * n0) filter (where is_session) as minutes_dw,
        -- converted (binary): m = b1, x = b0
        sum(b1) filter (where not is_session) as converted_m,
        sum(b1 * b1) filter (where not is_session) as converted_mm,
        sum(b0) filter (where not is_session) as converted_x,
        sum(b0 * b0) filter (where not is_session) as converted_xx,
        sum(b1 * b0) filter (where not is_session) as converted_mx,
        -- revenue (sum, capped at 300): m = r1, x = r0
        sum(r1) filter (where not is_session) as revenue_m,
        sum(r1 * r1) filter (where not is_session) as revenue_mm,
        sum(r0) filter (where not is_session) as revenue_x,
        sum(r0 * r0) filter (where not is_session) as revenue_xx,
        sum(r1 * r0) filter (where not is_session) as revenue_mx
    from unit_values
    group by arm_id

),

arm_sizes as (

    select
        arm_id,
        count(*) as n_units
    from assignments
    group by arm_id

),

per_arm as (

    select
        arms.experiment_id,
        arms.variant,
        coalesce(arm_sizes.n_units, 0) as n_units,
        arm_sums.*
    from arms
    left join arm_sizes on arms.arm_id = arm_sizes.arm_id
    left join arm_sums on arms.arm_id = arm_sums.arm_id

),

final as (

    select
        experiment_id, variant, 'sessions' as metric_id, n_units,
        sessions_m as metric_sum, sessions_mm as metric_sum_squares,
        sessions_x as covariate_sum, sessions_xx as covariate_sum_squares,
        sessions_mx as metric_covariate_sum_product,
        null::double as denominator_sum,
        null::double as denominator_sum_squares,
        null::double as metric_denominator_sum_product,
        null::double as covariate_denominator_sum,
        null::double as covariate_denominator_sum_squares,
        null::double as covariate_covariate_denominator_sum_product,
        null::double as metric_covariate_denominator_sum_product,
        null::double as denominator_covariate_sum_product,
        null::double as denominator_covariate_denominator_sum_product
    from per_arm

    union all

    select
        experiment_id, variant, 'minutes_per_session', n_units,
        minutes_m, minutes_mm, minutes_x, minutes_xx, minutes_mx,
        sessions_m, sessions_mm, minutes_md, sessions_x, sessions_xx,
        minutes_xw, minutes_mw, minutes_dx, minutes_dw
    from per_arm

    union all

    select
        experiment_id, variant, 'converted', n_units,
        converted_m, converted_mm, converted_x, converted_xx, converted_mx,
        null, null, null, null, null, null, null, null, null
    from per_arm

    union all

    select
        experiment_id, variant, 'revenue', n_units,
        revenue_m, revenue_mm, revenue_x, revenue_xx, revenue_mx,
        null, null, null, null, null, null, null, null, null
    from per_arm

)

select * from final
order by experiment_id, variant, metric_id
