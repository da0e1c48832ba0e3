"""Every default once: dbt_project.yml's vars, the var() defaults of the models,
the Python marts' config blocks, the gates' thresholds, the package's
defaults and the README's settings table all agree with xpkit.settings."""

from __future__ import annotations

import json
import math
import re

import pytest
import yaml
from warehouse import REPO

from xpkit import settings
from xpkit.marts.compliance_results import compliance_results
from xpkit.marts.experiment_cate import experiment_cate
from xpkit.marts.experiment_decisions import DecisionConfig
from xpkit.settings import VARS
from xpkit.stats import iv, sequential, srm

# var('name', default) in SQL and YAML (Jinja), not env_var(...).
VAR_CALL = re.compile(r"(?<![\w.])var\(\s*'(\w+)'\s*(?:,\s*([^)]*?))?\s*\)")


def project_vars() -> dict:
    text = (REPO / "dbt_project.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["vars"]


def jinja_literal(text: str) -> object:
    """A Jinja literal as Python; ``none`` is the empty value, as for dbt."""
    value = yaml.safe_load(text.replace("none", "''"))
    return "" if value is None else value


def test_dbt_project_vars_equal_the_settings_defaults():
    assert project_vars() == {name: var.default for name, var in VARS.items()}


def test_every_var_default_in_the_models_equals_the_settings_default():
    files = [
        *REPO.glob("models/**/*.sql"),
        *REPO.glob("models/**/*.yml"),
        *REPO.glob("macros/**/*.sql"),
        *REPO.glob("python_models/**/*.yml"),
    ]
    found = 0
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".yml":  # a quote inside a single-quoted YAML scalar
            text = text.replace("''", "'")
        for name, default in VAR_CALL.findall(text):
            found += 1
            if name not in VARS:
                problems.append((path.name, name, "not in xpkit.settings.VARS"))
            elif default and jinja_literal(default) != VARS[name].default:
                problems.append((path.name, name, default, VARS[name].default))
    assert found > 20  # the pattern finds the var() calls at all
    assert not problems, problems


def test_python_mart_config_blocks_take_the_project_value_without_a_default():
    # A default here would be a second place that sets it.
    for path in (REPO / "python_models").glob("**/*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            for key, value in (model.get("config") or {}).items():
                for name, default in VAR_CALL.findall(value.replace("''", "'")):
                    assert name == key and not default, (model["name"], value)


def test_gate_thresholds_equal_the_settings():
    config = json.loads((REPO / "expectations" / "config.json").read_text())
    values = {k: v["value"] for k, v in config["thresholds"].items()}
    assert values["freshness_hours"] == settings.FRESHNESS_HOURS
    assert values["max_quarantine_share"] == settings.MAX_QUARANTINE_SHARE
    assert values["min_srm_p_value"] == settings.SRM_THRESHOLD
    assert values["max_multi_variant_share"] == VARS["max_multi_variant_share"].default


def test_package_defaults_come_from_the_settings():
    config = DecisionConfig()
    assert config.max_days_to_target == VARS["max_days_to_target"].default
    assert config.max_multi_variant_share == VARS["max_multi_variant_share"].default
    assert config.inconclusive_decision == VARS["inconclusive_decision"].default
    assert VARS["sequential_tuning_units"].default == sequential.DEFAULT_TUNING_UNITS
    assert VARS["weak_instrument_f_threshold"].default == iv.WEAK_INSTRUMENT_F
    assert srm.SRM_THRESHOLD == settings.SRM_THRESHOLD == 0.001
    assert compliance_results.__defaults__[0] == settings.WEAK_INSTRUMENT_F
    assert experiment_cate.__defaults__[0] == VARS["min_segment_units"].default


def test_readme_settings_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert settings.write_readme_table(readme) == readme
    table = settings.readme_table()
    assert "| `max_multi_variant_share` | `0.01` |" in table
    assert table.count("\n| `") == len(VARS)


def test_write_readme_table_needs_its_markers():
    with pytest.raises(ValueError, match="lacks the markers"):
        settings.write_readme_table("# no table here\n")


@pytest.mark.parametrize(("name", "kind"), [(n, v.kind) for n, v in VARS.items()])
def test_each_var_kind_is_known_and_numbers_are_numbers(name, kind):
    assert kind in {"str", "int", "float", "list", "number_or_empty", "yaml"}
    if kind in {"int", "float"}:
        assert math.isfinite(settings.default_float(name))
