-- One row per input table (raw tables and registry seeds): its row count and an
-- order-independent digest of its content, recorded in build_manifest.
{%- set inputs = [
    ('raw_table', 'raw.exposures', source('raw', 'exposures')),
    ('raw_table', 'raw.events', source('raw', 'events')),
    ('raw_table', 'raw.units', source('raw', 'units')),
    ('registry_table', 'experiments', ref('experiments')),
    ('registry_table', 'experiment_variants', ref('experiment_variants')),
    ('registry_table', 'metrics', ref('metrics')),
    ('registry_table', 'experiment_metrics', ref('experiment_metrics')),
] %}

with

digests as (

    {%- for item_type, item_name, relation in inputs %}
    select
        '{{ item_type }}' as item_type,
        '{{ item_name }}' as item_name,
        count(*) as row_count,
        {{ experimentation.table_digest('input_rows') }} as digest
    from {{ relation }} as input_rows
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select * from digests
