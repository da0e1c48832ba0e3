"""Target populations (issue 19 item 1): the population_rule grammar of
macros/population_rules.sql, compiled by dbt itself (one `dbt compile
--inline` for every rule) and run in DuckDB against a hand-built table whose
expected members a Python filter gives; then the demo's E003 population
(planned assignments, power's population size) and the quarantine of exposed
units outside a population (in tests/warehouse/test_bad_inputs.py)."""

from __future__ import annotations

import json
import math

import duckdb
import pandas as pd
import pytest
from oracle import Registry
from test_planned_assignments import arm_of, arm_ranges, eligible_units, md5_hex
from warehouse import BIN, REPO, read_tables, run

pytestmark = pytest.mark.warehouse

ATTRIBUTES = [
    {"column_name": "segment", "data_type": "string", "role": "dimension"},
    {"column_name": "age", "data_type": "double", "role": "covariate"},
    {"column_name": "signup_month", "data_type": "bigint", "role": "covariate"},
    {"column_name": "eligible", "data_type": "boolean", "role": "eligibility"},
]

UNITS = pd.DataFrame(
    {
        "unit_id": ["u1", "u2", "u3", "u4", "u5", "u6", "u7"],
        "segment": ["a", "b", "c", "a", None, "x' or '1'='1", "O'Neil"],
        "age": [20.0, 35.5, 50.0, None, 41.0, 30.0, 18.0],
        "signup_month": [1, 2, 3, 4, 5, 6, 2],
        "eligible": pd.array(
            [True, False, True, None, True, True, False], dtype="boolean"
        ),
    }
)

# Good rules and an independent Python filter of the same meaning (a unit
# with a null attribute is outside).
GOOD = {
    "segment = 'a'": lambda u: u.segment == "a",
    "segment != 'a'": lambda u: u.segment.notna() & (u.segment != "a"),
    "segment in ('a', 'c') and age >= 20": lambda u: (
        u.segment.isin(["a", "c"]) & (u.age >= 20)
    ),
    "age > 30 AND age <= 50 and signup_month < 5": lambda u: (
        (u.age > 30) & (u.age <= 50) & (u.signup_month < 5)
    ),
    "eligible = true": lambda u: u.eligible == True,  # noqa: E712
    "eligible != TRUE": lambda u: u.eligible != True,  # noqa: E712
    "signup_month in (2, 6)": lambda u: u.signup_month.isin([2, 6]),
    "age >= 2.5e1": lambda u: u.age >= 25,
    "age<19": lambda u: u.age < 19,
    "Segment = 'O''Neil'": lambda u: u.segment == "O'Neil",
    # An injection attempt in a value: compiled to one string literal, so it
    # matches only the unit whose segment is exactly that text.
    "segment = 'x'' or ''1''=''1'": lambda u: u.segment == "x' or '1'='1",
}

# Bad rules: a phrase of the problem each must give (nothing compiled).
BAD = {
    "": "the rule is empty",
    "segment = 'a'; drop table units": "unexpected character ;",
    "segment = 'a' or 1 = 1": "expected and between clauses, found or",
    "segment = 'a' --": "unexpected character -",
    "country = 'FR'": "attribute country is not declared",
    "segment = a": "is not quoted",
    "age >= 'x'": "is not a number",
    "age >= 1 + 1": "unexpected character +",
    "signup_month = 2.5": "is not a whole number",
    "eligible = 1": "is not true or false",
    "segment < 'b'": "operator < compares a string attribute",
    "segment in 'a'": "expected ( after in",
    "segment in ('a' 'b')": "expected , or ) in the list of values",
    "segment = 'a' and": "ends in the middle of a clause",
    "age between 1 and 2": "expected an operator",
    "\"segment\" = 'a'": 'unexpected character "',
    "segment = 'a\\' or true": "backslash",
    "and segment = 'a'": "expected an attribute name, found and",
    "(segment = 'a')": "expected an attribute name, found (",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, dict]:
    """Every rule of GOOD and BAD compiled by the project's macro, in one
    dbt invocation (its output is one JSON object per line)."""
    work = tmp_path_factory.mktemp("population_rules")
    rules = list(GOOD) + list(BAD)
    inline = (
        "{% for r in var('rules') %}"
        "{{ tojson(experimentation.compile_population_rule(r, var('attributes'))) }}"
        "\n{% endfor %}"
    )
    output = run(
        [
            str(BIN / "dbt"),
            "compile",
            "--profiles-dir",
            ".",
            "--quiet",
            "--output",
            "json",
            "--vars",
            json.dumps({"rules": rules, "attributes": ATTRIBUTES}),
            "--inline",
            inline,
        ],
        REPO,
        work / "empty.duckdb",
        work,
    )
    text = json.loads(output[output.index("{") :])["compiled"]
    results = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(results) == len(rules)
    return dict(zip(rules, results, strict=True))


def members(predicate: str) -> set[str]:
    """The unit ids of UNITS the compiled predicate keeps, in DuckDB."""
    with duckdb.connect() as con:
        con.register("units_frame", UNITS)
        con.execute("create table units as select * from units_frame")
        rows = con.execute(
            f"select unit_id from units where coalesce({predicate}, false)"
        ).fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize("rule", list(GOOD))
def test_population_rule_compiles_to_the_python_filter(compiled, rule):
    result = compiled[rule]
    assert result["problem"] is None, result
    expected = set(UNITS.unit_id[GOOD[rule](UNITS).fillna(False).astype(bool)])
    assert members(result["sql"]) == expected
    # The attribute is the declared column, quoted; no raw rule text.
    assert '"' in result["sql"]


def test_injection_attempt_in_a_value_is_one_literal(compiled):
    result = compiled["segment = 'x'' or ''1''=''1'"]
    assert members(result["sql"]) == {"u6"}
    assert "cast('x'' or ''1''=''1' as" in result["sql"]


@pytest.mark.parametrize("rule", list(BAD))
def test_bad_population_rule_is_a_problem_not_sql(compiled, rule):
    result = compiled[rule]
    assert result["sql"] is None
    assert BAD[rule] in result["problem"]


def test_good_rules_can_fail():
    # The oracle filters are not vacuous: each keeps some units, not all.
    for rule, keep in GOOD.items():
        kept = int(keep(UNITS).fillna(False).astype(bool).sum())
        assert 0 < kept < len(UNITS), rule


# ------------------------------------------------ the demo: E003's recruiters


E003_RULE = "segment in ('engineering', 'go_to_market', 'operations')"


@pytest.fixture(scope="module")
def demo(demo_warehouse):
    return read_tables(
        demo_warehouse["database"],
        "raw.units",
        "marts.planned_assignments",
        "marts.experiment_power",
        "intermediate.int_experiment_populations",
        "intermediate.int_registry_problems",
    )


def test_demo_e003_registers_its_recruiter_population():
    registry = Registry.from_seeds(REPO / "seeds")
    experiments = registry.experiments.set_index("experiment_id")
    assert experiments.loc["E003", "population_rule"] == E003_RULE
    assert (experiments.drop(index="E003").population_rule == "").all()


def test_demo_e003_assigns_only_its_population(demo):
    registry = Registry.from_seeds(REPO / "seeds")
    units = eligible_units(demo["raw.units"])
    population = units[
        units.segment.isin(["engineering", "go_to_market", "operations"])
    ]
    assert len(population) == 30 < len(units) / 1000
    assert population.index.str.startswith("recruiter_").all()
    ranges = arm_ranges(registry, "E003")
    got = demo["marts.planned_assignments"].set_index("unit_id")
    assert set(got.index) == set(population.index)
    for unit_id, row in got.iterrows():
        bucket = int(md5_hex(f"E003:{unit_id}")[:8], 16) % 10000
        assert row.hash_bucket == bucket
        assert row.variant == arm_of(bucket, ranges)


def test_demo_population_sizes_and_power(demo):
    units = eligible_units(demo["raw.units"])
    usable = len(units) + int((demo["raw.units"].eligible == False).sum())  # noqa: E712
    populations = demo["intermediate.int_experiment_populations"].set_index(
        "experiment_id"
    )
    assert populations.loc["E003", "population_units"] == 30
    assert bool(populations.loc["E003", "has_population_rule"])
    others = populations.drop(index="E003")
    assert (others.population_units == usable).all()
    assert not others.has_population_rule.any()
    power = demo["marts.experiment_power"].set_index("experiment_id")
    e003 = power.loc["E003"]
    assert e003.population_units == 30
    assert e003.required_units_total > 30
    assert not e003.is_population_sufficient
    for experiment_id, row in power.drop(index="E003").iterrows():
        if not math.isnan(row.required_units_total):
            assert row.is_population_sufficient == (
                usable >= row.required_units_total
            ), experiment_id
    assert demo["intermediate.int_registry_problems"].empty


def test_bad_population_rule_stops_the_build_naming_file_row_and_fix(
    demo_warehouse, tmp_path
):
    """A copy of the demo warehouse whose registry table has a bad rule for
    E003: the registry check fails and names it."""
    import shutil

    database = tmp_path / "copy.duckdb"
    shutil.copy2(demo_warehouse["database"], database)
    with duckdb.connect(str(database)) as con:
        con.execute(
            "update registry.experiments set population_rule = "
            "'segment = ''a''; drop table raw.units' where experiment_id = 'E003'"
        )
    with pytest.raises(AssertionError) as failure:
        run(
            [
                str(BIN / "dbt"),
                "build",
                "--profiles-dir",
                ".",
                "--select",
                "int_registry_problems planned_assignments",
            ],
            REPO,
            database,
            tmp_path,
            {"XP_AS_OF": "2024-11-01 12:00:00"},
        )
    message = str(failure.value)
    assert "seeds/experiments.csv | experiment_id = E003 | population_rule" in message
    assert "unexpected character ;" in message
    assert "Write the rule as clauses attribute operator value" in message
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from raw.units").fetchone()[0] > 0
