"""Summaries never hide harm, and a guardrail must pass to scale (issue 12,
items 5 and 6): the decision rule on guardrail_status, the rationale,
harm_summary, the portfolio's analysis_summary and the report's headline, on
hand-built marts (every figure checkable by hand) and on the demo warehouse."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from warehouse import read_tables

from xpkit.marts.experiment_decisions import experiment_decisions
from xpkit.report import charts
from xpkit.report.pages import harm_lines

AS_OF = pd.Timestamp("2024-11-01 12:00:00")


def row(
    metric_id,
    role,
    rel,
    p_adjusted,
    direction,
    variant="treatment",
    desired="increase",
    **extra,
):
    """One experiment_results row with an interval of +/- 0.1 (adjusted +/- 0.15)."""
    return {
        "experiment_id": "X1",
        "metric_id": metric_id,
        "metric_name": metric_id.replace("_", " ").capitalize(),
        "variant": variant,
        "control_variant": "control",
        "role": role,
        "rel_lift": rel,
        "rel_ci_low": rel - 0.1,
        "rel_ci_high": rel + 0.1,
        "rel_ci_low_adjusted": rel - 0.15,
        "rel_ci_high_adjusted": rel + 0.15,
        "abs_lift": rel,
        "p_value_adjusted": p_adjusted,
        "direction": direction,
        "desired_direction": desired,
        "alpha": 0.05,
        **extra,
    }


def guardrail(status, bound, rel=-0.01, tolerance=0.02, **extra):
    """A guardrail row with its non-inferiority status and one-sided bound."""
    extra.setdefault("p_adjusted", 0.6)
    extra.setdefault("direction", "flat")
    return row(
        extra.pop("metric_id", "csat"),
        "guardrail",
        rel,
        guardrail_status=status,
        guardrail_bound=bound,
        guardrail_tolerance=tolerance,
        **extra,
    )


WIN = {"rel": 0.2, "p_adjusted": 0.001, "direction": "good"}
FLAT = {"rel": 0.03, "p_adjusted": 0.4, "direction": "flat"}


def decide(results, segments=(), status="completed", share=1.0):
    """The decision row of X1 (primary metric conv)."""
    links = {(r["metric_id"], r["role"]) for r in results}
    out = experiment_decisions(
        pd.DataFrame(
            [{"experiment_id": "X1", "status": status, "control_variant": "control"}]
        ),
        pd.DataFrame(
            [{"experiment_id": "X1", "metric_id": m, "role": r} for m, r in links]
        ),
        pd.DataFrame(results),
        pd.DataFrame(list(segments)),
        pd.DataFrame(
            [
                {"experiment_id": "X1", "variant": v, "srm_flag": False}
                for v in ("control", "treatment")
            ]
        ),
        pd.DataFrame(
            [{"experiment_id": "X1", "units_analysed": 2000, "multi_variant_share": 0}]
        ),
        pd.DataFrame(
            [
                {
                    "experiment_id": "X1",
                    "metric_id": "conv",
                    "share_of_target": share,
                    "current_units": 2000 * share,
                    "required_units_total": 2000,
                }
            ]
        ),
        decided_at=AS_OF,
    )
    return out.iloc[0]


# ---------------------------------------------------------------------------
# Item 5: scale only when every guardrail passed
# ---------------------------------------------------------------------------


def test_underpowered_guardrail_reaching_past_its_tolerance_never_scales():
    # -1% on CSAT, not significant, but the one-sided bound reaches -25%
    # against a tolerance of -2%: harm beyond the tolerance is not ruled out.
    results = [row("conv", "primary", **WIN), guardrail("inconclusive", -0.25)]
    done = decide(results)
    assert (done.decision, done.rule) == (
        "iterate",
        "primary_good_guardrail_inconclusive",
    )
    assert (
        "guardrail inconclusive: csat (overall): -1.0% (lower bound -25.0% vs "
        "tolerance -2.0%)"
    ) in done.rationale
    assert done.guardrails_inconclusive == (
        "csat (overall): -1.0% (lower bound -25.0% vs tolerance -2.0%)"
    )
    assert done.guardrail_statuses == (
        "csat: inconclusive, -1.0% (lower bound -25.0% vs tolerance -2.0%)"
    )
    assert done.recommended_action.startswith("Iterate: re-test treatment")
    # Still running (at its planned sample): keep running, do not roll out.
    running = decide(results, status="running")
    assert (running.decision, running.rule) == (
        "keep_running",
        "primary_good_guardrail_inconclusive",
    )
    assert running.recommended_action == (
        "Keep running: do not roll out treatment until csat is shown within tolerance."
    )
    # The same guardrail once its bound clears the tolerance: scale.
    passed = decide([row("conv", "primary", **WIN), guardrail("passed", -0.015)])
    assert (passed.decision, passed.rule) == ("scale", "primary_good")
    assert (
        "every guardrail passed (csat (overall): -1.0% (lower bound -1.5% vs "
        "tolerance -2.0%))"
    ) in passed.rationale


def test_breached_guardrail_iterates_even_when_not_two_sided_significant():
    # Breached by the one-sided test although the two-sided adjusted test is
    # not significant (direction flat): the earlier rule let this scale.
    results = [
        row("conv", "primary", **WIN),
        guardrail("breached", -0.09, rel=-0.06, p_adjusted=0.08),
    ]
    out = decide(results)
    assert (out.decision, out.rule) == ("iterate", "primary_good_with_harm")
    assert out.guardrails_breached == "csat (overall): -6.0% (tolerance 2.0%)"
    assert (
        "guardrail breached: csat (overall): -6.0% (lower bound -9.0% vs "
        "tolerance -2.0%)"
    ) in out.rationale


def test_decreasing_guardrail_reads_its_upper_bound():
    results = [
        row("conv", "primary", **WIN),
        guardrail(
            "inconclusive",
            0.12,
            rel=0.02,
            tolerance=0.05,
            metric_id="latency",
            desired="decrease",
        ),
    ]
    out = decide(results)
    assert out.rule == "primary_good_guardrail_inconclusive"
    assert "latency (overall): +2.0% (upper bound +12.0% vs tolerance +5.0%)" in (
        out.rationale
    )


@pytest.mark.parametrize(
    ("extra", "want"),
    [
        # No guardrail_status column (an older warehouse): read from the
        # two-sided interval. -1% +/- 10% reaches -11%: inconclusive.
        ({}, "inconclusive"),
        # An interval inside the tolerance passes ...
        ({"rel_ci_low": -0.019, "rel_ci_high": -0.001}, "passed"),
        # ... one wholly beyond it is breached.
        ({"rel_ci_low": -0.2, "rel_ci_high": -0.03}, "breached"),
        # No interval at all: nothing known never passes.
        ({"rel_ci_low": None, "rel_ci_high": None}, "inconclusive"),
        # A status column with a missing or unknown value: never passed, even
        # with an interval inside the tolerance.
        (
            {"guardrail_status": None, "rel_ci_low": -0.01, "rel_ci_high": 0.01},
            "inconclusive",
        ),
        ({"guardrail_status": "n/a", "rel_ci_low": -0.01}, "inconclusive"),
    ],
)
def test_guardrail_without_a_status_is_never_passed_by_default(extra, want):
    guard = row(
        "csat", "guardrail", -0.01, 0.7, "flat", guardrail_tolerance=0.02, **extra
    )
    out = decide([row("conv", "primary", **WIN), guard])
    expected = {
        "passed": ("scale", "primary_good"),
        "breached": ("iterate", "primary_good_with_harm"),
        "inconclusive": ("iterate", "primary_good_guardrail_inconclusive"),
    }[want]
    assert (out.decision, out.rule) == expected
    assert out.guardrail_statuses.startswith(f"csat: {want}, -1.0%")


# ---------------------------------------------------------------------------
# Item 6: the retail case, and harm named by every rule
# ---------------------------------------------------------------------------


def retail_case():
    """No significant effect on the primary; average order value -19.8%
    (adjusted p < 0.0001); revenue inconclusive overall and breached in one
    channel (-43%); the primary wins in one channel."""
    aov = row("aov", "secondary", -0.198, 4e-5, "bad")
    aov.update(rel_ci_low_adjusted=-0.262, rel_ci_high_adjusted=-0.134)
    revenue = guardrail("inconclusive", -0.21, rel=-0.05, metric_id="revenue")
    results = [row("conv", "primary", **FLAT), aov, revenue]
    segments = [
        {
            "segment_dimension": "channel",
            "segment_value": "web",
            "is_suppressed": False,
            **guardrail(
                "breached", -0.58, rel=-0.43, metric_id="revenue", direction="bad"
            ),
        },
        {
            "segment_dimension": "channel",
            "segment_value": "store",
            "is_suppressed": False,
            **guardrail("inconclusive", -0.3, rel=0.02, metric_id="revenue"),
        },
        {
            "segment_dimension": "channel",
            "segment_value": "store",
            "is_suppressed": False,
            **row("conv", "primary", 0.4, 0.001, "good"),
        },
    ]
    return results, segments


AOV_TEXT = (
    "Aov fell 19.8% with treatment (adjusted 95% CI -26.2% to -13.4%; "
    "adjusted p < 0.0001)"
)
REVENUE_WEB = (
    "revenue (channel web, treatment): -43.0% (lower bound -58.0% vs tolerance -2.0%)"
)
REVENUE_OVERALL = (
    "revenue (overall, treatment): -5.0% (lower bound -21.0% vs tolerance -2.0%)"
)


def test_retail_case_names_the_harm_in_rationale_summary_and_action():
    results, segments = retail_case()
    out = decide(results, segments)
    assert (out.decision, out.rule) == ("iterate", "inconclusive")
    for text in (AOV_TEXT, REVENUE_WEB, REVENUE_OVERALL):
        assert text in out.rationale
        assert text in out.harm_summary
    assert out.harm_summary == (
        f"Significantly worse: {AOV_TEXT}. Guardrail breached: {REVENUE_WEB}. "
        f"Guardrail inconclusive (harm beyond its tolerance not ruled out): "
        f"{REVENUE_OVERALL}."
    )
    # The segment-level inconclusive cell (store) is not a harm; the breach is.
    assert "channel store, treatment" not in out.harm_summary
    assert out.recommended_action == (
        "Iterate: fix the harm to aov, the revenue breach in channel web, then "
        "follow up with a segment-targeted test of treatment for store."
    )


def test_every_rule_that_reads_results_names_the_harm():
    results, segments = retail_case()
    # Below the planned sample: keep running, but say what is already worse.
    out = decide(results, segments, status="running", share=0.5)
    assert out.rule == "below_planned_sample"
    assert AOV_TEXT in out.rationale and REVENUE_WEB in out.rationale
    # A winning primary with the same harm: iterate, each harm named once.
    results[0] = row("conv", "primary", **WIN)
    out = decide(results, segments)
    assert out.rule == "primary_good_with_harm"
    assert out.rationale.count("revenue (channel web") == 1
    assert out.rationale.count("aov") == 1
    assert REVENUE_OVERALL in out.rationale
    # A losing primary: stop, and the other harms are still named.
    results[0] = row("conv", "primary", -0.2, 0.001, "bad")
    out = decide(results, segments)
    assert out.rule == "primary_bad"
    assert AOV_TEXT in out.rationale and REVENUE_OVERALL in out.rationale
    assert out.rationale.count("Conv fell 20.0%") == 1


def test_harm_in_another_variant_is_named_when_the_winner_scales():
    results = [
        row("conv", "primary", **WIN),
        row("conv", "primary", -0.3, 0.002, "bad", variant="other"),
        guardrail("passed", -0.01),
        guardrail("passed", -0.015, variant="other"),
    ]
    out = decide(results)
    assert (out.decision, out.primary_variant) == ("scale", "treatment")
    phrase = (
        "Conv fell 30.0% with other (adjusted 95% CI -45.0% to -15.0%; "
        "adjusted p = 0.002)"
    )
    assert f"Significantly worse: {phrase}." in out.rationale
    assert out.harm_summary == f"Significantly worse: {phrase}."


# ---------------------------------------------------------------------------
# The report: headline and forest plot
# ---------------------------------------------------------------------------


def test_report_headline_lines_name_every_harm():
    results, segments = retail_case()
    lines = harm_lines(results, segments)
    assert lines == [
        f"Significantly worse: {AOV_TEXT}.",
        f"Guardrail breached: {REVENUE_WEB}.",
        "Guardrail inconclusive (harm beyond its tolerance not ruled out): "
        f"{REVENUE_OVERALL}.",
    ]
    assert harm_lines([row("conv", "primary", **WIN)], []) == []


def forest_bars(svg):
    """(colour, dashed, x1, x2) of each interval bar, and x of the zero line."""
    bars = re.findall(
        r'<line x1="([-\d.]+)" y1="([-\d.]+)" x2="([-\d.]+)" y2="\2" '
        r'stroke="([^"]+)" stroke-width="2.5"([^/]*)/>',
        svg,
    )
    zero = re.search(r'<line x1="([-\d.]+)"[^>]*stroke-dasharray="4 3"', svg)
    return [
        (colour, "dasharray" in rest, float(a), float(b))
        for a, _, b, colour, rest in bars
    ], float(zero.group(1))


def test_forest_plot_never_colours_a_bar_against_its_interval():
    rows = [
        # E001: marked good, relative interval across 0.
        charts.ForestRow("Meetings", 0.615, "ai", -0.159, 1.39, "good"),
        # E004: not significant after correction, interval clear of 0.
        charts.ForestRow("Clicks", 0.317, "friendly", 0.058, 0.577, "flat"),
        # Consistent rows keep their colours.
        charts.ForestRow("Reply", 0.44, "ai", 0.10, 0.78, "good"),
        charts.ForestRow("Open", 0.05, "friendly", -0.05, 0.15, "flat"),
    ]
    svg = charts.forest_plot(rows)
    bars, zero = forest_bars(svg)
    assert len(bars) == 4
    significant = {charts.DIRECTION_COLOURS["good"], charts.DIRECTION_COLOURS["bad"]}
    flat = charts.DIRECTION_COLOURS["flat"]
    for colour, dashed, x1, x2 in bars:
        crosses = min(x1, x2) <= zero <= max(x1, x2)
        assert not (colour in significant and crosses)
        assert not (colour == flat and not crosses and not dashed)
    assert [b[0] for b in bars[2:]] == [charts.DIRECTION_COLOURS["good"], flat]
    assert [b[1] for b in bars] == [True, True, False, False]
    assert "verdict and interval disagree" in svg


# ---------------------------------------------------------------------------
# The demo warehouse (reads experiment_results.guardrail_status and the
# *_adjusted intervals of issue 12's results columns)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_marts(demo_warehouse):
    return read_tables(
        demo_warehouse["database"],
        "marts.experiment_results",
        "marts.segment_results",
        "marts.experiment_decisions",
        "marts.experiment_portfolio",
    )


@pytest.mark.warehouse
def test_demo_summaries_name_every_harm(demo_marts):
    results = demo_marts["marts.experiment_results"]
    segments = demo_marts["marts.segment_results"]
    decisions = demo_marts["marts.experiment_decisions"].set_index("experiment_id")
    portfolio = demo_marts["marts.experiment_portfolio"].set_index("experiment_id")
    named = 0
    for r in results.to_dict("records"):
        guard = r["role"] == "guardrail"
        if guard and r["guardrail_status"] in ("breached", "inconclusive"):
            needles = [f"{r['metric_id']} (overall, {r['variant']}): "]
        elif not guard and r["direction"] == "bad":
            name = str(r["metric_name"] or r["metric_id"])
            needles = [name[:1].upper() + name[1:], f" with {r['variant']} (adjusted "]
        else:
            continue
        for text in (
            decisions.loc[r["experiment_id"], "rationale"],
            portfolio.loc[r["experiment_id"], "analysis_summary"],
        ):
            for needle in needles:
                assert needle in text, (r["experiment_id"], r["metric_id"], needle)
        named += 1
    breached = segments[
        (segments.role == "guardrail")
        & (segments.guardrail_status == "breached")
        & ~segments.is_suppressed.astype(bool)
    ]
    for r in breached.to_dict("records"):
        needle = f"{r['metric_id']} ({r['segment_dimension']} {r['segment_value']}"
        assert needle in decisions.loc[r["experiment_id"], "rationale"]
        assert needle in portfolio.loc[r["experiment_id"], "analysis_summary"]
        named += 1
    # The demo plants one: CSAT breached in E002's technical segment.
    assert named >= 1
    scaled = decisions[decisions.decision == "scale"]
    assert scaled.guardrails_breached.isna().all()
    assert scaled.guardrails_inconclusive.isna().all()
    assert scaled.bad_secondaries.isna().all()
