"""Mutually exclusive layers and holdouts (issue 19 item 2) in
marts.planned_assignments, on a copy of the demo warehouse whose registry
tables get a synthetic layer "feed" (L1a with 50% of it, L1b with 30%) and a
holdout H1 scoped to it (10% holdout arm); then L1c (20%) is added, and the
others must keep every unit. The oracle is hashlib's md5 on the documented
texts (docs/methodology.md, "Layers and holdouts")."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest
from test_planned_assignments import eligible_units, md5_hex
from warehouse import BIN, REPO, read_tables, run

pytestmark = pytest.mark.warehouse

LAYERED = {"L1a": 0.5, "L1b": 0.3}
ADDED = {"L1c": 0.2}


def bucket(text: str) -> int:
    return int(md5_hex(text)[:8], 16) % 10000


def register(con, experiment_id: str, **columns) -> None:
    """Add a planned experiment with arms c (control) and t, or the
    holdout arms given in `arms`."""
    arms = columns.pop("arms", (("c", 0.5), ("t", 0.5)))
    values = {
        "experiment_id": experiment_id,
        "experiment_name": f"Synthetic {experiment_id}",
        "domain": "product",
        "owner": "tests",
        "hypothesis": "synthetic",
        "status": "planned",
        "control_variant": arms[0][0],
        "alpha": 0.05,
        "power": 0.8,
        "mde_relative": 0.1,
        "analysis_window_days": 7,
        "cuped_lookback_days": 0,
        **columns,
    }
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    con.execute(
        f"insert into registry.experiments ({names}) values ({marks})",
        list(values.values()),
    )
    for position, (variant, weight) in enumerate(arms):
        con.execute(
            "insert into registry.experiment_variants "
            "(experiment_id, variant, is_control, allocation_weight) "
            "values (?, ?, ?, ?)",
            [experiment_id, variant, position == 0, weight],
        )


def build(demo_warehouse, work, experiments: dict[str, float]) -> pd.DataFrame:
    database = work / "copy.duckdb"
    shutil.copy2(demo_warehouse["database"], database)
    with duckdb.connect(str(database)) as con:
        # The demo registry has none of the optional columns of item 2.
        for column, kind in (
            ("layer", "varchar"),
            ("layer_share", "double"),
            ("holdout_scope", "varchar"),
        ):
            con.execute(f"alter table registry.experiments add column {column} {kind}")
        register(
            con,
            "H1",
            holdout_scope="feed",
            arms=(("holdout", 0.1), ("exposed", 0.9)),
        )
        for experiment_id, share in experiments.items():
            register(con, experiment_id, layer="feed", layer_share=share)
    run(
        [
            str(BIN / "dbt"),
            "run",
            "--profiles-dir",
            ".",
            "--select",
            "stg_registry__experiments int_arms_keyed planned_assignments",
        ],
        REPO,
        database,
        work,
        {"XP_AS_OF": "2024-11-01 12:00:00"},
    )
    tables = read_tables(database, "raw.units", "marts.planned_assignments")
    return tables


@pytest.fixture(scope="module")
def first(demo_warehouse, tmp_path_factory):
    return build(demo_warehouse, tmp_path_factory.mktemp("layers"), LAYERED)


@pytest.fixture(scope="module")
def second(demo_warehouse, tmp_path_factory):
    return build(
        demo_warehouse, tmp_path_factory.mktemp("layers_added"), LAYERED | ADDED
    )


def expected(units: pd.Index, shares: dict[str, float]) -> dict[str, set[str]]:
    """Each layered experiment's units: its range of the layer buckets (in id
    order), minus H1's holdout arm (its own buckets below 1000)."""
    held = {u for u in units if bucket(f"H1:{u}") < 1000}
    out, low = {}, 0.0
    for experiment_id in sorted(shares):
        high = low + shares[experiment_id]
        lo, hi = round(10000 * low), round(10000 * high)
        out[experiment_id] = {
            u for u in units if lo <= bucket(f"layer:feed:{u}") < hi and u not in held
        }
        low = high
    out["H1 holdout"] = held
    return out


def test_layer_experiments_get_disjoint_units_outside_the_holdout(first):
    assigned = first["marts.planned_assignments"]
    units = eligible_units(first["raw.units"]).index
    want = expected(units, LAYERED)
    got = {e: set(g.unit_id) for e, g in assigned.groupby("experiment_id")}
    assert got["L1a"] == want["L1a"]
    assert got["L1b"] == want["L1b"]
    assert not got["L1a"] & got["L1b"]
    # Shares of the layer, within 4 binomial standard errors.
    n = len(units)
    for experiment_id, share in LAYERED.items():
        kept = share * 0.9
        assert abs(len(got[experiment_id]) / n - kept) < 4 * (kept / n) ** 0.5
    # The holdout: H1 assigns everyone; its holdout arm is in no layered one.
    h1 = assigned[assigned.experiment_id == "H1"]
    assert set(h1[h1.variant == "holdout"].unit_id) == want["H1 holdout"]
    assert len(want["H1 holdout"]) > 4000
    assert not want["H1 holdout"] & (got["L1a"] | got["L1b"])
    # Arms inside a layered experiment: its own md5 hash, as without layers.
    for row in assigned[assigned.experiment_id == "L1a"].itertuples():
        assert row.variant == ("c" if bucket(f"L1a:{row.unit_id}") < 5000 else "t")
        assert row.layer == "feed"
        assert row.layer_bucket == bucket(f"layer:feed:{row.unit_id}")
    # Outside the scope nothing changes: E003 keeps its 30 recruiters.
    assert len(got["E003"]) == 30
    assert assigned[assigned.experiment_id == "E003"].layer.isna().all()


def test_adding_an_experiment_to_a_layer_keeps_the_others_units(first, second):
    before = first["marts.planned_assignments"]
    after = second["marts.planned_assignments"]
    for experiment_id in LAYERED:
        a = before[before.experiment_id == experiment_id].set_index("unit_id")
        b = after[after.experiment_id == experiment_id].set_index("unit_id")
        assert set(a.index) == set(b.index)
        assert (a.variant == b.variant.reindex(a.index)).all()
    units = eligible_units(second["raw.units"]).index
    want = expected(units, LAYERED | ADDED)
    added = set(after[after.experiment_id == "L1c"].unit_id)
    assert added == want["L1c"]
    layered = [set(after[after.experiment_id == e].unit_id) for e in want if "L" in e]
    assert sum(len(s) for s in layered) == len(set().union(*layered))
