{% macro registry_relation(name) -%}
    {#- The registry table `name` (experiments, experiment_variants, metrics or
        experiment_metrics): this project's seed of that name, or the node the
        var registry_relations maps it to (a seed or model of the project that
        installs this one as a package; README "Install as a dbt package").
        The mapped node is looked up in the root project (project_name), so
        that dbt's require_ref_prefers_node_package_to_root stays quiet. -#}
    {%- set chosen = var('registry_relations', {}).get(name) -%}
    {%- if chosen -%}
        {{ return(ref(project_name, chosen)) }}
    {%- else -%}
        {{ return(ref(name)) }}
    {%- endif -%}
{%- endmacro %}
