"""The stakeholder report: SVG charts, pages built from the demo warehouse (with
and without the decision, power and portfolio marts), and a rendering in
headless Chromium checked pixel by pixel."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import duckdb
import pytest

from xpkit.marts.experiment_decisions import harm_lines
from xpkit.narrative import report as fmt
from xpkit.report import SECTIONS, build_report, charts, page_file_name
from xpkit.report.common import metric_decimals, result_row

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"
OPTIONAL_MARTS = ("experiment_power", "experiment_decisions", "experiment_portfolio")
AWKWARD_ID = "X\"<b>&'é/ü 1"


def svg_root(svg: str) -> ET.Element:
    """Parse a chart; it must be one well-formed <svg> element."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox")
    assert root.find(f"{SVG}title") is not None
    return root


def find(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(f"{SVG}{tag}"))


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in find(root, "text")]


# --- charts -------------------------------------------------------------------


def test_forest_plot_draws_point_interval_and_label_per_row():
    rows = [
        charts.ForestRow("Reply rate", 0.44, "ai_drafted", 0.10, 0.78, "good"),
        charts.ForestRow("CSAT", -0.05, "bot", -0.09, -0.01, "bad"),
        charts.ForestRow("Open rate", 0.03, "urgent", -0.06, 0.13, "flat"),
    ]
    root = svg_root(charts.forest_plot(rows))
    circles = find(root, "circle")
    assert len(circles) == 3
    assert [c.get("fill") for c in circles] == [
        charts.DIRECTION_COLOURS[d] for d in ("good", "bad", "flat")
    ]
    labels = texts(root)
    assert "Reply rate" in labels and "ai_drafted" in labels
    assert "+44.0% [+10.0%, +78.0%]" in labels
    # The point sits between its interval's caps, and 0 is drawn as a dashed line.
    assert any(line.get("stroke-dasharray") for line in find(root, "line"))
    x = float(circles[0].get("cx"))
    caps = [
        float(line.get("x1"))
        for line in find(root, "line")
        if line.get("stroke") == charts.DIRECTION_COLOURS["good"]
        and line.get("x1") == line.get("x2")
    ]
    assert min(caps) < x < max(caps)


def test_forest_plot_degenerate_inputs_give_notes_not_errors():
    assert "No comparisons" in " ".join(texts(svg_root(charts.forest_plot([]))))
    rows = [
        charts.ForestRow("A", None, note="planned experiment: no data yet"),
        charts.ForestRow("B", float("nan"), low=float("nan"), high=0.1),
        charts.ForestRow("C", 0.2, low=None, high=None, direction="good"),
    ]
    root = svg_root(charts.forest_plot(rows))
    labels = texts(root)
    assert "planned experiment: no data yet" in labels
    assert "no estimate" in labels
    assert "+20.0% (no interval)" in labels
    assert len(find(root, "circle")) == 1
    assert "nan" not in charts.forest_plot(rows).lower()


def test_forest_plot_single_row_of_zero_width():
    root = svg_root(charts.forest_plot([charts.ForestRow("A", 0.0, None, 0.0, 0.0)]))
    assert len(find(root, "circle")) == 1


def test_cumulative_chart_draws_band_line_and_points():
    points = [
        charts.LiftPoint(f"2024-10-0{day}", 0.3 - day / 100, 0.1, 0.5 - day / 50)
        for day in range(1, 5)
    ]
    root = svg_root(
        charts.cumulative_lift_chart([charts.LiftSeries("ai_drafted", points)])
    )
    assert len(find(root, "polygon")) == 1
    assert len(find(root, "path")) == 1
    assert len(find(root, "circle")) == 4
    assert "ai_drafted" in texts(root)
    assert "2024-10-01" in texts(root)


def test_cumulative_chart_single_point_and_gaps():
    one = charts.LiftSeries("t", [charts.LiftPoint("2024-10-01", 0.1, 0.0, 0.2)])
    root = svg_root(charts.cumulative_lift_chart([one]))
    assert len(find(root, "circle")) == 1
    assert not find(root, "path") and not find(root, "polygon")
    gap = charts.LiftSeries(
        "t",
        [
            charts.LiftPoint("2024-10-01", 0.1, 0.0, 0.2),
            charts.LiftPoint("2024-10-02", float("nan")),
            charts.LiftPoint("2024-10-03", 0.2, None, None),
            charts.LiftPoint("2024-10-04", 0.3, None, None),
        ],
    )
    root = svg_root(charts.cumulative_lift_chart([gap]))
    assert len(find(root, "circle")) == 3
    assert len(find(root, "path")) == 1  # only the run 10-03 .. 10-04 is a line


def test_cumulative_chart_without_data_says_so():
    for series in (
        [],
        [charts.LiftSeries("t", [])],
        [charts.LiftSeries("t", [charts.LiftPoint("2024-10-01", None)])],
    ):
        root = svg_root(charts.cumulative_lift_chart(series))
        assert "No daily data to plot" in texts(root)


def test_balance_bars_compare_expected_and_observed_shares():
    bars = [
        charts.BalanceBar("control", 0.5, 0.49, 500),
        charts.BalanceBar("treatment", 0.5, 0.51, 520),
    ]
    root = svg_root(charts.balance_bars(bars))
    fills = [r.get("fill") for r in find(root, "rect")]
    assert fills.count(charts.OBSERVED_COLOUR) == 3  # two bars and the legend
    assert fills.count(charts.EXPECTED_COLOUR) == 3
    assert {"49.0%", "51.0%", "50.0%", "520 units"} <= set(texts(root))
    flagged = svg_root(charts.balance_bars(bars, mismatch=True))
    assert charts.MISMATCH_COLOUR in [r.get("fill") for r in find(flagged, "rect")]


def test_balance_bars_degenerate_inputs():
    root = svg_root(charts.balance_bars([charts.BalanceBar("a", 0.5, None, 0)]))
    assert "n/a" in texts(root)
    assert "No arms registered" in texts(svg_root(charts.balance_bars([])))
    root = svg_root(charts.balance_bars([charts.BalanceBar("a", float("nan"), 0.0)]))
    assert "0.0%" in texts(root)


def test_segment_heatmap_colours_by_desired_direction_and_marks_suppressed():
    cells = [
        charts.HeatmapCell("High-Value", "urgent", 0.5, "increase", True),
        charts.HeatmapCell("High-Value", "friendly", 0.5, "decrease"),
        charts.HeatmapCell("New", "urgent", None, "increase", is_suppressed=True),
        charts.HeatmapCell("New", "friendly", float("nan"), "increase"),
    ]
    root = svg_root(charts.segment_heatmap(cells))
    labels = texts(root)
    assert "+50.0% *" in labels and "+50.0%" in labels
    assert "suppressed" in labels and "n/a" in labels
    fills = [r.get("fill") for r in find(root, "rect")]
    green, red = charts.DIRECTION_COLOURS["good"], charts.DIRECTION_COLOURS["bad"]
    assert green in fills and red in fills  # the largest |lift| is full strength
    assert len([line for line in find(root, "line")]) > 3  # hatching
    assert "No segment results" in texts(svg_root(charts.segment_heatmap([])))


def test_progress_bar_caps_the_fill_at_the_target():
    root = svg_root(charts.progress_bar(1.35, "5,000 of 3,700 planned units"))
    rects = find(root, "rect")
    assert float(rects[1].get("width")) == float(rects[0].get("width"))
    assert "135%" in texts(root)
    half = svg_root(charts.progress_bar(0.5))
    assert float(find(half, "rect")[1].get("width")) == pytest.approx(300)
    for share in (None, float("nan"), "text"):
        assert "n/a" in texts(svg_root(charts.progress_bar(share)))
    assert len(find(svg_root(charts.progress_bar(0.0)), "rect")) == 1


def test_chart_text_is_escaped():
    awkward = "<script>&\"'é"
    svg = charts.forest_plot([charts.ForestRow(awkward, 0.1, awkward, 0.0, 0.2)])
    assert "<script>" not in svg
    assert awkward in texts(svg_root(svg))
    heat = charts.segment_heatmap([charts.HeatmapCell(awkward, awkward, 0.1)])
    assert awkward in texts(svg_root(heat))


def test_formatting_precision():
    assert fmt.pct(0.442308) == "+44.2%"
    assert fmt.pct(-0.0042) == "-0.42%"
    assert fmt.pct(1.39018) == "+139%"
    assert fmt.pct(0.0) == "0%"
    assert fmt.pct(None) == fmt.pct(float("nan")) == "—"
    assert fmt.p_value(1.19e-36) == "< 0.0001"
    assert fmt.p_value(0.004034) == "0.004"
    assert fmt.p_value(0.0692) == "0.069"
    assert fmt.p_value(1.0) == "> 0.99"  # never a bare "1"
    assert fmt.metric_value(0.259615, "binary") == "26.0%"
    assert fmt.metric_change(0.0796, "binary") == "+8.0 pp"
    assert fmt.metric_value(28.815823, "ratio") == "28.8"
    assert fmt.row_decimals(0.18, 0.259615, "binary") == 1
    assert fmt.row_decimals(0.05, 0.080769, "binary") == 2
    assert fmt.row_decimals(42.421367, 28.815823, "ratio") == 1
    assert fmt.row_decimals(19.871251, 20.712835, "sum") == 2
    assert fmt.metric_change(-13.605544, "ratio", 1) == "-13.6"
    assert fmt.setting(0.8) == "80%" and fmt.setting(0.025) == "2.5%"
    assert charts.nice_ticks(-0.33, 0.92) == pytest.approx(
        [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0]
    )


def test_page_file_names_are_safe_and_unique():
    taken: set[str] = set()
    names = [page_file_name(i, taken) for i in ("E001", "e001", AWKWARD_ID, "../x", "")]
    assert names[0] == "E001.html"
    assert len({n.lower() for n in names}) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\.html", n) for n in names)


# --- adjusted intervals and harm on hand-built rows -------------------------------


def hand_result(metric_id, role, rel, low, high, adj_low, adj_high, p, p_adj, **extra):
    """An experiment_results row of experiment H1 (friendly vs control)."""
    return {
        "experiment_id": "H1",
        "metric_id": metric_id,
        "metric_name": metric_id.replace("_", " ").capitalize(),
        "variant": "friendly",
        "control_variant": "control",
        "role": role,
        "aggregation": "sum",
        "desired_direction": "increase",
        "n_control": 1000,
        "n_treatment": 1000,
        "mean_control": 10.0,
        "mean_treatment": 10.0 * (1 + rel),
        "abs_lift": 10.0 * rel,
        "rel_lift": rel,
        "rel_ci_low": low,
        "rel_ci_high": high,
        "p_value": p,
        "p_value_adjusted": p_adj,
        "is_significant": p_adj < 0.05,
        "direction": "flat" if p_adj >= 0.05 else "good" if rel > 0 else "bad",
        "alpha": 0.05,
        "correction_method": "holm",
        "summary": f"{metric_id} moved.",
        **(
            {}
            if adj_low is None
            else {"rel_ci_low_adjusted": adj_low, "rel_ci_high_adjusted": adj_high}
        ),
        **extra,
    }


def hand_report(tmp_path, results, segments=()):
    """Render the report of experiment H1 from in-memory marts."""
    from datetime import datetime

    from xpkit.report.data import Provenance, WarehouseData
    from xpkit.report.pages import ReportBuilder

    data = WarehouseData(
        tables={
            "experiments": [
                {
                    "experiment_id": "H1",
                    "experiment_name": "Tone",
                    "status": "completed",
                    "alpha": 0.05,
                    "control_variant": "control",
                }
            ],
            "experiment_results": results,
            "experiment_metrics": [
                {"experiment_id": "H1", "metric_id": r["metric_id"], "role": r["role"]}
                for r in results
            ],
            "segment_results": list(segments),
            "assignment_balance": [
                {"experiment_id": "H1", "variant": v, "units": 1000}
                for v in ("control", "friendly")
            ],
            "experiment_decisions": [
                {
                    "experiment_id": "H1",
                    "decision": "iterate",
                    "rule": "inconclusive",
                    "rationale": "No significant effect on clicks.",
                    "recommended_action": "Iterate: follow up with a "
                    "segment-targeted test.",
                }
            ],
        }
    )
    prov = Provenance("hand", datetime(2024, 11, 1), "abc", {}, [], None, None)
    out = tmp_path / "reports"
    ReportBuilder(data, prov, out, REPO_ROOT).render(lambda line: None)
    return out


REPO_ROOT = Path(__file__).resolve().parents[2]


def test_report_shows_the_adjusted_interval_and_names_every_harm(tmp_path):
    # E004's case: raw interval clear of 0, adjusted p = 0.069 (not significant),
    # adjusted interval across 0. The forest bar must be the adjusted one.
    results = [
        hand_result(
            "clicks", "primary", 0.317, 0.058, 0.577, -0.04, 0.674, 0.0058, 0.069
        ),
        hand_result(
            "aov", "secondary", -0.198, -0.25, -0.146, -0.262, -0.134, 1e-6, 4e-5
        ),
        hand_result(
            "revenue",
            "guardrail",
            -0.05,
            -0.2,
            0.1,
            -0.23,
            0.13,
            0.5,
            0.6,
            guardrail_status="inconclusive",
            guardrail_bound=-0.21,
            guardrail_tolerance=0.02,
        ),
    ]
    segments = [
        {
            "segment_dimension": "channel",
            "segment_value": "web",
            "is_suppressed": False,
            **hand_result(
                "revenue",
                "guardrail",
                -0.43,
                -0.6,
                -0.26,
                -0.62,
                -0.24,
                1e-5,
                1e-4,
                guardrail_status="breached",
                guardrail_bound=-0.58,
                guardrail_tolerance=0.02,
            ),
        }
    ]
    out = hand_report(tmp_path, results, segments)
    root = parse_page(out / "experiments" / "H1.html")
    sections = section_texts(root)
    summary = next(s for s in root.iter(f"{XHTML}section") if s.get("id") == "summary")
    children = [c for c in summary if c.tag != f"{XHTML}h2"]
    # The headline: the action, then the harm, before anything else.
    assert children[0].get("class") == "lead"
    assert children[1].get("id") == "harm"
    harm = " ".join("".join(children[1].itertext()).split())
    assert (
        "Significantly worse: Aov fell 19.8% with friendly (adjusted 95% CI -26.2% "
        "to -13.4%; adjusted p < 0.0001)." in harm
    )
    assert (
        "Guardrail breached: revenue (channel web, friendly): -43.0% (lower bound "
        "-58.0% vs tolerance -2.0%)." in harm
    )
    assert "revenue (overall, friendly): -5.0% (lower bound -21.0%" in harm
    assert "adj. p 0.069, adj. CI [-4.0%, +67.4%]" in sections["summary"]
    assert "adj. [-4.0%, +67.4%]" in sections["results"]
    assert "[+5.8%, +57.7%]" in sections["results"]  # the raw one, beside raw p
    assert "guardrail inconclusive" in sections["results"]
    assert (
        "Guardrail breached (significantly worse than its tolerance) in: web"
        in (sections["segments"])
    )
    svg = svg_root(
        ET.tostring(
            next(
                e
                for e in root.iter(f"{SVG}svg")
                if "forest" in (e.findtext(f"{SVG}title") or "")
            )
        ).decode()
    )
    labels = texts(svg)
    assert "+31.7% [-4.0%, +67.4%]" in labels
    assert "+31.7% [+5.8%, +57.7%]" not in labels
    index = " ".join("".join(parse_page(out / "index.html").itertext()).split())
    assert "Guardrail breached: revenue (channel web, friendly)" in index


def test_report_without_adjusted_columns_never_colours_against_the_interval(tmp_path):
    # E001's case on an older warehouse: p = 0.046, marked good, relative
    # interval across 0 and no adjusted columns.
    results = [
        hand_result(
            "meetings", "primary", 0.615, -0.159, 1.39, None, None, 0.046, 0.046
        )
    ]
    out = hand_report(tmp_path, results)
    root = parse_page(out / "experiments" / "H1.html")
    sections = section_texts(root)
    assert "adj. p 0.046, unadjusted CI [-15.9%, +139%]" in sections["summary"]
    forest = next(
        e
        for e in root.iter(f"{SVG}svg")
        if "forest" in (e.findtext(f"{SVG}title") or "")
    )
    bars = [
        line for line in forest.iter(f"{SVG}line") if line.get("stroke-width") == "2.5"
    ]
    assert [b.get("stroke") for b in bars] == [charts.DISAGREE_COLOUR]
    assert bars[0].get("stroke-dasharray")
    assert not any(
        c.get("fill") == charts.DIRECTION_COLOURS["good"]
        for c in forest.iter(f"{SVG}circle")
    )


# --- the report on the demo warehouse --------------------------------------------


def read_rows(database: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def parse_page(path: Path) -> ET.Element:
    """Each page must be well-formed XHTML (polyglot HTML5): a strict XML parse."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    root = ET.fromstring(text)
    assert root.tag == f"{XHTML}html"
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids)), f"duplicate ids in {path.name}"
    return root


def section_texts(root: ET.Element) -> dict[str, str]:
    return {
        s.get("id"): " ".join("".join(s.itertext()).split())
        for s in root.iter(f"{XHTML}section")
    }


def external_references(text: str) -> list[str]:
    """src/href/url()/@import values that would fetch something off the page."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)
    found += re.findall(r"url\(([^)]*)\)", text)
    found += re.findall(r"@import\s+([^;]+)", text)
    return [v for v in found if re.match(r"\s*['\"]?(?:[a-z]+:)?//", v, re.I)]


def experiment_pages(out: Path, database: Path) -> dict[str, Path]:
    """Registered experiment id -> its page, as the index links them."""
    index = parse_page(out / "index.html")
    links = {
        a.get("href")
        for a in index.iter(f"{XHTML}a")
        if (a.get("href") or "").startswith("experiments/")
    }
    ids = [
        r["experiment_id"]
        for r in read_rows(database, "select * from registry.experiments")
    ]
    taken: set[str] = set()
    pages = {i: out / "experiments" / page_file_name(i, taken) for i in sorted(ids)}
    assert {f"experiments/{p.name}" for p in pages.values()} == links
    return pages


@pytest.fixture(scope="module")
def demo_report(demo_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "reports"
    lines: list[str] = []
    index = build_report(demo_warehouse["database"], out, log=lines.append)
    return {**demo_warehouse, "out": out, "index": index, "progress": lines}


@pytest.mark.warehouse
def test_report_has_a_page_with_every_section_per_experiment(demo_report):
    database, out = demo_report["database"], demo_report["out"]
    pages = experiment_pages(out, database)
    assert len(pages) == 5
    assert len(demo_report["progress"]) == len(pages) + 1
    for experiment_id, path in pages.items():
        root = parse_page(path)
        sections = [s.get("id") for s in root.iter(f"{XHTML}section")]
        assert sections == [anchor for anchor, _ in SECTIONS], experiment_id
        headings = [
            "".join(s.find(f"{XHTML}h2").itertext())
            for s in root.iter(f"{XHTML}section")
        ]
        assert headings == [title for _, title in SECTIONS]
        assert experiment_id in "".join(root.itertext())


@pytest.mark.warehouse
@pytest.mark.parametrize("report", ["demo_report", "full_report"])
def test_report_pages_reference_nothing_outside_the_site(report, request):
    out = request.getfixturevalue(report)["out"]
    for path in [out / "index.html", *sorted((out / "experiments").glob("*.html"))]:
        text = path.read_text(encoding="utf-8")
        assert external_references(text) == [], path.name
        assert "<script" not in text and "<link" not in text and "<img" not in text
        for href in re.findall(r'href="([^"#][^"]*)"', text):
            assert (path.parent / href).resolve().exists(), (path.name, href)


@pytest.mark.warehouse
def test_report_figures_are_the_marts_figures(demo_report):
    database, out = demo_report["database"], demo_report["out"]
    pages = experiment_pages(out, database)
    results = read_rows(database, "select * from marts.experiment_results")
    for row in results:
        if row["rel_lift"] is None:
            continue
        text = section_texts(parse_page(pages[row["experiment_id"]]))["results"]
        assert fmt.pct(row["rel_lift"]) in text
        assert fmt.interval(row["rel_ci_low"], row["rel_ci_high"]) in text
        assert fmt.p_value(row["p_value_adjusted"]) in text
    e001 = section_texts(parse_page(pages["E001"]))
    reply = next(
        r
        for r in results
        if (r["experiment_id"], r["metric_id"]) == ("E001", "reply_rate")
    )
    assert "+44.2%" in e001["summary"]
    # Beside the adjusted p, the adjusted interval (when the mart has it).
    adjusted = "rel_ci_low_adjusted" in reply
    low = reply["rel_ci_low_adjusted" if adjusted else "rel_ci_low"]
    high = reply["rel_ci_high_adjusted" if adjusted else "rel_ci_high"]
    assert (
        f"adj. p {fmt.p_value(reply['p_value_adjusted'])}, "
        f"{'adj.' if adjusted else 'unadjusted'} CI {fmt.interval(low, high)}"
    ) in e001["summary"]
    assert "No sample ratio mismatch" in e001["balance"]
    e002 = section_texts(parse_page(pages["E002"]))
    assert "-32.1%" in e002["results"] and "variance −78.7%" in e002["results"]
    e004 = section_texts(parse_page(pages["E004"]))
    assert "New Customer: friendly +93.8%" in e004["segments"]


@pytest.mark.warehouse
def test_planned_experiment_says_no_data_in_every_data_section(demo_report):
    pages = experiment_pages(demo_report["out"], demo_report["database"])
    sections = section_texts(parse_page(pages["E003"]))
    for anchor in ("summary", "results", "forest", "cumulative", "balance", "segments"):
        assert "Planned experiment: no data yet" in sections[anchor], anchor
    if "Not available yet" not in sections["power"]:
        # The power figures are computed from the design: no "no data yet"
        # above them, a note that progress starts with the first unit.
        assert "no data yet" not in sections["power"]
        assert "the figures below are its design" in sections["power"]
    assert "Screening minutes per resume" in sections["hypothesis"]


@pytest.mark.warehouse
def test_cumulative_lift_ends_at_the_final_result(demo_warehouse):
    # The cumulative chart draws marts.daily_results: its last day per
    # variant must be the final result of experiment_results.
    database = demo_warehouse["database"]
    daily = read_rows(database, "select * from marts.daily_results")
    results = read_rows(
        database, "select * from marts.experiment_results where rel_lift is not null"
    )
    assert results
    for row in results:
        points = sorted(
            (
                r
                for r in daily
                if (r["experiment_id"], r["metric_id"], r["variant"])
                == (row["experiment_id"], row["metric_id"], row["variant"])
            ),
            key=lambda r: r["exposure_date"],
        )
        last = points[-1]
        assert last["n_control"] == row["n_control"]
        assert last["n_treatment"] == row["n_treatment"]
        for mine, theirs in (
            (last["rel_lift"], row["rel_lift"]),
            (last["rel_ci_low"], row["rel_ci_low"]),
            (last["rel_ci_high"], row["rel_ci_high"]),
            (last["p_value"], row["p_value"]),
        ):
            assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-300)
        days = [p["exposure_date"] for p in points]
        assert days == sorted(set(days))
        sizes = [p["n_control"] + p["n_treatment"] for p in points]
        assert sizes == sorted(sizes)


# --- hand-built decision, power and portfolio marts ---------------------------


DECISION_COLUMNS = {
    "experiment_id": "varchar",
    "decision": "varchar",
    "rule": "varchar",
    "rationale": "varchar",
    "recommended_action": "varchar",
    "status": "varchar",
    "srm_flag": "boolean",
    "primary_metric_id": "varchar",
    "primary_variant": "varchar",
    "primary_rel_lift": "double",
    "primary_p_value_adjusted": "double",
    "primary_direction": "varchar",
    "share_of_target": "double",
    "guardrails_breached": "varchar",
    "bad_secondaries": "varchar",
    "segment_winners": "varchar",
}
DECISIONS = [
    ("E001", "scale", "primary_good", "Reply rate +44% (adjusted p 0.004); no "
     "guardrail breached.", "roll out AI e-mail drafting to all outbound sales teams",
     "completed", False, "reply_rate", "ai_drafted", 0.4423, 0.004, "good", 2.7,
     None, None, None),
    ("E002", "iterate", "guardrail_breached", "Resolution time -32% but CSAT fell "
     "6% in billing.", "continue with improved prompt tuning and agent hand-off",
     "running", False, "resolution_minutes_per_ticket", "llm_assisted", -0.3207,
     1e-36, "good", 1.4, "csat_score / billing / -6.1%", None, None),
    ("E003", "do_not_start", "too_little_traffic", "At 12 units a day the target "
     "of 3,000 units takes 250 days.", "refine the experiment design before launch",
     "planned", None, "screening_minutes_per_resume", None, None, None, None, 0.0,
     None, None, None),
    ("E004", "iterate", "segment_winners", "No tone wins overall; friendly wins for "
     "New Customer.", "personalise the tone by segment", "completed", False,
     "email_click_rate", "friendly", 0.3173, 0.069, "flat", 1.1, None, None,
     "High-Value Recent: urgent (+57%); New Customer: friendly (+94%)"),
    ("E005", "keep_running", "below_sample", "Only 80% of the planned sample.",
     "keep running", "completed", False, "engagement_minutes", "personalised_feed",
     0.0424, 6.9e-05, "good", 0.8, None, None, None),
    (AWKWARD_ID, "stop", "srm", 'SRM <p < 0.001> & "quotes".', "investigate data",
     "planned", True, None, None, None, None, None, None, None, None, None),
]  # fmt: skip
POWER_COLUMNS = {
    "experiment_id": "varchar",
    "metric_id": "varchar",
    "status": "varchar",
    "aggregation": "varchar",
    "alpha": "double",
    "power": "double",
    "mde_relative": "double",
    "baseline_source": "varchar",
    "baseline_mean": "double",
    "baseline_std": "double",
    "n_arms": "integer",
    "required_units_per_arm": "bigint",
    "required_units_total": "bigint",
    "current_units": "bigint",
    "min_arm_units": "bigint",
    "share_of_target": "double",
    "daily_units": "double",
    "days_observed": "integer",
    "projected_days_to_target": "double",
    "error_message": "varchar",
}
POWER = [
    ("E001", "reply_rate", "completed", "binary", 0.05, 0.8, 0.4, "control_arm",
     0.18, 0.384, 2, 188, 376, 1020, 500, 2.71, 340.0, 3, 0.0, None),
    ("E003", "screening_minutes_per_resume", "planned", "ratio", 0.05, 0.8, 0.1,
     "pre_period", 14.2, 6.1, 2, 1500, 3000, 0, 0, 0.0, 12.0, 0, 250.0,
     "planned experiment: no units yet"),
    ("E005", "engagement_minutes", "completed", "sum", 0.05, 0.8, 0.03,
     "control_arm", 19.9, 21.0, 2, 31000, 62000, 49926, 24960, 0.805, 3566.0, 14,
     3.4, None),
]  # fmt: skip


def create_table(con, name: str, columns: dict[str, str], rows: list) -> None:
    con.execute(
        f"create table {name} ("
        + ", ".join(f"{column} {kind}" for column, kind in columns.items())
        + ")"
    )
    con.executemany(
        f"insert into {name} values ({', '.join('?' * len(columns))})", rows
    )


def add_optional_marts(database: Path) -> None:
    """The three marts of the decision contract, hand-built for the demo, plus
    an experiment whose id needs escaping and sanitising."""
    with duckdb.connect(str(database)) as con:
        con.execute(
            "insert into registry.experiments (experiment_id, experiment_name, domain,"
            " owner, hypothesis, status, control_variant, alpha, power, mde_relative,"
            " analysis_window_days, cuped_lookback_days) values (?, ?, ?, ?, ?,"
            " 'planned', 'a', 0.05, 0.8, 0.1, 7, 0)",
            [AWKWARD_ID, 'Quotes "&" <tags>', "ops", "o'neil", "<b>bold</b> claims"],
        )
        create_table(con, "marts.experiment_decisions", DECISION_COLUMNS, DECISIONS)
        con.execute(
            "alter table marts.experiment_decisions add column decided_at timestamp"
            " default timestamp '2024-11-01 12:00:00'"
        )
        con.execute(
            "alter table marts.experiment_decisions"
            " add column data_quality_passed boolean default true"
        )
        create_table(con, "marts.experiment_power", POWER_COLUMNS, POWER)
        con.execute(
            """
            create table marts.experiment_portfolio as
            select
                e.experiment_id, e.experiment_name, e.domain, e.owner, e.status,
                e.start_date, e.end_date, 14 as days_running, 1000 as units,
                false as srm_flag, d.primary_metric_id, d.primary_rel_lift,
                d.primary_p_value_adjusted as primary_p_value, d.decision,
                'Portfolio says: ' || d.rationale as analysis_summary,
                d.recommended_action, e.hypothesis
            from registry.experiments as e
            left join marts.experiment_decisions as d using (experiment_id)
            """
        )


@pytest.fixture(scope="module")
def warehouse_copy(demo_warehouse, tmp_path_factory):
    """A writable copy of the demo warehouse without the optional marts."""
    copy = tmp_path_factory.mktemp("report_copy") / "warehouse.duckdb"
    shutil.copy2(demo_warehouse["database"], copy)
    with duckdb.connect(str(copy)) as con:
        relations = con.execute(
            "select table_name, table_type from information_schema.tables"
            " where table_schema = 'marts'"
        ).fetchall()
        for name, kind in relations:
            if name in OPTIONAL_MARTS:
                con.execute(
                    f"drop {'view' if kind == 'VIEW' else 'table'} marts.{name}"
                )
    return copy


@pytest.fixture(scope="module")
def full_report(warehouse_copy, tmp_path_factory):
    """First the report without the optional marts, then with hand-built ones."""
    bare = tmp_path_factory.mktemp("bare") / "reports"
    build_report(warehouse_copy, bare, log=lambda line: None)
    add_optional_marts(warehouse_copy)
    out = tmp_path_factory.mktemp("full") / "reports"
    build_report(warehouse_copy, out, log=lambda line: None)
    return {"bare": bare, "out": out, "database": warehouse_copy}


@pytest.mark.warehouse
def test_report_without_optional_marts_says_not_available(full_report):
    bare = full_report["bare"]
    index = " ".join("".join(parse_page(bare / "index.html").itertext()).split())
    assert "Not available yet" in index and "marts.experiment_decisions" in index
    assert "decision-none" in (bare / "index.html").read_text(encoding="utf-8")
    sections = section_texts(parse_page(bare / "experiments" / "E001.html"))
    for anchor in ("summary", "decision", "power"):
        assert "Not available yet" in sections[anchor], anchor
    assert "+44.2%" in sections["results"]


@pytest.mark.warehouse
def test_report_shows_decisions_power_and_escapes_awkward_ids(full_report):
    out, database = full_report["out"], full_report["database"]
    pages = experiment_pages(out, database)
    assert len(pages) == 6
    index_text = (out / "index.html").read_text(encoding="utf-8")
    for decision in ("scale", "iterate", "do-not-start", "keep-running", "stop"):
        assert f'class="badge decision-{decision}' in index_text
    assert "Not available yet" not in index_text
    e001 = section_texts(parse_page(pages["E001"]))
    assert (
        "Scale Roll out AI e-mail drafting to all outbound sales teams."
        in (e001["summary"])
    )
    assert "primary_good" in e001["decision"]
    assert "271%" in e001["power"] and "target reached" in e001["power"]
    e003 = section_texts(parse_page(pages["E003"]))
    assert "Do not start" in e003["summary"]
    assert "about 250 more days" in e003["power"]
    assert "Planned experiment: the figures below are its design" in e003["power"]
    assert "no data yet" not in e003["power"]
    # E005 has ended (completed) 3.4 days short of its projection: no
    # projection of days to go is shown for it.
    e005 = section_texts(parse_page(pages["E005"]))
    assert "80.5%" in e005["power"]
    assert "Projected days" not in e005["power"]
    assert "more day" not in e005["power"]
    e004 = section_texts(parse_page(pages["E004"]))
    # (the decision row here is hand-built: its text is the fixture's)
    assert "Winner per segment: High-Value Recent: urgent (+57%)" in e004["segments"]

    awkward_page = pages[AWKWARD_ID]
    text = awkward_page.read_text(encoding="utf-8")
    assert "<b>" not in text
    root = parse_page(awkward_page)
    body = "".join(root.itertext())
    assert AWKWARD_ID in body and 'Quotes "&" <tags>' in body
    assert 'SRM <p < 0.001> & "quotes".' in body


# --- rendering in a real browser --------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("XPKIT_SKIP_BROWSER") == "1":
        pytest.skip("no Chromium and XPKIT_SKIP_BROWSER=1")
    pytest.fail(
        "headless Chromium is needed to check the report renders: "
        "apt-get install -y chromium (or set XPKIT_SKIP_BROWSER=1 to skip)"
    )


def screenshot(page: Path, png: Path, profile: Path) -> None:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        "--window-size=1280,2000",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and png.exists(), result.stderr[-2000:]


def read_png(path: Path) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (
                    line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)
                ) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def colour_counts(rows: list[bytes], bpp: int) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for row in rows:
        for i in range(0, len(row), bpp):
            pixel = row[i : i + 3]
            counts[pixel] = counts.get(pixel, 0) + 1
    return counts


def near(counts: dict[bytes, int], hex_colour: str, tolerance: int = 6) -> int:
    target = bytes.fromhex(hex_colour.lstrip("#"))
    return sum(
        n
        for pixel, n in counts.items()
        if max(abs(a - b) for a, b in zip(pixel, target, strict=True)) <= tolerance
    )


@pytest.mark.warehouse
def test_report_renders_in_headless_chromium(full_report, tmp_path):
    out = full_report["out"]
    for page, badge in (
        (out / "index.html", "#1a7f37"),  # the "scale" badge
        (out / "experiments" / "E001.html", "#1a7f37"),  # its decision badges
    ):
        png = tmp_path / f"{page.stem}.png"
        screenshot(page, png, tmp_path / "profile")
        width, height, rows, bpp = read_png(png)
        assert (width, height) == (1280, 2000)
        counts = colour_counts(rows, bpp)
        pixels = width * height
        assert len(counts) > 200, "too few colours: a blank or error page?"
        assert max(counts.values()) < 0.9 * pixels
        assert near(counts, "#1b2a41") > 1280 * 60, "the page header is missing"
        assert near(counts, badge) > 200, f"{badge} is not drawn on {page.name}"
        assert near(counts, "#eef1f5") > 0.05 * pixels  # the page background


# --- the results table's rows ----------------------------------------------


def test_a_metrics_rows_share_their_decimals():
    # Control 1.9846 in both rows. Row 1 (vs 2.057): the larger mean to 3
    # significant digits needs 2 decimals, the change 0.0724 to 2 needs 3.
    # Row 2 (vs 2.53): 2 and 2 (change 0.5454). The metric takes 3, so row 2
    # reads 1.985, 2.530, +0.545 (not 1.98, 2.53, +0.55 below 1.985).
    rows = [
        {"metric_id": "tx", "aggregation": "mean", "mean_control": 1.9846,
         "mean_treatment": 2.057, "abs_lift": 0.0724},
        {"metric_id": "tx", "aggregation": "mean", "mean_control": 1.9846,
         "mean_treatment": 2.53, "abs_lift": 0.5454},
        {"metric_id": "rate", "aggregation": "binary", "mean_control": 0.10,
         "mean_treatment": 0.1645, "abs_lift": 0.0645},
    ]  # fmt: skip
    places = metric_decimals(rows)
    # The rate in percent: 16.45 -> 1 decimal, change 6.45 -> 1 decimal.
    assert places == {"tx": 3, "rate": 1}
    second = result_row(rows[1], places["tx"])
    assert (second["control"], second["treatment"]) == ("1.985", "2.530")
    assert second["abs_lift"] == "+0.545"
    rate = result_row(rows[2], places["rate"])
    assert (rate["control"], rate["abs_lift"]) == ("10.0%", "+6.5 pp")
    # Without the metric's decimals a row keeps its own (the old behaviour).
    assert result_row(rows[1])["control"] == "1.98"


# --- labels that fit ----------------------------------------------------------


def test_axis_labels_are_thinned_and_the_last_day_is_kept():
    days = [f"2024-06-{d:02d}" for d in range(1, 17)]  # 16 days, 40 px apart
    positions = [64 + 40.0 * i for i in range(16)]
    chosen = charts.thinned(positions, days, 11)
    assert chosen[0] == 0 and chosen[-1] == 15  # first and last day shown
    # "2024-06-15" beside "2024-06-16" was the collision: the one before the
    # last is dropped, and no two drawn labels are closer than a label's width.
    assert 14 not in chosen
    room = charts.text_width("2024-06-15", 11)
    gaps = [
        positions[b] - positions[a] for a, b in zip(chosen, chosen[1:], strict=False)
    ]
    assert min(gaps) > room
    # Few days: every one is drawn.
    assert charts.thinned([0.0, 300.0, 600.0], days[:3], 11) == [0, 1, 2]


def test_long_labels_are_ellipsised_with_the_full_text_as_a_tooltip():
    name = "Transactions per customer (secondary, a long registered name)"
    root = svg_root(
        charts.forest_plot([charts.ForestRow(name, 0.1, "urgent vs control", 0.0, 0.2)])
    )
    label = next(t for t in find(root, "text") if (t.text or "").startswith("Trans"))
    assert label.text.endswith("…") and len(label.text) < len(name)
    assert label.find(f"{SVG}title").text == name
    # A label that fits has no tooltip and no ellipsis.
    short = svg_root(charts.forest_plot([charts.ForestRow("CSAT", 0.1)]))
    csat = next(t for t in find(short, "text") if t.text == "CSAT")
    assert csat.find(f"{SVG}title") is None


def test_legends_sit_above_the_plot_area():
    points = [charts.LiftPoint(f"2024-06-{d:02d}", 0.1, 0.0, 0.2) for d in (1, 2, 3)]
    series = [
        charts.LiftSeries(f"variant_{n}_with_a_long_name", points) for n in "abcd"
    ]
    root = svg_root(charts.cumulative_lift_chart(series))
    grid_top = min(
        float(line.get("y1")) for line in find(root, "line") if line.get("x1") == "64"
    )
    keys = [r for r in find(root, "rect") if r.get("width") == "12"]
    assert len(keys) == 4
    assert all(float(r.get("y")) + float(r.get("height")) < grid_top for r in keys)
    # Four long names do not fit one row: the legend wraps to a second row.
    assert len({r.get("y") for r in keys}) == 2


@pytest.mark.warehouse
def test_experiment_headline_states_decision_harms_and_primary_effect_first(
    demo_report,
):
    # E002 has a harm: its summary must open with the decision, then every
    # harm, then the primary effect with its interval, before anything else.
    database, out = demo_report["database"], demo_report["out"]
    pages = experiment_pages(out, database)
    summary = next(
        s
        for s in parse_page(pages["E002"]).iter(f"{XHTML}section")
        if s.get("id") == "summary"
    )
    blocks = [child for child in summary if child.tag != f"{XHTML}h2"]
    ids = [child.get("id") for child in blocks]
    assert ids[:3] == ["headline-decision", "harm", "headline-primary"]

    def text(element):
        return " ".join("".join(element.itertext()).split())

    decision = read_rows(
        database,
        "select decision from marts.experiment_decisions where experiment_id = 'E002'",
    )[0]["decision"]
    assert fmt.decision_label(decision) in text(blocks[0])
    # Every harm the marts record (breached or inconclusive guardrails,
    # significantly bad metrics) is in the headline block.
    results = read_rows(
        database, "select * from marts.experiment_results where experiment_id = 'E002'"
    )
    segments = read_rows(
        database, "select * from marts.segment_results where experiment_id = 'E002'"
    )
    harms = harm_lines(results, segments)
    assert harms
    for line in harms:
        assert " ".join(line.split()) in text(blocks[1])
    # The primary effect with its interval.
    primary = [r for r in results if r["role"] == "primary"]
    assert primary
    assert "CI" in text(blocks[2])
    for r in primary:
        assert " ".join(r["summary"].split()) in text(blocks[2])
