{#- Target populations (issue 19 item 1): the optional population_rule column of
    seeds/experiments.csv, a conjunction of `attribute operator value` clauses,
    parsed here and compiled to SQL. Attribute names are checked against the
    declared unit attributes (seeds/unit_attributes.csv, any role) and replaced
    by the declared column, quoted and cast to its data_type; values are
    re-written as typed literals (strings re-quoted, numbers matched by a
    regular expression): no text of the rule reaches the SQL as written. A bad
    rule is a row of int_registry_problems (file, experiment, problem, fix),
    and its experiment's population is empty until it is fixed. Grammar:
    docs/methodology.md, "Target populations". -#}

{% macro population_rule_tokens(rule) -%}
    {#- The rule's tokens as (kind, text): kind is string, number, operator,
        word, punctuation, or bad (a character no token starts with). -#}
    {%- set pattern = "('(?:[^']|'')*')|(-?[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|(<=|>=|!=|=|<|>)|([A-Za-z_][A-Za-z0-9_]*)|([(),])|(\\S)" -%}
    {%- set tokens = [] -%}
    {%- for groups in modules.re.findall(pattern, rule) -%}
        {%- if groups[0] -%}{%- do tokens.append(('string', groups[0])) -%}
        {%- elif groups[1] -%}{%- do tokens.append(('number', groups[1])) -%}
        {%- elif groups[2] -%}{%- do tokens.append(('operator', groups[2])) -%}
        {%- elif groups[3] -%}{%- do tokens.append(('word', groups[3])) -%}
        {%- elif groups[4] -%}{%- do tokens.append(('punctuation', groups[4])) -%}
        {%- else -%}{%- do tokens.append(('bad', groups[5])) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tokens) }}
{%- endmacro %}

{% macro population_rule_literal(token, row) -%}
    {#- (sql, none) of one value token as a literal of the attribute's declared
        data_type, or (none, problem). -#}
    {%- set kind, text = token -%}
    {%- set data_type = row['data_type'] -%}
    {%- if data_type == 'string' -%}
        {%- if kind != 'string' -%}
            {{ return((none, "the value " ~ text ~ " of the string attribute " ~ row['column_name'] ~ " is not quoted")) }}
        {%- endif -%}
        {%- set inner = text[1:-1] | replace("''", "'") -%}
        {%- if '\\' in inner or modules.re.search('[\\x00-\\x1f]', inner) -%}
            {{ return((none, "the value " ~ text ~ " holds a backslash or a control character")) }}
        {%- endif -%}
        {{ return(("cast('" ~ inner | replace("'", "''") ~ "' as " ~ dbt.type_string() ~ ")", none)) }}
    {%- elif data_type == 'boolean' -%}
        {%- if kind == 'word' and text | lower in ('true', 'false') -%}
            {{ return((text | lower, none)) }}
        {%- endif -%}
        {{ return((none, "the value " ~ text ~ " of the boolean attribute " ~ row['column_name'] ~ " is not true or false")) }}
    {%- elif data_type == 'bigint' -%}
        {%- if kind == 'number' and modules.re.match('^-?[0-9]{1,18}$', text) -%}
            {{ return(("cast(" ~ text ~ " as " ~ dbt.type_bigint() ~ ")", none)) }}
        {%- endif -%}
        {{ return((none, "the value " ~ text ~ " of the bigint attribute " ~ row['column_name'] ~ " is not a whole number")) }}
    {%- else -%}
        {%- if kind == 'number' -%}
            {{ return(("cast(" ~ text ~ " as " ~ experimentation.type_double() ~ ")", none)) }}
        {%- endif -%}
        {{ return((none, "the value " ~ text ~ " of the numeric attribute " ~ row['column_name'] ~ " is not a number")) }}
    {%- endif -%}
{%- endmacro %}

{% macro compile_population_rule(rule, attributes=none) -%}
    {#- {'sql': predicate, 'problem': none} for a valid rule, or {'sql': none,
        'problem': text}. `attributes`: the declared rows (default: every
        usable row of seeds/unit_attributes.csv, any role). A unit whose
        attribute is null or does not cast is outside (the caller wraps the
        predicate in coalesce(..., false)). -#}
    {%- set attributes = experimentation.unit_attributes() if attributes is none else attributes -%}
    {%- set declared = {} -%}
    {%- for row in attributes -%}
        {%- if row['column_name'] | lower not in declared -%}
            {%- do declared.update({row['column_name'] | lower: row}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set tokens = experimentation.population_rule_tokens(rule or '') -%}
    {%- set s = namespace(state='attribute', row=none, operator=none, values=[], clauses=[], problem=none) -%}
    {%- for token in tokens if s.problem is none -%}
        {%- set kind, text = token -%}
        {%- if kind == 'bad' -%}
            {%- set s.problem = "unexpected character " ~ text -%}
        {%- elif s.state == 'attribute' -%}
            {%- if kind != 'word' or text | lower in ('and', 'in', 'true', 'false') -%}
                {%- set s.problem = "expected an attribute name, found " ~ text -%}
            {%- elif text | lower not in declared -%}
                {%- set s.problem = "attribute " ~ text ~ " is not declared in seeds/unit_attributes.csv (declared: "
                    ~ (declared.keys() | sort | join(', ') or 'none') ~ ")" -%}
            {%- else -%}
                {%- set s.row = declared[text | lower] -%}
                {%- set s.state = 'operator' -%}
            {%- endif -%}
        {%- elif s.state == 'operator' -%}
            {%- if kind == 'operator' -%}
                {%- if text not in ('=', '!=') and s.row['data_type'] in ('string', 'boolean') -%}
                    {%- set s.problem = "operator " ~ text ~ " compares a " ~ s.row['data_type'] ~ " attribute (" ~ s.row['column_name'] ~ "): use = != or in" -%}
                {%- else -%}
                    {%- set s.operator = text -%}
                    {%- set s.state = 'value' -%}
                {%- endif -%}
            {%- elif kind == 'word' and text | lower == 'in' -%}
                {%- set s.operator = 'in' -%}
                {%- set s.values = [] -%}
                {%- set s.state = 'open' -%}
            {%- else -%}
                {%- set s.problem = "expected an operator (= != < <= > >= in) after " ~ s.row['column_name'] ~ ", found " ~ text -%}
            {%- endif -%}
        {%- elif s.state in ('value', 'list_value') -%}
            {%- set literal = experimentation.population_rule_literal(token, s.row) -%}
            {%- if literal[1] is not none -%}
                {%- set s.problem = literal[1] -%}
            {%- elif s.state == 'value' -%}
                {%- set column = experimentation.unit_attribute_value(s.row) | trim -%}
                {%- do s.clauses.append(column ~ ' ' ~ ('<>' if s.operator == '!=' else s.operator) ~ ' ' ~ literal[0]) -%}
                {%- set s.state = 'and' -%}
            {%- else -%}
                {%- do s.values.append(literal[0]) -%}
                {%- set s.state = 'separator' -%}
            {%- endif -%}
        {%- elif s.state == 'open' -%}
            {%- if text == '(' -%}
                {%- set s.state = 'list_value' -%}
            {%- else -%}
                {%- set s.problem = "expected ( after in, found " ~ text -%}
            {%- endif -%}
        {%- elif s.state == 'separator' -%}
            {%- if text == ',' -%}
                {%- set s.state = 'list_value' -%}
            {%- elif text == ')' -%}
                {%- set column = experimentation.unit_attribute_value(s.row) | trim -%}
                {%- do s.clauses.append(column ~ ' in (' ~ s.values | join(', ') ~ ')') -%}
                {%- set s.state = 'and' -%}
            {%- else -%}
                {%- set s.problem = "expected , or ) in the list of values, found " ~ text -%}
            {%- endif -%}
        {%- elif s.state == 'and' -%}
            {%- if kind == 'word' and text | lower == 'and' -%}
                {%- set s.state = 'attribute' -%}
            {%- else -%}
                {%- set s.problem = "expected and between clauses, found " ~ text ~ " (only conjunctions are allowed)" -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if s.problem is none and not tokens -%}
        {%- set s.problem = 'the rule is empty' -%}
    {%- elif s.problem is none and s.state != 'and' -%}
        {%- set s.problem = 'the rule ends in the middle of a clause' -%}
    {%- endif -%}
    {%- if s.problem is not none -%}
        {{ return({'sql': none, 'problem': s.problem}) }}
    {%- endif -%}
    {{ return({'sql': '(' ~ s.clauses | join(') and (') ~ ')', 'problem': none}) }}
{%- endmacro %}

{% macro population_rules() -%}
    {#- The registered rules: a list of {experiment_id, rule, sql, problem}, one
        per experiment with a non-blank population_rule, in id order; [] at
        parse time and while the registry table does not exist. ref() is
        called outside `execute` so that dbt records the dependency. -#}
    {%- set relation = ref('stg_registry__experiments') -%}
    {%- set attributes = experimentation.unit_attributes() -%}
    {%- set rules = [] -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
        {%- if existing is not none -%}
            {%- set result = run_query(
                'select experiment_id, population_rule from ' ~ relation
                ~ ' where population_rule is not null order by experiment_id') -%}
            {%- for row in result.rows if row[0] and (row[1] or '') | trim -%}
                {%- set compiled = experimentation.compile_population_rule(row[1], attributes) -%}
                {%- do rules.append({
                    'experiment_id': row[0],
                    'rule': row[1],
                    'sql': compiled['sql'],
                    'problem': compiled['problem'],
                }) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(rules) }}
{%- endmacro %}

{% macro population_flag_columns() -%}
    {#- Select-list items, each preceded by a comma, over a relation of units
        (their attribute columns in scope, no other table joined):
        in_population_<k>, true when the unit belongs to the population of the
        k-th rule (false for a null attribute and for a bad rule, which is a
        registry problem). Empty when no experiment registers a rule. -#}
    {%- for rule in experimentation.population_rules() %}
        , coalesce({{ rule['sql'] or 'false' }}, false) as in_population_{{ loop.index }}
    {%- endfor -%}
{%- endmacro %}

{% macro population_flag(experiment_id_column, units_alias) -%}
    {#- SQL true when the unit of `units_alias` (a relation with the columns of
        population_flag_columns) belongs to the population of the experiment in
        `experiment_id_column`: true for an experiment without a rule. -#}
    {%- set rules = experimentation.population_rules() -%}
    {%- if not rules -%}
        true
    {%- else -%}
        case
        {%- for rule in rules %}
            when {{ experiment_id_column }} = '{{ rule['experiment_id'] | replace("'", "''") }}'
                then coalesce({{ units_alias }}.in_population_{{ loop.index }}, false)
        {%- endfor %}
            else true
        end
    {%- endif -%}
{%- endmacro %}

{% macro has_population_rules() -%}
    {#- True when some experiment registers a population rule. -#}
    {{ return(experimentation.population_rules() | length > 0) }}
{%- endmacro %}

{% macro population_rule_problems() -%}
    {#- The problem rows (seed_file, row_key, problem, fix) of the population
        rules, as a select for registry_problems. -#}
    {%- set problems = [] -%}
    {%- for rule in experimentation.population_rules() if rule['problem'] is not none -%}
        {%- do problems.append((
            'seeds/experiments.csv',
            'experiment_id = ' ~ rule['experiment_id'],
            'population_rule ' ~ rule['rule'] ~ ': ' ~ rule['problem'],
            "Write the rule as clauses attribute operator value joined by and (operators = != < <= > >= in), "
            ~ "e.g. segment in ('engineering', 'operations') and age >= 18, over columns declared in "
            ~ "seeds/unit_attributes.csv, with string values in single quotes; or leave population_rule empty.",
        )) -%}
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
