"""Incremental refresh (`make refresh`) gives the same warehouse as a full build.

The demo data is cut at CUTOFF: a first warehouse is built in full from the rows
before it; then every row is loaded (the rest of the data plus three late or
tricky rows) and the warehouse is refreshed incrementally. The same warehouse,
rebuilt in full from the same raw tables, must hold exactly the same marts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_AS_OF
from warehouse import BIN, REPO, copy_project, load_and_build, run

from xpkit.io import demo

CUTOFF = pd.Timestamp("2024-10-29 00:00:00")
REFRESH = ["--vars", "{incremental_refresh: true}"]
# Marts and unit-level tables compared between the refreshed and the rebuilt
# warehouse, with the columns that order their rows.
COMPARED = {
    "marts.arm_metrics": ["experiment_id", "variant", "metric_id"],
    "marts.arm_metrics_by_segment": [
        "experiment_id",
        "variant",
        "metric_id",
        "segment_dimension",
        "segment_value",
    ],
    "marts.arm_metrics_daily": [
        "experiment_id",
        "variant",
        "metric_id",
        "exposure_date",
    ],
    "marts.assignment_balance": ["experiment_id", "variant"],
    "marts.experiment_results": ["experiment_id", "metric_id", "variant"],
    "marts.experiment_health": ["experiment_id"],
    "intermediate.int_assignments_resolved": ["experiment_id", "unit_id"],
    "intermediate.int_unit_metrics_pivoted": [
        "unit_id",
        "arm_key",
        "experiment_metric_key",
    ],
    "quarantine.quarantine_events": [
        "unit_id",
        "event_name",
        "event_at_raw",
        "reason_code",
    ],
    "quarantine.quarantine_exposures": [
        "experiment_id",
        "unit_id",
        "variant",
        "exposed_at_raw",
        "reason_code",
    ],
}
# Build-time columns that differ between any two builds.
VOLATILE = {"decided_at", "built_at"}


def _write(frames: dict[str, pd.DataFrame], folder) -> None:
    folder.mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def _dbt(project, database, work, *args: str) -> str:
    return run(
        [str(BIN / "dbt"), "build", "--profiles-dir", ".", *args],
        project,
        database,
        work,
        {"XP_AS_OF": DEMO_AS_OF},
    )


def _read(database) -> dict[str, pd.DataFrame]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        tables = {}
        for name, order in COMPARED.items():
            frame = con.sql(f"select * from {name}").to_arrow_table().to_pandas()
            frame = frame.drop(columns=[c for c in VOLATILE if c in frame.columns])
            tables[name] = frame.sort_values(order, na_position="first").reset_index(
                drop=True
            )
        return tables


def _assert_same(refreshed: pd.DataFrame, rebuilt: pd.DataFrame, name: str) -> None:
    assert list(refreshed.columns) == list(rebuilt.columns), name
    assert len(refreshed) == len(rebuilt), name
    for column in rebuilt.columns:
        left, right = refreshed[column], rebuilt[column]
        if pd.api.types.is_float_dtype(right) and not pd.api.types.is_bool_dtype(right):
            a = left.astype("float64").to_numpy()
            b = right.astype("float64").to_numpy()
            assert np.array_equal(np.isnan(a), np.isnan(b)), (name, column)
            np.testing.assert_allclose(
                a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9, atol=0, err_msg=name
            )
        else:
            assert left.astype("object").where(left.notna(), None).tolist() == (
                right.astype("object").where(right.notna(), None).tolist()
            ), (name, column)


@pytest.fixture(scope="module")
def refreshed_and_rebuilt(tmp_path_factory):
    work = tmp_path_factory.mktemp("incremental")
    source = work / "source"
    demo.generate(source, seed=20241001)
    frames = {
        name: pd.read_parquet(source / f"{name}.parquet")
        for name in ("exposures", "events", "units")
    }
    exposures, events = frames["exposures"], frames["events"]

    # Late or tricky rows that arrive with the increment, all stamped before
    # the cutoff but inside the refresh lookback (72 hours):
    e002 = exposures[
        (exposures.experiment_id == "E002") & (exposures.exposed_at < CUTOFF)
    ]
    first = e002.sort_values("exposed_at").drop_duplicates("unit_id")
    recent = events[
        events.unit_id.isin(first.unit_id)
        & (events.event_at >= CUTOFF - pd.Timedelta(hours=36))
        & (events.event_at < CUTOFF)
    ].sort_values(["event_at", "unit_id"])
    assert len(recent) >= 2
    # 1. an exact copy of an event already built (a duplicate, quarantined);
    duplicate = recent.iloc[[0]]
    # 2. a late event of the same unit, an hour later, with a new value;
    late = recent.iloc[[0]].assign(
        event_at=recent.iloc[0].event_at + pd.Timedelta(hours=1), value=7.5
    )
    # 3. a late exposure of another analysed unit to a second variant, which
    #    makes it a multi-variant unit (excluded from analysis).
    crossover_unit = first[first.unit_id != recent.iloc[0].unit_id].iloc[-1]
    other_variant = sorted(set(e002.variant) - {crossover_unit.variant})[0]
    crossover = pd.DataFrame(
        {
            "experiment_id": ["E002"],
            "unit_id": [crossover_unit.unit_id],
            "variant": [other_variant],
            "exposed_at": [CUTOFF - pd.Timedelta(hours=2)],
            "received_treatment": [None],
        }
    ).astype(exposures.dtypes.to_dict())

    base = {
        "exposures": exposures[~(exposures.exposed_at >= CUTOFF)],
        "events": events[~(events.event_at >= CUTOFF)],
        "units": frames["units"],
    }
    full = {
        "exposures": pd.concat([exposures, crossover], ignore_index=True),
        "events": pd.concat([events, duplicate, late], ignore_index=True),
        "units": frames["units"],
    }
    _write(base, work / "base")
    _write(full, work / "full")

    project = copy_project(work / "project", REPO / "seeds")
    database = work / "warehouse.duckdb"
    env = {"XP_AS_OF": DEMO_AS_OF}
    load_and_build(project, work / "base", database, work, env)
    run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.io.load",
            str(work / "full"),
            "--database",
            str(database),
        ],
        project,
        database,
        work,
        env,
    )
    _dbt(project, database, work, *REFRESH)
    refreshed = _read(database)
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        refreshed_units = con.execute(
            "select count(*) from intermediate.int_units_to_refresh"
        ).fetchone()[0]
        all_units = con.execute(
            "select count(distinct unit_id) from intermediate.int_assignments_resolved"
        ).fetchone()[0]
    _dbt(project, database, work)
    rebuilt = _read(database)
    return {
        "refreshed": refreshed,
        "rebuilt": rebuilt,
        "refreshed_units": refreshed_units,
        "all_units": all_units,
        "crossover_unit": crossover_unit.unit_id,
        "duplicate": duplicate.iloc[0],
    }


@pytest.mark.warehouse
@pytest.mark.parametrize("name", sorted(COMPARED))
def test_refresh_equals_full_rebuild(refreshed_and_rebuilt, name):
    _assert_same(
        refreshed_and_rebuilt["refreshed"][name],
        refreshed_and_rebuilt["rebuilt"][name],
        name,
    )


@pytest.mark.warehouse
def test_refresh_recomputes_only_recent_units(refreshed_and_rebuilt):
    refreshed = refreshed_and_rebuilt["refreshed_units"]
    assert 0 < refreshed < refreshed_and_rebuilt["all_units"] / 2


@pytest.mark.warehouse
def test_refresh_sees_the_late_rows(refreshed_and_rebuilt):
    tables = refreshed_and_rebuilt["refreshed"]
    assignments = tables["intermediate.int_assignments_resolved"]
    crossover = assignments[
        (assignments.experiment_id == "E002")
        & (assignments.unit_id == refreshed_and_rebuilt["crossover_unit"])
    ]
    assert crossover.is_multi_variant.tolist() == [True]
    quarantined = tables["quarantine.quarantine_events"]
    duplicate = refreshed_and_rebuilt["duplicate"]
    copies = quarantined[
        (quarantined.unit_id == duplicate.unit_id)
        & (quarantined.reason_code == "duplicate_row")
        & (quarantined.event_name == duplicate.event_name)
    ]
    assert len(copies) == 1


@pytest.mark.warehouse
def test_comparison_detects_a_changed_figure(refreshed_and_rebuilt):
    rebuilt = refreshed_and_rebuilt["rebuilt"]["marts.arm_metrics"]
    changed = rebuilt.copy()
    changed.loc[0, "metric_sum"] = changed.loc[0, "metric_sum"] * (1 + 1e-6) + 1e-6
    with pytest.raises(AssertionError):
        _assert_same(changed, rebuilt, "marts.arm_metrics")
