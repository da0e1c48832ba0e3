"""The benchmark harness at the tiny scale S0: the project's marts.arm_metrics,
the hand-written reference query and the pandas peer agree. No wall-clock
assertion: only the equality checks."""

from __future__ import annotations

import importlib.util
import json
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
