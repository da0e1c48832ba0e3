"""The registry seeds load on every engine: dbt-spark writes a seed as one
INSERT with its values between single quotes and does not escape a quote
inside them (a value such as "the cohorts' activity_bin" stops the Spark
build with PARSE_SYNTAX_ERROR), so no seed value holds one."""

from __future__ import annotations

import csv
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def test_no_seed_value_holds_a_single_quote():
    found = []
    for path in sorted(SEEDS.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                found += [f"{path.name}:{number}: {v!r}" for v in row if "'" in v]
    assert not found, "dbt-spark cannot seed these values:\n" + "\n".join(found)


def test_the_check_sees_the_seeds():
    assert len(list(SEEDS.glob("*.csv"))) >= 5
