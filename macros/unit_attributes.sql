{#- The declared unit attributes (seeds/unit_attributes.csv through
    stg_registry__unit_attributes): which raw.units columns the models read and
    for what. Every model and macro that reads a unit attribute asks these
    macros; no attribute name is written in SQL. The rows' problems (an unknown
    role or type, a column raw.units lacks, a var naming an undeclared column)
    are rows of int_registry_problems, reported once; the macros below skip the
    rows with a problem silently. -#}

{% macro unit_attribute_roles() -%}
    {{ return(['dimension', 'covariate', 'stratum', 'eligibility', 'prediction']) }}
{%- endmacro %}

{% macro unit_attribute_types() -%}
    {{ return(['string', 'double', 'bigint', 'boolean']) }}
{%- endmacro %}

{% macro declared_unit_attribute_rows() -%}
    {#- Every row of stg_registry__unit_attributes as a dict (column_name, role,
        data_type, bins, description), in file order; [] at parse time and
        while the table does not exist yet. ref() is called outside `execute`
        so that dbt records the dependency. -#}
    {%- set relation = ref('stg_registry__unit_attributes') -%}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
        {%- if existing is not none -%}
            {%- set result = run_query(
                'select column_name, role, data_type, bins, description from ' ~ relation) -%}
            {%- for row in result.rows -%}
                {%- do rows.append({
                    'column_name': row[0] or '',
                    'role': row[1] or '',
                    'data_type': row[2] or '',
                    'bins': row[3],
                    'description': row[4],
                }) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(rows) }}
{%- endmacro %}

{% macro unit_attribute_bin_edges(bins) -%}
    {#- A covariate's bins ('2|4|6|10') as a list of edge strings, or none when
        they are not increasing numbers. -#}
    {%- set edges = [] -%}
    {%- for part in (bins or '').split('|') -%}
        {%- set edge = part | trim -%}
        {%- if not modules.re.match('^-?[0-9]+(\\.[0-9]+)?$', edge) -%}
            {{ return(none) }}
        {%- endif -%}
        {%- if edges and edge | float <= edges[-1] | float -%}
            {{ return(none) }}
        {%- endif -%}
        {%- do edges.append(edge) -%}
    {%- endfor -%}
    {{ return(edges or none) }}
{%- endmacro %}

{% macro unit_attribute_row_problem(row, available) -%}
    {#- (problem, fix) of one declared row, or none when the row is usable. -#}
    {%- set roles = experimentation.unit_attribute_roles() -%}
    {%- set types = experimentation.unit_attribute_types() -%}
    {%- if not row['column_name'] -%}
        {{ return(('column_name is empty', 'Name a column of the units file (raw.units) or delete the row.')) }}
    {%- elif row['role'] not in roles -%}
        {{ return(("unknown role '" ~ row['role'] ~ "'", 'Use one of ' ~ roles | join(', ') ~ '.')) }}
    {%- elif row['data_type'] not in types -%}
        {{ return(("unknown data_type '" ~ row['data_type'] ~ "'", 'Use one of ' ~ types | join(', ') ~ '.')) }}
    {%- elif row['column_name'] not in available -%}
        {{ return(("column '" ~ row['column_name'] ~ "' is not a column of raw.units (the units file has: "
            ~ (available | join(', ') or 'no columns') ~ ")",
            'Add the column to the units file (units.csv or units.parquet), correct column_name, or delete the row.')) }}
    {%- elif row['role'] in ('covariate', 'prediction') and row['data_type'] not in ('double', 'bigint') -%}
        {{ return(("a " ~ row['role'] ~ " must be numeric, not '" ~ row['data_type'] ~ "'",
            'Use data_type double or bigint, or declare the column as a dimension.')) }}
    {%- elif row['role'] == 'eligibility' and row['data_type'] != 'boolean' -%}
        {{ return(("the eligibility column must be boolean, not '" ~ row['data_type'] ~ "'",
            'Use data_type boolean (true/false, 1/0).')) }}
    {%- elif row['bins'] and row['role'] == 'covariate'
        and experimentation.unit_attribute_bin_edges(row['bins']) is none -%}
        {{ return(("bins '" ~ row['bins'] ~ "' are not increasing numbers separated by '|'",
            "Write the cohort bin edges as 2|4|6|10, or leave bins empty.")) }}
    {%- elif row['bins'] and row['role'] == 'stratum'
        and not (modules.re.match('^[0-9]+$', row['bins']) and row['bins'] | int >= 2
                 and row['data_type'] in ('double', 'bigint')) -%}
        {{ return(("bins '" ~ row['bins'] ~ "' is not a number of quantile groups (2 or more) of a numeric stratum",
            'Give a whole number of quantile groups for a double or bigint column, or leave bins empty.')) }}
    {%- elif row['bins'] and row['role'] not in ('covariate', 'stratum') -%}
        {{ return(("bins are set on a " ~ row['role'], 'Leave bins empty: only covariates and strata are binned.')) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{% macro unit_attributes(role=none) -%}
    {#- The usable declared rows (no problem), in file order, of one role or of
        every role; each column once per role. -#}
    {%- set available = experimentation.unit_attribute_columns() -%}
    {%- set found = [] -%}
    {%- set seen = [] -%}
    {%- for row in experimentation.declared_unit_attribute_rows() -%}
        {%- set key = row['column_name'] ~ '/' ~ row['role'] -%}
        {%- if (role is none or row['role'] == role) and key not in seen
            and experimentation.unit_attribute_row_problem(row, available) is none -%}
            {%- do seen.append(key) -%}
            {%- do found.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}

{% macro unit_attribute_names(role) -%}
    {#- The column names of the usable declared rows of one role, in file order. -#}
    {%- set names = [] -%}
    {%- for row in experimentation.unit_attributes(role) -%}
        {%- do names.append(row['column_name']) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{% macro unit_attribute_overrides() -%}
    {#- The vars that name unit attribute columns themselves (the registry's
        overrides): a list of (var name, column names); empty vars left out. -#}
    {%- set overrides = [] -%}
    {%- set segment_columns = var('segment_columns', []) or [] -%}
    {%- if segment_columns -%}
        {%- do overrides.append(('segment_columns', segment_columns)) -%}
    {%- endif -%}
    {%- set strata = [] -%}
    {%- for stratum in var('eligibility_strata', []) or [] -%}
        {%- do strata.append(stratum['column']) -%}
    {%- endfor -%}
    {%- if strata -%}
        {%- do overrides.append(('eligibility_strata', strata)) -%}
    {%- endif -%}
    {%- for name in ['assignment_strata_column', 'assignment_eligibility_column'] -%}
        {%- if var(name, '') -%}
            {%- do overrides.append((name, [var(name, '')])) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(overrides) }}
{%- endmacro %}

{% macro is_declared_unit_attribute(name, usable=true) -%}
    {#- True when `name` is a usable declared column (any role); with
        usable=false, when any row declares it. -#}
    {%- set rows = experimentation.unit_attributes() if usable
        else experimentation.declared_unit_attribute_rows() -%}
    {%- for row in rows -%}
        {%- if row['column_name'] == name | lower -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}

{% macro unit_attribute_problems() -%}
    {#- The problem rows (seed_file, row_key, problem, fix) of the declared unit
        attributes, as a select (one row per problem), for registry_problems:
        each declared row's problem, duplicate rows, more than one eligibility
        column, and a var that names a column the registry does not declare. -#}
    {%- set available = experimentation.unit_attribute_columns() -%}
    {%- set problems = [] -%}
    {%- set seen = [] -%}
    {%- set eligibility = [] -%}
    {%- for row in experimentation.declared_unit_attribute_rows() -%}
        {%- set key = 'column_name = ' ~ (row['column_name'] or '<empty>') ~ ', role = ' ~ (row['role'] or '<empty>') -%}
        {%- set problem = experimentation.unit_attribute_row_problem(row, available) -%}
        {%- if problem is not none -%}
            {%- do problems.append(('seeds/unit_attributes.csv', key, problem[0], problem[1])) -%}
        {%- elif key in seen -%}
            {%- do problems.append(('seeds/unit_attributes.csv', key, 'the row is declared twice', 'Keep one row per column and role.')) -%}
        {%- else -%}
            {%- do seen.append(key) -%}
            {%- if row['role'] == 'eligibility' -%}
                {%- do eligibility.append(row['column_name']) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if eligibility | length > 1 -%}
        {%- do problems.append(('seeds/unit_attributes.csv', 'role = eligibility',
            'more than one eligibility column (' ~ eligibility | join(', ') ~ ')',
            'Declare one column with role eligibility.')) -%}
    {%- endif -%}
    {%- for override in experimentation.unit_attribute_overrides() -%}
        {%- for name in override[1] -%}
            {%- if not experimentation.is_declared_unit_attribute(name, usable=false) -%}
                {%- do problems.append(('dbt_project.yml', 'var ' ~ override[0],
                    "column '" ~ name ~ "' is not declared in seeds/unit_attributes.csv",
                    "Add a row for '" ~ name ~ "' to seeds/unit_attributes.csv (column_name, role, data_type, bins, description) or remove it from the var.")) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for problem in problems %}
    select
        {%- for part in problem %}
        cast('{{ part | replace("'", "''") }}' as {{ dbt.type_string() }}){{ ',' if not loop.last }}
        {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }})
    where 1 = 0
    {%- endfor %}
{%- endmacro %}

{% macro segment_dimensions() -%}
    {#- The columns results are broken down by: the declared dimensions, or the
        var segment_columns when it is set (its declared columns). -#}
    {%- set wanted = var('segment_columns', []) or [] -%}
    {%- if not wanted -%}
        {{ return(experimentation.unit_attribute_names('dimension')) }}
    {%- endif -%}
    {%- set found = [] -%}
    {%- for name in wanted -%}
        {%- if experimentation.is_declared_unit_attribute(name) -%}
            {%- do found.append(name | lower) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}

{% macro eligibility_strata() -%}
    {#- The strata ({column, bins}) within which P(eligible) is estimated: the
        declared strata (bins = quantile groups), or the var eligibility_strata
        when it is set (its declared columns). -#}
    {%- set found = [] -%}
    {%- set wanted = var('eligibility_strata', []) or [] -%}
    {%- if wanted -%}
        {%- for stratum in wanted -%}
            {%- if experimentation.is_declared_unit_attribute(stratum['column']) -%}
                {%- do found.append(stratum) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {%- for row in experimentation.unit_attributes('stratum') -%}
            {%- if row['bins'] -%}
                {%- do found.append({'column': row['column_name'], 'bins': row['bins'] | int}) -%}
            {%- else -%}
                {%- do found.append({'column': row['column_name']}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{% macro eligibility_column() -%}
    {#- The declared eligibility column (who could be exposed at all), or ''. -#}
    {%- set names = experimentation.unit_attribute_names('eligibility') -%}
    {{ return(names[0] if names else '') }}
{%- endmacro %}

{% macro has_eligibility() -%}
    {#- True when an eligibility column is declared; arm_metrics_by_compliance
        then adds inverse-probability weights. -#}
    {{ return(experimentation.eligibility_column() != '') }}
{%- endmacro %}

{% macro assignment_eligibility_column() -%}
    {#- The column whose false units planned experiments never assign: the var
        assignment_eligibility_column when set and declared, else the declared
        eligibility column; '' when none. -#}
    {%- set wanted = var('assignment_eligibility_column', '') -%}
    {%- if wanted -%}
        {{ return(wanted | lower if experimentation.is_declared_unit_attribute(wanted) else '') }}
    {%- endif -%}
    {{ return(experimentation.eligibility_column()) }}
{%- endmacro %}

{% macro assignment_strata_column() -%}
    {#- The declared column planned assignments are stratified by (var
        assignment_strata_column), or '' when the var is empty or names an
        undeclared column (a registry problem). -#}
    {%- set wanted = var('assignment_strata_column', '') -%}
    {%- if wanted and experimentation.is_declared_unit_attribute(wanted) -%}
        {{ return(wanted | lower) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro cohort_attributes() -%}
    {#- The attributes keying the cohorts (marts.experiment_cohorts): segment =
        the first dimension; activity = the first covariate with bins, cut at
        its edges (or the var activity_bin_edges when set); signup_month = the
        first bigint covariate without bins. Each none when not declared. -#}
    {%- set dimensions = experimentation.unit_attributes('dimension') -%}
    {%- set binned = [] -%}
    {%- set months = [] -%}
    {%- for row in experimentation.unit_attributes('covariate') -%}
        {%- if row['bins'] -%}
            {%- do binned.append(row) -%}
        {%- elif row['data_type'] == 'bigint' -%}
            {%- do months.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set edges = var('activity_bin_edges', []) or [] -%}
    {%- if binned and not edges -%}
        {%- set edges = experimentation.unit_attribute_bin_edges(binned[0]['bins']) -%}
    {%- endif -%}
    {{ return({
        'segment': dimensions[0] if dimensions else none,
        'activity': binned[0] if binned else none,
        'activity_edges': edges,
        'signup_month': months[0] if months else none,
    }) }}
{%- endmacro %}

{% macro unit_attribute_value(row) -%}
    {#- SQL of a declared attribute's value cast to its data_type (null when it
        does not cast). -#}
    {%- set column = adapter.quote(row['column_name']) -%}
    {%- if row['data_type'] == 'string' -%}
        cast({{ column }} as {{ dbt.type_string() }})
    {%- elif row['data_type'] == 'double' -%}
        {{ experimentation.try_cast(column, experimentation.type_double()) }}
    {%- elif row['data_type'] == 'bigint' -%}
        {{ experimentation.try_cast(column, dbt.type_bigint()) }}
    {%- else -%}
        {{ experimentation.try_cast(column, dbt.type_boolean()) }}
    {%- endif -%}
{%- endmacro %}

{% macro cate_features() -%}
    {#- The CATE learners' features: numeric = the covariates then the
        predictions (each column once), categorical = the dimensions; as
        lists of declared rows, in file order. -#}
    {%- set numeric = [] -%}
    {%- set names = [] -%}
    {%- for row in experimentation.unit_attributes('covariate') + experimentation.unit_attributes('prediction') -%}
        {%- if row['column_name'] not in names -%}
            {%- do names.append(row['column_name']) -%}
            {%- do numeric.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'numeric': numeric, 'categorical': experimentation.unit_attributes('dimension')}) }}
{%- endmacro %}
