"""xpkit.io.progress: the build's stage lines, dbt's one-line summary and the
closing headline (pure functions on hand-written dbt output), and the build's
dbt step run with a fake dbt: no per-node line on the terminal, all of them
in the log, the failing nodes and a non-zero exit on error."""

from __future__ import annotations

import sys
import textwrap

import pytest

from xpkit.io import progress, publish

GREEN, RED, RESET = "\x1b[32m", "\x1b[31m", "\x1b[0m"
OK_OUTPUT = [
    f"{RESET}19:32:00  Running with dbt=1.11.16",
    f"{RESET}19:32:12  1 of 3 START sql view model staging.stg_raw__events .... [RUN]",
    f"{RESET}19:32:12  1 of 3 OK created sql view model staging.stg_raw__events  "
    f"..... [{GREEN}OK{RESET} in 0.52s]",
    f"{RESET}19:32:13  2 of 3 WARN 2 unique_units_unit_id ....... [{RED}WARN 2{RESET}"
    " in 0.05s]",
    f"{RESET}19:32:13  3 of 3 PASS not_null_units_unit_id ........ [PASS in 0.04s]",
    f"{RESET}19:32:14  Done. PASS=2 WARN=1 ERROR=0 SKIP=0 NO-OP=0 TOTAL=3",
]
FAILED_OUTPUT = [
    f"{RESET}19:32:13  2 of 4 ERROR creating sql table model marts.arm_metrics "
    f"....... [{RED}ERROR{RESET} in 0.1s]",
    "19:32:13  3 of 4 FAIL 3 not_null_arm_metrics_metric_id ....... [FAIL 3 in 0.05s]",
    "19:32:13  4 of 4 SKIP relation marts.experiment_results ..... [SKIP]",
    "19:32:13  2 of 4 ERROR creating sql table model marts.arm_metrics ... [ERROR]",
    "19:32:14  Done. PASS=1 WARN=0 ERROR=2 SKIP=1 NO-OP=0 TOTAL=4",
]


def test_strip_ansi_removes_colour_codes():
    assert progress.strip_ansi(f"[{GREEN}OK{RESET} in 0.5s]") == "[OK in 0.5s]"


def test_summarise_dbt_counts_and_nodes():
    ok = progress.summarise_dbt(OK_OUTPUT)
    assert (ok.passed, ok.warned, ok.errors, ok.skipped) == (2, 1, 0, 0)
    assert ok.failing == ()
    assert ok.warning == ("unique_units_unit_id",)
    assert ok.line("logs/dbt-build.log") == (
        "dbt: PASS=2 WARN=1 ERROR=0 SKIP=0 (log: logs/dbt-build.log)"
    )
    failed = progress.summarise_dbt(FAILED_OUTPUT)
    assert failed.errors == 2
    # In order, each node once; SKIP lines are not failures.
    assert failed.failing == ("marts.arm_metrics", "not_null_arm_metrics_metric_id")
    nothing = progress.summarise_dbt(["Encountered an error: Runtime Error"])
    assert nothing.passed is None
    assert "no summary line" in nothing.line("x.log")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(4.24, "4.2 s"), (59.9, "59.9 s"), (59.96, "1 min 00 s"), (65.4, "1 min 05 s")],
)
def test_elapsed(seconds, expected):
    assert progress.elapsed(seconds) == expected


def test_decision_headline_counts_in_decision_order():
    decisions = ["iterate", "scale", "do_not_start", "scale", "iterate"]
    assert progress.decision_headline(decisions, "reports/index.html") == (
        "5 experiments: 2 scale, 2 iterate, 1 do not start; report: reports/index.html"
    )
    assert progress.decision_headline(["stop"], "r/index.html") == (
        "1 experiment: 1 stop; report: r/index.html"
    )
    assert progress.decision_headline([], "r") == "0 experiments: none; report: r"


def test_stage_prints_start_and_elapsed_and_failure():
    lines: list[str] = []
    ticks = iter([10.0, 12.5, 20.0, 21.0])
    with progress.stage(
        "gates", "on w.duckdb", out=lines.append, clock=lambda: next(ticks)
    ):
        pass
    with (
        pytest.raises(RuntimeError),
        progress.stage("report", out=lines.append, clock=lambda: next(ticks)),
    ):
        raise RuntimeError("boom")
    assert lines == [
        "==> gates: on w.duckdb",
        "    gates done in 2.5 s",
        "==> report",
        "    report failed after 1.0 s",
    ]


def test_verbose_values():
    assert progress.verbose({"VERBOSE": "1"})
    assert not progress.verbose({"VERBOSE": "0"})
    assert not progress.verbose({})


def _fake_dbt(tmp_path, lines, code):
    script = tmp_path / "fake_dbt.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            for line in {lines!r}:
                print(line)
            sys.exit({code})
            """
        )
    )
    return [sys.executable, str(script)]


def test_build_dbt_step_prints_a_summary_not_per_node_lines(
    tmp_path, monkeypatch, capfd
):
    log = tmp_path / "logs" / "dbt-build.log"
    monkeypatch.setattr(publish, "DBT_LOG", log)
    monkeypatch.delenv("VERBOSE", raising=False)
    command = _fake_dbt(tmp_path, OK_OUTPUT, 0)
    code = publish._run_dbt_logged(command, {}, "dbt build on w.duckdb", False)
    out, err = capfd.readouterr()
    assert code == 0
    assert " of 3 " not in out and "\x1b[" not in out
    assert "dbt: PASS=2 WARN=1 ERROR=0 SKIP=0" in out
    assert "warning: unique_units_unit_id" in out
    assert err == ""
    # Every per-node line is in the log, without colour codes.
    text = log.read_text()
    assert "1 of 3 OK created sql view model staging.stg_raw__events" in text
    assert "\x1b[" not in text
    # VERBOSE=1: dbt's full output on the terminal.
    monkeypatch.setenv("VERBOSE", "1")
    publish._run_dbt_logged(command, {}, "dbt build", False)
    out, _ = capfd.readouterr()
    assert "1 of 3 START sql view model" in out


def test_build_dbt_step_names_the_failing_nodes_and_exits_non_zero(
    tmp_path, monkeypatch, capfd
):
    log = tmp_path / "dbt-build.log"
    monkeypatch.setattr(publish, "DBT_LOG", log)
    monkeypatch.delenv("VERBOSE", raising=False)
    command = _fake_dbt(tmp_path, FAILED_OUTPUT, 1)
    code = publish._run_dbt_logged(command, {}, "dbt build", False)
    out, err = capfd.readouterr()
    assert code == 1
    assert "ERROR=2" in out
    assert "marts.arm_metrics" in err and "not_null_arm_metrics_metric_id" in err
    assert str(log) in err
