"""The demo report's layout in headless Chromium at 1280 and 1920 px: no page
and no table scrolls sideways, no two text boxes of a chart overlap and no
chart text runs outside its chart.

One Chromium run per width: a harness page next to the report holds every page
in an iframe of that width, measures each in page JavaScript
(``scrollWidth``/``clientWidth``, ``getBoundingClientRect`` of every SVG
``<text>``) once all have loaded, and writes the findings into its own DOM,
which ``--dump-dom`` prints.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest
from test_report import chromium

from xpkit.report import build_report

WIDTHS = (1280, 1920)

MEASURE = (Path(__file__).parent / "layout_check.js").read_text(encoding="utf-8")


def harness(out: Path, pages: list[Path], width: int) -> Path:
    frames = "\n".join(
        f'<iframe src="{page.relative_to(out).as_posix()}" width="{width}" '
        'height="1200" style="border:0;display:block"></iframe>'
        for page in pages
    )
    path = out / f"layout-{width}.html"
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'></head>"
        f"<body style='margin:0'>{frames}<script>{MEASURE}</script></body></html>",
        encoding="utf-8",
    )
    return path


def layout_findings(page: Path, width: int, profile: Path) -> dict[str, object]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        f"--window-size={width + 40},1200",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    match = re.search(r"<pre id=\"layout\">([^<]*)</pre>", result.stdout)
    assert match, result.stderr[-2000:]
    findings: dict[str, object] = json.loads(html.unescape(match.group(1)))
    return findings


@pytest.fixture(scope="module")
def layout_report(demo_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("layout") / "reports"
    build_report(demo_warehouse["database"], out, log=lambda line: None)
    return out


@pytest.mark.warehouse
@pytest.mark.parametrize("width", WIDTHS)
def test_report_pages_fit_and_chart_texts_never_collide(layout_report, width, tmp_path):
    pages = [
        layout_report / "index.html",
        *sorted((layout_report / "experiments").glob("*.html")),
    ]
    assert len(pages) == 6  # the portfolio and the five demo experiments
    findings = layout_findings(
        harness(layout_report, pages, width), width, tmp_path / "profile"
    )
    assert findings["pages"] == len(pages)
    assert findings["found"] == []


def test_layout_check_finds_overflow_and_collisions(tmp_path):
    """The check itself, on a page with each defect it must catch."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><body style='margin:0'>"
        "<div style='overflow-x:auto'><table><tr>"
        + "<td style='white-space:nowrap'>a wide cell</td>"
        * 80
        + "</tr></table></div>"
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60">'
        "<title>bad chart</title>"
        '<text x="10" y="30" font-size="12">2024-06-15</text>'
        '<text x="40" y="30" font-size="12">2024-06-16</text>'
        '<text x="280" y="50" font-size="12">runs off the edge</text></svg>'
        "</body></html>",
        encoding="utf-8",
    )
    findings = layout_findings(harness(tmp_path, [page], 1280), 1280, tmp_path / "p")
    found = "\n".join(findings["found"])  # type: ignore[arg-type]
    assert findings["pages"] == 1
    assert "table 0" in found and "scrolls sideways" in found
    assert '"2024-06-15" overlaps "2024-06-16"' in found
    assert '"runs off the edge" runs outside the chart' in found
    assert "the page scrolls sideways" not in found  # the table's box scrolls
