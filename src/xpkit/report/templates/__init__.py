"""Jinja templates and CSS of the report pages, as package files.

``base.html``, ``macros.html``, ``index.html`` and ``experiment.html`` are
autoescaped Jinja templates; ``style.css`` is inlined into every page. Pages
are polyglot HTML5: every element is closed and only XML's own character
references are used, so each page parses as XML as well as HTML (the tests
check this). No external resource is referenced: CSS is inline, charts are
inline SVG, links are relative.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["STYLE", "TEMPLATES", "TEMPLATE_NAMES"]

TEMPLATE_NAMES = ("base.html", "macros.html", "index.html", "experiment.html")


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


TEMPLATES: dict[str, str] = {name: _read(name) for name in TEMPLATE_NAMES}
STYLE: str = _read("style.css")
