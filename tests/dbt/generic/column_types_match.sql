{% test column_types_match(model) %}
    {#- The contract of a Python mart. dbt enforces contracts on SQL models
        only, so a Python mart declares data_type on every column and this test
        compares the built table with the declaration: one failing row per
        column that is missing, undeclared, or of another type. The column's
        YAML entry is the fix. -#}
    {%- set problems = [] -%}
    {%- if execute -%}
        {%- set declared = {} -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model'
            and node.schema | lower == model.schema | lower
            and node.alias | lower == model.identifier | lower -%}
            {%- for column in node.columns.values() -%}
                {%- do declared.update({column.name | lower: (column.data_type or '') | lower}) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set built = {} -%}
        {%- for column in adapter.get_columns_in_relation(model) -%}
            {%- do built.update({column.name | lower: column.dtype | lower}) -%}
        {%- endfor -%}
        {%- for name, data_type in declared.items() -%}
            {%- if name not in built -%}
                {%- do problems.append((name, data_type, 'missing')) -%}
            {%- elif data_type != built[name] -%}
                {%- do problems.append((name, data_type or 'not declared', built[name])) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for name, data_type in built.items() if name not in declared -%}
            {%- do problems.append((name, 'not declared', data_type)) -%}
        {%- endfor -%}
        {%- for name, want, got in problems -%}
            {{ log(model.identifier ~ '.' ~ name ~ ': declared ' ~ want ~ ', built ' ~ got, info=True) }}
        {%- endfor -%}
    {%- endif -%}
    {%- if problems %}
        {%- for name, want, got in problems %}
    select
        '{{ name }}' as column_name,
        '{{ want }}' as declared_type,
        '{{ got }}' as built_type
            {%- if not loop.last %}
    union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as declared_type,
        cast(null as {{ dbt.type_string() }}) as built_type
    where 1 = 0
    {%- endif %}
{% endtest %}
