"""pyproject.toml declares what xpkit imports; requirements.txt pins inside it.

`pip install .` must give a working package: every third-party module that
src/xpkit imports is provided by a declared runtime dependency (or, for the
Spark path, by the `spark` extra), and the exact pins of requirements.txt fall
inside the declared ranges.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def imported_top_level_modules(folder: Path) -> dict[str, set[str]]:
    """Top-level module name -> the files under folder that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_every_third_party_import_of_xpkit_is_a_declared_dependency():
    runtime = declared(PYPROJECT["dependencies"])
    spark = declared(PYPROJECT["optional-dependencies"]["spark"])
    distributions = packages_distributions()
    missing = []
    for module, files in imported_top_level_modules(ROOT / "src" / "xpkit").items():
        if module in sys.stdlib_module_names or module in {"xpkit", "__future__"}:
            continue
        # A module that is not installed here (pyspark without the Spark
        # extras) is taken to come from the distribution of the same name.
        provided_by = {
            canonicalize_name(d) for d in distributions.get(module, [module])
        }
        only_spark = all(f == "src/xpkit/io/spark.py" for f in files)
        allowed = runtime | spark if only_spark else runtime
        if not provided_by & allowed:
            missing.append(f"{module} ({sorted(provided_by)}) in {sorted(files)}")
    assert not missing, "add to [project] dependencies in pyproject.toml: " + "; ".join(
        missing
    )


def test_the_pinned_versions_satisfy_the_declared_ranges():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (version,) = [s.version for s in requirement.specifier]
            pins[canonicalize_name(requirement.name)] = version
    ranges = list(PYPROJECT["dependencies"])
    for extra in PYPROJECT["optional-dependencies"].values():
        ranges += extra
    checked = 0
    for text in ranges:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in pins:
            assert requirement.specifier.contains(pins[name]), (
                f"requirements.txt pins {name}=={pins[name]}, outside {text!r} "
                "in pyproject.toml"
            )
            checked += 1
    assert checked >= 10  # the core of the stack is pinned and declared
