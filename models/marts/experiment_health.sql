-- Per-experiment data health: who was exposed, who is analysed, who was
-- excluded for seeing more than one variant, and what was quarantined.
with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

assignments as (

    select * from {{ ref('int_assignments_resolved') }}

),

exposures as (

    select * from {{ ref('int_exposures_classified') }}

),

assignment_summary as (

    select
        experiment_id,
        count(*) as units_exposed,
        cast(sum(case when is_multi_variant then 0 else 1 end) as {{ dbt.type_bigint() }}) as units_analysed,
        cast(sum(case when is_multi_variant then 1 else 0 end) as {{ dbt.type_bigint() }}) as multi_variant_units,
        min(first_exposed_at) as first_exposed_at,
        max(last_exposed_at) as last_exposed_at
    from assignments
    group by experiment_id

),

exposure_summary as (

    select
        experiment_id,
        count(*) as exposure_rows,
        cast(sum(case when reason_code is null then 1 else 0 end) as {{ dbt.type_bigint() }}) as exposure_rows_staged,
        cast(sum(case when reason_code is null then 0 else 1 end) as {{ dbt.type_bigint() }}) as exposure_rows_quarantined
    from exposures
    group by experiment_id

),

final as (

    select
        experiments.experiment_id,
        experiments.status,
        coalesce(assignment_summary.units_exposed, 0) as units_exposed,
        coalesce(assignment_summary.units_analysed, 0) as units_analysed,
        coalesce(assignment_summary.multi_variant_units, 0) as multi_variant_units,
        case
            when assignment_summary.units_exposed > 0
                then cast(assignment_summary.multi_variant_units as {{ experimentation.type_double() }})
                / assignment_summary.units_exposed
        end as multi_variant_share,
        coalesce(exposure_summary.exposure_rows, 0) as exposure_rows,
        coalesce(exposure_summary.exposure_rows_staged, 0) as exposure_rows_staged,
        coalesce(exposure_summary.exposure_rows_quarantined, 0) as exposure_rows_quarantined,
        assignment_summary.first_exposed_at,
        assignment_summary.last_exposed_at
    from experiments
    left join assignment_summary
        on experiments.experiment_id = assignment_summary.experiment_id
    left join exposure_summary
        on experiments.experiment_id = exposure_summary.experiment_id

)

select * from final
