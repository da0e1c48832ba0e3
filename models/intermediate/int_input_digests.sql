-- One row per input table (raw tables and registry seeds): its row count and an
-- order-independent digest of its content, recorded in build_manifest. Raw
-- tables are named as schema.table wherever the source vars point.
{%- set inputs = [] %}
{%- for table in ['exposures', 'events', 'units'] %}
    {%- set relation = source('raw', table) %}
    {%- do inputs.append(('raw_table', relation.schema ~ '.' ~ relation.identifier, relation)) %}
{%- endfor %}
{%- for name in ['experiments', 'experiment_variants', 'metrics', 'experiment_metrics'] %}
    {%- do inputs.append(('registry_table', name, experimentation.registry_relation(name))) %}
{%- endfor %}

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
