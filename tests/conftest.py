"""Shared fixtures: the demo warehouse is built once per test session."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from warehouse import REPO, load_and_build

from xpkit.io import demo

# The demo data ends on 2024-11-01; `make run` builds it as of then (Makefile
# DEMO_AS_OF), and so do the tests, so that "future", "fresh" and "days running"
# mean what they meant on that day.
DEMO_AS_OF = "2024-11-01 12:00:00"


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """The demo data, loaded and built with the repository's own registry."""
    work = tmp_path_factory.mktemp("demo_warehouse")
    data = work / "data"
    truth = demo.generate(data, seed=20241001)
    database = work / "warehouse.duckdb"
    now = pd.Timestamp(DEMO_AS_OF)
    started = time.perf_counter()
    log = load_and_build(REPO, data, database, work, {"XP_AS_OF": DEMO_AS_OF})
    return {
        "database": database,
        "work": work,
        "truth": truth,
        "now": now,
        "log": log,
        "seconds": time.perf_counter() - started,
    }


# Lines a test wants shown after the run whatever pytest captures (timings and
# row counts of the Spark parity test).
REPORT_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if REPORT_LINES:
        terminalreporter.section("spark parity")
        for line in REPORT_LINES:
            terminalreporter.write_line(line)
