{{
    config(
        materialized='incremental' if target.type == 'duckdb' else 'table',
        incremental_strategy='append',
        full_refresh=not experimentation.incremental_refresh_enabled(),
        pre_hook=["{{ experimentation.delete_units_to_refresh() }}"],
    )
}}
-- Keys of exact duplicate exposures: the same experiment, unit, variant,
-- timestamp (as a UTC instant) and received_treatment on more than one
-- otherwise usable raw row. Usually empty; see int_event_duplicates (also for
-- the incremental refresh).
-- depends_on: {{ ref('int_units_to_refresh') }}
with

exposures as (

    select * from {{ ref('stg_raw__exposures') }}
    where row_reason_code is null
        and {{ experimentation.only_units_to_refresh('unit_id') }}
        {%- if not var('check_duplicates', true) %}
        -- The var check_duplicates is off: no row is treated as a duplicate.
        and 1 = 0
        {%- endif %}

),

{{ experimentation.duplicate_keys('exposures', ['experiment_id', 'unit_id', 'variant', 'exposed_at', 'received_treatment']) }}

select * from duplicated
