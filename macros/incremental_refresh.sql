{% macro incremental_refresh_enabled() -%}
    {#- True when this run refreshes the unit-level tables incrementally (the
        var incremental_refresh, set by `make refresh`) rather than rebuilding
        them; --full-refresh always rebuilds. -#}
    {{ return(var('incremental_refresh', false) and not flags.FULL_REFRESH) }}
{%- endmacro %}

{% macro unit_level_config() -%}
    {#- Materialisation of the unit-level models: incremental on DuckDB, so that
        `make refresh` recomputes only the units in int_units_to_refresh (see
        docs/benchmarks.md); a plain table elsewhere. Rebuilt in full unless
        incremental_refresh is on. -#}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{% macro delete_units_to_refresh() -%}
    {#- Pre-hook of every unit-level incremental model: on an incremental run,
        drop the rows of the units about to be recomputed. The model then
        appends their new rows (incremental_strategy append). -#}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where unit_id in (select unit_id from {{ ref('int_units_to_refresh') }})
    {%- endif -%}
{%- endmacro %}

{% macro only_units_to_refresh(unit_id_column) -%}
    {#- A filter for the incremental run of a unit-level model: true for the
        units in int_units_to_refresh, always true on a full build. -#}
    {%- if is_incremental() -%}
        {{ unit_id_column }} in (select unit_id from {{ ref('int_units_to_refresh') }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{% macro unit_refresh_active() -%}
    {#- True when this run recomputes only the units in int_units_to_refresh:
        incremental_refresh is on and the previous build's unit-level tables
        exist (otherwise everything is built in full). Decided at compile time,
        so the big join gets a plain semi-join filter rather than a filter
        that serves both modes (DuckDB planned that one badly at 100M events). -#}
    {%- if not (execute and experimentation.incremental_refresh_enabled()) or this is none -%}
        {#- (this is none in dbt unit tests, which build nothing incrementally) -#}
        {{ return(false) }}
    {%- endif -%}
    {%- set schema = this.schema -%}
    {%- set pivoted = adapter.get_relation(this.database, schema, 'int_unit_metrics_pivoted') -%}
    {%- set assignments = adapter.get_relation(this.database, schema, 'int_assignments_resolved') -%}
    {{ return(pivoted is not none and assignments is not none) }}
{%- endmacro %}
