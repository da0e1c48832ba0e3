"""The portfolio page's programme sections and the experiment page's results
history, from hand-made mart rows (no warehouse)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from xpkit.report.data import WarehouseData
from xpkit.report.sections.history import history_section
from xpkit.report.sections.programme import meta_analysis_context, value_context


def _report(**tables):
    return SimpleNamespace(data=WarehouseData(tables=tables))


def test_absent_marts_say_not_available():
    report = _report()
    assert (
        "Not available yet" in meta_analysis_context(report)["meta_notices"][0]["text"]
    )
    assert "Not available yet" in value_context(report)["value_notices"][0]["text"]
    assert (
        "Not available yet"
        in history_section(report, "E1")["history_notices"][0]["text"]
    )


def test_meta_analysis_shows_the_programme_group():
    group = {
        "scope": "programme",
        "domain": "all",
        "metric_id": "primary",
        "n_experiments": 2,
        "pooled_rel_improvement": 0.05,
        "pooled_ci_low": 0.01,
        "pooled_ci_high": 0.09,
        "tau_squared": 0.0004,
        "i_squared": 0.3,
        "win_rate": 0.5,
        "decided_experiments": 2,
        "shipped_experiments": 1,
        "shipped_rel_improvement": 0.08,
        "shipped_ci_low": 0.02,
        "shipped_ci_high": 0.14,
    }
    rows = [
        {**group, "experiment_id": "B", "shrunken_rel_improvement": 0.03},
        {**group, "experiment_id": "A", "shrunken_rel_improvement": 0.08},
    ]
    context = meta_analysis_context(_report(experiment_meta_analysis=rows))
    meta = context["meta"]
    assert meta["pooled"] == "+5.0%" and meta["win_rate"] == "50.0%"
    assert meta["pooled_interval"] == "[+1.0%, +9.0%]"
    assert meta["shipped_impact"] == "+8.0%"
    assert [r["experiment_id"] for r in meta["experiments"]] == ["A", "B"]
    assert context["meta_groups"] == []


def test_value_ranks_running_experiments_first():
    rows = [
        {
            "experiment_id": "A",
            "status": "completed",
            "expected_value": 5000.0,
            "decision_owner": "Ann",
            "decision": "scale",
            "decided_at": datetime(2024, 11, 1),
            "custom_action": "Roll out",
        },
        {
            "experiment_id": "B",
            "status": "running",
            "voi_rank": 2,
            "owner": "team",
            "evpi": 10.0,
            "recommended_action": "wait",
        },
        {
            "experiment_id": "C",
            "status": "running",
            "voi_rank": 1,
            "evpi": 900.4,
            "expected_value": 2000.0,
            "expected_value_ci_low": -9759.9,
            "expected_value_ci_high": 13759.9,
            "cost": 500.0,
        },
    ]
    values = value_context(_report(experiment_value=rows))["values"]
    assert [v["experiment_id"] for v in values] == ["C", "B", "A"]
    c, b, a = values
    assert c["interval"] == "[-9,760, 13,760]" and c["evpi"] == "900"
    assert b["owner"] == "team" and not b["owner_registered"]
    assert b["action"] == "wait"
    assert a["owner"] == "Ann" and a["action"] == "Roll out"
    assert a["decided"] == "2024-11-01"


def test_history_shows_each_primary_estimate_by_build():
    rows = [
        {
            "experiment_id": "E1",
            "metric_id": "m",
            "variant": "t",
            "role": "primary",
            "build_id": "b2",
            "built_at": datetime(2024, 11, 2),
            "rel_lift": 0.04,
            "n_control": 10,
            "n_treatment": 12,
            "inputs_digest": "f" * 64,
        },
        {
            "experiment_id": "E1",
            "metric_id": "m",
            "variant": "t",
            "role": "primary",
            "build_id": "b1",
            "built_at": datetime(2024, 11, 1),
            "rel_lift": 0.06,
            "n_control": 5,
            "n_treatment": 6,
            "inputs_digest": "e" * 64,
        },
        {
            "experiment_id": "E1",
            "metric_id": "s",
            "variant": "t",
            "role": "secondary",
            "build_id": "b1",
        },
    ]
    decisions = [{"experiment_id": "E1", "build_id": "b2", "decision": "scale"}]
    section = history_section(
        _report(
            experiment_results_history=rows, experiment_decisions_history=decisions
        ),
        "E1",
    )
    (table,) = section["history"]
    assert [r["build_id"] for r in table["rows"]] == ["b1", "b2"]
    assert [r["lift"] for r in table["rows"]] == ["+6.0%", "+4.0%"]
    assert [r["units"] for r in table["rows"]] == ["11", "22"]
    assert table["rows"][1]["decision"] == "Scale"
    assert table["rows"][0]["digest"] == "e" * 12
