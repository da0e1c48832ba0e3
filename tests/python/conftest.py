"""Shared fixtures: the demo warehouse is built once per test session."""

from __future__ import annotations

import pandas as pd
import pytest
from warehouse import REPO, load_and_build

from xpkit import demo


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """The demo data, loaded and built with the repository's own registry."""
    work = tmp_path_factory.mktemp("demo_warehouse")
    data = work / "data"
    truth = demo.generate(data, seed=20241001)
    database = work / "warehouse.duckdb"
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    log = load_and_build(REPO, data, database, work)
    return {"database": database, "work": work, "truth": truth, "now": now, "log": log}
