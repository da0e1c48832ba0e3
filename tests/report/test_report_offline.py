"""The published report folder stands alone (issue 18 item 4): the gates page
is styled and self-contained, no page names an absolute path, and every link
of the report's pages and the gates page stays inside the folder."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from xpkit.io import validate
from xpkit.report import build_report

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(demo_warehouse, tmp_path_factory):
    """Gates, then the report, into one folder, as a build publishes them."""
    out = tmp_path_factory.mktemp("offline") / "reports"
    as_of = datetime.fromisoformat("2024-11-01 12:00:00")
    validate.validate(demo_warehouse["database"], out / "data_docs", as_of)
    build_report(demo_warehouse["database"], out, log=lambda line: None)
    return {"out": out, "database": demo_warehouse["database"]}


def links(text: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)


@pytest.mark.warehouse
def test_no_page_names_an_absolute_path(published):
    out = published["out"]
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 7  # portfolio, 5 experiments, gates, GX pages
    forbidden = {str(REPO), str(out), str(published["database"].parent)}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for path in forbidden:
            assert path not in text, (page.relative_to(out), path)


@pytest.mark.warehouse
def test_report_and_gates_links_resolve_inside_the_folder(published):
    out = published["out"].resolve()
    pages = [
        out / "index.html",
        *sorted((out / "experiments").glob("*.html")),
        out / "data_docs" / validate.SUMMARY_PAGE,
    ]
    cited = set()
    for page in pages:
        for href in links(page.read_text(encoding="utf-8")):
            if href.startswith("#"):
                continue
            assert not re.match(r"[a-z]+:", href, re.I), (page.name, href)
            target = (page.parent / href.split("#")[0]).resolve()
            assert target.is_relative_to(out), (page.name, href)
            assert target.exists(), (page.name, href)
            cited.add(target.relative_to(out).as_posix())
    # The docs pages the report cites are copies inside the folder.
    assert "docs/methodology.md" in cited
    assert (out / "docs" / "methodology.md").read_bytes() == (
        REPO / "docs" / "methodology.md"
    ).read_bytes()
    # The portfolio's footer links the gates page first, GX's index second.
    footer = (out / "index.html").read_text(encoding="utf-8").split("<footer")[1]
    assert footer.index("data_docs/gates.html") < footer.index("data_docs/index.html")


@pytest.mark.warehouse
def test_gates_page_is_styled_and_self_contained(published):
    text = (published["out"] / "data_docs" / validate.SUMMARY_PAGE).read_text(
        encoding="utf-8"
    )
    assert "<style>" in text and ".card" in text and 'class="wrap"' in text
    assert "<script" not in text and "<link" not in text
    assert "Warehouse warehouse.duckdb," in text
    assert re.search(r"\d+ checks: \d+ passed, \d+ skipped, 0 failed", text)
