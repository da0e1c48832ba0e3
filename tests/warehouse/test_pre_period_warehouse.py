"""End-to-end pre-exposure bias check (issue 17 item 4): a build of the custom
dataset with a planted pre-period imbalance (every treated unit of
checkout-2025 gets an extra order the day before its first exposure) flags
exactly that experiment's comparisons in experiment_results, with p-values
equal to scipy's Welch test on the unit-level pre-period values (oracle), and
the assignment_balance gate fails saying the arms differed before the
experiment; the other experiment, untouched, is not flagged."""

from __future__ import annotations

import pandas as pd
import pytest
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from oracle import Registry, unit_arrays
from scipy import stats
from warehouse import copy_project, load_and_build, read_tables

from xpkit.io.validate import main as validate

pytestmark = pytest.mark.warehouse
RTOL = 1e-9


def _plant(data) -> None:
    """An order of value 60 one day before each checkout-2025 'new' unit's
    first exposure (inside the 3-day CUPED lookback)."""
    exposures = pd.read_csv(data / "exposures.csv")
    exposures["at"] = pd.to_datetime(exposures.exposed_at, utc=True, format="ISO8601")
    checkout = exposures[exposures.experiment_id == "checkout-2025"]
    arms = checkout.groupby("unit_id").variant.agg(lambda v: set(v))
    first = checkout.groupby("unit_id")["at"].min()
    treated = [unit for unit, seen in arms.items() if seen == {"new"}]
    before = first.loc[treated] - pd.Timedelta(days=1)
    planted = pd.DataFrame(
        {
            "unit_id": treated,
            "event_name": "order",
            "event_at": [t.tz_localize(None).isoformat() for t in before],
            "value": 60.0,
        }
    )
    events = pd.read_csv(data / "events.csv", keep_default_na=False, dtype=str)
    pd.concat([events, planted.astype(str)]).to_csv(data / "events.csv", index=False)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    work = tmp_path_factory.mktemp("pre_period")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    write_custom_dataset(work / "data")
    _plant(work / "data")
    project = copy_project(work / "project", seeds)
    database = work / "planted.duckdb"
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    load_and_build(project, work / "data", database, work)
    tables = read_tables(
        database, "raw.exposures", "raw.events", "marts.experiment_results"
    )
    raw = {"exposures": tables["raw.exposures"], "events": tables["raw.events"]}
    arrays = unit_arrays(raw, Registry.from_seeds(seeds), now)
    return tables["marts.experiment_results"], arrays, database, work


def test_planted_imbalance_is_flagged_with_scipy_welch_p_values(planted):
    results, arrays, _, _ = planted
    checkout = results[results.experiment_id == "checkout-2025"]
    tested = checkout[checkout.pre_period_p_value.notna()]
    assert set(tested.metric_id) == {"converted", "revenue", "aov"}
    for row in tested.itertuples():
        if row.metric_id == "aov":
            continue  # a ratio: its oracle is the delta method (library tests)
        x_c = arrays[("checkout-2025", "old", row.metric_id)]["x"]
        x_t = arrays[("checkout-2025", "new", row.metric_id)]["x"]
        oracle = stats.ttest_ind(x_t, x_c, equal_var=False)
        assert row.pre_period_p_value == pytest.approx(oracle.pvalue, rel=RTOL)
        assert row.pre_period_abs_diff == pytest.approx(
            x_t.mean() - x_c.mean(), rel=RTOL
        )
        assert row.pre_period_imbalance_flag == (row.pre_period_p_value < 0.1 / 3)
    flagged = set(checkout[checkout.pre_period_imbalance_flag.fillna(False)].metric_id)
    assert {"converted", "revenue"} <= flagged


def test_untouched_experiment_has_no_pre_period_figures_to_flag(planted):
    results, _, _, _ = planted
    # pricing ab has cuped_lookback_days 0: no pre-period, so no test and no flag.
    pricing = results[results.experiment_id == "pricing ab"]
    assert pricing.pre_period_p_value.isna().all()
    assert pricing.pre_period_imbalance_flag.isna().all()
    assert pricing.pre_period_error_message.str.contains("cuped_lookback_days").all()


def test_gate_fails_saying_the_arms_differed_before_the_experiment(planted, capsys):
    _, _, database, work = planted
    code = validate(
        [
            "--database",
            str(database),
            "--docs-dir",
            str(work / "docs"),
            "--as-of",
            "2025-03-20 00:00:00",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    lines = [line for line in captured.err.splitlines() if "pre_period" in line]
    assert len(lines) == 1, captured.err
    assert "checkout-2025: arms differed before the experiment" in lines[0]
    assert "converted (new)" in lines[0] and "revenue (new)" in lines[0]
