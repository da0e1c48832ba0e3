"""The report's heterogeneous-effects, cohort and planned-assignment sections:
the two new charts on their own, and the demo pages showing the marts' figures."""

from __future__ import annotations

import pytest
from test_report import (
    experiment_pages,
    find,
    parse_page,
    read_rows,
    section_texts,
    svg_root,
    texts,
)

from xpkit.narrative import report as fmt
from xpkit.report import build_report, charts


def test_cate_heatmap_colours_by_sign_and_marks_missing_cells():
    cells = [
        charts.CateCell("vip", "<2", 2.0, units=120),
        charts.CateCell("vip", "2-4", -1.0, units=80),
        charts.CateCell("casual", "<2", None, units=4),
    ]
    root = svg_root(charts.cate_heatmap(cells, desired_direction="increase"))
    labels = texts(root)
    assert "+2.00" in labels and "-1.00" in labels and "n/a" in labels
    assert "n=120" in labels and "<2" in labels
    fills = [r.get("fill") for r in find(root, "rect")]
    # Deepest green for the largest effect, a red for the negative one, grey
    # for the suppressed cell, white-ish nothing else: 3 cells + 1 missing.
    assert len(fills) == 4
    assert fills[0] == charts._mix(charts.DIRECTION_COLOURS["good"], 0.9)
    assert fills[1] == charts._mix(charts.DIRECTION_COLOURS["bad"], 0.12 + 0.78 / 2)
    assert fills[2] == "#eaeef2"
    # Lower is better: the same values swap colours.
    down = svg_root(charts.cate_heatmap(cells, desired_direction="decrease"))
    assert find(down, "rect")[0].get("fill") == charts._mix(
        charts.DIRECTION_COLOURS["bad"], 0.9
    )
    assert "No CATE estimates" in texts(svg_root(charts.cate_heatmap([])))


def test_uplift_chart_draws_a_line_per_learner_and_the_random_line():
    series = [
        charts.UpliftSeries("T-learner", [(0.5, 30.0), (1.0, 40.0)]),
        charts.UpliftSeries("X-learner", [(0.5, None), (1.0, 40.0)]),
    ]
    root = svg_root(charts.uplift_chart(series, [(0.5, 20.0), (1.0, 40.0)]))
    paths = find(root, "path")
    # T-learner has two points (a line), X-learner one (no line), random a
    # dashed line.
    assert len(paths) == 2
    assert paths[-1].get("stroke-dasharray")
    assert len(find(root, "circle")) == 3
    labels = texts(root)
    assert {"T-learner", "X-learner", "random", "100%"} <= set(labels)
    empty = svg_root(charts.uplift_chart([], []))
    assert "No uplift curve" in texts(empty)


@pytest.fixture(scope="module")
def hte_report(demo_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("hte_report") / "reports"
    build_report(demo_warehouse["database"], out, log=lambda line: None)
    pages = experiment_pages(out, demo_warehouse["database"])
    return {"database": demo_warehouse["database"], "pages": pages}


@pytest.mark.warehouse
def test_report_shows_cate_heatmaps_roi_curve_and_cohorts(hte_report):
    database, pages = hte_report["database"], hte_report["pages"]
    page = parse_page(pages["E005"])
    text = section_texts(page)["heterogeneity"]
    cate = read_rows(database, "select * from marts.experiment_cate")
    heat = [r for r in cate if r["output"] == "heatmap"]
    for learner, name in (("t_learner", "T-learner"), ("x_learner", "X-learner")):
        cells = [r for r in heat if r["learner"] == learner]
        top = max(cells, key=lambda r: r["mean_cate"])
        assert (
            f"{name}: largest {fmt.number(top['mean_cate'], signed=True)} in "
            f"{top['segment']} / activity {top['activity_bin']}"
        ) in text
    roi = [
        r
        for r in cate
        if r["output"] == "roi_curve"
        and r["learner"] == "s_learner"
        and r["budget_share"] == 0.2
    ]
    assert fmt.number(roi[0]["incremental_outcome"]) in text
    cohorts = read_rows(
        database,
        "select * from marts.experiment_cohorts where experiment_id = 'E005'"
        " order by units desc limit 1",
    )
    assert fmt.integer(cohorts[0]["units"]) in text
    assert fmt.metric_value(cohorts[0]["mean_outcome"], "sum") in text
    # 3 heatmaps and the ROI chart.
    section = next(
        s
        for s in page.iter("{http://www.w3.org/1999/xhtml}section")
        if s.get("id") == "heterogeneity"
    )
    assert len(list(section.iter("{http://www.w3.org/2000/svg}svg"))) == 4
    # Other experiments: cohorts, and a note that CATE is for E005 only.
    e001 = section_texts(parse_page(pages["E001"]))["heterogeneity"]
    assert "this build: E005" in e001 and "smb" in e001


@pytest.mark.warehouse
def test_report_shows_the_planned_assignment_on_planned_pages(hte_report):
    database, pages = hte_report["database"], hte_report["pages"]
    text = section_texts(parse_page(pages["E003"]))["planned_assignment"]
    rows = read_rows(
        database,
        "select * from marts.planned_assignment_balance where experiment_id = 'E003'",
    )
    total = sum(r["units"] for r in rows)
    assert f"{fmt.integer(total)} eligible units" in text
    assert f"p = {fmt.p_value(rows[0]['srm_p_value'])}" in text
    for r in rows:
        assert fmt.integer(r["units"]) in text
    assert (
        "Not applicable"
        in section_texts(parse_page(pages["E005"]))["planned_assignment"]
    )
