"""Results history (issue 19 item 5): experiment_results_history and
experiment_decisions_history append one set of rows per build whose inputs
differ, and none for a build on the same inputs (also after --full-refresh).

The demo data is cut at CUTOFF for the first build; a second build on the same
raw tables adds nothing; `dbt build --full-refresh` keeps the history
(full_refresh: false); loading the rest of the data and building again appends
one row per result with a new inputs digest and the new build id."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from conftest import DEMO_AS_OF
from warehouse import BIN, REPO, copy_project, load_and_build, run

from xpkit.io import demo

CUTOFF = pd.Timestamp("2024-10-29 00:00:00")
EARLIER = "2024-10-20 12:00:00"
HISTORY = ("experiment_results_history", "experiment_decisions_history")
# The builds on unchanged data rebuild only what the history marts read.
SELECT = ["--select", "+experiment_results_history", "+experiment_decisions_history"]


def _write(frames: dict[str, pd.DataFrame], folder) -> None:
    folder.mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def _history(database) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            name: con.sql(f"select * from marts.{name}").df()
            for name in (*HISTORY, "experiment_results", "experiment_decisions")
        }


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    work = tmp_path_factory.mktemp("history")
    source = work / "source"
    demo.generate(source, seed=20241001)
    frames = {
        name: pd.read_parquet(source / f"{name}.parquet")
        for name in ("exposures", "events", "units")
    }
    base = {
        "exposures": frames["exposures"][frames["exposures"].exposed_at < CUTOFF],
        "events": frames["events"][frames["events"].event_at < CUTOFF],
        "units": frames["units"],
    }
    _write(base, work / "base")
    project = copy_project(work / "project", REPO / "seeds")
    database = work / "warehouse.duckdb"

    def env(build_id: str, as_of: str = DEMO_AS_OF) -> dict[str, str]:
        return {"XP_AS_OF": as_of, "XP_BUILD_ID": build_id}

    def dbt(build_id: str, *args: str, as_of: str = DEMO_AS_OF) -> None:
        run(
            [str(BIN / "dbt"), "build", "--profiles-dir", ".", *args],
            project,
            database,
            work,
            env(build_id, as_of),
        )

    states = {}
    load_and_build(project, work / "base", database, work, env("first"))
    states["first"] = _history(database)
    dbt("same", *SELECT)
    states["same"] = _history(database)
    dbt("rebuilt", "--full-refresh", *SELECT)
    states["rebuilt"] = _history(database)
    run(
        [str(BIN / "python"), "-m", "xpkit.io.load", str(source)]
        + ["--database", str(database)],
        project,
        database,
        work,
        env("appended"),
    )
    dbt("appended")
    states["appended"] = _history(database)
    # The same data seen as of an earlier time is another input.
    dbt("earlier", as_of=EARLIER)
    states["earlier"] = _history(database)
    return states


@pytest.mark.parametrize("name", HISTORY)
def test_first_build_writes_every_current_row(builds, name):
    first = builds["first"]
    current = first[name.removesuffix("_history")]
    history = first[name]
    assert len(history) == len(current) > 0
    assert set(history.build_id) == {"first"}
    assert history.inputs_digest.nunique() == 1
    assert (history.as_of == pd.Timestamp(DEMO_AS_OF)).all()
    assert history.input_digests.iloc[0].count("=") == 7  # 3 raw tables, 4 seeds


@pytest.mark.parametrize("stage", ["same", "rebuilt"])
@pytest.mark.parametrize("name", HISTORY)
def test_build_on_the_same_inputs_adds_no_rows(builds, name, stage):
    before, after = builds["first"][name], builds[stage][name]
    assert len(after) == len(before)
    assert set(after.build_id) == {"first"}


@pytest.mark.parametrize("name", HISTORY)
def test_build_after_appended_data_adds_a_row_per_result(builds, name):
    first, after = builds["first"][name], builds["appended"][name]
    current = builds["appended"][name.removesuffix("_history")]
    added = after[after.build_id == "appended"]
    assert len(after) == len(first) + len(current)
    assert len(added) == len(current)
    assert added.inputs_digest.nunique() == 1
    assert added.inputs_digest.iloc[0] != first.inputs_digest.iloc[0]
    # The raw tables' digests changed; the registry seeds' did not.
    old = dict(p.split("=") for p in first.input_digests.iloc[0].split("; "))
    new = dict(p.split("=") for p in added.input_digests.iloc[0].split("; "))
    assert old.keys() == new.keys()
    changed = {k for k in old if old[k] != new[k]}
    assert changed and all(k.startswith("raw.") for k in changed)


def test_decisions_history_carries_the_registered_owner_and_action(builds):
    history = builds["appended"]["experiment_decisions_history"].set_index(
        "experiment_id"
    )
    e001 = history[history.build_id == "appended"].loc["E001"]
    assert e001.decision_owner == "Head of Sales"
    assert e001.custom_action == "Roll AI drafting out to every sales rep"


def test_history_rows_are_the_results_of_their_build(builds):
    after = builds["appended"]
    added = after["experiment_results_history"].query("build_id == 'appended'")
    current = after["experiment_results"]
    keys = ["experiment_id", "metric_id", "variant"]
    merged = added.merge(current, on=keys, suffixes=("", "_now"), validate="1:1")
    assert len(merged) == len(current)
    for column in ("rel_lift", "p_value", "n_control", "n_treatment"):
        left = merged[column].astype("Float64")
        right = merged[f"{column}_now"].astype("Float64")
        assert left.isna().equals(right.isna()), column
        pd.testing.assert_series_equal(
            left.dropna(), right.dropna(), check_names=False, rtol=1e-12
        )


def test_an_earlier_as_of_time_is_a_new_input(builds):
    before = builds["appended"]["experiment_results_history"]
    after = builds["earlier"]["experiment_results_history"]
    current = builds["earlier"]["experiment_results"]
    added = after[after.build_id == "earlier"]
    assert len(added) == len(current) > 0
    assert len(after) == len(before) + len(added)
    assert (added.as_of == pd.Timestamp(EARLIER)).all()
    assert added.inputs_digest.iloc[0] not in set(before.inputs_digest)
    # Each primary estimate now has one row per build: its history.
    e002 = after.query("experiment_id == 'E002' and role == 'primary'")
    assert sorted(e002.build_id) == ["appended", "earlier", "first"]
    decisions = builds["earlier"]["experiment_decisions_history"]
    assert sorted(decisions.query("experiment_id == 'E002'").build_id) == [
        "appended",
        "earlier",
        "first",
    ]
