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
{%- set key_hash = experimentation.row_hash(
    ['experiment_id', 'unit_id', 'variant', 'exposed_at', 'received_treatment']) %}
with

exposures as (

    select * from {{ ref('stg_raw__exposures') }}
    where row_reason_code is null
        and {{ experimentation.only_units_to_refresh('unit_id') }}

),

{%- if key_hash %}

repeated_hashes as (

    -- Every duplicated key, plus (rarely) distinct keys whose hashes collide.
    select {{ key_hash }} as key_hash
    from exposures
    group by {{ key_hash }}
    having count(*) > 1

),

candidates as (

    select * from exposures
    where {{ key_hash }} in (select key_hash from repeated_hashes)

),

{%- else %}

candidates as (

    select * from exposures

),

{%- endif %}

duplicated as (

    select
        experiment_id,
        unit_id,
        variant,
        exposed_at,
        received_treatment,
        count(*) as row_count
    from candidates
    group by experiment_id, unit_id, variant, exposed_at, received_treatment
    having count(*) > 1

)

select * from duplicated
