"""The benchmark harness at the tiny scale S0: the project's marts.arm_metrics,
the hand-written reference query and the pandas peer agree. No wall-clock
assertion: only the equality checks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from warehouse import REPO

BENCH = REPO / "bench"


def _load_run_module():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.warehouse
def test_bench_s0_project_equals_reference_and_peer(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--scale",
            "S0",
            "--out",
            str(tmp_path),
            "--no-full-build",
            "--peer",
            "yes",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "OK: marts.arm_metrics equals the reference and peer" in result.stdout
    summary = json.loads((tmp_path / "results_S0.json").read_text())
    assert summary["problems"] == []
    assert summary["rows"]["events"] > 100_000


@pytest.mark.slow
@pytest.mark.warehouse
def test_bench_s0_append_day_incremental_equals_reference(tmp_path):
    # --append-day: build without the last day, append it to raw.*, run the
    # incremental build; the marts must equal the reference on the whole data,
    # and the target table must hold the incremental ratio.
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--scale",
            "S0",
            "--out",
            str(tmp_path),
            "--append-day",
            "--rerun-check",
            "--no-gates",
            "--peer",
            "no",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "also after the appended day" in result.stdout
    summary = json.loads((tmp_path / "results_S0.json").read_text())
    assert summary["problems"] == []
    split = summary["append_day"]["rows"]
    assert split["last_day"]["events"] > 1000
    steps = {step.get("slug"): step for step in summary["steps"]}
    assert steps["append_day"]["appended"] == split["last_day"]
    for slug in ("load", "reference", "dbt_build", "append_day", "dbt_incremental"):
        assert steps[slug]["returncode"] == 0
        assert steps[slug]["peak_rss_mib"] > 0
        assert steps[slug]["peak_spill_mib"] >= 0
    assert steps["reference_after_append"]["returncode"] == 0
    rows = {row["measure"]: row for row in summary["targets"]}
    incremental = rows[
        "S0 incremental dbt build after appending one day of events / full build"
    ]
    assert incremental["value"].endswith(
        f"({steps['dbt_incremental']['seconds']:.1f} s / "
        f"{steps['dbt_build']['seconds']:.1f} s)"
    )
    assert "| measure | value | target | met? |" in summary["targets_table"]
    # --rerun-check: a second build of the same input gives bit-identical marts
    # (at S0 the events fill several DuckDB row groups, so two threads add the
    # sums; DOUBLE sums differed here in their last bits).
    assert summary["rerun"]["tables"] >= 18
    assert summary["rerun"]["different"] == {}


def test_bench_compare_flags_a_wrong_sum_and_a_wrong_n():
    run = _load_run_module()
    row = {"experiment_id": "X1", "variant": "control", "metric_id": "sessions"}
    sums = {column: 1.0 for column in run.SUMS}
    project = pd.DataFrame([row | {"n_units": 10} | sums])
    same = pd.DataFrame([row | {"n_units": 10} | sums])
    off = pd.DataFrame([row | {"n_units": 11} | sums | {"metric_sum": 1.0 + 1e-6}])
    assert run.compare("same", project, same) == []
    problems = run.compare("off", project, off)
    assert any("n_units" in problem for problem in problems)
    assert any("metric_sum " in problem for problem in problems)


def test_bench_compare_shifted_checks_the_shift_free_moments():
    # Shifted sums of the values 1, 2, 4 with shift 2 against the raw sums of
    # the same values (hand-computed): consistent, then one centred moment off.
    run = _load_run_module()
    row = {"experiment_id": "X1", "variant": "control", "metric_id": "sessions"}
    raw = dict.fromkeys(run.SUMS, float("nan"))
    raw |= {"metric_sum": 7.0, "metric_sum_squares": 21.0}
    reference = pd.DataFrame([row | {"n_units": 3} | raw])
    shifted = dict.fromkeys(run.SHIFTED, float("nan"))
    shifts = dict.fromkeys(run.SHIFT_COLUMNS, float("nan")) | {"metric_shift": 2.0}
    # values - 2: -1, 0, 2 -> sum 1, sum of squares 5
    good = shifted | {"metric_sum_shifted": 1.0, "metric_sum_squares_shifted": 5.0}
    project = pd.DataFrame([row | {"n_units": 3} | raw | shifts | good])
    assert run.compare_shifted("same", project, reference) == []
    bad = good | {"metric_sum_squares_shifted": 5.0 * (1 + 1e-6)}
    project = pd.DataFrame([row | {"n_units": 3} | raw | shifts | bad])
    problems = run.compare_shifted("off", project, reference)
    assert len(problems) == 1
    assert "metric_sum_squares_shifted (centred)" in problems[0]
    wrong_shift = good | {"metric_sum_shifted": 1.5}
    project = pd.DataFrame([row | {"n_units": 3} | raw | shifts | wrong_shift])
    problems = run.compare_shifted("shift", project, reference)
    assert any(problem.startswith("shift: metric_sum_shifted ") for problem in problems)


def test_bench_measure_samples_spill_and_memory(tmp_path):
    # A child that writes 8 MiB into the spill folder, holds 64 MiB of memory
    # for a second, then deletes the file: both peaks are seen while it runs
    # (nothing is left in the folder afterwards).
    run = _load_run_module()
    spill = tmp_path / "spill"
    spill.mkdir()
    script = (
        "import os, time\n"
        f"path = {str(spill / 'part.tmp')!r}\n"
        "with open(path, 'wb') as f: f.write(os.urandom(8 * 1024 * 1024))\n"
        "block = bytearray(os.urandom(64 * 1024 * 1024))\n"
        "time.sleep(1.5)\n"
        "os.remove(path)\n"
    )
    result = run.measure(
        "writer",
        [sys.executable, "-c", script],
        tmp_path,
        dict(os.environ),
        tmp_path / "writer.log",
        [spill],
    )
    assert result["returncode"] == 0
    assert 7.9 <= result["peak_spill_mib"] <= 9.0
    assert result["peak_rss_mib"] >= 64
    assert run.disk_usage(spill) == 0


def test_bench_dbt_command_merges_vars_and_profiles_dir():
    run = _load_run_module()
    words = run.dbt_command(
        "dbt build --vars '{incremental_refresh: true}'", "/venv/dbt", {"a": 1}
    )
    assert words[:2] == ["/venv/dbt", "build"]
    assert words[words.index("--profiles-dir") + 1] == "."
    assert json.loads(words[words.index("--vars") + 1]) == {
        "a": 1,
        "incremental_refresh": True,
    }
    assert run.dbt_command("make build", "/venv/dbt", {"a": 1}) == ["make", "build"]


def test_bench_rerun_differences_names_tables_and_columns():
    run = _load_run_module()
    first = {"t": {"(rows)": 2, "x": 10, "y": 5}, "u": {"(rows)": 1, "z": 3}}
    second = {"t": {"(rows)": 2, "x": 10, "y": 6}, "u": {"(rows)": 1, "z": 3}}
    assert run.rerun_differences(first, first) == {}
    assert run.rerun_differences(first, second) == {"t": ["y"]}
