-- One row per registered experiment: its target population (population_rule,
-- macros/population_rules.sql) and how many usable raw.units rows are in it,
-- for marts.experiment_power. One scan of the units, one flag per rule.
-- depends_on: {{ ref('int_registry_problems') }}
{%- set rules = experimentation.population_rules() %}

with

experiments as (

    select * from {{ ref('stg_registry__experiments') }}

),

units as (

    -- One in_population_<k> flag per registered rule.
    select unit_id{{ experimentation.population_flag_columns() }}
    from {{ ref('stg_raw__units') }}
    where reason_code is null

),

counted as (

    select
        {%- for rule in rules %}
        sum(case when in_population_{{ loop.index }} then 1 else 0 end) as population_{{ loop.index }},
        {%- endfor %}
        count(*) as all_units
    from units

),

populations as (

    select
        experiments.experiment_id,
        experiments.population_rule,
        experiments.population_rule is not null
        and trim(experiments.population_rule) != '' as has_population_rule,
        cast(
            {%- if rules %}
            case
                {%- for rule in rules %}
                when experiments.experiment_id = '{{ rule['experiment_id'] | replace("'", "''") }}'
                    then counted.population_{{ loop.index }}
                {%- endfor %}
                else counted.all_units
            end
            {%- else %}
            counted.all_units
            {%- endif %}
            as {{ dbt.type_bigint() }}
        ) as population_units
    from experiments
    cross join counted

)

select * from populations
