"""The report's package shape: templates and CSS are package files, sections
are modules of their own, and no report module computes a statistic."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import xpkit.report
from xpkit.report.templates import STYLE, TEMPLATE_NAMES, TEMPLATES

REPORT = Path(xpkit.report.__file__).parent


def test_templates_and_css_are_package_files():
    files = resources.files("xpkit.report.templates")
    for name in (*TEMPLATE_NAMES, "style.css"):
        assert files.joinpath(name).is_file(), name
    assert sorted(TEMPLATES) == sorted(TEMPLATE_NAMES)
    assert '{% extends "base.html" %}' in TEMPLATES["experiment.html"]
    assert "--brand:" in STYLE


def test_no_report_module_imports_the_statistics():
    # Charts read marts; a figure the marts lack belongs in a mart.
    computing = (
        "xpkit.stats.frequentist",
        "xpkit.stats.statistics",
        "xpkit.stats.sequential",
        "xpkit.stats.bayesian",
        "xpkit.marts",
    )
    offenders = []
    for path in REPORT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = getattr(node, "module", None) or ""
            if isinstance(node, ast.ImportFrom) and module.startswith(computing):
                offenders.append((path.name, module))
    # experiment_decisions.harm_lines is the decisions' own text, not a statistic.
    assert sorted(offenders) == [
        ("pages.py", "xpkit.marts.experiment_decisions"),
        ("portfolio.py", "xpkit.marts.experiment_decisions"),
    ]


def test_each_section_is_its_own_module_under_400_lines():
    sections = sorted(p.stem for p in (REPORT / "sections").glob("*.py"))
    assert "results" in sections and "cumulative" in sections
    for path in REPORT.rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if path.name != "charts.py":  # charts.py: one module of SVG drawing
            assert lines <= 420, (path.name, lines)
