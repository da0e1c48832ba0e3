-- Summing an arm's days gives its arm_metrics row: same units, same sums.
with

daily as (

    select
        experiment_id,
        variant,
        metric_id,
        sum(n_units) as n_units,
        sum(metric_sum) as metric_sum,
        sum(metric_sum_squares) as metric_sum_squares,
        sum(metric_covariate_sum_product) as metric_covariate_sum_product
    from {{ ref('arm_metrics_daily') }}
    group by experiment_id, variant, metric_id

),

whole as (

    select * from {{ ref('arm_metrics') }}
    where n_units > 0

)

select
    whole.experiment_id,
    whole.variant,
    whole.metric_id
from whole
left join daily
    on whole.experiment_id = daily.experiment_id
    and whole.variant = daily.variant
    and whole.metric_id = daily.metric_id
where daily.n_units is null
    or daily.n_units <> whole.n_units
    or abs(daily.metric_sum - whole.metric_sum) > 1e-9 * (1 + abs(whole.metric_sum))
    or abs(daily.metric_sum_squares - whole.metric_sum_squares)
    > 1e-9 * (1 + abs(whole.metric_sum_squares))
    or abs(daily.metric_covariate_sum_product - whole.metric_covariate_sum_product)
    > 1e-9 * (1 + abs(whole.metric_covariate_sum_product))
