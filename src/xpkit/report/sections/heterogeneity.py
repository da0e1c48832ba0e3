"""The heterogeneity section of an experiment page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from markupsafe import Markup

from xpkit.narrative import report as fmt
from xpkit.report import charts
from xpkit.report.common import (
    LEARNER_NAMES,
    first,
    hte_learners,
    missing_notice,
)
from xpkit.stats.numbers import finite

if TYPE_CHECKING:
    from xpkit.report.pages import ReportBuilder

__all__ = ["heterogeneity_section", "cate", "cohorts"]


def heterogeneity_section(
    report: ReportBuilder, experiment_id: Any, has_data: bool, no_data: dict[str, str]
) -> dict[str, Any]:
    """CATE heatmaps and ROI curves (experiment_cate) and the cohort table
    (experiment_cohorts)."""
    out: dict[str, Any] = {
        "hte": None,
        "hte_notices": [],
        "cohorts": [],
        "cohort_notices": [],
        "cohort_metric": None,
    }
    if not report.data.has("experiment_cate"):
        out["hte_notices"] = [
            missing_notice("experiment_cate", "the heterogeneous effects")
        ]
    elif not has_data:
        out["hte_notices"] = [no_data]
    else:
        out.update(cate(report, experiment_id))
    if not report.data.has("experiment_cohorts"):
        out["cohort_notices"] = [
            missing_notice("experiment_cohorts", "the cohort table")
        ]
    elif not has_data:
        out["cohort_notices"] = [no_data]
    else:
        out.update(cohorts(report, experiment_id))
    return out


def cate(report: ReportBuilder, experiment_id: Any) -> dict[str, Any]:
    rows = report.data.for_experiment("experiment_cate", experiment_id)
    if not rows:
        analysed = sorted(
            {
                str(r.get("experiment_id"))
                for r in report.data.rows("experiment_cate")
                if r.get("experiment_id") is not None
            }
        )
        return {
            "hte_notices": [
                {
                    "kind": "nodata",
                    "text": "Heterogeneous effects are estimated for one "
                    "experiment per build (dbt var cate_experiment_id; this "
                    f"build: {', '.join(analysed) or 'none'}), not this one.",
                }
            ]
        }
    errors = [r.get("error_message") for r in rows if r.get("error_message")]
    if errors:
        return {"hte_notices": [{"kind": "alert", "text": errors[0]}]}
    metric_id = (first(rows) or {}).get("metric_id")
    metric = report.metrics.get(metric_id, {})
    direction = metric.get("desired_direction")
    # A rate's uplift reads in percentage points (+6.45 pp, not +0.0645).
    aggregation = metric.get("aggregation")
    heat = [r for r in rows if r.get("output") == "heatmap"]
    roi = [r for r in rows if r.get("output") == "roi_curve"]
    names = LEARNER_NAMES
    maps, extremes = [], []
    for learner in hte_learners(heat):
        cells = sorted(
            (r for r in heat if r.get("learner") == learner),
            key=lambda r: (
                str(r.get("segment")),
                r.get("activity_bin_order") or 0,
            ),
        )
        maps.append(
            {
                "learner": names.get(learner, learner),
                "svg": Markup(
                    charts.cate_heatmap(
                        [
                            charts.CateCell(
                                row=fmt.attribute(r.get("segment")),
                                column=fmt.attribute(r.get("activity_bin")),
                                value=finite(r.get("mean_cate")),
                                units=r.get("units"),
                            )
                            for r in cells
                        ],
                        title=f"{names.get(learner, learner)}: mean estimated "
                        "CATE by segment (rows) and activity bin (columns)",
                        desired_direction=direction,
                    )
                ),
            }
        )
        shown = [r for r in cells if finite(r.get("mean_cate")) is not None]
        if shown:
            top = max(shown, key=lambda r: r["mean_cate"])
            low = min(shown, key=lambda r: r["mean_cate"])
            extremes.append(
                f"{names.get(learner, learner)}: largest "
                f"{fmt.uplift(top['mean_cate'], aggregation)} in "
                f"{top.get('segment')} / activity {top.get('activity_bin')} "
                f"(observed {fmt.uplift(top.get('observed_uplift'), aggregation)}),"
                f" smallest {fmt.uplift(low['mean_cate'], aggregation)} in "
                f"{low.get('segment')} / activity {low.get('activity_bin')} "
                f"(observed {fmt.uplift(low.get('observed_uplift'), aggregation)})."
            )
    series, random, table = [], [], []
    for learner in hte_learners(roi):
        points = sorted(
            (r for r in roi if r.get("learner") == learner),
            key=lambda r: r.get("budget_share") or 0,
        )
        series.append(
            charts.UpliftSeries(
                names.get(learner, learner),
                cast(
                    list[tuple[float, float | None]],
                    [
                        (r.get("budget_share"), r.get("incremental_outcome"))
                        for r in points
                    ],
                ),
            )
        )
        random = cast(
            list[tuple[float, float | None]],
            [(r.get("budget_share"), r.get("random_outcome")) for r in points],
        )
        for r in points:
            if r.get("budget_share") in (0.1, 0.2, 0.5):
                table.append(
                    {
                        "learner": names.get(learner, learner),
                        "share": fmt.pct(r.get("budget_share"), signed=False),
                        "units": fmt.integer(r.get("units")),
                        "predicted": fmt.uplift(r.get("mean_cate"), aggregation),
                        "observed": fmt.uplift(r.get("observed_uplift"), aggregation),
                        "gain": fmt.number(r.get("incremental_outcome")),
                        "over_random": fmt.number(r.get("gain_over_random")),
                        "over_random_ci": fmt.interval(
                            r.get("gain_over_random_low"),
                            r.get("gain_over_random_high"),
                            kind="number",
                        ),
                        "verdict": r.get("targeting_verdict") or fmt.DASH,
                        "bad": r.get("targeting_verdict") == "worse than random",
                    }
                )
    calibration = [r for r in rows if r.get("output") == "calibration"]
    return {
        "hte": {
            "metric": metric.get("metric_name") or metric_id,
            "maps": maps,
            "extremes": extremes,
            "roi_svg": Markup(
                charts.uplift_chart(
                    series,
                    random,
                    title="Incremental outcome of treating the top x% by "
                    "estimated CATE (held-out)",
                )
            ),
            "roi_rows": table,
            "calibration": calibration_table(calibration, aggregation),
            "warnings": targeting_warnings(roi, calibration, aggregation),
        }
    }


def calibration_table(
    rows: list[dict[str, Any]], aggregation: Any
) -> dict[str, Any] | None:
    """Deciles of estimated CATE (rows) x learners (columns): the mean estimate
    and the observed uplift with its 95% interval; an estimate outside its
    decile's interval is flagged."""
    learners = hte_learners(rows)
    if not learners:
        return None
    by_key = {(r.get("learner"), r.get("decile")): r for r in rows}
    deciles = sorted({int(r["decile"]) for r in rows if r.get("decile") is not None})
    body = []
    for decile in deciles:
        cells = []
        for learner in learners:
            r = by_key.get((learner, decile), {})
            cells.append(
                {
                    "estimate": fmt.uplift(r.get("mean_cate"), aggregation),
                    "observed": fmt.uplift(r.get("observed_uplift"), aggregation),
                    "ci": uplift_interval(r, aggregation),
                    "outside": outside_interval(r),
                }
            )
        body.append({"decile": decile, "cells": cells})
    return {"learners": [LEARNER_NAMES.get(x, x) for x in learners], "rows": body}


def uplift_interval(row: dict[str, Any], aggregation: Any) -> str:
    low, high = (
        finite(row.get("observed_uplift_low")),
        finite(row.get("observed_uplift_high")),
    )
    if low is None or high is None:
        return ""
    return f"[{fmt.uplift(low, aggregation)}, {fmt.uplift(high, aggregation)}]"


def outside_interval(row: dict[str, Any]) -> bool:
    estimate = finite(row.get("mean_cate"))
    low, high = (
        finite(row.get("observed_uplift_low")),
        finite(row.get("observed_uplift_high")),
    )
    if estimate is None or low is None or high is None:
        return False
    return not low <= estimate <= high


def targeting_warnings(
    roi: list[dict[str, Any]], calibration: list[dict[str, Any]], aggregation: Any
) -> list[str]:
    """Sentences that stop a reader over-trusting the learners: a learner
    targeting worse than random at a budget, learners whose verdicts at a
    budget disagree, and top-decile estimates outside the observed interval."""
    names = LEARNER_NAMES
    warnings = []
    worse: dict[str, list[float]] = {}
    verdicts: dict[float, dict[str, str]] = {}
    for r in roi:
        share, verdict = finite(r.get("budget_share")), r.get("targeting_verdict")
        if share is None or verdict is None:
            continue
        learner = names.get(r.get("learner"), str(r.get("learner")))
        verdicts.setdefault(share, {})[learner] = verdict
        if verdict == "worse than random":
            worse.setdefault(learner, []).append(share)
    for learner, shares in sorted(worse.items()):
        budgets = ", ".join(fmt.pct(q, signed=False) for q in sorted(shares))
        warnings.append(
            f"{learner} targets worse than random at a budget of {budgets}: "
            "its ranking would lose outcome against picking units at random."
        )
    split = sorted(q for q, v in verdicts.items() if len(set(v.values())) > 1)
    if split:
        budgets = ", ".join(fmt.pct(q, signed=False) for q in split[:5])
        more = f" and {len(split) - 5} more" if len(split) > 5 else ""
        warnings.append(
            f"The learners disagree on whether targeting beats random at {budgets}"
            f"{more}: treat any one learner's ranking as unproven."
        )
    for r in calibration:
        if r.get("decile") == 1 and outside_interval(r):
            learner = names.get(r.get("learner"), str(r.get("learner")))
            warnings.append(
                f"{learner}'s top decile: estimated "
                f"{fmt.uplift(r.get('mean_cate'), aggregation)}, observed "
                f"{fmt.uplift(r.get('observed_uplift'), aggregation)} "
                f"{uplift_interval(r, aggregation)}: its largest estimates "
                "overstate the effect."
            )
    return warnings


def cohorts(report: ReportBuilder, experiment_id: Any) -> dict[str, Any]:
    rows = sorted(
        report.data.for_experiment("experiment_cohorts", experiment_id),
        key=lambda r: (
            str(r.get("segment")),
            r.get("activity_bin_order") or 0,
            -1 if r.get("signup_month") is None else r.get("signup_month"),
        ),
    )
    if not rows:
        return {
            "cohort_notices": [
                {"kind": "nodata", "text": "No analysed units in any cohort."}
            ]
        }
    aggregation = report.metrics.get(rows[0].get("primary_metric_id"), {}).get(
        "aggregation"
    )
    return {
        "cohorts": [
            {
                "segment": fmt.attribute(r.get("segment")),
                "activity_bin": fmt.attribute(r.get("activity_bin")),
                "signup_month": fmt.integer(r.get("signup_month")),
                "units": fmt.integer(r.get("units")),
                "treatment_rate": fmt.pct(r.get("treatment_rate"), signed=False),
                "received_rate": fmt.pct(
                    r.get("received_treatment_rate"), signed=False
                ),
                "pre": fmt.metric_value(r.get("mean_pre_metric"), aggregation),
                "outcome": fmt.metric_value(r.get("mean_outcome"), aggregation),
                "suppressed": bool(r.get("is_suppressed")),
            }
            for r in rows
        ],
        "cohort_metric": rows[0].get("primary_metric_id"),
    }
