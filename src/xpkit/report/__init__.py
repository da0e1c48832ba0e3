"""The stakeholder report: a self-contained static HTML site built from the marts.

``python -m xpkit.report`` (or ``build_report``) writes ``index.html`` (the
portfolio) and one page per registered experiment under ``experiments/``, with
inline CSS and inline SVG charts (``charts``), so it opens without a network.
See docs/report.md.
"""

from xpkit.report.pages import SECTIONS, build_report, page_file_name

__all__ = ["SECTIONS", "build_report", "page_file_name"]
