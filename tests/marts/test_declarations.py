"""Each Python mart is declared once (xpkit.marts.catalog): the dbt model's refs
and config keys, its YAML config block and columns, and the Spark path all
agree with the declaration."""

from __future__ import annotations

import ast

import pandas as pd
import pytest
import yaml
from warehouse import REPO

from xpkit.marts.catalog import MARTS, by_name
from xpkit.marts.declaration import MartDeclaration, experiment_list, read_var
from xpkit.settings import VARS, Var

MODELS = REPO / "python_models" / "marts"


def yaml_models() -> dict[str, dict]:
    found = {}
    for path in sorted(MODELS.glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            found[model["name"]] = model
    return found


def dbt_calls(name: str) -> tuple[list[str], list[str]]:
    """The literal arguments of dbt.ref(...) and dbt.config.get(...) calls in
    the model file, as dbt's parser finds them."""
    tree = ast.parse((MODELS / f"{name}.py").read_text(encoding="utf-8"))
    refs, keys = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        target = ast.unparse(node.func)
        literal = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if target == "dbt.ref":
            refs += literal
        elif target == "dbt.config.get":
            keys += literal
    return refs, keys


def test_every_python_model_has_one_declaration():
    models = sorted(path.stem for path in MODELS.glob("*.py"))
    names = [mart.name for mart in MARTS]
    assert sorted(names) == models
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("mart", MARTS, ids=lambda m: m.name)
def test_dbt_model_refs_and_config_keys_equal_its_declaration(mart):
    refs, keys = dbt_calls(mart.name)
    assert refs == list(mart.refs)
    assert keys == list(mart.settings)


@pytest.mark.parametrize("mart", MARTS, ids=lambda m: m.name)
def test_yaml_config_block_sets_exactly_the_declared_vars(mart):
    config = yaml_models()[mart.name].get("config") or {}
    assert sorted(config) == sorted(mart.settings)
    for key, value in config.items():
        # Each key is rendered from the dbt var of the same name.
        assert f"var('{key}'" in value.replace("''", "'"), (mart.name, key)


@pytest.mark.parametrize("mart", MARTS, ids=lambda m: m.name)
def test_yaml_columns_equal_the_declared_output_columns(mart):
    documented = [c["name"] for c in yaml_models()[mart.name]["columns"]]
    assert len(set(documented)) == len(documented)
    assert set(documented) == set(mart.columns)


def test_marts_come_after_the_python_marts_they_read():
    seen: set[str] = set()
    python_marts = {mart.name for mart in MARTS}
    for mart in MARTS:
        needed = {ref for ref in mart.refs if ref in python_marts}
        assert needed <= seen, (mart.name, needed - seen)
        seen.add(mart.name)


def test_declared_settings_are_known_vars():
    for mart in MARTS:
        assert set(mart.settings) <= set(VARS), mart.name


def test_by_name_finds_a_mart_and_names_the_known_ones():
    assert by_name("daily_results").refs == (
        "arm_metrics_daily",
        "stg_registry__experiments",
    )
    with pytest.raises(KeyError, match="known: \\['assignment_balance'"):
        by_name("orders")


def test_read_var_reads_each_kind_and_defaults_when_unset():
    assert read_var(Var("a", "int", 10, ""), "12") == 12
    assert read_var(Var("a", "int", 10, ""), None) == 10
    assert read_var(Var("a", "float", 0.5, ""), "0.25") == 0.25
    assert read_var(Var("a", "float", 0.5, ""), "") == 0.5
    assert read_var(Var("a", "str", "holm", ""), " bh ") == "bh"
    assert read_var(Var("a", "list", [], ""), "E2, E1,") == ("E1", "E2")
    assert read_var(Var("a", "list", [], ""), ["E1"]) == ("E1",)
    assert read_var(Var("a", "number_or_empty", "", ""), None) == ""
    assert read_var(Var("a", "number_or_empty", "", ""), "0.3") == 0.3


def test_read_var_names_the_var_and_the_fix_on_a_bad_value():
    with pytest.raises(ValueError, match="var min_segment_units = 'ten' is not a int"):
        read_var(VARS["min_segment_units"], "ten")


def test_experiment_list_reads_the_rendered_config_string():
    # How dbt renders the var sequential_experiments into config.
    assert experiment_list("['E3', 'E1']") == ["E1", "E3"]
    assert experiment_list("") == []
    assert experiment_list(None) == []


def toy() -> MartDeclaration:
    return MartDeclaration(
        name="toy",
        inputs=("marts.arm_metrics",),
        settings=("min_segment_units",),
        columns={"n": "Int64", "k": "Int64"},
        build=lambda inputs, settings: pd.DataFrame(
            {"n": [len(inputs["arm_metrics"])], "k": [settings["min_segment_units"]]}
        ),
    )


def test_run_reads_inputs_by_name_and_types_the_settings():
    out = toy().run({"arm_metrics": pd.DataFrame({"x": [1, 2, 3]})}, {})
    assert out.to_dict("records") == [{"n": 3, "k": 10}]


def test_run_refuses_a_missing_input_or_undeclared_columns():
    with pytest.raises(ValueError, match=r"inputs \['arm_metrics'\] not given"):
        toy().run({}, {})
    wrong = MartDeclaration(
        "toy", ("marts.arm_metrics",), (), {"n": "Int64"}, lambda i, s: pd.DataFrame()
    )
    with pytest.raises(ValueError, match="differ from the declared"):
        wrong.run({"arm_metrics": pd.DataFrame()}, {})
