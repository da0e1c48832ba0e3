-- One row per experiment x registered metric: the shift subtracted from each
-- unit value before the arm_metrics family sums its squares and products, so a
-- large mean with a small spread loses no digits. One shift serves every arm,
-- day, segment and compliance cell, so shifted sums add up across them.
with

unit_metrics as (

    select * from {{ ref('int_unit_metrics_pivoted') }}

),

registered_metrics as (

    select * from {{ ref('int_registered_metrics_keyed') }}

),

moments as (

    -- Over the units with a row (the others are 0 and add spread of their own).
    select
        experiment_metric_key,
        count(*) as n_values,
        avg(m) as m_mean,
        stddev_samp(m) as m_sd,
        min(m) as m_min,
        avg(x) as x_mean,
        stddev_samp(x) as x_sd,
        min(x) as x_min,
        avg(d) as d_mean,
        stddev_samp(d) as d_sd,
        min(d) as d_min,
        avg(w) as w_mean,
        stddev_samp(w) as w_sd,
        min(w) as w_min
    from unit_metrics
    group by experiment_metric_key

),

final as (

    select
        registered_metrics.experiment_metric_key,
        {%- for variable, shift in experimentation.shift_columns().items() %}
        {{ experimentation.value_shift(
            'moments.' ~ variable ~ '_mean',
            'moments.' ~ variable ~ '_sd',
            'moments.' ~ variable ~ '_min',
            'moments.n_values',
        ) }} as {{ shift }}{{ ',' if not loop.last }}
        {%- endfor %}
    from registered_metrics
    left join moments
        on registered_metrics.experiment_metric_key = moments.experiment_metric_key

)

select * from final
